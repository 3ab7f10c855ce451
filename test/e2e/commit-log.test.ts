/**
 * The commit log through the public interfaces, telehub as a child process:
 * `telehub events --follow` tails it like tail -f and exits 0 on SIGINT;
 * `telehub processors` lists device-counters with its checkpoint and lag,
 * `telehub processors rebuild` replays it while telehub runs and gives the
 * same state; the WebSocket stream carries seq and catches a reconnecting
 * client up with ?since= without gap or duplicate; usage errors exit 64.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { startTelehubProcess, telehubCli } from '../helpers/telehub.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cliArgs = ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts')];

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const event = (id: string, device: string, value: number) => JSON.stringify({ schema: 1, event_id: id, device_id: device, event_type: 'temperature', value });

/** device-counters' state, read from the SQLite file (another connection, read-only). */
function counters(dataDir: string): unknown[] {
  const db = new Database(path.join(dataDir, 'telehub.db'), { readonly: true });
  try {
    return [
      db.prepare('SELECT * FROM device_counters ORDER BY device_id').all(),
      db.prepare('SELECT * FROM device_last_values ORDER BY device_id, event_type').all(),
      db.prepare('SELECT device_id, COUNT(*) AS n FROM events GROUP BY device_id ORDER BY device_id').all(),
    ];
  } finally {
    db.close();
  }
}

describe('commit log end to end', () => {
  it('events --follow, processors, rebuild and the stream with since', async () => {
    // The default processors, device-registry included: its presence transitions
    // are log entries of their own kind, in the stream and the follower beside
    // the events, never counted as events (device-counters' rebuild below).
    const hub = await startTelehubProcess({ TELEHUB_LOG_POLL_MS: '50' });
    let device: mqtt.MqttClient | undefined;
    const sockets: WebSocket[] = [];
    let follower: ReturnType<typeof spawn> | undefined;
    try {
      await hub.ready();
      const env = { TELEHUB_DATA_DIR: hub.dataDir, TELEHUB_LOG_POLL_MS: '50' };
      device = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { clientId: 'log-dev' });
      await device.publishAsync('qs/v1/dev-a/events', event('a-0', 'dev-a', 0), { qos: 1 });

      // tail -f: starts at the head, prints what commits from now on.
      follower = spawn(process.execPath, [...cliArgs, 'events', '--follow', '--device', 'dev-b'], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let followed = '';
      let followErr = '';
      follower.stdout!.on('data', (d) => (followed += d));
      follower.stderr!.on('data', (d) => (followErr += d));
      // The follower has read the head once it polls; give it a first entry of its own to show it is live.
      await device.publishAsync('qs/v1/dev-b/events', event('b-probe', 'dev-b', -1), { qos: 1 });
      await until(async () => {
        if (followed.includes('b-probe')) return true;
        await device!.publishAsync('qs/v1/dev-b/events', event(`b-probe-${Date.now()}`, 'dev-b', -1), { qos: 1 });
        return false;
      }, 'the follower to print');

      // A stream client that will drop and come back with ?since=.
      const token = await telehubCli(env, 'tokens', 'create', '--name', 'dash', '--scope', 'read');
      const wsUrl = `ws://127.0.0.1:${hub.httpPort}/api/v1/stream?token=${token}`;
      const first = new WebSocket(wsUrl);
      sockets.push(first);
      const got1: Array<{ seq: number; event_id?: string; kind?: string }> = [];
      first.on('message', (d) => got1.push(JSON.parse(d.toString())));
      await once(first, 'open');
      await until(async () => /telehub_stream_clients 1/.test(await (await fetch(`http://127.0.0.1:${hub.httpPort}/metrics`)).text()), 'the stream client');

      for (let i = 1; i <= 30; i++) {
        await device.publishAsync(`qs/v1/dev-${i % 2 ? 'a' : 'b'}/events`, event(`e-${i}`, `dev-${i % 2 ? 'a' : 'b'}`, i), { qos: 1 });
      }
      await until(() => got1.some((m) => m.event_id === 'e-10'), 'the stream to deliver e-10');
      // The client goes away after e-10 and misses what follows.
      const lastSeen = got1.find((m) => m.event_id === 'e-10')!.seq;
      first.terminate();
      for (let i = 31; i <= 40; i++) await device.publishAsync('qs/v1/dev-a/events', event(`e-${i}`, 'dev-a', i), { qos: 1 });

      const again = new WebSocket(`${wsUrl}&since=${lastSeen}`);
      sockets.push(again);
      const got2: Array<{ seq: number; event_id?: string; kind?: string; presence?: string }> = [];
      again.on('message', (d) => got2.push(JSON.parse(d.toString())));
      await once(again, 'open');
      await until(() => got2.some((m) => m.event_id === 'e-40'), 'the catch-up to e-40');
      // Then live.
      for (let i = 41; i <= 45; i++) await device.publishAsync('qs/v1/dev-b/events', event(`e-${i}`, 'dev-b', i), { qos: 1 });
      await until(() => got2.some((m) => m.event_id === 'e-45'), 'live e-45');
      // Events, and any presence transition committed meanwhile (its own shape, kind presence).
      const events2 = got2.filter((m) => m.kind !== 'presence');
      assert.deepEqual(events2.map((m) => m.event_id), Array.from({ length: 35 }, (_, i) => `e-${i + 11}`), 'no gap, no duplicate');
      assert.ok(got2.filter((m) => m.kind === 'presence').every((m) => typeof m.presence === 'string' && m.event_id === undefined));
      assert.ok(got2.every((m, i) => i === 0 || m.seq > got2[i - 1].seq));
      assert.equal(got2[0].seq > lastSeen, true);

      // The follower printed dev-b's entries only, in log order, then exits 0 on SIGINT.
      await until(() => followed.includes('"e-45"'), 'the follower to print e-45');
      follower.kill('SIGINT');
      const [code] = await once(follower, 'exit');
      assert.equal(code, 0, followErr);
      const lines = followed.trim().split('\n').map((l) => JSON.parse(l));
      const ids = lines.filter((l) => l.kind === 'event').map((l) => l.event_id).filter((id: string) => id.startsWith('e-'));
      assert.deepEqual(ids, Array.from({ length: 45 }, (_, i) => i + 1).filter((i) => i <= 30 ? i % 2 === 0 : i > 40).map((i) => `e-${i}`));
      assert.ok(lines.every((l) => (l.kind === 'event' || l.kind === 'presence') && l.device_id === 'dev-b'));
      assert.ok(lines.every((l, i) => i === 0 || l.seq > lines[i - 1].seq));

      // telehub processors: device-counters catches up with the head.
      const head = () => Number(/Commit log head: (\d+)/.exec(listText)?.[1]);
      let listText = '';
      await until(async () => {
        listText = await telehubCli(env, 'processors');
        const row = listText.split('\n').find((l) => l.startsWith('device-counters'));
        return row !== undefined && row.split(/\s+/)[1] === String(head()) && row.split(/\s+/)[2] === '0';
      }, 'device-counters to catch up');
      assert.match(listText, /^NAME\s+CHECKPOINT\s+LAG\s+LAG_S\s+STATE\s+ERRORS\s+LAST_ERROR/);
      // One JSON line per processor (device-counters, device-registry, rollups, trips and alerts run by default; commands is the dispatcher's consumer of node answers).
      const all = (await telehubCli(env, 'processors', '--json')).trim().split('\n').map((l) => JSON.parse(l) as { name: string; state: string; lag_entries: number });
      assert.deepEqual(all.map((p) => p.name).sort(), ['alerts', 'commands', 'device-counters', 'device-registry', 'rollups', 'trips']);
      const json = all.find((p) => p.name === 'device-counters')!;
      assert.equal(json.state, 'running');
      assert.equal(json.lag_entries, 0);
      const live = counters(hub.dataDir);
      // Counters agree with COUNT(*) per device.
      const [rows, , counts] = live as [Array<{ device_id: string; events: number }>, unknown, Array<{ device_id: string; n: number }>];
      assert.deepEqual(rows.map((r) => [r.device_id, r.events]), counts.map((c) => [c.device_id, c.n]));

      // A rebuild while telehub runs gives the same state.
      const out = await telehubCli(env, 'processors', 'rebuild', 'device-counters');
      assert.match(out, /^Rebuilt device-counters: checkpoint \d+\.$/);
      assert.deepEqual(counters(hub.dataDir), live);

      // The API says the same.
      const api = await (await fetch(`http://127.0.0.1:${hub.httpPort}/api/v1/processors`, { headers: { authorization: `Bearer ${token}` } })).json();
      const dc = api.processors.find((p: { name: string }) => p.name === 'device-counters');
      assert.equal(dc?.name, 'device-counters');
      assert.equal(typeof dc.lag_seconds, 'number');
      const metrics = await (await fetch(`http://127.0.0.1:${hub.httpPort}/metrics`)).text();
      assert.match(metrics, /telehub_processor_checkpoint\{name="device-counters"\} \d+/);
      assert.match(metrics, /telehub_processor_lag_entries\{name="device-counters"\} \d+/);
      assert.match(metrics, /telehub_processor_lag_seconds\{name="device-counters"\} [\d.e-]+/);
    } catch (err) {
      console.error(hub.output().slice(-5000));
      throw err;
    } finally {
      follower?.kill('SIGKILL');
      for (const s of sockets) s.terminate();
      await device?.endAsync();
      await hub.stop();
      hub.cleanup();
    }
  });

  it('usage mistakes exit 64 with one line naming them; --help exits 0', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [...cliArgs, ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', TELEHUB_DATA_DIR: '/nonexistent-telehub' }, encoding: 'utf8', timeout: 30_000 });
    for (const [args, msg] of [
      [['processors', 'rebuild', 'nope'], /unknown processor "nope"/],
      [['processors', 'rebuild'], /missing NAME/],
      [['processors', '--bogus'], /unknown option --bogus/],
      [['processors', 'frob'], /unknown command "processors frob"/],
      [['events', '--follow', '--since', 'x'], /--since must be an integer from 0/],
      [['events', '--follow', '--limit', '3'], /--limit does not go with --follow/],
      [['events', '--since', '3'], /--since goes with --follow/],
    ] as const) {
      const r = run(...args);
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.split('\n')[0], msg);
      assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
    }
    for (const args of [['processors', '--help'], ['processors', 'rebuild', '--help'], ['events', '--help']]) {
      const r = run(...args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage: telehub /);
    }
  });
});

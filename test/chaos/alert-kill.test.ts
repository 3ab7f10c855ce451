/**
 * Chaos: telehub (a child process, embedded broker) with one alert rule and
 * a JSON webhook pointing at a real HTTP receiver in this test. A reading
 * above the threshold makes the alert fire; the receiver holds the delivery
 * request open without answering, so the change is committed (state, history
 * and outbox row in one transaction) but not delivered, and telehub is killed
 * with SIGKILL right then. After a restart on the same store the change is
 * delivered, with the same idempotency key; a reading below the threshold
 * then resolves it. In the end the receiver has answered 2xx exactly once
 * per change (firing, then resolved), and the history holds exactly those two.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { stopTestPostgres, testDatabase, withPgClient } from '../helpers/postgres.js';
import { startTelehubProcess } from '../helpers/telehub.js';

after(() => stopTestPostgres());

interface Attempt {
  key: string;
  state: string;
  answered: number | null;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`alerts under kill -9 (${kind})`, () => {
    it('a change committed but not delivered when telehub is killed is delivered after the restart, once, with the same key', async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-akill-'));
      const db = kind === 'postgres' ? await testDatabase() : undefined;
      const sql = async (text: string): Promise<Record<string, unknown>[]> => {
        if (db) return withPgClient(db.url, async (c) => (await c.query(text)).rows);
        const s = new Database(path.join(dataDir, 'telehub.db'), { readonly: true });
        try {
          return s.prepare(text).all() as Record<string, unknown>[];
        } finally {
          s.close();
        }
      };
      // The receiver: while `hold` is on it answers nothing (the request stays open until telehub dies).
      const attempts: Attempt[] = [];
      const held: ServerResponse[] = [];
      let hold = true;
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          const n = JSON.parse(body) as { state: string };
          const a: Attempt = { key: String(req.headers['idempotency-key']), state: n.state, answered: null };
          attempts.push(a);
          if (hold) {
            held.push(res);
            return;
          }
          a.answered = 200;
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const configFile = path.join(dataDir, 'telehub.yaml');
      writeFileSync(
        configFile,
        [
          'alerts:',
          '  tick: 200ms',
          '  retry_min: 50ms',
          '  retry_max: 200ms',
          '  timeout: 60s',
          '  poll: 50ms',
          `  webhooks: [{ name: receiver, type: json, url: "${url}" }]`,
          '  rules: [{ name: hot, devices: "dev-*", event_type: temperature, above: 30, clear: 25 }]',
          '',
        ].join('\n'),
      );
      const env: Record<string, string> = { TELEHUB_DATA_DIR: dataDir, TELEHUB_CONFIG: configFile, TELEHUB_LOG_POLL_MS: '20', TELEHUB_LOG_LEVEL: 'warn', ...(db ? { DATABASE_URL: db.url } : {}) };
      const publish = async (port: number, id: string, value: number) => {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `akill-${id}`, reconnectPeriod: 0 });
        await c.publishAsync('qs/v1/dev-1/events', JSON.stringify({ schema: 1, event_id: id, device_id: 'dev-1', event_type: 'temperature', value }), { qos: 1 });
        await c.endAsync();
      };
      try {
        let hub = await startTelehubProcess(env);
        try {
          await hub.ready();
          await publish(hub.mqttPort, 'hot-1', 35);
          // The delivery has started: the change and its outbox row are committed.
          await until('the first delivery attempt', () => attempts.length >= 1);
          await hub.kill9();
        } finally {
          hub.cleanup();
        }
        for (const res of held) res.destroy();
        const firingKey = attempts[0].key;
        assert.equal(attempts[0].state, 'firing');
        const pending = await sql(`SELECT key, delivered_at FROM alert_outbox WHERE target = 'receiver'`);
        assert.deepEqual(pending.map((r) => [r.key, r.delivered_at]), [[firingKey, null]], 'committed, not delivered');

        hold = false;
        hub = await startTelehubProcess(env);
        try {
          await hub.ready();
          await until('the firing change delivered after the restart', () => attempts.some((a) => a.key === firingKey && a.answered === 200));
          // The MQTT publication of the same change, through the embedded broker.
          const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { clientId: 'akill-sub', reconnectPeriod: 0 });
          const onMqtt: { topic: string; state: string; id: string }[] = [];
          sub.on('message', (topic, payload) => {
            const n = JSON.parse(payload.toString()) as { state: string; id: string };
            onMqtt.push({ topic, state: n.state, id: n.id });
          });
          await sub.subscribeAsync('alerts/#', { qos: 1 });
          await publish(hub.mqttPort, 'cool-1', 20);
          await until('the resolved change delivered', () => attempts.some((a) => a.state === 'resolved' && a.answered === 200));
          await until('the resolved change on MQTT', () => onMqtt.some((m) => m.state === 'resolved'));
          const resolvedKey = attempts.find((a) => a.state === 'resolved')!.key;
          assert.deepEqual(onMqtt.filter((m) => m.state === 'resolved'), [{ topic: 'alerts/hot/dev-1', state: 'resolved', id: resolvedKey }]);
          await sub.endAsync();
          await until('the outbox marked delivered', async () => (await sql(`SELECT count(*) AS n FROM alert_outbox WHERE delivered_at IS NULL`))[0].n == 0); // eslint-disable-line eqeqeq
          assert.equal(await hub.stop(), 0);
        } finally {
          hub.cleanup();
        }
        const accepted = attempts.filter((a) => a.answered === 200);
        const events = await sql('SELECT key, state FROM alert_events ORDER BY id');
        assert.deepEqual(events.map((e) => e.state), ['firing', 'resolved']);
        // Exactly one 2xx per change, in order, each with the key the history recorded.
        assert.deepEqual(accepted.map((a) => [a.key, a.state]), events.map((e) => [e.key, e.state]));
        // Every attempt of the firing change carried its one key.
        assert.ok(attempts.filter((a) => a.state === 'firing').every((a) => a.key === firingKey));
      } finally {
        server.closeAllConnections();
        server.close();
        rmSync(dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    });
  });
}

/**
 * Routes from a config file (TELEHUB_CONFIG), end to end with real clients:
 * a second seed-001 route with its own ACK topic, a line-protocol route whose
 * messages carry several events, the default MQTT_EVENTS_TOPIC route beside
 * them, and a message on no route that telehub leaves alone. Runs with the
 * embedded broker + SQLite always, and with Mosquitto + PostgreSQL when
 * TELEHUB_TEST_MQTT_URL is set (the external source must subscribe to every
 * routed filter). A broker that refuses one subscription (a private
 * Mosquitto whose dynamic-security plugin denies it) stops start-up with
 * exit code 78 and a line naming the filter.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { PostgresStore } from '../../src/storage/postgres/index.js';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import type { Store } from '../../src/storage/store.js';
import { clearSession, mosquittoUrl, needsMosquitto, ownDefaultRoutes } from '../helpers/mqtt.js';
import { freePort } from '../helpers/net.js';
import { stopTestPostgres, testDatabase } from '../helpers/postgres.js';
import { startTelehubProcess } from '../helpers/telehub.js';

after(() => stopTestPostgres());

const dir = mkdtempSync(path.join(tmpdir(), 'telehub-routes-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The config file, its topics under `p` (the shared Mosquitto serves tests
 * running in parallel: each run keeps to its own topics). Also returns the
 * environment that puts the default route, ACKs and dead letters under `p`.
 */
function routesUnder(p: string): { env: Record<string, string> } {
  const file = path.join(dir, `telehub-${randomBytes(3).toString('hex')}.yaml`);
  writeFileSync(
    file,
    `# the second route and a line-protocol route
routes:
  - filter: ${p}home/+/events
    codec: seed001-json
    ack_template: ${p}home/{device_id}/acks
  - filter: ${p}lp/+/metrics
    codec: line-protocol
    device_level: ${p === '' ? 2 : 3}
    precision: s
`,
  );
  const env: Record<string, string> = { TELEHUB_CONFIG: file };
  if (p !== '') Object.assign(env, { MQTT_EVENTS_TOPIC: `${p}qs/v1/+/events`, ACK_TEMPLATE: `${p}qs/v1/{device_id}/acks`, MQTT_DEADLETTER_TOPIC: `${p}qs/v1/deadletter` });
  return { env };
}

const seed = (eventId: string, deviceId: string) => JSON.stringify({ schema: 1, event_id: eventId, device_id: deviceId, event_type: 'temperature', value: 21.5 });

interface Received {
  topic: string;
  payload: string;
}

/** A device: every message it receives, and a way to await one. */
async function device(url: string, p: string): Promise<{ client: MqttClient; next: (pred: (m: Received) => boolean, what: string) => Promise<Received>; seen: Received[] }> {
  const client = await mqtt.connectAsync(url, { clientId: `routes-dev-${randomBytes(3).toString('hex')}`, protocolVersion: 4 });
  const seen: Received[] = [];
  const waiters: Array<{ pred: (m: Received) => boolean; resolve: (m: Received) => void }> = [];
  client.on('message', (topic, p) => {
    const m = { topic, payload: p.toString() };
    seen.push(m);
    for (const w of [...waiters]) if (w.pred(m)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(m);
  });
  await client.subscribeAsync({ [`${p}home/+/acks`]: { qos: 1 }, [`${p}qs/v1/+/acks`]: { qos: 1 }, [`${p}qs/v1/deadletter`]: { qos: 1 }, [`${p}other/#`]: { qos: 1 } });
  const next = (pred: (m: Received) => boolean, what: string) => {
    const hit = seen.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise<Received>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 20_000);
      waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  };
  return { client, next, seen };
}

/** Polls the store until `check` holds (the broker's PUBACK does not wait for telehub with Mosquitto). */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function scenario(url: string, store: Store, embedded: boolean, p: string): Promise<void> {
  const d = await device(url, p);
  try {
    const ackOf = (id: string) => (m: Received) => m.topic.endsWith('/acks') && JSON.parse(m.payload).event_id === id;
    const dlOf = (reason: string, topic: string) => (m: Received) => m.topic === `${p}qs/v1/deadletter` && JSON.parse(m.payload).reason === reason && JSON.parse(m.payload).topic === topic;

    // The file's seed-001 route: stored, ACKed on its own ack_template.
    await d.client.publishAsync(`${p}home/kitchen/events`, seed('home-1', 'kitchen'), { qos: 1 });
    const ack = await d.next(ackOf('home-1'), 'the ACK of home-1');
    assert.equal(ack.topic, `${p}home/kitchen/acks`);
    assert.deepEqual(JSON.parse(ack.payload), { schema: 1, event_id: 'home-1', device_id: 'kitchen', status: 'stored' });
    assert.equal((await store.getEvent('home-1'))?.deviceId, 'kitchen');

    // Its device level is checked as the default route's is.
    await d.client.publishAsync(`${p}home/kitchen/events`, seed('home-2', 'hall'), { qos: 1 });
    await d.next(dlOf('topic_device_mismatch', `${p}home/kitchen/events`), 'the dead letter of home-2');

    // The default route still works beside it.
    await d.client.publishAsync(`${p}qs/v1/esp32-01/events`, seed('qs-1', 'esp32-01'), { qos: 1 });
    assert.equal((await d.next(ackOf('qs-1'), 'the ACK of qs-1')).topic, `${p}qs/v1/esp32-01/acks`);

    // One line-protocol message, four events and a bad line: the topic's device
    // for untagged lines, the host tag for the other, `s` precision.
    const lp = 'heat temp=61.5,flow=3i 1700000000\nheat,host=h2 temp=40 1700000000\nheat temp=\nheat power=1.5 1700000001\n';
    await d.client.publishAsync(`${p}lp/boiler/metrics`, lp, { qos: 1 });
    if (embedded) {
      // The embedded broker's PUBACK means every part of the message is committed.
      assert.equal((await store.recentEvents(10, 'boiler')).length, 3, 'the PUBACK came after all events of the message');
    }
    await d.next(dlOf('invalid_line_protocol', `${p}lp/boiler/metrics`), 'the dead letter of line 3');
    await eventually(async () => (await store.recentEvents(10, 'boiler')).length === 3 && (await store.recentEvents(10, 'h2')).length === 1, 'the line-protocol events');
    const boiler = await store.recentEvents(10, 'boiler');
    assert.deepEqual(boiler.map((e) => [e.eventType, e.valueNum, e.tsDevice]).sort(), [['heat.flow', 3, 1_700_000_000_000], ['heat.power', 1.5, 1_700_000_001_000], ['heat.temp', 61.5, 1_700_000_000_000]]);

    // A message on no route is not touched: passed on to subscribers, nothing stored or answered.
    await d.client.publishAsync(`${p}other/kitchen/events`, seed('other-1', 'kitchen'), { qos: 1 });
    assert.equal((await d.next((m) => m.topic === `${p}other/kitchen/events`, 'the message on no route')).payload, seed('other-1', 'kitchen'));
    // A last event on a route: once it is ACKed, telehub has seen what came before it.
    await d.client.publishAsync(`${p}qs/v1/esp32-01/events`, seed('qs-last', 'esp32-01'), { qos: 1 });
    await d.next(ackOf('qs-last'), 'the ACK of qs-last');
    await eventually(async () => (await store.countEvents()) >= 7 && (await store.countDeadLetters()) >= 2, 'every event and dead letter');
    assert.equal(await store.countEvents(), 7, 'home-1, qs-1, four line-protocol events, qs-last');
    assert.equal(await store.countDeadLetters(), 2, 'home-2 and line 3');
    assert.equal(await store.getEvent('other-1'), undefined);
    assert.ok(!d.seen.some((m) => m.topic !== `${p}other/kitchen/events` && m.payload.includes('other-1')), 'no ACK or dead letter for the message on no route');
    assert.equal(d.seen.filter((m) => m.topic.endsWith('/acks')).length, 3, 'ACKs only for the seed-001 routes (home-1, qs-1, qs-last)');
  } finally {
    await d.client.endAsync();
  }
}


describe('routes from TELEHUB_CONFIG', () => {
  it('embedded broker + SQLite: a second seed-001 route, a line-protocol route, a topic on no route', async () => {
    const hub = await startTelehubProcess({ ...routesUnder('').env });
    try {
      await hub.ready();
      const store = new SqliteStore(path.join(hub.dataDir, 'telehub.db'));
      try {
        await scenario(`mqtt://127.0.0.1:${hub.mqttPort}`, store, true, '');
      } finally {
        await store.close();
      }
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      hub.cleanup();
    }
  });

  it('Mosquitto + PostgreSQL: the external source subscribes to every routed filter', { skip: needsMosquitto }, async () => {
    const db = await testDatabase();
    const clientId = `telehub-routes-${randomBytes(4).toString('hex')}`;
    const p = `${clientId}/`;
    const hub = await startTelehubProcess({ MQTT_URL: mosquittoUrl!, MQTT_CLIENT_ID: clientId, DATABASE_URL: db.url, ...ownDefaultRoutes(clientId), ...routesUnder(p).env });
    const store = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    try {
      await hub.ready();
      await scenario(mosquittoUrl!, store, false, p);
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      hub.cleanup();
      await store.close();
      await clearSession(mosquittoUrl!, clientId);
      await db.drop();
    }
  });

  const haveMosquitto = spawnSync('mosquitto', ['-h']).error === undefined;
  const dynsec = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
  const canRefuse = haveMosquitto && existsSync(dynsec) ? false : 'SKIPPED: needs the mosquitto binary and its dynamic-security plugin';
  it('a broker that refuses a routed filter stops start-up: exit 78, the filter named', { skip: canRefuse }, async () => {
    // A private Mosquitto whose dynamic-security plugin denies subscriptions under secret/.
    const mdir = mkdtempSync(path.join(tmpdir(), 'telehub-refuse-'));
    chmodSync(mdir, 0o755); // Mosquitto started as root reads its files as the mosquitto user
    const port = await freePort();
    writeFileSync(path.join(mdir, 'dynsec.json'), JSON.stringify({
      defaultACLAccess: { publishClientSend: true, publishClientReceive: true, subscribe: true, unsubscribe: true },
      clients: [],
      groups: [{ groupname: 'anonymous', roles: [{ rolename: 'no-secrets' }], clients: [] }],
      roles: [{ rolename: 'no-secrets', acls: [{ acltype: 'subscribePattern', topic: 'secret/#', priority: 0, allow: false }] }],
      anonymousGroup: 'anonymous',
    }));
    writeFileSync(path.join(mdir, 'mosquitto.conf'), `per_listener_settings false\nlistener ${port} 127.0.0.1\nallow_anonymous true\nplugin ${dynsec}\nplugin_opt_config_file ${mdir}/dynsec.json\npersistence false\nlog_dest none\n`);
    chmodSync(path.join(mdir, 'dynsec.json'), 0o644);
    chmodSync(path.join(mdir, 'mosquitto.conf'), 0o644);
    const broker = spawn('mosquitto', ['-c', path.join(mdir, 'mosquitto.conf')], { stdio: 'ignore' });
    const config = path.join(dir, 'secret.yaml');
    writeFileSync(config, 'routes:\n  - filter: home/+/events\n    codec: seed001-json\n  - filter: secret/+/events\n    codec: seed001-json\n');
    let hub: Awaited<ReturnType<typeof startTelehubProcess>> | undefined;
    try {
      // The broker is up when it accepts a connection.
      for (let i = 0; ; i++) {
        try {
          await (await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 1000 })).endAsync();
          break;
        } catch (err) {
          if (i > 100) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      hub = await startTelehubProcess({ MQTT_URL: `mqtt://127.0.0.1:${port}`, TELEHUB_CONFIG: config });
      const [code] = hub.proc.exitCode !== null ? [hub.proc.exitCode] : await once(hub.proc, 'exit');
      const out = hub.output();
      assert.equal(code, 78, out);
      assert.match(out, /refused the subscription to secret\/\+\/events/);
      assert.doesNotMatch(out, /refused the subscription to home/, 'only the refused filter is named');
      assert.doesNotMatch(out, /\n\s+at /, 'no stack trace');
    } finally {
      hub?.cleanup();
      if (broker.exitCode === null && broker.signalCode === null) {
        broker.kill();
        await once(broker, 'exit');
      }
      rmSync(mdir, { recursive: true, force: true });
    }
  });
});

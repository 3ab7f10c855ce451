/**
 * Device presence end to end, with real MQTT clients and small intervals set
 * through settings (timeout 600 ms, offline after 1.2 s of silence):
 *
 * - embedded broker: a connect (client id ≠ device id, learned from its
 *   topic) → online/connected; a connection sending only keep-alives →
 *   silent/silence and it stays silent while connected; a clean disconnect →
 *   offline/disconnected; a killed client with a will → offline/will, its
 *   will stored as a status entry; a device first seen after start-up (HTTP,
 *   no connection) → online/data → silent → offline/silence, each within its
 *   timeout plus 5 s; the registry columns (RSSI, uptime, firmware, last
 *   data); and a restart from the same store: nothing shown online on lost
 *   state, none stuck online.
 * - Mosquitto (external broker, no connection events): a will published to the
 *   status topic → offline/status; data → online/data.
 *
 * Every wait is for a condition in the store or the API, never a fixed sleep.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import pino from 'pino';
import { startTelehub, type Telehub } from '../../src/app.js';
import { loadConfig } from '../../src/core/config.js';
import { newToken } from '../../src/auth/tokens.js';
import { readPresenceHistory } from '../../src/storage/presence-log.js';
import { mosquittoUrl, needsMosquitto } from '../helpers/mqtt.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const PRESENCE_ENV = {
  TELEHUB_PRESENCE_DEFAULT_INTERVAL_MS: '300',
  TELEHUB_PRESENCE_MIN_INTERVAL_MS: '300',
  TELEHUB_PRESENCE_MAX_INTERVAL_MS: '300',
  TELEHUB_PRESENCE_GRACE_PERCENT: '200',
  TELEHUB_PRESENCE_OFFLINE_AFTER: '2',
};
const TIMEOUT_MS = 600;
const SLACK_MS = 5000;

function start(dataDir: string, env: Record<string, string> = {}): Promise<Telehub> {
  const config = loadConfig({
    TELEHUB_DATA_DIR: dataDir,
    TELEHUB_HTTP_HOST: '127.0.0.1',
    TELEHUB_HTTP_PORT: '0',
    TELEHUB_MQTT_HOST: '127.0.0.1',
    TELEHUB_MQTT_PORT: '0',
    TELEHUB_MQTT_WS_PORT: '-1',
    TELEHUB_LOG_LEVEL: 'silent',
    TELEHUB_LOG_POLL_MS: '50',
    ...PRESENCE_ENV,
    ...env,
  });
  return startTelehub(config, { log: pino({ level: 'silent' }), webRoot: null });
}

type Transition = { to: string; cause: string; from: string; at: number };

/** The device's presence transitions (log entries of their own kind) in log order. */
async function transitions(hub: Telehub, device: string): Promise<Transition[]> {
  const history = await readPresenceHistory(hub.store.kind, hub.store.processors, device, 1000);
  return history.reverse().map((h) => ({ to: h.state, cause: h.cause, from: h.from, at: h.at }));
}

/** Resolves with the device's transitions once `pred` holds for them; fails after `ms`. */
async function until(hub: Telehub, device: string, pred: (t: Transition[]) => boolean, ms = 20_000): Promise<Transition[]> {
  const end = Date.now() + ms;
  for (;;) {
    const t = await transitions(hub, device);
    if (pred(t)) return t;
    if (Date.now() > end) throw new Error(`timed out; presence of ${device}: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const last = (t: Transition[]) => t.at(-1);
const is = (to: string, cause: string) => (t: Transition[]) => last(t)?.to === to && last(t)?.cause === cause;

async function api(hub: Telehub, token: string, p: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${hub.httpPort}${p}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('presence via the embedded broker', () => {
  it('connect, keep-alive only, clean disconnect, will, first seen after start-up, restart', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-presence-'));
    dirs.push(dataDir);
    let hub = await start(dataDir);
    const { token: readToken, record } = newToken({ name: 'presence-read', scope: 'read' });
    await hub.store.tokens.create(record);
    const { token: ingestToken, record: ingestRecord } = newToken({ name: 'presence-ingest', scope: 'ingest' });
    await hub.store.tokens.create(ingestRecord);
    const url = `mqtt://127.0.0.1:${hub.mqttPort}`;
    const a = 'node_a';
    const b = 'node_b';
    try {
      // A: client id differs from the node id; the node is learned from its topic.
      const ca = await mqtt.connectAsync(url, { clientId: 'esp32-a-client', keepalive: 1, protocolVersion: 4 });
      await ca.publishAsync(`iot/node/${a}/telemetry`, JSON.stringify({ node_id: a, timestamp: 1704844800, sensors: { t: 1 }, wifi_rssi: -61, uptime: 42 }), { qos: 1 });
      let ta = await until(hub, a, (t) => t.length >= 1);
      assert.deepEqual(ta.map((x) => `${x.to}/${x.cause}`), ['online/connected']);
      // Only keep-alives from now on: silent after its timeout, not offline while connected.
      ta = await until(hub, a, is('silent', 'silence'), TIMEOUT_MS + SLACK_MS);
      assert.ok(last(ta)!.at - ta[0].at >= TIMEOUT_MS, 'not silent before its timeout');
      assert.equal(hub.presence!.state(a)!.connected, true);
      assert.equal(hub.presence!.isOnline(a), false);
      // The registry row (through the processor) shows it, with the status from telemetry meta.
      const devA = await until(hub, a, () => true).then(() => api(hub, readToken, `/api/v1/devices/${a}`));
      assert.equal(devA.status, 200);
      // The row follows the log: wait for the processor to have applied the silent entry.
      for (const end = Date.now() + 10_000; ; ) {
        const d = (await api(hub, readToken, `/api/v1/devices/${a}`)).body;
        if (d.presence === 'silent') {
          assert.equal(d.presence_cause, 'silence');
          assert.equal(d.wifi_rssi, -61);
          assert.equal(d.uptime_s, 42);
          assert.equal(d.interval_ms, 300);
          assert.equal(d.timeout_ms, TIMEOUT_MS);
          assert.ok(typeof d.last_data_at === 'string');
          break;
        }
        if (Date.now() > end) throw new Error(`registry row never showed silent: ${JSON.stringify(d)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // Data again: online/data. Then a clean disconnect: offline/disconnected.
      await ca.publishAsync(`iot/node/${a}/telemetry`, JSON.stringify({ node_id: a, timestamp: 1704844860, sensors: { t: 2 } }), { qos: 1 });
      await until(hub, a, is('online', 'data'));
      await ca.endAsync();
      await until(hub, a, is('offline', 'disconnected'));

      // B: client id = node id, with a will on its status topic; killed without DISCONNECT.
      const cb = await mqtt.connectAsync(url, { clientId: b, protocolVersion: 4, reconnectPeriod: 0, will: { topic: `iot/node/${b}/status`, payload: Buffer.from('offline'), qos: 1, retain: false } });
      await cb.publishAsync(`iot/node/${b}/status`, JSON.stringify({ status: 'online', firmware: '2.0.1', wifi_rssi: -70 }), { qos: 1 });
      await until(hub, b, (t) => last(t)?.to === 'online');
      cb.stream.destroy(); // killed: no DISCONNECT, and (reconnectPeriod 0) no reconnect
      const tb = await until(hub, b, is('offline', 'will'));
      assert.ok(!tb.some((x) => x.to === 'offline' && x.cause !== 'will'), 'one offline, by the will');
      for (const end = Date.now() + 10_000; ; ) {
        const stored = await hub.store.recentEvents(100, b);
        if (stored.some((e) => e.eventType === 'status' && e.valueText === 'offline')) break; // the will, stored as the node's status
        if (Date.now() > end) throw new Error('the will was not stored');
        await new Promise((r) => setTimeout(r, 20));
      }
      // The status that reported the firmware reaches the device row through the device-registry processor, which
      // may still trail the presence transitions awaited above (the broker's connect and will write those at once).
      for (const end = Date.now() + 10_000; ; ) {
        const firmware = (await api(hub, readToken, `/api/v1/devices/${b}`)).body.firmware;
        if (firmware === '2.0.1' || Date.now() > end) {
          assert.equal(firmware, '2.0.1');
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }

      // C: first seen after start-up, over HTTP (no connection): online → silent → offline by silence.
      const c = `http_${randomBytes(3).toString('hex')}`;
      const res = await fetch(`http://127.0.0.1:${hub.httpPort}/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ schema: 1, event_id: `${c}-1`, device_id: c, event_type: 'temp', value: 20 }),
      });
      assert.equal(res.status, 202);
      const tc = await until(hub, c, is('offline', 'silence'), 2 * TIMEOUT_MS * 2 + SLACK_MS);
      assert.deepEqual(tc.map((x) => `${x.to}/${x.cause}`), ['online/data', 'silent/silence', 'offline/silence']);
      assert.ok(tc[1].at - tc[0].at >= TIMEOUT_MS && tc[1].at - tc[0].at <= TIMEOUT_MS + SLACK_MS, `silent within its timeout plus 5 s: ${tc[1].at - tc[0].at} ms`);
      assert.ok(tc[2].at - tc[0].at >= 2 * TIMEOUT_MS, 'offline only after offline-after timeouts');

      // D: online right before a stop; after the restart it is not shown online on lost state for longer than its timeout.
      const d = `http_${randomBytes(3).toString('hex')}`;
      await fetch(`http://127.0.0.1:${hub.httpPort}/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ schema: 1, event_id: `${d}-1`, device_id: d, event_type: 'temp', value: 20 }),
      });
      await until(hub, d, is('online', 'data'));
    } finally {
      await hub.stop();
    }
    // Restart on the same store.
    hub = await start(dataDir);
    try {
      const devices = (await api(hub, readToken, '/api/v1/devices')).body.devices as Array<{ device_id: string; presence: string }>;
      // Offline devices stay offline; none is online except one still within its timeout.
      assert.equal(devices.find((x) => x.device_id === b)?.presence, 'offline');
      assert.equal(devices.find((x) => x.device_id === a)?.presence, 'offline');
      // None stuck online: within timeout plus 5 s every device is not online, in the API and the monitor.
      for (const end = Date.now() + 2 * TIMEOUT_MS * 2 + SLACK_MS; ; ) {
        const now = (await api(hub, readToken, '/api/v1/devices')).body.devices as Array<{ device_id: string; presence: string }>;
        if (now.every((x) => x.presence !== 'online') && now.every((x) => !hub.presence!.isOnline(x.device_id))) break;
        if (Date.now() > end) throw new Error(`still online after restart: ${JSON.stringify(now)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // A device reconnecting after the restart comes back online.
      const ca = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { clientId: 'esp32-a-client-2', protocolVersion: 4 });
      await ca.publishAsync(`iot/node/${a}/telemetry`, JSON.stringify({ node_id: a, timestamp: 1704844920, sensors: { t: 3 } }), { qos: 1 });
      await until(hub, a, is('online', 'connected'));
      await ca.endAsync();
    } finally {
      await hub.stop();
    }
  });
});

describe('presence via Mosquitto (wills, status and silence only)', { skip: needsMosquitto }, () => {
  const mqEnv = (p: string, clientId: string) => ({
    MQTT_URL: mosquittoUrl!,
    MQTT_CLIENT_ID: clientId,
    TELEHUB_NODE_TELEMETRY_TOPIC: `${p}iot/node/+/telemetry`,
    TELEHUB_NODE_STATUS_TOPIC: `${p}iot/node/+/status`,
    MQTT_EVENTS_TOPIC: `${p}qs/v1/+/events`,
    MQTT_DEADLETTER_TOPIC: `${p}qs/v1/deadletter`,
  });

  it('a will on the status topic turns the node offline with cause status; data brings it back', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-presence-mq-'));
    dirs.push(dataDir);
    const p = `t${randomBytes(3).toString('hex')}/`;
    const hub = await start(dataDir, mqEnv(p, `telehub-presence-${randomBytes(3).toString('hex')}`));
    const n = 'node_m';
    try {
      const c = await mqtt.connectAsync(mosquittoUrl!, { clientId: `${p}${n}`, protocolVersion: 4, reconnectPeriod: 0, will: { topic: `${p}iot/node/${n}/status`, payload: Buffer.from('offline'), qos: 1, retain: false } });
      await c.publishAsync(`${p}iot/node/${n}/telemetry`, JSON.stringify({ node_id: n, timestamp: 1704844800, sensors: { t: 1 } }), { qos: 1 });
      await until(hub, n, is('online', 'data'));
      c.stream.destroy(); // killed: no DISCONNECT, and (reconnectPeriod 0) no reconnect
      await until(hub, n, is('offline', 'status'));
      const c2 = await mqtt.connectAsync(mosquittoUrl!, { clientId: `${p}${n}`, protocolVersion: 4 });
      await c2.publishAsync(`${p}iot/node/${n}/telemetry`, JSON.stringify({ node_id: n, timestamp: 1704844801, sensors: { t: 2 } }), { qos: 1 });
      const t = await until(hub, n, (x) => x.length >= 3);
      assert.deepEqual(t.map((x) => `${x.to}/${x.cause}`), ['online/data', 'offline/status', 'online/data']);
      await c2.endAsync();
    } finally {
      await hub.stop();
    }
  });

  it('keep-alive only turns silent by silence; a will that says so is cause will; a retained online; a restart recomputes from the store', async (t) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-presence-mq2-'));
    dirs.push(dataDir);
    const p = `t${randomBytes(3).toString('hex')}/`;
    const clientId = `telehub-presence-${randomBytes(3).toString('hex')}`;
    const k = 'node_keepalive';
    const w = 'node_will';
    const r = 'node_retained';
    // A retained `online` on the broker before telehub subscribes (a birth message of a node that started earlier).
    const admin = await mqtt.connectAsync(mosquittoUrl!, { clientId: `${p}admin`, protocolVersion: 4 });
    await admin.publishAsync(`${p}iot/node/${r}/status`, 'online', { qos: 1, retain: true });
    let hub = await start(dataDir, mqEnv(p, clientId));
    const clients: mqtt.MqttClient[] = [];
    try {
      // Retained online, received when telehub subscribed: online/status.
      await until(hub, r, is('online', 'status'));

      // Keep-alive only: one reading, then the connection stays open sending PINGREQs (keepalive 1 s).
      const ck = await mqtt.connectAsync(mosquittoUrl!, { clientId: `${p}${k}`, protocolVersion: 4, keepalive: 1, reconnectPeriod: 0 });
      clients.push(ck);
      await ck.publishAsync(`${p}iot/node/${k}/telemetry`, JSON.stringify({ node_id: k, timestamp: 1704844800, sensors: { t: 1 } }), { qos: 1 });
      const online = (await until(hub, k, is('online', 'data')))[0];
      const tk = await until(hub, k, is('silent', 'silence'), TIMEOUT_MS + SLACK_MS);
      const seenAt = Date.now();
      const silent = last(tk)!;
      const deadline = online.at + TIMEOUT_MS;
      assert.ok(silent.at >= deadline, 'not silent before its timeout');
      assert.ok(silent.at - deadline <= SLACK_MS, `silent within its timeout plus 5 s: ${silent.at - deadline} ms late`);
      assert.ok(ck.connected, 'the client was connected (keep-alives) all along');
      // Presence lag (a figure, not a bound): from last data + timeout to the transition, and to seeing it committed.
      t.diagnostic(`presence lag (Mosquitto, SQLite): decided ${silent.at - deadline} ms after last data + timeout; committed and read back within ${seenAt - deadline} ms (20 ms polls)`);
      // Behind an external broker telehub sees no connection: with only keep-alives, offline by silence too.
      await until(hub, k, is('offline', 'silence'), 2 * TIMEOUT_MS * 2 + SLACK_MS);

      // A will whose payload says it is one: offline with cause will.
      const cw = await mqtt.connectAsync(mosquittoUrl!, {
        clientId: `${p}${w}`,
        protocolVersion: 4,
        keepalive: 1,
        reconnectPeriod: 0,
        will: { topic: `${p}iot/node/${w}/status`, payload: Buffer.from(JSON.stringify({ status: 'offline', will: true })), qos: 1, retain: false },
      });
      await cw.publishAsync(`${p}iot/node/${w}/status`, 'online', { qos: 1 });
      await until(hub, w, is('online', 'status'));
      cw.stream.destroy(); // killed: Mosquitto publishes the will after 1.5 × keep-alive
      const tw = await until(hub, w, is('offline', 'will'));
      assert.deepEqual(tw.map((x) => `${x.to}/${x.cause}`), ['online/status', 'offline/will']);
    } finally {
      for (const c of clients) c.stream.destroy();
      await hub.stop();
    }

    // Restart on the same store. The retained online comes again on subscribe (fresh evidence, so
    // online/status), but with no data it turns silent within its timeout: nothing is shown online on
    // state from before the restart, nothing stays online.
    const before = await transitionsOf(dataDir, r);
    hub = await start(dataDir, mqEnv(p, clientId));
    try {
      const { token, record } = newToken({ name: 'presence-mq-read', scope: 'read' });
      await hub.store.tokens.create(record);
      assert.notEqual(hub.presence!.state(k)?.presence, 'online');
      assert.equal(hub.presence!.state(w)?.presence, 'offline');
      assert.equal(hub.presence!.state(w)?.cause, 'will');
      const tr = await until(hub, r, (x) => x.length > before.length && last(x)?.to === 'silent', TIMEOUT_MS * 2 + SLACK_MS);
      assert.equal(last(tr)!.cause, 'silence');
      for (const end = Date.now() + 2 * TIMEOUT_MS * 2 + SLACK_MS; ; ) {
        const devices = (await api(hub, token, '/api/v1/devices')).body.devices as Array<{ device_id: string; presence: string }>;
        const mine = devices.filter((d) => [k, w, r].includes(d.device_id));
        if (mine.length === 3 && mine.every((d) => d.presence !== 'online')) break;
        if (Date.now() > end) throw new Error(`still online after restart: ${JSON.stringify(mine)}`);
        await new Promise((res) => setTimeout(res, 20));
      }
      // The history endpoint shows what happened to the retained node, newest first.
      const h = (await api(hub, token, `/api/v1/devices/${r}/presence`)).body.transitions as Array<{ presence: string; cause: string }>;
      assert.equal(h[0].presence, last(await transitions(hub, r))!.to);
    } finally {
      await admin.publishAsync(`${p}iot/node/${r}/status`, '', { qos: 1, retain: true }); // clear the retained message
      await admin.endAsync();
      await hub.stop();
    }
  });
});

/** A stopped telehub's transitions of a device, read from its SQLite store. */
async function transitionsOf(dataDir: string, device: string): Promise<Transition[]> {
  const { openStore } = await import('../../src/storage/open.js');
  const { loadConfig: load } = await import('../../src/core/config.js');
  const store = openStore(load({ TELEHUB_DATA_DIR: dataDir }).store);
  try {
    await store.migrate();
    return (await readPresenceHistory(store.kind, store.processors, device, 1000)).reverse().map((h) => ({ to: h.state, cause: h.cause, from: h.from, at: h.at }));
  } finally {
    await store.close();
  }
}

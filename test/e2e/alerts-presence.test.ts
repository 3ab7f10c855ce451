/**
 * A presence alert rule end to end, with real presence: telehub in process
 * (embedded broker; SQLite and PostgreSQL), a config file giving the nodes a
 * 1 s expected interval (`devices:`; timeout 2 s with
 * TELEHUB_PRESENCE_GRACE_PERCENT 200) and the rule
 * `{name: node-down, devices: "node-*", presence: [silent, offline], for: 2s}`
 * with a JSON webhook to a real HTTP receiver in this test, and MQTT.js
 * clients as the nodes:
 *
 * - node-1 reports, then stops sending while staying connected: the monitor
 *   turns it `silent` (silence) after its timeout, and 2 s later the rule
 *   fires; it reports again: `online` (data), the alert resolves.
 * - node-3 reports, then disconnects cleanly without a will: `offline`
 *   (disconnected), fires 2 s later; it connects and reports again: resolves.
 * - node-2 keeps reporting every 200 ms all along: it never fires.
 *
 * Each change is checked once in the store (`GET /api/v1/alerts/events`, at
 * exactly the presence transition's time + 2 s), once on MQTT
 * (`alerts/node-down/{device}`, a subscriber on the embedded broker) and once
 * at the webhook receiver (which answers 200 to every request, so a repeat
 * would show). The counts are taken once every outbox row is delivered: the
 * deliverer sends undelivered rows only, so nothing can come after that.
 * Every wait is for a condition (messages received, requests received, the
 * API's answer), never a fixed sleep.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { readPresenceHistory } from '../../src/storage/presence-log.js';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';
import { stopTestPostgres } from '../helpers/postgres.js';

after(() => stopTestPostgres());

const RULE = 'node-down';
const FOR_MS = 2000;

interface Hook {
  key: string;
  rule: string;
  device: string;
  state: string;
  at: string;
}
interface AlertEvent {
  key: string;
  rule: string;
  device_id: string;
  state: string;
  at: string;
  deliveries: { target: string; delivered_at: string | null }[];
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One node-telemetry report (event ids are node:timestamp:sensor, so each report is new). */
let lastTs = 0;
function report(c: MqttClient, node: string): Promise<unknown> {
  lastTs = Math.max(lastTs + 1, Date.now());
  return c.publishAsync(`iot/node/${node}/telemetry`, JSON.stringify({ node_id: node, timestamp: lastTs, sensors: { t: 21.5 } }), { qos: 1 });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`a presence alert rule with real presence (${kind})`, () => {
    it('fires once when a node goes silent or disconnects, resolves once when it reports again; a node that stays up never fires', async () => {
      const hooks: Hook[] = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          const n = JSON.parse(body) as { id: string; rule: string; device_id: string; state: string; at: string };
          assert.equal(req.headers['idempotency-key'], n.id);
          hooks.push({ key: n.id, rule: n.rule, device: n.device_id, state: n.state, at: n.at });
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

      let app: InProcessTelehub | undefined;
      const clients: MqttClient[] = [];
      let keepUp: NodeJS.Timeout | undefined;
      try {
        // startInProcess makes its own data dir: the config file goes in a dir of its own, read at start.
        const cfgDir = mkdtempSync(path.join(tmpdir(), 'telehub-alertpres-'));
        const configFile = path.join(cfgDir, 'telehub.yaml');
        writeFileSync(
          configFile,
          [
            'devices:',
            '  - { id: node-1, interval_s: 1 }',
            '  - { id: node-2, interval_s: 1 }',
            '  - { id: node-3, interval_s: 1 }',
            'alerts:',
            '  tick: 100ms',
            '  poll: 50ms',
            '  retry_min: 50ms',
            '  retry_max: 200ms',
            `  webhooks: [{ name: receiver, type: json, url: "${hookUrl}" }]`,
            `  rules: [{ name: ${RULE}, devices: "node-*", presence: [silent, offline], for: 2s }]`,
            '',
          ].join('\n'),
        );
        try {
          app = await startInProcess(kind, { TELEHUB_CONFIG: configFile, TELEHUB_LOG_POLL_MS: '20', TELEHUB_PRESENCE_GRACE_PERCENT: '200' });
        } finally {
          rmSync(cfgDir, { recursive: true, force: true });
        }
        const hub = app.hub;
        const readToken = await app.token('read');
        const api = async <T>(p: string): Promise<T> => {
          const res = await fetch(`${app!.base}${p}`, { headers: { authorization: `Bearer ${readToken}` } });
          assert.equal(res.status, 200, p);
          return (await res.json()) as T;
        };
        const presence = async (device: string) => (await readPresenceHistory(hub.store.kind, hub.store.processors, device, 1000)).reverse();
        const url = `mqtt://127.0.0.1:${hub.mqttPort}`;
        const connect = async (clientId: string) => {
          const c = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, protocolVersion: 4 });
          clients.push(c);
          return c;
        };

        // The alert publications, counted from before anything can fire.
        const onMqtt: { topic: string; key: string; state: string }[] = [];
        const sub = await connect('alertpres-sub');
        sub.on('message', (topic, payload) => {
          const n = JSON.parse(payload.toString()) as { id: string; state: string };
          onMqtt.push({ topic, key: n.id, state: n.state });
        });
        await sub.subscribeAsync(`alerts/${RULE}/#`, { qos: 1 });

        // node-2 stays up: a report every 200 ms (its timeout is 2 s) until the end.
        const n2 = await connect('node-2-client');
        await report(n2, 'node-2');
        keepUp = setInterval(() => void report(n2, 'node-2').catch(() => {}), 200);

        // node-1 and node-3 report a few times and are online.
        const n1 = await connect('node-1-client');
        const n3 = await connect('node-3-client');
        for (let i = 0; i < 3; i++) await Promise.all([report(n1, 'node-1'), report(n3, 'node-3')]);
        for (const d of ['node-1', 'node-2', 'node-3']) await until(`${d} online`, async () => (await presence(d)).at(-1)?.state === 'online');

        // node-1 stops sending but stays connected; node-3 disconnects cleanly (no will).
        await n3.endAsync();
        const fired = (d: string) => hooks.find((h) => h.device === d && h.state === 'firing');
        const [f1, f3] = await Promise.all([until('node-1 firing at the webhook', () => fired('node-1')), until('node-3 firing at the webhook', () => fired('node-3'))]);

        // Each fired exactly `for` after the presence transition that entered the condition.
        const p1 = await presence('node-1');
        const silent = p1.find((p) => p.state === 'silent');
        assert.ok(silent, `node-1 went silent: ${JSON.stringify(p1)}`);
        assert.equal(silent.cause, 'silence');
        assert.ok(!p1.some((p) => p.state === 'offline'), 'node-1 stays connected: silent, not offline');
        assert.equal(Date.parse(f1.at), silent.at + FOR_MS);
        const p3 = await presence('node-3');
        const off = p3.find((p) => p.state === 'offline');
        assert.ok(off, `node-3 went offline: ${JSON.stringify(p3)}`);
        assert.equal(off.cause, 'disconnected');
        assert.equal(Date.parse(f3.at), off.at + FOR_MS);
        const firing = await api<{ alerts: { rule: string; device_id: string; state: string }[] }>(`/api/v1/alerts?rule=${RULE}&state=firing`);
        assert.deepEqual(firing.alerts.map((a) => a.device_id).sort(), ['node-1', 'node-3']);

        // They report again: online, and the alerts resolve.
        await report(n1, 'node-1');
        const n3b = await connect('node-3-client-2');
        await report(n3b, 'node-3');
        const resolved = (d: string) => hooks.find((h) => h.device === d && h.state === 'resolved');
        const [r1, r3] = await Promise.all([until('node-1 resolved at the webhook', () => resolved('node-1')), until('node-3 resolved at the webhook', () => resolved('node-3'))]);
        const back1 = (await presence('node-1')).at(-1)!;
        assert.deepEqual([back1.state, back1.cause, Date.parse(r1.at)], ['online', 'data', back1.at]);
        const back3 = (await presence('node-3')).at(-1)!;
        assert.equal(back3.state, 'online');
        assert.equal(Date.parse(r3.at), back3.at);

        // Every change delivered on both targets; from then on nothing more is sent.
        const events = await until('every change delivered', async () => {
          const e = (await api<{ events: AlertEvent[] }>(`/api/v1/alerts/events?rule=${RULE}&limit=100`)).events;
          return e.length === 4 && e.every((x) => x.deliveries.length === 2 && x.deliveries.every((d) => d.delivered_at !== null)) && onMqtt.length >= 4 ? e : undefined;
        });
        // node-2 was seen by the rule all along and is ok (it stayed up for longer than timeout + for).
        const ok2 = await api<{ alerts: { device_id: string; state: string }[] }>(`/api/v1/alerts?rule=${RULE}&device=node-2`);
        assert.deepEqual(ok2.alerts.map((a) => [a.device_id, a.state]), [['node-2', 'ok']]);
        clearInterval(keepUp);
        keepUp = undefined;

        // Exactly once each: in the store, at the webhook, on MQTT; nothing for node-2.
        const changes = events.reverse().map((e) => [e.device_id, e.state, e.key]).sort();
        const want = [...changes];
        assert.deepEqual(want.map(([d, s]) => `${d}/${s}`), ['node-1/firing', 'node-1/resolved', 'node-3/firing', 'node-3/resolved']);
        assert.deepEqual(hooks.map((h) => [h.device, h.state, h.key]).sort(), want);
        assert.ok(hooks.every((h) => h.rule === RULE));
        assert.deepEqual(onMqtt.map((m) => [m.topic.split('/')[2], m.state, m.key]).sort(), want);
        assert.ok(onMqtt.every((m) => m.topic === `alerts/${RULE}/${m.topic.split('/')[2]}`));
        // Per device, firing before resolved at the receiver.
        for (const d of ['node-1', 'node-3']) assert.deepEqual(hooks.filter((h) => h.device === d).map((h) => h.state), ['firing', 'resolved']);
      } finally {
        if (keepUp !== undefined) clearInterval(keepUp);
        await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
        await app?.close();
        server.closeAllConnections();
        server.close();
      }
    });
  });
}

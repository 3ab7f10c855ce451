/**
 * The alerts processor against both real stores: a simulated sensor that
 * crosses a threshold fires once after the minimum duration and resolves
 * once under hysteresis (state carried across many small transactions); a
 * rebuild records the same changes with the same keys and queues nothing
 * again; presence rules on synthetic `presence` entries (the presence
 * monitor's shape); the clock fires a pending condition with no new data;
 * the guard refuses a tick computed over a state another transaction moved;
 * and the deliverer gets each change to a real local HTTP receiver that
 * fails twice exactly once with a 2xx, in order, and never resends after it.
 */
import { appendPresence } from '../../storage/presence-log.js';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { DEFAULT_ALERTS, type AlertsConfig } from '../../alerts/config.js';
import { AlertDeliverer } from '../../alerts/deliverer.js';
import { AlertsRepository } from '../../alerts/repository.js';
import { parseRule, type AlertRule } from '../../alerts/rules.js';
import type { TelemetryEvent } from '../../core/event.js';
import { ProcessorRunner } from '../../log/runner.js';
import { CheckpointMovedError } from '../../storage/log.js';
import type { Store } from '../../storage/store.js';
import { stopTestPostgres } from '../../../test/helpers/postgres.js';
import { ALERTS, alerts } from './index.js';
import { openTestStore } from '../../../test/helpers/store.js';

after(() => stopTestPostgres());

const log = pino({ level: 'silent' });
const RUN = { batchSize: 3, pollMs: 20, retryMinMs: 1, retryMaxMs: 20 };
const T0 = Date.UTC(2025, 0, 1);

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'alerts');

let n = 0;
function ev(deviceId: string, type: string, value: number | string, tsDevice: number | null, tsServer: number): TelemetryEvent {
  return {
    eventId: `e${n++}`, deviceId, schema: 1, eventType: type,
    valueNum: typeof value === 'number' ? value : null, valueText: typeof value === 'string' ? value : null,
    unit: null, tsDevice, tsServer, meta: '{}',
  };
}

function rule(spec: Record<string, unknown>): AlertRule {
  const problems: string[] = [];
  const r = parseRule(spec, 'test', problems, 'config');
  assert.deepEqual(problems, []);
  return r!;
}

const HOT = rule({ name: 'boiler-hot', devices: 'hp-*', event_type: 'temperature', above: 30, clear: 25, for: '60s' });

function config(rules: AlertRule[], extra: Partial<AlertsConfig> = {}): AlertsConfig {
  return { ...DEFAULT_ALERTS, rules, mqtt: false, ...extra };
}

async function history(store: Store, cfg: AlertsConfig) {
  return (await new AlertsRepository(store.processors, store.kind, cfg).history({ limit: 1000 })).reverse();
}

/** A sensor reading every 10 s (event time), as [seconds, value]. */
const TRACE: [number, number][] = [
  [0, 20], [10, 22], [20, 31], [30, 35], [40, 29], [50, 33], [60, 31], [70, 34], [80, 32], // above 30 from 20 s (29 is inside the band): fires at 80 s
  [90, 29], [100, 31], [110, 26], [120, 28], // inside the band 25..30: stays firing
  [130, 24], // below clear: resolves at 130 s
  [140, 26], [150, 29], [160, 31], [170, 33], [180, 26], [190, 31], [200, 24], // above again at 160 s but not for 60 s: no change
];

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`alerts processor on ${kind}`, () => {
    it('a sensor crossing the threshold fires once after the minimum duration and resolves once under hysteresis; a rebuild records the same', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const cfg = config([HOT], { webhooks: [{ name: 'hook', type: 'json', url: 'http://127.0.0.1:9/' }] });
        // Two devices: hp-1 follows the trace, hp-2 stays cool; other-1 is not matched by hp-*.
        for (const [s, v] of TRACE) {
          await store.writeBatch({ events: [ev('hp-1', 'temperature', v, T0 + s * 1000, T0 + s * 1000 + 50), ev('hp-2', 'temperature', 20, T0 + s * 1000, T0 + s * 1000 + 60), ev('other-1', 'temperature', 99, T0 + s * 1000, T0 + s * 1000)], deadLetters: [] });
        }
        const p = alerts(cfg, store.processors);
        await new ProcessorRunner(store, [p], RUN, log).catchUp(ALERTS);
        const h = await history(store, cfg);
        assert.deepEqual(h.map((e) => [e.rule, e.deviceId, e.state, e.at - T0, e.valueNum]), [
          ['boiler-hot', 'hp-1', 'firing', 80_000, 34], // pending since 20 s; at 80 s the value read at 70 s still held
          ['boiler-hot', 'hp-1', 'resolved', 130_000, 24],
        ]);
        // One outbox row per change and target.
        assert.deepEqual(h.map((e) => e.deliveries.map((d) => [d.target, d.deliveredAt])), [[['hook', null]], [['hook', null]]]);
        const states = await new AlertsRepository(store.processors, store.kind, cfg).states();
        assert.deepEqual(states.map((s) => [s.deviceId, s.state]), [['hp-1', 'ok'], ['hp-2', 'ok']]);

        // Rebuild from 0: the same changes with the same keys; the outbox is not filled twice.
        const keys = h.map((e) => e.key);
        await store.processors.reset(ALERTS, p.tables);
        assert.equal((await history(store, cfg)).length, 0);
        await new ProcessorRunner(store, [alerts(cfg, store.processors)], { ...RUN, batchSize: 1000 }, log).catchUp(ALERTS);
        assert.deepEqual((await history(store, cfg)).map((e) => e.key), keys);
        const outbox = await store.processors.select('SELECT key FROM alert_outbox ORDER BY id', []);
        assert.deepEqual(outbox.map((r) => r.key), keys);
      } finally {
        await cleanup();
      }
    });

    it('presence rules fire on presence transitions held for their duration, and resolve when the device is back; readings of type presence are not transitions', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const OFF = rule({ name: 'node-down', devices: 'node_*', presence: ['silent', 'offline'], for: '5m' });
        const cfg = config([OFF]);
        const presence = (deviceId: string, state: string, s: number) => ({ deviceId, state, cause: 'silence', from: 'online', at: T0 + s * 1000 });
        const append = (entries: ReturnType<typeof presence>[]) => appendPresence(store.kind, store.processors, entries);
        await append([presence('node_01', 'online', 0), presence('node_02', 'online', 0)]);
        await append([presence('node_01', 'silent', 60), presence('node_02', 'offline', 60)]);
        // A device's own reading of type presence (a PIR sensor) is not a transition.
        await store.writeBatch({ events: [ev('node_03', 'presence', 'offline', null, T0)], deadLetters: [] });
        await append([presence('node_01', 'offline', 120), presence('node_02', 'online', 200)]); // node_02 back after 140 s: never fires
        await append([presence('node_01', 'online', 600)]);
        await new ProcessorRunner(store, [alerts(cfg, store.processors)], RUN, log).catchUp(ALERTS);
        const h = await history(store, cfg);
        // node_01 silent from 60 s, then offline (still in the set): fires at 60 + 300 s; back online at 600 s.
        assert.deepEqual(h.map((e) => [e.deviceId, e.state, e.at - T0, e.valueText]), [
          ['node_01', 'firing', 360_000, 'offline'],
          ['node_01', 'resolved', 600_000, 'online'],
        ]);
      } finally {
        await cleanup();
      }
    });

    it('the clock fires a pending condition with no new data, at since + for, once', async () => {
      const { store, cleanup } = await openStore(kind);
      const cfg = config([rule({ name: 'cold', devices: 'fridge', event_type: 't', below: 2, for: '30s' })], { tickMs: 20 });
      const runner = new ProcessorRunner(store, [alerts(cfg, store.processors)], RUN, log);
      try {
        const now = Date.now();
        // The device's clock is 1 h behind; it went below 2 forty seconds ago (server time) and said nothing since.
        const skew = -3_600_000;
        await store.writeBatch({ events: [ev('fridge', 't', 5, now - 50_000 + skew, now - 50_000), ev('fridge', 't', 1, now - 40_000 + skew, now - 40_000)], deadLetters: [] });
        await runner.start();
        const end = Date.now() + 20_000;
        let h = await history(store, cfg);
        while (h.length === 0 && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 20));
          h = await history(store, cfg);
        }
        assert.deepEqual(h.map((e) => [e.state, e.at - (now - 40_000 + skew), e.seq, e.valueNum]), [['firing', 30_000, null, 1]]);
        // A new low reading changes nothing; a warm one resolves.
        await store.writeBatch({ events: [ev('fridge', 't', 0, now - 10_000 + skew, now - 10_000), ev('fridge', 't', 4, now + skew, now)], deadLetters: [] });
        runner.wakeup.ring();
        const end2 = Date.now() + 20_000;
        while ((h = await history(store, cfg)).length < 2 && Date.now() < end2) await new Promise((r) => setTimeout(r, 20));
        assert.deepEqual(h.map((e) => e.state), ['firing', 'resolved']);
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('a tick computed before another transaction moved the alerts state is refused whole (guard)', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const cfg = config([rule({ name: 'hot', devices: '*', event_type: 't', above: 1, for: '1s' })]);
        await store.writeBatch({ events: [ev('d', 't', 5, T0, T0)], deadLetters: [] });
        const p = alerts(cfg, store.processors);
        await new ProcessorRunner(store, [p], RUN, log).catchUp(ALERTS);
        const cp = (await store.processors.get(ALERTS))!;
        const tickStatements = await p.tick!(Date.now(), store.kind);
        assert.ok(tickStatements.length > 0, 'the tick has a change to make');
        // Another process's step commits first (a new reading: still above, pending since T0, fires).
        await store.writeBatch({ events: [ev('d', 't', 6, T0 + 2000, T0 + 2000)], deadLetters: [] });
        await new ProcessorRunner(store, [alerts(cfg, store.processors)], RUN, log).catchUp(ALERTS);
        const cp2 = (await store.processors.get(ALERTS))!;
        assert.ok(cp2 > cp);
        await assert.rejects(store.processors.commit(ALERTS, cp2, cp2, tickStatements), CheckpointMovedError);
        const h = await history(store, cfg);
        assert.deepEqual(h.map((e) => [e.state, e.at - T0]), [['firing', 1000]]);
      } finally {
        await cleanup();
      }
    });

    it('a webhook that fails twice gets each change exactly once with a 2xx, firing before resolved, and is not sent again', async () => {
      const { store, cleanup } = await openStore(kind);
      const received: { key: string; state: string; status: number; body: Record<string, unknown> }[] = [];
      let failures = 2;
      const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          const status = failures-- > 0 ? 503 : 200;
          const parsed = JSON.parse(body) as Record<string, unknown>;
          received.push({ key: String(req.headers['idempotency-key']), state: String(parsed.state), status, body: parsed });
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const cfg = config([HOT], { webhooks: [{ name: 'hook', type: 'json', url }], mqtt: true, retryMinMs: 10, retryMaxMs: 40, pollMs: 10 });
      const published: { topic: string; payload: string }[] = [];
      const deliverer = new AlertDeliverer(store.processors, store.kind, cfg, { log, mqtt: () => ({ publish: (topic, payload) => void published.push({ topic, payload: String(payload) }) }) });
      try {
        for (const [s, v] of TRACE) await store.writeBatch({ events: [ev('hp-1', 'temperature', v, T0 + s * 1000, T0 + s * 1000)], deadLetters: [] });
        await new ProcessorRunner(store, [alerts(cfg, store.processors)], RUN, log).catchUp(ALERTS);
        const changes = await history(store, cfg);
        assert.equal(changes.length, 2);
        deliverer.start();
        const end = Date.now() + 20_000;
        while (received.filter((r) => r.status === 200).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
        await deliverer.stop();
        // Three attempts of the firing change (503, 503, 200) with one key, then the resolved one.
        assert.deepEqual(received.map((r) => [r.key, r.state, r.status]), [
          [changes[0].key, 'firing', 503],
          [changes[0].key, 'firing', 503],
          [changes[0].key, 'firing', 200],
          [changes[1].key, 'resolved', 200],
        ]);
        assert.equal(received[2].body.id, changes[0].key);
        assert.equal(received[2].body.device_id, 'hp-1');
        assert.equal(received[2].body.at, new Date(T0 + 80_000).toISOString());
        // Each change reached each target once with success, per the outbox too.
        const after = await history(store, cfg);
        for (const c of after) for (const d of c.deliveries) assert.ok(d.deliveredAt !== null, `${c.state} → ${d.target} delivered`);
        assert.deepEqual(after.map((c) => c.deliveries.find((d) => d.target === 'hook')?.attempts), [3, 1]);
        assert.deepEqual(published.map((p) => [p.topic, JSON.parse(p.payload).state]), [['alerts/boiler-hot/hp-1', 'firing'], ['alerts/boiler-hot/hp-1', 'resolved']]);
        // Nothing is due any more: a further pass sends nothing.
        assert.equal(await deliverer.deliverDue(), 0);
        assert.equal(received.length, 4);
      } finally {
        await deliverer.stop();
        server.close();
        await cleanup();
      }
    });
  });
}

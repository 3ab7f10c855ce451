/**
 * The alerts outbox's housekeeping on both real stores (SQLite and
 * PostgreSQL): the delivery metrics on /metrics (delivered, failed and
 * retried per target and channel, outbox depth per target, rows deleted),
 * and the cleanup of delivered rows older than `alerts.outbox_retention`:
 * undelivered and recent rows stay, each stream's newest row stays, and a
 * rebuild of the alerts processor afterwards queues none of the deleted
 * changes again (nothing is sent twice), while a new change still goes out.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { createMetrics } from '../core/metrics.js';
import type { TelemetryEvent } from '../core/event.js';
import { ProcessorRunner } from '../log/runner.js';
import { ALERTS, alerts } from '../processors/alerts/index.js';
import { stopTestPostgres } from '../../test/helpers/postgres.js';
import { checkAlerts, DEFAULT_ALERTS, type AlertsConfig } from './config.js';
import { AlertDeliverer } from './deliverer.js';
import { OutboxCleaner, outboxDepth } from './outbox.js';
import { parseRule } from './rules.js';
import { openTestStore } from '../../test/helpers/store.js';

after(() => stopTestPostgres());

const log = pino({ level: 'silent' });
const RUN = { batchSize: 2, pollMs: 20, retryMinMs: 1, retryMaxMs: 20 };
const T0 = Date.UTC(2025, 0, 1);

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'outbox');

let n = 0;
const ev = (deviceId: string, value: number, s: number): TelemetryEvent => ({
  eventId: `o${n++}`, deviceId, schema: 1, eventType: 'temperature', valueNum: value, valueText: null, unit: null, tsDevice: T0 + s * 1000, tsServer: T0 + s * 1000, meta: '{}',
});

const problems: string[] = [];
const HOT = parseRule({ name: 'hot', devices: 'hp-*', event_type: 'temperature', above: 30, clear: 25 }, 'test', problems, 'config')!;

/** A sample's value from the Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('alerts.outbox_retention in the config file', () => {
  it('takes a duration (default 7d), 0 to keep delivered rows, and refuses less than a minute', () => {
    assert.equal(DEFAULT_ALERTS.outboxRetentionMs, 7 * 86_400_000);
    const p: string[] = [];
    assert.equal(checkAlerts({ outbox_retention: '30d' }, 'alerts', p).outboxRetentionMs, 30 * 86_400_000);
    assert.equal(checkAlerts({ outbox_retention: 0 }, 'alerts', p).outboxRetentionMs, 0);
    assert.deepEqual(p, []);
    checkAlerts({ outbox_retention: '10s' }, 'alerts', p);
    assert.match(p[0], /^alerts\.outbox_retention: must be 0/);
  });
});

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`alert outbox on ${kind}`, () => {
    it('metrics count deliveries, failures and retries per target and the outbox depth; cleanup deletes old delivered rows, and a rebuild sends none of them again', async () => {
      assert.deepEqual(problems, []);
      const { store, cleanup } = await openStore(kind);
      // `good` answers 503 once, then 200; `down` refuses every connection.
      let failFirst = 1;
      const received: string[] = [];
      const server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          const status = failFirst-- > 0 ? 503 : 200;
          if (status === 200) received.push(String(req.headers['idempotency-key']));
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const downUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
      await new Promise<void>((r) => closed.close(() => r()));
      const cfg: AlertsConfig = {
        ...DEFAULT_ALERTS,
        rules: [HOT],
        mqtt: false,
        webhooks: [
          { name: 'good', type: 'json', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` },
          { name: 'down', type: 'ntfy', url: downUrl },
        ],
        retryMinMs: 10,
        retryMaxMs: 40,
        pollMs: 10,
        outboxRetentionMs: 60_000,
      };
      const deliverer = new AlertDeliverer(store.processors, store.kind, cfg, { log });
      let clock = Date.now();
      const cleaner = new OutboxCleaner(store.processors, store.kind, cfg, { log, now: () => clock });
      const metrics = createMetrics();
      metrics.observeAlerts({
        byTarget: () => deliverer.byTarget,
        channelOf: (t) => cfg.webhooks.find((h) => h.name === t)?.type ?? 'mqtt',
        targets: () => deliverer.targets,
        depth: () => outboxDepth(store.processors, store.kind),
        deleted: () => cleaner.deleted,
      });
      const count = async (where: string) => Number((await store.processors.select(`SELECT COUNT(*) AS n FROM alert_outbox WHERE ${where}`, []))[0].n);
      try {
        // hp-1 fires and resolves: firing 10 s, resolved 20 s, firing 30 s, resolved 40 s, firing 50 s; hp-2 fires once.
        for (const [s, v] of [[0, 20], [10, 35], [20, 20], [30, 35], [40, 20], [50, 35]] as const) await store.writeBatch({ events: [ev('hp-1', v, s)], deadLetters: [] });
        await store.writeBatch({ events: [ev('hp-2', 35, 5)], deadLetters: [] });
        const p = alerts(cfg, store.processors);
        await new ProcessorRunner(store, [p], RUN, log).catchUp(ALERTS);
        assert.equal(await count('1 = 1'), 12, 'six changes, two targets');

        deliverer.start();
        const end = Date.now() + 20_000;
        while (received.length < 6 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
        await deliverer.stop();
        assert.equal(received.length, 6);
        assert.equal(new Set(received).size, 6, 'each change once');

        const text = await metrics.registry.metrics();
        assert.equal(sample(text, 'telehub_alert_deliveries_total', { target: 'good', channel: 'json', result: 'delivered' }), 6);
        assert.equal(sample(text, 'telehub_alert_deliveries_total', { target: 'good', channel: 'json', result: 'failed' }), 1);
        assert.equal(sample(text, 'telehub_alert_delivery_retries_total', { target: 'good', channel: 'json' }), 1, 'the one 503 was retried once');
        assert.equal(sample(text, 'telehub_alert_deliveries_total', { target: 'down', channel: 'ntfy', result: 'delivered' }), 0);
        const downFailed = sample(text, 'telehub_alert_deliveries_total', { target: 'down', channel: 'ntfy', result: 'failed' })!;
        assert.ok(downFailed >= 2, `every stream of down failed at least once (${downFailed})`);
        assert.equal(sample(text, 'telehub_alert_delivery_retries_total', { target: 'down', channel: 'ntfy' }), downFailed - 2, 'each failure after a stream\'s first is a retry');
        assert.equal(sample(text, 'telehub_alert_outbox_pending', { target: 'down' }), 6);
        assert.equal(sample(text, 'telehub_alert_outbox_pending', { target: 'good' }), 0);
        assert.equal(sample(text, 'telehub_alert_outbox_deleted_total'), 0);

        // Within the retention: nothing goes.
        assert.equal(await cleaner.clean(), 0);
        // Past it: the delivered rows of `good` go, but each stream's newest (hp-1's last firing, hp-2's firing); `down`'s undelivered rows stay.
        clock = Date.now() + 61_000;
        assert.equal(await cleaner.clean(), 4);
        assert.equal(await count(`target = 'good'`), 2);
        assert.equal(await count(`target = 'down'`), 6);
        assert.equal(await cleaner.clean(), 0, 'a second pass finds nothing more');
        assert.equal(sample(await metrics.registry.metrics(), 'telehub_alert_outbox_deleted_total'), 4);

        // A rebuild re-derives all six changes: none of the deleted ones is queued again.
        await store.processors.reset(ALERTS, p.tables);
        await new ProcessorRunner(store, [alerts(cfg, store.processors)], { ...RUN, batchSize: 1000 }, log).catchUp(ALERTS);
        assert.equal(await count(`target = 'good'`), 2);
        assert.equal(await count(`target = 'good' AND delivered_at IS NULL`), 0, 'nothing for good to send again');
        assert.equal(await count(`target = 'down'`), 6);

        // A new change after the rebuild is queued and delivered as usual.
        await store.writeBatch({ events: [ev('hp-1', 20, 60)], deadLetters: [] });
        await new ProcessorRunner(store, [alerts(cfg, store.processors)], RUN, log).catchUp(ALERTS);
        assert.equal(await count(`target = 'good' AND delivered_at IS NULL`), 1);
        await deliverer.deliverDue();
        assert.equal(received.length, 7, 'the new change, and only it, went to good');
        assert.equal(await count(`target = 'good' AND delivered_at IS NULL`), 0);
      } finally {
        await deliverer.stop();
        server.close();
        await cleanup();
      }
    });
  });
}

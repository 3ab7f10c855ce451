/**
 * device-registry against both real stores: the registry columns equal what
 * the stored log says (last data and heard times by maximum, newest status
 * fields, presence of the last presence entry), the learned interval equals
 * the moving average of the data gaps whatever the batch size, and a replay
 * from 0 gives the live state.
 */
import { appendPresence } from '../../storage/presence-log.js';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { TelemetryEvent } from '../../core/event.js';
import { ProcessorRunner } from '../../log/runner.js';
import { stopTestPostgres } from '../../../test/helpers/postgres.js';
import { DEVICE_REGISTRY, deviceRegistry } from './index.js';
import { readRegistry } from './read.js';
import { openTestStore } from '../../../test/helpers/store.js';

after(() => stopTestPostgres());

const log = pino({ level: 'silent' });
const RUN = { batchSize: 50, pollMs: 20, retryMinMs: 1, retryMaxMs: 20 };
const T0 = Date.UTC(2025, 0, 1);
const BOUNDS = { minIntervalMs: 1000, maxIntervalMs: 60_000 };

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'dr');

function ev(id: string, deviceId: string, type: string, tsServer: number, extra: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return { eventId: id, deviceId, schema: 1, eventType: type, valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer, meta: '{}', ...extra };
}

/** Expected learned interval: EMA (0.8/0.2) of the positive gaps between data times, clamped, in log order. */
function ema(times: number[]): number | null {
  let x: number | null = null;
  let prev: number | null = null;
  for (const t of times) {
    if (prev !== null && t > prev) {
      const g = Math.min(BOUNDS.maxIntervalMs, Math.max(BOUNDS.minIntervalMs, t - prev));
      x = x === null ? g : x * 0.8 + g * 0.2;
    }
    prev = Math.max(prev ?? t, t);
  }
  return x;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`device-registry on ${kind}`, () => {
    it('keeps last data/heard, status fields, presence and the learned interval; a replay from 0 gives the same', async () => {
      for (const size of [2, 1000]) {
      const { store, cleanup } = await openStore(kind);
      try {
        const dataTimes = [0, 5000, 5000, 15_000, 17_000, 200_000, 210_000].map((d) => T0 + d);
        const batch1 = dataTimes.slice(0, 4).map((t, i) => ev(`a${i}`, 'dev-a', i % 2 ? 'temp' : 'hum', t, { meta: i === 1 ? '{"wifi_rssi":-60,"uptime":10}' : '{}' }));
        const batch2 = dataTimes.slice(4).map((t, i) => ev(`a${i + 4}`, 'dev-a', 'temp', t));
        await store.writeBatch({ events: batch1, deadLetters: [] });
        await store.writeBatch({
          events: [
            ev('s1', 'dev-a', 'status', T0 + 20_000, { valueNum: null, valueText: 'online', meta: '{"status":"online","firmware":"1.2.3","wifi_rssi":-70}' }),
            ev('b1', 'dev-b', 'status', T0 + 1000, { valueNum: null, valueText: 'offline' }),
          ],
          deadLetters: [],
        });
        // Presence transitions: log entries of their own kind, between the batches.
        await appendPresence(store.kind, store.processors, [
          { deviceId: 'dev-a', state: 'online', cause: 'data', from: 'unknown', at: T0 + 21_000 },
          { deviceId: 'dev-a', state: 'silent', cause: 'silence', from: 'online', at: T0 + 22_000 },
        ]);
        await store.writeBatch({ events: batch2, deadLetters: [] });
        {
          const runner = new ProcessorRunner(store, [deviceRegistry(BOUNDS)], { ...RUN, batchSize: size }, log);
          await runner.catchUp(DEVICE_REGISTRY);
          const rows = await readRegistry(store.kind, store.processors);
          const a = rows.find((r) => r.deviceId === 'dev-a')!;
          const b = rows.find((r) => r.deviceId === 'dev-b')!;
          assert.equal(a.lastDataAt, T0 + 210_000);
          assert.equal(a.lastHeardAt, T0 + 210_000);
          assert.equal(a.wifiRssi, -70, 'the status at +20 s is newer than the reading at +5 s');
          assert.equal(a.uptimeS, 10);
          assert.equal(a.firmware, '1.2.3');
          assert.equal(a.statusAt, T0 + 20_000);
          assert.deepEqual([a.presence, a.presenceCause, a.presenceSince], ['silent', 'silence', T0 + 22_000]);
          assert.ok(Math.abs(a.intervalMs! - ema(dataTimes)!) < 1e-6, `batch ${size}: ${a.intervalMs} vs ${ema(dataTimes)}`);
          assert.equal(b.lastDataAt, null, 'a status entry is not data');
          assert.equal(b.lastHeardAt, T0 + 1000);
          assert.equal(b.presence, null);
          assert.equal(b.intervalMs, null);
          // A rebuild from 0 (telehub processors rebuild) leaves the live state as it is.
          await store.processors.reset(DEVICE_REGISTRY, deviceRegistry(BOUNDS).tables);
          await runner.catchUp(DEVICE_REGISTRY);
          assert.deepEqual(await readRegistry(store.kind, store.processors), rows);
        }
      } finally {
        await cleanup();
      }
      }
    });
  });
}

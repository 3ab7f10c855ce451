/**
 * Conformance cases for the `devices` table (part of `storeConformance`):
 * it must always equal what a GROUP BY over the stored events would say,
 * whatever duplicates, concurrent writers or upgrades happened.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { TelemetryEvent } from '../core/event.js';
import type { ConformanceFixture } from './conformance.js';
import { UNDO_COMMIT_LOG_MIGRATION, undoPartitioning } from './conformance-log.js';
import type { DeviceSummary, Store } from './store.js';

const T0 = Date.UTC(2024, 5, 1, 12, 0, 0, 0);

function ev(id: string, deviceId: string, tsServer: number): TelemetryEvent {
  return { eventId: id, deviceId, schema: 1, eventType: 'temperature', valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer, meta: '{}' };
}

/** What the devices table must hold for these stored events (first copy of each id wins). */
function expectedDevices(stored: Iterable<TelemetryEvent>): DeviceSummary[] {
  const m = new Map<string, DeviceSummary>();
  for (const e of stored) {
    const d = m.get(e.deviceId);
    if (!d) m.set(e.deviceId, { deviceId: e.deviceId, firstSeen: e.tsServer, lastSeen: e.tsServer, events: 1 });
    else {
      d.firstSeen = Math.min(d.firstSeen, e.tsServer);
      d.lastSeen = Math.max(d.lastSeen, e.tsServer);
      d.events++;
    }
  }
  return [...m.values()].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
}

/** Events as stored, read back page by page (not trusting writeBatch's answers). */
async function storedEvents(store: Store): Promise<TelemetryEvent[]> {
  const out: TelemetryEvent[] = [];
  let after: { time: number; eventId: string } | undefined;
  for (;;) {
    const rows = await store.queries.events({ limit: 10_000, after });
    out.push(...rows);
    if (rows.length < 10_000) return out;
    after = { time: rows[rows.length - 1].time, eventId: rows[rows.length - 1].eventId };
  }
}

export function deviceConformance(
  withStore: (fn: (f: ConformanceFixture) => Promise<void>) => Promise<void>,
  reopenMigrated: (f: ConformanceFixture) => Promise<Store>,
): void {
  it('keeps device stats for newly stored events only, not for duplicates', () =>
    withStore(async ({ store }) => {
      // Out-of-order server times, copies inside a batch and across batches, an all-duplicate batch.
      await store.writeBatch({ events: [ev('a1', 'dev-a', T0 + 500), ev('b1', 'dev-b', T0 + 10), ev('a1', 'dev-a', T0 - 9999)], deadLetters: [] });
      await store.writeBatch({ events: [ev('a2', 'dev-a', T0 + 100), ev('a1', 'dev-a', T0 + 99_999), ev('a3', 'dev-a', T0 + 900)], deadLetters: [] });
      const before = await store.queries.devices();
      await store.writeBatch({ events: [ev('a2', 'dev-a', T0 - 1), ev('b1', 'dev-b', T0 + 77_777)], deadLetters: [] });
      assert.deepEqual(await store.queries.devices(), before, 'an all-duplicate batch changed the devices');
      assert.deepEqual(before, [
        { deviceId: 'dev-a', firstSeen: T0 + 100, lastSeen: T0 + 900, events: 3 },
        { deviceId: 'dev-b', firstSeen: T0 + 10, lastSeen: T0 + 10, events: 1 },
      ]);
      assert.deepEqual(before, expectedDevices(await storedEvents(store)));
    }));

  it('keeps device stats exact when two writers race on the same devices and ids', () =>
    withStore(async (f) => {
      const other = await reopenMigrated(f);
      const devices = Array.from({ length: 300 }, (_, i) => `dev-${String(i).padStart(3, '0')}`);
      const batches = 20;
      // Both writers cover every device in each batch, in opposite device
      // orders, so their upserts hit the same rows at once. Their ids differ:
      // a shared id would make the second writer wait for the first one's
      // commit before it reaches the devices (then nothing could deadlock);
      // the last batches repeat the other writer's ids as duplicates. With
      // 300 devices the upserts take long enough to overlap: upserting them
      // in random order instead of by device_id deadlocks PostgreSQL here.
      const batch = (w: 'a' | 'b', k: number) => {
        const order = w === 'a' ? devices : [...devices].reverse();
        return order.flatMap((d, j) => [ev(`${w}-${k}-${d}-1`, d, T0 + k * 1000 + j), ev(`${w}-${k}-${d}-2`, d, T0 + k * 1000 + j + (w === 'a' ? 0 : 500))]);
      };
      const run = async (s: Store, w: 'a' | 'b') => {
        for (let k = 0; k < batches; k++) await s.writeBatch({ events: batch(w, k), deadLetters: [] });
        await s.writeBatch({ events: [...batch(w === 'a' ? 'b' : 'a', 0), ...batch(w, batches)], deadLetters: [] });
      };
      await Promise.all([run(f.store, 'a'), run(other, 'b')]);
      const stored = await storedEvents(f.store);
      assert.equal(stored.length, (batches + 1) * devices.length * 4);
      const got = await f.store.queries.devices();
      assert.deepEqual(got, expectedDevices(stored));
      assert.ok(got.every((d) => d.events === (batches + 1) * 4));
    }));

  it('migration 3 backfills the devices table from events already stored', () =>
    withStore(async (f) => {
      if (!f.sql) return;
      await f.store.writeBatch({ events: [ev('x1', 'dev-x', T0 + 5), ev('x2', 'dev-x', T0 + 1), ev('y1', 'dev-y', T0 + 3)], deadLetters: [] });
      await f.store.close();
      // A database as migration 2 left it, with events but no devices table.
      await f.sql(`${undoPartitioning(f.store.kind)}${UNDO_COMMIT_LOG_MIGRATION}; DROP TABLE devices; DELETE FROM telehub_migrations WHERE version >= 3`);
      const s = await reopenMigrated(f);
      assert.deepEqual(await s.queries.devices(), [
        { deviceId: 'dev-x', firstSeen: T0 + 1, lastSeen: T0 + 5, events: 2 },
        { deviceId: 'dev-y', firstSeen: T0 + 3, lastSeen: T0 + 3, events: 1 },
      ]);
      // And the table is kept from there on.
      await s.writeBatch({ events: [ev('x3', 'dev-x', T0 + 9), ev('x1', 'dev-x', T0 + 99)], deadLetters: [] });
      assert.deepEqual((await s.queries.devices())[0], { deviceId: 'dev-x', firstSeen: T0 + 1, lastSeen: T0 + 9, events: 3 });
    }));
}

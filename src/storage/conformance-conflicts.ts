/**
 * Conformance cases for reused event ids (part of storeConformance): a
 * redelivery (same device, same content) is a `duplicate`; the same id from
 * another device or with other content is a `conflict` that names the stored
 * row's device and the differing fields, and changes nothing stored; also
 * inside one batch and when two writers race for the id.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { TelemetryEvent } from '../core/event.js';
import type { ConformanceFixture } from './conformance.js';
import type { Store, WriteResult } from './store.js';

const T0 = Date.UTC(2024, 1, 10, 8, 30, 0, 123);

function ev(id: string, over: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return {
    eventId: id,
    deviceId: 'esp32-01',
    schema: 1,
    eventType: 'temperature',
    valueNum: 21.5,
    valueText: null,
    unit: 'C',
    tsDevice: T0,
    tsServer: T0 + 7,
    meta: '{"sensor":"dht22","pos":[1,2]}',
    ...over,
  };
}

/** Statuses, and per conflict "index:storedDevice:differs". */
function summary(res: WriteResult): { statuses: string[]; conflicts: string[] } {
  const conflicts = [...(res.conflicts ?? new Map()).entries()].sort((a, b) => a[0] - b[0]).map(([i, c]) => `${i}:${c.storedDeviceId}:${c.differs.join(',')}`);
  return { statuses: res.statuses, conflicts };
}

async function readBack(store: Store, id: string): Promise<Omit<TelemetryEvent, 'meta'> & { meta: unknown }> {
  const e = await store.getEvent(id);
  assert.ok(e, `${id} is not stored`);
  return { ...e, meta: JSON.parse(e.meta) };
}

const asStored = (e: TelemetryEvent) => ({ ...e, meta: JSON.parse(e.meta) });

export function conflictConformance(
  withStore: (fn: (f: ConformanceFixture) => Promise<void>) => Promise<void>,
  reopenMigrated: (f: ConformanceFixture) => Promise<Store>,
): void {
  it('tells a redelivery (duplicate) from another event reusing the id (conflict), field by field', () =>
    withStore(async ({ store }) => {
      const originals = ['same', 'meta-reordered', 'device', 'value', 'text', 'unit', 'ts', 'ts-null', 'meta', 'type', 'schema'].map((id) => ev(id));
      originals.push(ev('text-orig', { valueNum: null, valueText: 'open' }));
      await store.writeBatch({ events: originals, deadLetters: [] });

      const later = T0 + 60_000; // a redelivery arrives later: ts_server never counts
      const again = [
        ev('same', { tsServer: later }),
        ev('meta-reordered', { tsServer: later, meta: '{ "pos": [1, 2.0], "sensor": "dht22" }' }),
        ev('device', { deviceId: 'esp32-02', tsServer: later }),
        ev('value', { valueNum: 21.25 }),
        ev('text-orig', { valueNum: null, valueText: 'closed' }),
        ev('unit', { unit: 'F' }),
        ev('ts', { tsDevice: T0 + 1 }),
        ev('ts-null', { tsDevice: null }),
        ev('meta', { meta: '{"sensor":"dht22","pos":[2,1]}' }),
        ev('type', { eventType: 'humidity' }),
        ev('schema', { schema: 2 }),
        ev('new'),
      ];
      const res = await store.writeBatch({ events: again, deadLetters: [] });
      assert.deepEqual(summary(res), {
        statuses: ['duplicate', 'duplicate', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'stored'],
        conflicts: [
          '2:esp32-01:device_id',
          '3:esp32-01:value',
          '4:esp32-01:value',
          '5:esp32-01:unit',
          '6:esp32-01:ts_device',
          '7:esp32-01:ts_device',
          '8:esp32-01:meta',
          '9:esp32-01:event_type',
          '10:esp32-01:schema',
        ],
      });
      // Nothing stored changed, and only the new event was added.
      assert.equal(await store.countEvents(), originals.length + 1);
      for (const e of originals) assert.deepEqual(await readBack(store, e.eventId), asStored(e));
    }));

  it('names every differing field and the stored device when another device reuses an id', () =>
    withStore(async ({ store }) => {
      // Seed 001's example builds ids from millis(): two boards after a reboot can both send "…-5000".
      await store.writeBatch({ events: [ev('boot-5000', { deviceId: 'esp32-01' })], deadLetters: [] });
      const res = await store.writeBatch({ events: [ev('boot-5000', { deviceId: 'esp32-02', valueNum: 19, tsDevice: null, meta: '{}' })], deadLetters: [] });
      assert.deepEqual(summary(res), { statuses: ['conflict'], conflicts: ['0:esp32-01:device_id,value,ts_device,meta'] });
      assert.equal((await store.getEvent('boot-5000'))!.deviceId, 'esp32-01');
    }));

  it('inside one batch: a later copy is a duplicate when equal to what the id holds, else a conflict', () =>
    withStore(async ({ store }) => {
      await store.writeBatch({ events: [ev('old', { valueNum: 1 })], deadLetters: [] });
      const batch = [
        ev('a', { valueNum: 1 }),
        ev('a', { valueNum: 1, tsServer: T0 + 99 }), // same content: duplicate
        ev('a', { valueNum: 2, deviceId: 'esp32-02' }), // other content: conflict with the first copy
        ev('old', { valueNum: 5 }), // conflict with the stored row
        ev('old', { valueNum: 5 }), // equal to the refused copy, still not what "old" holds: conflict
        ev('old', { valueNum: 1, tsServer: T0 + 5 }), // equal to the stored row: duplicate
        ev('b'),
      ];
      const res = await store.writeBatch({ events: batch, deadLetters: [] });
      assert.deepEqual(summary(res), {
        statuses: ['stored', 'duplicate', 'conflict', 'conflict', 'conflict', 'duplicate', 'stored'],
        conflicts: ['2:esp32-01:device_id,value', '3:esp32-01:value', '4:esp32-01:value'],
      });
      assert.equal(await store.countEvents(), 3);
      assert.deepEqual(await readBack(store, 'a'), asStored(batch[0]));
      assert.deepEqual(await readBack(store, 'old'), asStored(ev('old', { valueNum: 1 })));
      const devices = await store.queries.devices();
      assert.deepEqual(devices.map((d) => [d.deviceId, d.events]), [['esp32-01', 3]], 'a conflict is not counted as a stored event');
    }));

  it('when two writers race for the same ids with other devices, one stores and the other sees the winner: conflict', () =>
    withStore(async (f) => {
      const other = await reopenMigrated(f);
      const batches = 20;
      const n = 100;
      // Both writers send the same ids at once, each as its own device; b in reverse order to cross lock orders.
      const batch = (k: number, device: string) => Array.from({ length: n }, (_, i) => ev(`race-${k}-${i}`, { deviceId: device, tsServer: T0 + i }));
      const run = async (s: Store, device: string) => {
        const out = new Map<string, { status: string; storedDeviceId?: string }>();
        for (let k = 0; k < batches; k++) {
          const events = device === 'dev-a' ? batch(k, device) : batch(k, device).reverse();
          const res = await s.writeBatch({ events, deadLetters: [] });
          events.forEach((e, i) => out.set(e.eventId, { status: res.statuses[i], storedDeviceId: res.conflicts?.get(i)?.storedDeviceId }));
        }
        return out;
      };
      const [a, b] = await Promise.all([run(f.store, 'dev-a'), run(other, 'dev-b')]);
      assert.equal(await f.store.countEvents(), batches * n);
      for (let k = 0; k < batches; k++) {
        for (let i = 0; i < n; i++) {
          const id = `race-${k}-${i}`;
          const ra = a.get(id)!;
          const rb = b.get(id)!;
          const winner = (await f.store.getEvent(id))!.deviceId;
          assert.deepEqual(
            [ra.status, rb.status].sort(),
            ['conflict', 'stored'],
            `${id}: one writer stores, the other must see a conflict (got ${ra.status} and ${rb.status})`,
          );
          const loser = ra.status === 'conflict' ? ra : rb;
          assert.equal(loser.storedDeviceId, winner, `${id}: the conflict names the device that won`);
          assert.equal(ra.status === 'stored' ? 'dev-a' : 'dev-b', winner);
        }
      }
    }));
}

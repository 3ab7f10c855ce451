/**
 * The car simulator's plan, without sockets: its messages, decoded by the
 * car-telemetry codec (and, as seed-001 events, by the engine's own reading)
 * and segmented by the trip engine, give exactly its true trips: start and
 * end within one sample, distance within 1 % (the end-to-end test asks the
 * same of telehub over MQTT and HTTP).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../core/config.js';
import { decodeCarRecord } from '../../codecs/car-telemetry/index.js';
import { computeTrips, DEFAULT_TRIP_SETTINGS, type TripInputEvent } from '../../trips/index.js';
import { CAR_KINDS, planCar, type CarPlan } from './plan.js';
import { compactRecord, seed001Events } from './wire.js';

const START = Date.UTC(2024, 1, 10, 7, 0, 0);

function viaCodec(id: string, plan: CarPlan): TripInputEvent[] {
  const out: TripInputEvent[] = [];
  for (const m of plan.messages) {
    for (const s of m) {
      const r = decodeCarRecord(JSON.parse(JSON.stringify(compactRecord(s))), id, START, DEFAULT_LIMITS);
      assert.ok(Array.isArray(r), JSON.stringify(r));
      for (const e of r) out.push(e);
    }
  }
  return out;
}

function viaEvents(id: string, plan: CarPlan): TripInputEvent[] {
  return plan.messages.flat().flatMap((s) =>
    seed001Events(id, s).map((e) => ({ eventId: String(e.event_id), eventType: String(e.event_type), valueNum: typeof e.value === 'number' ? e.value : null, tsDevice: s.ts, meta: JSON.stringify(e.meta ?? {}) })),
  );
}

describe('car simulator plan', () => {
  it('is deterministic per seed', () => {
    const a = planCar({ seed: 7, kind: 'obd-gps', start: START, trips: 2 });
    const b = planCar({ seed: 7, kind: 'obd-gps', start: START, trips: 2 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(planCar({ seed: 8, kind: 'obd-gps', start: START, trips: 2 }).trips, a.trips);
  });

  for (const kind of CAR_KINDS) {
    it(`${kind}: the engine finds the true trips (codec and seed-001 paths)`, () => {
      for (const seed of [1, 2, 3]) {
        const plan = planCar({ seed, kind, start: START, trips: 3, gpsSpike: kind !== 'obd-only' });
        assert.equal(plan.trips.length, 3);
        // The plan holds what it promises: a dead spot, a jam stop and duplicates/disorder.
        assert.ok(plan.messages.flat().length > plan.samples.length, 'some records are sent twice');
        for (const events of [viaCodec('car-x', plan), viaEvents('car-x', plan)]) {
          const { trips } = computeTrips(events, DEFAULT_TRIP_SETTINGS, plan.end + 86_400_000);
          assert.equal(trips.length, 3, `${kind} seed ${seed}: ${JSON.stringify(trips.map((t) => [t.startTs, t.endTs, t.distanceKm]))}`);
          trips.forEach((t, i) => {
            const truth = plan.trips[i];
            assert.ok(Math.abs(t.startTs - truth.start) <= 2000, `start ${t.startTs} vs ${truth.start}`);
            assert.ok(Math.abs(t.endTs - truth.end) <= 2000, `end ${t.endTs} vs ${truth.end}`);
            const err = Math.abs(t.distanceKm - truth.distanceKm) / truth.distanceKm;
            assert.ok(err < 0.01, `${kind} seed ${seed} trip ${i}: ${t.distanceKm} km (${t.distanceSource}) vs true ${truth.distanceKm.toFixed(3)} km`);
            assert.equal(t.distanceSource, truth.source);
            assert.ok(truth.distanceKm > 3, `a real drive, ${truth.distanceKm} km`);
          });
          // Dead spots: bridged (odometer or GPS across) as a gap, or flushed late as data.
          if (kind !== 'speed-gps') assert.ok(trips.every((t) => t.gaps.length === 1), JSON.stringify(trips.map((t) => t.gaps)));
        }
      }
    });
  }
});

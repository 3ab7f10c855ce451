/**
 * The trips processor against both real stores: live processing (entries in
 * many small batches) gives the trips the pure engine computes over all
 * stored events; a rebuild gives the same again; late data within the
 * lateness window extends, merges and splits trips, keeping ids and bumping
 * versions; the clock ends a trip in progress when no data comes.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { TelemetryEvent } from '../../core/event.js';
import { ProcessorRunner } from '../../log/runner.js';
import type { Store } from '../../storage/store.js';
import { computeTrips, DEFAULT_TRIP_SETTINGS, type ComputedTrip } from '../../trips/index.js';
import { stopTestPostgres } from '../../../test/helpers/postgres.js';
import { expireTrips, TRIPS, tripsProcessor } from './index.js';
import { getTrip, listTrips, rebuildTrips, tripState, tripTrack } from './queries.js';
import { readVehicleEvents } from './recompute.js';
import { MAX_TIME, type TripRow } from './sql.js';
import { checkTripsSection, tripSettingsResolver } from '../../trips/config.js';
import { openTestStore } from '../../../test/helpers/store.js';

after(() => stopTestPostgres());

const S = DEFAULT_TRIP_SETTINGS;
const NOW = Date.now();
const T0 = NOW - 86_400_000; // a day ago: inside the 7-day lateness window
const MIN = 60_000;
const LATENESS = 7 * 86_400_000;

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'trips');

function ev(dev: string, type: string, ts: number, value: number | null, meta = '{}'): TelemetryEvent {
  return { eventId: `${dev}-${ts}-${type}`, deviceId: dev, schema: 1, eventType: type, valueNum: value, valueText: null, unit: null, tsDevice: ts, tsServer: NOW, meta };
}

interface Drive {
  /** [from, to) minutes after T0 at `kmh`; 0 is parked. */
  legs: Array<[number, number, number]>;
  odometer?: boolean;
  gps?: boolean;
}

/** 5-second samples of a car following `legs`; distance advances with speed. */
function drive(dev: string, d: Drive): TelemetryEvent[] {
  const out: TelemetryEvent[] = [];
  let km = 1000;
  for (const [from, to, kmh] of d.legs) {
    for (let t = T0 + from * MIN; t < T0 + to * MIN; t += 5000) {
      out.push(ev(dev, 'speed', t, kmh));
      if (d.odometer) out.push(ev(dev, 'odometer', t, Math.round(km * 1000) / 1000));
      if (d.gps) out.push(ev(dev, 'position', t, null, JSON.stringify({ latitude: 48 + (km - 1000) / 111.2, longitude: 11.5 })));
      km += (kmh * 5) / 3600;
    }
  }
  return out;
}

/** Writes events in small batches and lets the processor apply each, as live intake does. */
async function live(store: Store, runner: ProcessorRunner, events: TelemetryEvent[], chunk = 40): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    await store.writeBatch({ events: events.slice(i, i + chunk), deadLetters: [] });
    await runner.catchUp(TRIPS);
  }
}

const figures = (t: ComputedTrip | TripRow) => {
  const { startTs, endTs, startPosition, endPosition, durationMs, movingMs, distanceKm, distanceSource, avgSpeedKmh, maxSpeedKmh, maxRpm, maxCoolantC, fuelUsedPct, points, gaps, inProgress } = t;
  return { startTs, endTs, startPosition, endPosition, durationMs, movingMs, distanceKm, distanceSource, avgSpeedKmh, maxSpeedKmh, maxRpm, maxCoolantC, fuelUsedPct, points, gaps, inProgress };
};

async function truth(store: Store, dev: string, now = NOW) {
  return computeTrips(await readVehicleEvents(store.kind, store.processors, dev, 0, MAX_TIME), S, now).trips.map(figures);
}

const stored = async (store: Store, dev: string) => listTrips(store, { deviceId: dev, limit: 1000 });

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`trips processor (${kind})`, { skip: kind === 'postgres' && !process.env.TELEHUB_TEST_DATABASE_URL ? 'TELEHUB_TEST_DATABASE_URL not set' : false }, () => {
    it('live equals the engine over all stored events, and a rebuild equals live', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        let clock = NOW;
        const counters = { incremental: 0, recomputed: 0 };
        const runner = new ProcessorRunner(store, [tripsProcessor(store.processors, { settings: S, latenessMs: LATENESS, now: () => clock }, counters)], { batchSize: 25, pollMs: 20, retryMinMs: 1, retryMaxMs: 10 }, pino({ level: 'silent' }));
        const car1 = drive('car-1', { legs: [[0, 1, 0], [1, 16, 50], [16, 30, 0], [30, 41, 80], [41, 60, 0], [60, 62, 30], [62, 63, 0]], odometer: true, gps: true });
        const car2 = drive('car-2', { legs: [[0, 20, 40], [20, 40, 0], [40, 45, 60]] });
        // Interleaved as two cars sending at once; an unrelated device's events do not make trips.
        const mixed = car1.flatMap((e, i) => (car2[i] ? [e, car2[i]] : [e]));
        mixed.push(ev('sensor-9', 'temperature', T0, 21));
        await live(store, runner, mixed);
        for (const dev of ['car-1', 'car-2']) assert.deepEqual((await stored(store, dev)).map(figures), await truth(store, dev), dev);
        // In-order data resumes each car's stored engine state: only each car's first batch recomputes from stored events.
        assert.equal(counters.recomputed, 2, JSON.stringify(counters));
        assert.ok(counters.incremental > 100, JSON.stringify(counters));
        const c1 = await stored(store, 'car-1');
        assert.equal(c1.length, 3, 'the 2-minute hop at 30 km/h is 1 km and is a trip: 3 drives in all');
        assert.deepEqual(await stored(store, 'sensor-9'), []);
        assert.equal(c1[0].distanceSource, 'odometer');
        assert.ok(Math.abs(c1[0].distanceKm - 12.5) < 0.1, `15 min at 50 km/h is 12.5 km, got ${c1[0].distanceKm}`);

        // Rebuild over everything: nothing changes; from empty: the same figures and ids.
        const before = [...(await stored(store, 'car-1')), ...(await stored(store, 'car-2'))];
        assert.deepEqual(await rebuildTrips(store, 'car-1', 0, MAX_TIME, S, clock), { written: 0, deleted: 0 });
        await store.processors.reset(TRIPS, ['trips']);
        for (const dev of ['car-1', 'car-2']) await rebuildTrips(store, dev, 0, MAX_TIME, S, clock);
        const rebuilt = [...(await stored(store, 'car-1')), ...(await stored(store, 'car-2'))];
        assert.deepEqual(rebuilt.map((t) => ({ ...figures(t), id: t.tripId })), before.map((t) => ({ ...figures(t), id: t.tripId })));

        // Reads for the API: one trip with its track, the state of each car.
        const one = await getTrip(store, c1[0].tripId);
        assert.equal(one?.deviceId, 'car-1');
        const track = await tripTrack(store, one!, S, 50);
        assert.ok(track.length >= 2 && track.length <= 50, `track of ${track.length} points`);
        assert.equal(track[0].ts, one!.startTs);
        assert.deepEqual(await tripState(store, 'car-1', S, clock), { deviceId: 'car-1', state: 'idle', since: c1.at(-1)!.endTs + S.idleTimeoutMs + S.resumeWindowMs, tripId: null });
        assert.equal((await tripState(store, 'nobody', S, clock)).since, null);
        clock = NOW; // (unused further)
      } finally {
        await cleanup();
      }
    });

    it('late data merges, extends and splits trips, keeping ids and bumping versions', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const counters = { incremental: 0, recomputed: 0 };
        const runner = new ProcessorRunner(store, [tripsProcessor(store.processors, { settings: S, latenessMs: LATENESS }, counters)], { batchSize: 200, pollMs: 20, retryMinMs: 1, retryMaxMs: 10 }, pino({ level: 'silent' }));
        // car-m: speed only, 10 silent minutes in the middle: two trips until the missing minutes arrive.
        const whole = drive('car-m', { legs: [[0, 35, 45], [35, 50, 0]] });
        const inGap = (e: TelemetryEvent) => e.tsDevice! >= T0 + 12 * MIN && e.tsDevice! < T0 + 22 * MIN;
        await live(store, runner, whole.filter((e) => !inGap(e)), 500);
        const split = await stored(store, 'car-m');
        assert.equal(split.length, 2);
        await live(store, runner, whole.filter(inGap), 500);
        const merged = await stored(store, 'car-m');
        assert.equal(merged.length, 1);
        assert.ok(split.some((t) => t.tripId === merged[0].tripId), 'the merged trip keeps one of the ids');
        assert.ok(merged[0].version > Math.max(...split.map((t) => t.version)), 'its version went up');
        assert.deepEqual(merged.map(figures), await truth(store, 'car-m'));
        const late = { ...counters };
        assert.ok(late.recomputed >= 2, 'the late minutes went through the windowed recompute');
        // In order again after the late data: at most one more recompute (the late one's window did not reach the
        // car's latest data, so it left no engine state), then resumed incrementally; still the engine's trips.
        await live(store, runner, drive('car-m', { legs: [[50, 60, 0], [60, 70, 40]] }).filter((e) => e.tsDevice! >= T0 + 50 * MIN), 20);
        assert.ok(counters.recomputed <= late.recomputed + 1 && counters.incremental >= late.incremental + 4, JSON.stringify(counters));
        assert.deepEqual((await stored(store, 'car-m')).map(figures), await truth(store, 'car-m'));

        // car-s: odometer across a 20-minute silence shows it kept driving (a tunnel): one trip with a gap.
        // Then the silence's own points arrive late, parked: the trip splits in two.
        const legs: Drive['legs'] = [[0, 15, 50], [15, 35, 0], [35, 50, 50], [50, 70, 0]];
        const all = drive('car-s', { legs, odometer: true });
        const silent = (e: TelemetryEvent) => e.tsDevice! >= T0 + 15 * MIN && e.tsDevice! < T0 + 35 * MIN;
        // The odometer advanced across the silence (the car reports the stop only later, without odometer).
        const early = all.filter((e) => !silent(e)).map((e) => (e.eventType === 'odometer' && e.tsDevice! >= T0 + 35 * MIN ? { ...e, valueNum: e.valueNum! + 15 } : e));
        await live(store, runner, early, 500);
        const one = await stored(store, 'car-s');
        assert.equal(one.length, 1);
        assert.equal(one[0].gaps.length, 1);
        // Recomputing a trip with a gap changes nothing (PostgreSQL's jsonb reorders the gap's keys; the row is read back in the engine's order).
        assert.deepEqual(await rebuildTrips(store, 'car-s', 0, MAX_TIME, S, Date.now()), { written: 0, deleted: 0 });
        await live(store, runner, all.filter((e) => silent(e) && e.eventType === 'speed'), 500);
        const two = await stored(store, 'car-s');
        assert.equal(two.length, 2);
        assert.equal(two.filter((t) => t.tripId === one[0].tripId).length, 1, 'one half keeps the id');
        assert.ok(two.find((t) => t.tripId === one[0].tripId)!.version > one[0].version, 'its version went up');
        assert.deepEqual(two.map(figures), await truth(store, 'car-s'));

        // Data older than the lateness window does not change trips live.
        const oldRunner = new ProcessorRunner(store, [tripsProcessor(store.processors, { settings: S, latenessMs: 60_000 })], { batchSize: 200, pollMs: 20, retryMinMs: 1, retryMaxMs: 10 }, pino({ level: 'silent' }));
        await live(store, oldRunner, drive('car-old', { legs: [[0, 10, 50]] }), 500);
        assert.deepEqual(await stored(store, 'car-old'), []);
      } finally {
        await cleanup();
      }
    });

    it('a trip in progress shows running figures and ends by the clock', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const now = T0 + 10 * MIN + 1000;
        const runner = new ProcessorRunner(store, [tripsProcessor(store.processors, { settings: S, latenessMs: LATENESS, now: () => now })], { batchSize: 200, pollMs: 20, retryMinMs: 1, retryMaxMs: 10 }, pino({ level: 'silent' }));
        await live(store, runner, drive('car-p', { legs: [[0, 10, 60]], odometer: true }), 60);
        const [going] = await stored(store, 'car-p');
        assert.equal(going.inProgress, true);
        assert.ok(going.distanceKm > 9.5 && going.distanceKm < 10.1, `${going.distanceKm}`);
        assert.equal((await tripState(store, 'car-p', S, now)).state, 'driving');
        assert.equal((await tripState(store, 'car-p', S, now + 200_000)).state, 'paused');
        // A short hop still going is shown too, and dropped when the clock ends it.
        await live(store, runner, drive('car-q', { legs: [[9, 9.5, 10]] }), 60);
        assert.equal((await stored(store, 'car-q'))[0]?.inProgress, true);

        assert.equal(await expireTrips(store.kind, store.processors, S, now + 60_000), true);
        assert.equal((await stored(store, 'car-p'))[0].inProgress, true, 'not yet: idle_timeout + resume_window have not passed');
        assert.equal(await expireTrips(store.kind, store.processors, S, now + S.idleTimeoutMs + S.resumeWindowMs), true);
        const [ended] = await stored(store, 'car-p');
        assert.equal(ended.inProgress, false);
        assert.equal(ended.version, going.version + 1);
        assert.equal(ended.tripId, going.tripId);
        assert.deepEqual(await stored(store, 'car-q'), []);
        // The clock dropped the cars' engine states with the rows they stood for: more data recomputes, and agrees.
        await live(store, runner, drive('car-q', { legs: [[9.5, 12, 30]] }), 60);
        assert.deepEqual((await stored(store, 'car-q')).map(figures), await truth(store, 'car-q', now));
        // The engine at that time agrees.
        assert.deepEqual((await stored(store, 'car-p')).map(figures), await truth(store, 'car-p', now + S.idleTimeoutMs + S.resumeWindowMs));
      } finally {
        await cleanup();
      }
    });

    it('per-vehicle thresholds (config file trips.vehicles): each vehicle is cut, ended by the clock and shown by its own', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const problems: string[] = [];
        const file = checkTripsSection({ idle_timeout: '3m', vehicles: [{ id: 'van-*', idle_timeout: 60, resume_window: '2m' }] }, 'trips', problems);
        assert.deepEqual(problems, []);
        const settingsFor = tripSettingsResolver(S, file);
        const van = settingsFor('van-1');
        assert.equal(van.idleTimeoutMs, 60_000);
        let clock = NOW;
        const runner = new ProcessorRunner(store, [tripsProcessor(store.processors, { settings: S, settingsFor, latenessMs: LATENESS, now: () => clock })], { batchSize: 200, pollMs: 20, retryMinMs: 1, retryMaxMs: 10 }, pino({ level: 'silent' }));
        // The same day for a car and a van: 10 min, a 4-minute stop, 10 min, parked.
        const legs: Drive['legs'] = [[0, 10, 50], [10, 14, 0], [14, 24, 50], [24, 40, 0]];
        await live(store, runner, [...drive('car-7', { legs, odometer: true }), ...drive('van-1', { legs, odometer: true })], 200);
        assert.equal((await stored(store, 'car-7')).length, 1, 'fleet: a 4-minute stop is inside idle_timeout + resume_window');
        const vans = await stored(store, 'van-1');
        assert.equal(vans.length, 2, 'the van: 4 min > 1 min + 2 min ends the trip');
        const engine = computeTrips(await readVehicleEvents(store.kind, store.processors, 'van-1', 0, MAX_TIME), van, NOW).trips.map(figures);
        assert.deepEqual(vans.map(figures), engine);
        assert.deepEqual(await rebuildTrips(store, 'van-1', 0, MAX_TIME, van, NOW), { written: 0, deleted: 0 }, 'a rebuild by the van\'s thresholds agrees');

        // In progress: the clock ends the van's trip after 1 + 2 min, the car's only after 3 + 5.
        const lastMove = T0 + 110 * MIN - 5000;
        clock = lastMove + 1000;
        await live(store, runner, [...drive('car-8', { legs: [[100, 110, 50]] }), ...drive('van-2', { legs: [[100, 110, 50]] })], 200);
        const at = lastMove + 4 * MIN;
        for (const dev of ['car-8', 'van-2']) assert.equal((await stored(store, dev))[0]?.inProgress, true, dev);
        assert.equal((await tripState(store, 'van-2', settingsFor('van-2'), at)).state, 'idle');
        assert.equal((await tripState(store, 'car-8', settingsFor('car-8'), at)).state, 'paused');
        assert.equal(await expireTrips(store.kind, store.processors, settingsFor, at), true);
        assert.equal((await stored(store, 'van-2'))[0].inProgress, false);
        assert.equal((await stored(store, 'car-8'))[0].inProgress, true);
      } finally {
        await cleanup();
      }
    });
  });
}

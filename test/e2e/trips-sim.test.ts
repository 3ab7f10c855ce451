/**
 * Trips end to end against the simulator's truth: 5 simulated cars × 3 trips
 * through the real Mosquitto (compact records on the car route, under this
 * run's own prefix) and 5 × 3 through HTTP (seed-001 events), into telehub
 * with the embedded store and with PostgreSQL. The trips telehub keeps must
 * be the true ones: exactly 15 per transport, start and end within one
 * sample (2 s), distance within 1 % with the expected source; the API shows
 * them (and the vehicle's idle state in GET /api/v1/devices/{id}); a rebuild
 * from the stored events equals what live processing made.
 *
 * The drives have every real-data problem of docs/trips.md in them (traffic
 * lights, a jam pause within the resume window, a tunnel, a dead spot, a
 * 30 km GPS spike, late flushes, records swapped and sent twice).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { listTrips, rebuildTrips } from '../../src/processors/trips/queries.js';
import { newTripId } from '../../src/processors/trips/recompute.js';
import { MAX_TIME, type TripRow } from '../../src/processors/trips/sql.js';
import { TRIPS } from '../../src/processors/trips/index.js';
import { startSimulation } from '../../src/simulator/run.js';
import type { TrueTrip } from '../../src/simulator/car/plan.js';
import { DEFAULT_TRIP_SETTINGS } from '../../src/trips/index.js';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';
import { clearSession, mosquittoUrl, needsMosquitto, ownDefaultRoutes } from '../helpers/mqtt.js';
import { stopTestPostgres } from '../helpers/postgres.js';

after(() => stopTestPostgres());

const CARS = 5;
const TRIPS_PER_CAR = 3;

/** Resolves once the trips processor has applied everything committed so far. */
export async function tripsCaughtUp(t: InProcessTelehub, ms = 480_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const s = (await t.hub.processors.status()).find((p) => p.name === TRIPS);
    if (s && s.lagEntries === 0) return;
    if (Date.now() > end) throw new Error(`trips processor still behind: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Resolves once telehub has committed every message Mosquitto took before
 * this call. The simulated cars count a message done at Mosquitto's PUBACK
 * (the car route sends no reply), which comes before telehub has even
 * received it, so the trips processor can be caught up with the log while
 * the last records are still on their way. A seed-001 event published now
 * through the same broker comes to telehub's session after them (one
 * session's queue is first in, first out); once it is ACKed, telehub has
 * handed every earlier message to its writer, and once the writer has drained
 * all of them are committed.
 */
export async function committedThroughBroker(t: InProcessTelehub, url: string, prefix: string, run: string, ms = 120_000): Promise<void> {
  const device = `barrier-${run}`;
  const client = await mqtt.connectAsync(url, { clientId: `telehub-trips-e2e-barrier-${run}`, reconnectPeriod: 0 });
  try {
    const acked = new Promise<void>((resolve) => client.on('message', () => resolve()));
    await client.subscribeAsync(`${prefix}/qs/${device}/acks`, { qos: 1 });
    await client.publishAsync(`${prefix}/qs/${device}/events`, JSON.stringify({ schema: 1, event_id: device, device_id: device, event_type: 'barrier', value: 1 }), { qos: 1 });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([acked, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no ACK for the barrier event')), ms)))]).finally(() => clearTimeout(timer));
  } finally {
    await client.endAsync();
  }
  await t.hub.writer.drain();
}

/** Compares a car's stored trips with its truth. */
export function assertTrue(car: string, stored: readonly TripRow[], truth: readonly TrueTrip[]): void {
  const show = JSON.stringify({ stored: stored.map((t) => [new Date(t.startTs).toISOString(), new Date(t.endTs).toISOString(), t.distanceKm, t.distanceSource]), truth });
  assert.equal(stored.length, truth.length, `${car}: ${show}`);
  stored.forEach((t, i) => {
    const want = truth[i];
    assert.equal(t.inProgress, false, `${car} trip ${i} closed`);
    assert.ok(Math.abs(t.startTs - want.start) <= 2000, `${car} trip ${i} start: ${show}`);
    assert.ok(Math.abs(t.endTs - want.end) <= 2000, `${car} trip ${i} end: ${show}`);
    assert.ok(Math.abs(t.distanceKm - want.distanceKm) / want.distanceKm < 0.01, `${car} trip ${i} distance within 1 %: ${show}`);
    assert.equal(t.distanceSource, want.source, `${car} trip ${i} source: ${show}`);
  });
}

const figures = (t: TripRow) => ({ ...t, updatedAt: 0, version: 0 });
const figuresNoId = (t: TripRow) => ({ ...figures(t), tripId: '' });

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`trips from simulated cars (${kind})`, { skip: needsMosquitto }, () => {
    it(`${CARS} cars × ${TRIPS_PER_CAR} trips over Mosquitto and ${CARS} × ${TRIPS_PER_CAR} over HTTP give the true trips; rebuild equals live`, { timeout: 900_000 }, async () => {
      const run = randomBytes(3).toString('hex');
      const prefix = `trips-e2e-${run}`;
      const clientId = `telehub-trips-e2e-${run}`;
      const t = await startInProcess(kind, {
        ...ownDefaultRoutes(prefix),
        MQTT_URL: mosquittoUrl!,
        MQTT_CLIENT_ID: clientId,
        MQTT_EVENTS_TOPIC: `${prefix}/qs/+/events`,
        ACK_TEMPLATE: `${prefix}/qs/{device_id}/acks`,
        MQTT_DEADLETTER_TOPIC: `${prefix}/deadletter`,
        TELEHUB_PROCESSORS: 'device-counters,trips',
        TELEHUB_LOG_POLL_MS: '50',
      });
      try {
        const token = await t.token('ingest');
        const [mq, web] = await Promise.all([
          startSimulation({ profile: 'car', devices: CARS, trips: TRIPS_PER_CAR, rate: 300, brokerUrl: mosquittoUrl!, carPrefix: `${prefix}/fleet/v1`, idPrefix: `${run}-mq`, seed: 11 }),
          startSimulation({ profile: 'car', devices: CARS, trips: TRIPS_PER_CAR, rate: 300, http: { url: t.base, token }, idPrefix: `${run}-http`, seed: 12 }),
        ]);
        const [mqReport, webReport] = await Promise.all([mq.done, web.done]);
        assert.equal(mqReport.lost, 0, JSON.stringify(mqReport));
        assert.equal(webReport.lost, 0, JSON.stringify(webReport));
        assert.equal(webReport.refused, 0, JSON.stringify(webReport));
        assert.ok(webReport.duplicates > 0, 'records sent twice were answered duplicate');
        await committedThroughBroker(t, mosquittoUrl!, prefix, run);
        await tripsCaughtUp(t);

        const truth = { ...mq.truth!, ...web.truth! };
        const total = { mq: 0, http: 0 };
        const live = new Map<string, TripRow[]>();
        for (const [car, want] of Object.entries(truth)) {
          const stored = await listTrips(t.hub.store, { deviceId: car, limit: 100 });
          assertTrue(car, stored, want);
          live.set(car, stored);
          if (car.includes('-mq-')) total.mq += stored.length;
          else total.http += stored.length;
        }
        assert.deepEqual(total, { mq: CARS * TRIPS_PER_CAR, http: CARS * TRIPS_PER_CAR });
        // Every trip of this run is one of the cars': no stray pieces of any vehicle.
        const all = (await listTrips(t.hub.store, { limit: 10_000 })).filter((x) => x.deviceId.startsWith(run));
        assert.equal(all.length, 2 * CARS * TRIPS_PER_CAR);

        // The API: a car's trips with the track, and its state (idle: parked long ago) on the device.
        const read = await t.token('read');
        const car = Object.keys(truth)[0];
        const page = (await (await fetch(`${t.base}/api/v1/trips?device=${car}`, { headers: { authorization: `Bearer ${read}` } })).json()) as { trips: { id: string }[]; state: { state: string } };
        assert.equal(page.trips.length, TRIPS_PER_CAR);
        assert.equal(page.state.state, 'idle');
        const one = (await (await fetch(`${t.base}/api/v1/trips/${page.trips[0].id}`, { headers: { authorization: `Bearer ${read}` } })).json()) as { track: unknown[] };
        assert.ok(one.track.length > 10 && one.track.length <= 1000, `track of ${one.track.length}`);
        const dev = await fetch(`${t.base}/api/v1/devices/${car}`, { headers: { authorization: `Bearer ${read}` } });
        assert.equal(dev.status, 200);
        assert.equal(((await dev.json()) as { trip: { state: string } }).trip.state, 'idle');

        // Rebuild from the stored events (ids kept, nothing to change), then from nothing: the same trips.
        for (const c of Object.keys(truth)) assert.deepEqual(await rebuildTrips(t.hub.store, c, 0, MAX_TIME, DEFAULT_TRIP_SETTINGS, Date.now()), { written: 0, deleted: 0 }, c);
        await t.hub.processors.stop();
        await t.hub.store.processors.reset(TRIPS, ['trips']);
        for (const c of Object.keys(truth)) await rebuildTrips(t.hub.store, c, 0, MAX_TIME, DEFAULT_TRIP_SETTINGS, Date.now());
        // From nothing the figures are live's; the ids are derived again from each trip's start. Live keeps the id a
        // trip got when first seen, and on PostgreSQL concurrent commits can show a trip's later points first (its
        // start then moves earlier, its id stays): so ids match only where live first saw the true start.
        for (const [c, was] of live) {
          const rebuilt = await listTrips(t.hub.store, { deviceId: c, limit: 100 });
          assert.deepEqual(rebuilt.map(figuresNoId), was.map(figuresNoId), c);
          for (const r of rebuilt) assert.equal(r.tripId, newTripId(c, r.startTs), `${c}: a rebuilt trip's id is its start's`);
        }
      } finally {
        await t.close();
        await clearSession(mosquittoUrl!, clientId);
      }
    });
  });
}

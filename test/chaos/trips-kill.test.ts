/**
 * Chaos: trips under kill -9 (issue 10: "a kill -9 mid-trip continues the
 * same trip"). telehub runs as a child process with its embedded broker (the
 * PUBACK a car gets is sent after commit), on SQLite and on PostgreSQL.
 *
 * 1. Four simulated cars (the simulator's car profile, one of each kind of
 *    sender, every real-data problem of docs/trips.md in their drives) send
 *    two trips each from the past as fast as telehub takes them; telehub is
 *    killed with SIGKILL at random points of the sending: records in flight,
 *    and (twice) while the trips processor has entries to apply, i.e.
 *    mid-batch. It is started again on the same store and ports each time;
 *    the cars reconnect and resend what was not acknowledged.
 * 2. Then one more trip per car that ends now: it is stored in progress once
 *    its data is in; telehub is killed as soon as one is, and after the
 *    restart the clock's expiry (TELEHUB_TRIP_TICK_S=1) must close them.
 *
 * In the end: every true trip is there whole, once (no split, no duplicate,
 * no stray piece, nothing left in progress), start and end within one sample
 * and distance within 1 % of the simulator's truth; each trip stored at a
 * kill lies within exactly one final trip (continued, not split), and one in
 * progress at a kill kept its id; a rebuild from the stored events changes
 * nothing (live equals rebuild, ids kept), and recomputing every car from
 * nothing (what an uninterrupted run gives) has the same figures.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/core/config.js';
import { TRIPS } from '../../src/processors/trips/index.js';
import { listTrips, rebuildTrips } from '../../src/processors/trips/queries.js';
import { MAX_TIME, type TripRow } from '../../src/processors/trips/sql.js';
import { startCarFleet, type CarFleet } from '../../src/simulator/car/fleet.js';
import type { TrueTrip } from '../../src/simulator/car/plan.js';
import { openStore } from '../../src/storage/open.js';
import { DEFAULT_TRIP_SETTINGS } from '../../src/trips/index.js';
import { freePort } from '../helpers/net.js';
import { stopTestPostgres, testDatabase, withPgClient } from '../helpers/postgres.js';
import { startTelehubProcess, type TelehubProcess } from '../helpers/telehub.js';

after(() => stopTestPostgres());

/** One car of each kind of sender (docs/simulator.md#cars): two trips each in the past, then one trip each that ends now. */
const CARS = 4;
const TRIPS_PER_CAR = 2;
const SEED = 21;
/** idle_timeout + resume_window at their defaults: a trip is in progress this long after its last moving point. */
const EXPIRY_MS = DEFAULT_TRIP_SETTINGS.idleTimeoutMs + DEFAULT_TRIP_SETTINGS.resumeWindowMs;
/**
 * The recent trips end this long before their cars start sending, so that
 * each is stored in progress once its data is in and stays so until about
 * IN_PROGRESS_MS after they started, when the clock's expiry closes it (the
 * last moving point is ~24 s before the end of the drive: the final stop).
 */
const IN_PROGRESS_MS = 60_000;
const END_BEFORE_MS = EXPIRY_MS - 24_000 - IN_PROGRESS_MS;

const QUERIES = {
  sqlite: {
    progress: "SELECT (SELECT seq FROM processor_checkpoints WHERE name = 'trips') AS cp, (SELECT seq FROM telehub_log_head) AS head",
    stored: 'SELECT trip_id, device_id, start_time, end_time, in_progress FROM trips ORDER BY trip_id',
  },
  postgres: {
    progress: `SELECT (SELECT seq FROM processor_checkpoints WHERE name = 'trips')::text AS cp,
      COALESCE(GREATEST((SELECT max(seq) FROM events), (SELECT max(seq) FROM deadletters), (SELECT max(seq) FROM presence_transitions)), 0)::text AS head`,
    stored: `SELECT trip_id, device_id, (extract(epoch FROM start_time) * 1000)::int8::text AS start_time,
      (extract(epoch FROM end_time) * 1000)::int8::text AS end_time, in_progress FROM trips ORDER BY trip_id`,
  },
} as const;

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms: number, every = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A car's stored trips against its truth (as test/e2e/trips-sim.test.ts judges them). */
function assertTrue(car: string, stored: readonly TripRow[], truth: readonly TrueTrip[]): void {
  const show = JSON.stringify({ stored: stored.map((t) => [t.tripId, new Date(t.startTs).toISOString(), new Date(t.endTs).toISOString(), t.distanceKm, t.distanceSource, t.inProgress]), truth });
  assert.equal(stored.length, truth.length, `${car}: one stored trip per true trip: ${show}`);
  stored.forEach((t, i) => {
    const want = truth[i];
    assert.equal(t.inProgress, false, `${car} trip ${i} closed: ${show}`);
    assert.ok(Math.abs(t.startTs - want.start) <= 2000, `${car} trip ${i} start: ${show}`);
    assert.ok(Math.abs(t.endTs - want.end) <= 2000, `${car} trip ${i} end: ${show}`);
    assert.ok(Math.abs(t.distanceKm - want.distanceKm) / want.distanceKm < 0.01, `${car} trip ${i} distance within 1 %: ${show}`);
    assert.equal(t.distanceSource, want.source, `${car} trip ${i} source: ${show}`);
  });
}

/** What a reader sees of a trip, without identity, version and write time. */
const figures = ({ tripId: _i, version: _v, updatedAt: _u, ...f }: TripRow) => f;

type KillKind = 'ingest' | 'mid-batch' | 'in-progress';
interface StoredTrip {
  tripId: string;
  deviceId: string;
  startTs: number;
  endTs: number;
  inProgress: boolean;
}
interface Kill {
  kind: KillKind;
  /** Share of the cars' messages acknowledged then. */
  acked: number;
  /** The trips processor had entries to apply. */
  behind: boolean;
  /** The trips stored then. */
  stored: StoredTrip[];
}

const rand = (a: number, b: number) => a + Math.random() * (b - a);

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`trips under kill -9 (${kind})`, () => {
    it(`${CARS} cars × (${TRIPS_PER_CAR} past trips + 1 ending now): SIGKILLs mid-ingest, mid-batch and mid-trip leave every true trip whole, once, as an uninterrupted run makes it`, { timeout: 600_000 }, async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-tkill-'));
      const db = kind === 'postgres' ? await testDatabase() : undefined;
      const q = QUERIES[kind];
      const sql = async (text: string): Promise<Record<string, unknown>[]> => {
        if (db) return withPgClient(db.url, async (c) => (await c.query(text)).rows);
        const s = new Database(path.join(dataDir, 'telehub.db'), { readonly: true, fileMustExist: true });
        try {
          return s.prepare(text).all() as Record<string, unknown>[];
        } finally {
          s.close();
        }
      };
      const behind = async () => {
        const [p] = await sql(q.progress);
        return p.cp === null || p.cp === undefined || Number(p.cp) < Number(p.head);
      };
      const stored = async (): Promise<StoredTrip[]> =>
        (await sql(q.stored)).map((r) => ({ tripId: String(r.trip_id), deviceId: String(r.device_id), startTs: Number(r.start_time), endTs: Number(r.end_time), inProgress: r.in_progress === true || Number(r.in_progress) === 1 }));
      // The same ports across restarts: the cars reconnect to where telehub was.
      const httpPort = await freePort();
      const mqttPort = await freePort();
      const env: Record<string, string> = {
        TELEHUB_DATA_DIR: dataDir,
        TELEHUB_HTTP_PORT: String(httpPort),
        TELEHUB_MQTT_PORT: String(mqttPort),
        TELEHUB_PROCESSORS: 'trips',
        TELEHUB_LOG_POLL_MS: '20',
        TELEHUB_TRIP_TICK_S: '1',
        TELEHUB_LOG_LEVEL: 'warn',
        ...(db ? { DATABASE_URL: db.url } : {}),
      };
      const run = Math.random().toString(36).slice(2, 8);
      let hub: TelehubProcess | undefined;
      const fleets: CarFleet[] = [];
      const kills: Kill[] = [];
      const t0 = Date.now();
      try {
        hub = await startTelehubProcess(env);
        await hub.ready(60_000);
        // First the past: two trips per car, sent as fast as telehub takes them, killed at random points of the sending
        // (by the share of messages acknowledged): records in flight, the trips processor with entries to apply.
        const past = await startCarFleet({ cars: CARS, trips: TRIPS_PER_CAR, brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, idPrefix: `tk-${run}-p`, seed: SEED });
        fleets.push(past);
        const total = past.devices.reduce((n, c) => n + c.plan.messages.length, 0);
        const acked = () => past.stats.telemetryAcked / total;
        const kill9 = async (kind: KillKind) => {
          const k: Kill = { kind, acked: acked(), behind: await behind(), stored: await stored() };
          await hub!.kill9();
          kills.push(k);
          hub!.cleanup();
          hub = await startTelehubProcess(env);
          await hub.ready(60_000);
        };
        for (const k of [
          { kind: 'ingest', at: rand(0.08, 0.25) },
          { kind: 'mid-batch', at: rand(0.35, 0.6) },
          { kind: 'mid-batch', at: rand(0.7, 0.9) },
        ] as const) {
          await until(`${Math.round(k.at * 100)} % of the messages acknowledged`, async () => acked() >= k.at, 240_000, 10);
          if (k.kind === 'mid-batch') await until('the trips processor to have entries to apply', behind, 30_000, 10);
          await kill9(k.kind);
        }
        const pastDone = await within('the cars to send their past trips', past.done, 300_000);
        assert.equal(pastDone.lost, 0, JSON.stringify(pastDone));
        await until('the trips processor to catch up', async () => !(await behind()), 240_000, 100);
        const tPast = Date.now() - t0;

        // Then a trip per car that ends now: stored in progress once its data is in; killed then, and the trips
        // must be continued after the restart and closed by the clock, not left in progress.
        const recent = await startCarFleet({ cars: CARS, trips: 1, brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, idPrefix: `tk-${run}-r`, seed: SEED + 1, endBeforeMs: END_BEFORE_MS });
        fleets.push(recent);
        const expiresAt = Math.max(...Object.values(recent.truth).map((t) => t[t.length - 1].end)) + EXPIRY_MS;
        await until('a trip stored in progress (the trips processor too slow for the clock?)', async () => (await stored()).some((t) => t.inProgress), expiresAt - 5_000 - Date.now(), 20);
        const tInProgress = Date.now() - t0 - tPast;
        await kill9('in-progress');
        const recentDone = await within('the cars to send their recent trip', recent.done, 300_000);
        assert.equal(recentDone.lost, 0, JSON.stringify(recentDone));
        // Everything applied, and the clock's expiry has closed the last trips (nothing left in progress).
        await until('the trips processor to catch up and every trip to be closed', async () => !(await behind()) && !(await stored()).some((t) => t.inProgress), Math.max(60_000, expiresAt + 60_000 - Date.now()), 200);
        const tClosed = Date.now() - t0;
        assert.equal(await hub.stop(), 0, hub.output());
        hub.cleanup();
        hub = undefined;
        process.stderr.write(`# trips-kill ${kind}: ${total} messages of past trips in and applied after ${tPast} ms, a recent trip in progress ${tInProgress} ms later (closed by the clock ~${IN_PROGRESS_MS} ms after), all closed after ${tClosed} ms; kills: ${JSON.stringify(kills.map((k) => ({ kind: k.kind, acked: Math.round(k.acked * 100), behind: k.behind, stored: k.stored.length, inProgress: k.stored.filter((t) => t.inProgress).length })))}\n`);

        assert.ok(kills.filter((k) => k.behind).length >= 2, 'kills hit while the trips processor had entries to apply');
        assert.ok(kills.some((k) => k.acked < 1 && k.stored.length > 0), 'a kill hit mid-trip while the cars were sending');
        assert.ok(kills.some((k) => k.stored.some((t) => t.inProgress)), 'a kill hit while trips were stored in progress');

        const store = openStore(loadConfig(env).store);
        try {
          await store.migrate();
          const truth = { ...past.truth, ...recent.truth };
          const live = new Map<string, TripRow[]>();
          for (const [car, want] of Object.entries(truth)) {
            const stored = await listTrips(store, { deviceId: car, limit: 100 });
            assertTrue(car, stored, want);
            live.set(car, stored);
          }
          // No stray piece of any vehicle, no id twice.
          const all = (await listTrips(store, { limit: 10_000 })).filter((t) => t.deviceId.startsWith(`tk-${run}-`));
          assert.equal(all.length, CARS * (TRIPS_PER_CAR + 1));
          assert.equal(new Set(all.map((t) => t.tripId)).size, all.length);
          // A trip stored at a kill went on after it, whole: within one final trip; one in progress kept its id.
          for (const k of kills) {
            for (const p of k.stored.filter((t) => t.deviceId.startsWith(`tk-${run}-`))) {
              const covering = all.filter((t) => t.deviceId === p.deviceId && t.startTs <= p.startTs && p.endTs <= t.endTs);
              assert.equal(covering.length, 1, `${p.tripId} of ${p.deviceId} stored at a kill (${k.kind}) goes on in one trip: ${JSON.stringify({ p, final: live.get(p.deviceId) })}`);
              if (p.inProgress) assert.equal(covering[0].tripId, p.tripId, `the trip in progress at a kill (${k.kind}) is continued, not replaced`);
            }
          }
          // Live equals a rebuild from the stored events: nothing to write, nothing to delete.
          for (const car of Object.keys(truth)) assert.deepEqual(await rebuildTrips(store, car, 0, MAX_TIME, DEFAULT_TRIP_SETTINGS, Date.now()), { written: 0, deleted: 0 }, car);
          // The uninterrupted reference: the trips recomputed from nothing have the same figures.
          await store.processors.reset(TRIPS, ['trips']);
          for (const car of Object.keys(truth)) await rebuildTrips(store, car, 0, MAX_TIME, DEFAULT_TRIP_SETTINGS, Date.now());
          for (const [car, was] of live) assert.deepEqual((await listTrips(store, { deviceId: car, limit: 100 })).map(figures), was.map(figures), car);
        } finally {
          await store.close();
        }
      } finally {
        for (const f of fleets) await f.stop();
        if (hub) {
          await hub.kill9();
          hub.cleanup();
        }
        rmSync(dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    });
  });
}

/**
 * Live trip lag (`npm run bench:trips`, and the `trips` suite of `npm run
 * bench`): simulated cars (src/simulator/car/) drive their trips into telehub
 * (in this process: embedded broker + SQLite, the trips processor on); for
 * each true trip, the time from the acknowledgement (= commit) of the record
 * holding its last moving point to the moment its trip row shows that end.
 * Reported, not asserted (the e2e test checks the trips themselves).
 *
 * BENCH_TRIP_CARS (default 20), BENCH_TRIP_TRIPS per car (default 2),
 * BENCH_TRIP_RATE messages per second per car (default 20).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startTelehub } from '../src/app.js';
import { loadConfig } from '../src/core/config.js';
import { listTrips } from '../src/processors/trips/queries.js';
import { startCarFleet } from '../src/simulator/car/fleet.js';

export interface TripLagReport {
  ok: boolean;
  cars: number;
  tripsPerCar: number;
  ratePerCar: number;
  /** Records sent and acknowledged per second over the run (all cars). */
  recordsPerSecond: number;
  trips: { expected: number; seen: number };
  lagMs: { p50: number | null; p99: number | null; max: number | null };
  problems: string[];
}

const pct = (sorted: number[], p: number) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);

export interface TripLagOptions {
  brokerUrl: string;
  cars: number;
  tripsPerCar: number;
  rate: number;
  /** Car ids are `{idPrefix}-car-{n}`. */
  idPrefix: string;
  /** Every trip row so far: its car and end (ms). */
  listEnds: () => Promise<Array<{ deviceId: string; endTs: number }>>;
  /** True when the trips processor has applied every commit-log entry. */
  caughtUp: () => Promise<boolean>;
  log: (s: string) => void;
  /** Called once the cars are connected and driving (e.g. to start other load), with a promise of the cars having sent everything. */
  onStarted?: (carsDone: Promise<unknown>) => void;
}

/**
 * Drives `cars` simulated cars into a running telehub and measures, for each
 * true trip, the time from the acknowledgement of the record holding its last
 * moving point to the first poll (every 20 ms) that shows its trip row with
 * that end. Used by the trips suite (telehub in this process) and by the
 * MQTT bench's trip lag under load (telehub as a child process).
 */
export async function measureTripLag(o: TripLagOptions): Promise<TripLagReport> {
  const { cars, tripsPerCar, rate, log } = o;
  const problems: string[] = [];
  const started = Date.now();
  const fleet = await startCarFleet({ cars, trips: tripsPerCar, rate, brokerUrl: o.brokerUrl, idPrefix: o.idPrefix });
  try {
    o.onStarted?.(fleet.done);
    // When each stored (car, end) was first seen; a true trip is shown by a stored end within one sample (2 s) of it.
    const seenAt = new Map<string, number>();
    const expected = cars * tripsPerCar;
    let finished = false;
    void fleet.done.then(() => (finished = true));
    let lastProgress = Date.now();
    for (;;) {
      const rows = await o.listEnds();
      const now = Date.now();
      for (const t of rows) {
        const k = `${t.deviceId}/${t.endTs}`;
        if (!seenAt.has(k)) {
          seenAt.set(k, now);
          lastProgress = now;
        }
      }
      // Done when every car has sent all and nothing new showed for a while (the processor has caught up).
      if (finished && now - lastProgress > 5_000 && (await o.caughtUp())) break;
      if (finished && now - lastProgress > 120_000) {
        problems.push('the trips processor did not catch up within 120 s of the last new trip row');
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const elapsedS = (Date.now() - started) / 1000;
    const lags: number[] = [];
    let seen = 0;
    for (const car of fleet.devices) {
      for (const t of car.plan.trips) {
        const shown = [-2000, -1000, 0, 1000, 2000].map((d) => seenAt.get(`${car.id}/${t.end + d}`)).find((x) => x !== undefined);
        const acked = car.endAckedAt.get(t.end);
        if (shown === undefined || acked === undefined) {
          problems.push(`${car.id}: trip ending ${new Date(t.end).toISOString()} ${shown === undefined ? 'never shown' : 'end record not acknowledged'}`);
          continue;
        }
        seen++;
        lags.push(Math.max(0, shown - acked));
      }
    }
    lags.sort((a, b) => a - b);
    const records = fleet.stats.telemetryAcked;
    const report: TripLagReport = {
      ok: problems.length === 0,
      cars,
      tripsPerCar,
      ratePerCar: rate,
      recordsPerSecond: Math.round(records / elapsedS),
      trips: { expected, seen },
      lagMs: { p50: pct(lags, 50), p99: pct(lags, 99), max: lags.at(-1) ?? null },
      problems: problems.slice(0, 10),
    };
    log(`trip lag: ${seen}/${expected} trips, p50 ${report.lagMs.p50} ms, p99 ${report.lagMs.p99} ms, max ${report.lagMs.max} ms; ${report.recordsPerSecond} records/s`);
    return report;
  } finally {
    await fleet.stop();
  }
}

export async function runTripLagSuite(o: { cars?: number; trips?: number; rate?: number; log?: (s: string) => void } = {}): Promise<TripLagReport> {
  const cars = o.cars ?? Number(process.env.BENCH_TRIP_CARS ?? 20);
  const tripsPerCar = o.trips ?? Number(process.env.BENCH_TRIP_TRIPS ?? 2);
  const rate = o.rate ?? Number(process.env.BENCH_TRIP_RATE ?? 20);
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-bench-trips-'));
  const hub = await startTelehub(
    loadConfig({
      TELEHUB_DATA_DIR: dir,
      TELEHUB_HTTP_HOST: '127.0.0.1',
      TELEHUB_HTTP_PORT: '0',
      TELEHUB_MQTT_HOST: '127.0.0.1',
      TELEHUB_MQTT_PORT: '0',
      TELEHUB_MQTT_WS_PORT: '-1',
      TELEHUB_LOG_LEVEL: 'silent',
      TELEHUB_PROCESSORS: 'trips',
    }),
    { log: pino({ level: 'silent' }), webRoot: null },
  );
  try {
    log(`trip lag: ${cars} cars × ${tripsPerCar} trips, ${rate} records/s per car, embedded broker + SQLite`);
    return await measureTripLag({
      brokerUrl: `mqtt://127.0.0.1:${hub.mqttPort}`,
      cars,
      tripsPerCar,
      rate,
      idPrefix: 'bench',
      listEnds: async () => (await listTrips(hub.store, { limit: 100_000 })).map((t) => ({ deviceId: t.deviceId, endTs: t.endTs })),
      caughtUp: async () => (await hub.processors.status()).every((p) => p.lagEntries === 0),
      log,
    });
  } finally {
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runTripLagSuite().then(
    (r) => {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      process.exit(r.ok ? 0 : 1);
    },
    (err) => {
      process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}

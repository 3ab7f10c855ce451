/**
 * The trips processor following a log of car telemetry (`npx tsx
 * bench/trips-processor.ts`): simulated cars (src/simulator/car/plan.ts,
 * every kind of sender, in-order and reordered/duplicated sends as the
 * simulator makes them) written to a fresh SQLite store, then the processor
 * catches up with the log in batches of BENCH_TRIPS_BATCH entries (default
 * 100), once with the incremental engine and once always recomputing windows
 * from stored events (the behaviour before it). Prints log entries/s of each
 * and checks both leave the same trips. BENCH_TRIPS_CARS (default 10),
 * BENCH_TRIPS_TRIPS per car (default 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { decodeCarRecord } from '../src/codecs/car-telemetry/index.js';
import { DEFAULT_LIMITS } from '../src/core/config.js';
import type { TelemetryEvent } from '../src/core/event.js';
import { ProcessorRunner } from '../src/log/runner.js';
import { TRIPS, tripsProcessor } from '../src/processors/trips/index.js';
import { listTrips } from '../src/processors/trips/queries.js';
import { SqliteStore } from '../src/storage/sqlite/index.js';
import { CAR_KINDS, planCar } from '../src/simulator/car/plan.js';
import { compactRecord } from '../src/simulator/car/wire.js';
import { DEFAULT_TRIP_SETTINGS } from '../src/trips/index.js';

const cars = Number(process.env.BENCH_TRIPS_CARS ?? 10);
const trips = Number(process.env.BENCH_TRIPS_TRIPS ?? 1);
const batchSize = Number(process.env.BENCH_TRIPS_BATCH ?? 100);
const start = Date.now() - trips * 50 * 60_000 - 3_600_000;

// Cars sending at once: their messages interleaved in plan order, each record written as it comes.
const perCar = Array.from({ length: cars }, (_, i) => {
  const plan = planCar({ seed: i + 1, kind: CAR_KINDS[i % CAR_KINDS.length], start, trips, gpsSpike: true });
  return plan.messages.map((m) => m.flatMap((s) => {
    const r = decodeCarRecord(JSON.parse(JSON.stringify(compactRecord(s))), `car-${i}`, start, DEFAULT_LIMITS);
    return Array.isArray(r) ? r.map((e) => ({ ...e, tsServer: e.tsDevice!, unit: null, valueText: null, schema: 1 }) as TelemetryEvent) : [];
  }));
});
const writes: TelemetryEvent[][] = [];
for (let k = 0; perCar.some((c) => k < c.length); k++) for (const c of perCar) if (k < c.length) writes.push(c[k]);

async function run(incremental: boolean) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-bench-tripsproc-'));
  const store = new SqliteStore(path.join(dir, 'telehub.db'));
  await store.migrate();
  try {
    const seen = new Set<string>();
    for (const w of writes) {
      const fresh = w.filter((e) => !seen.has(e.eventId));
      fresh.forEach((e) => seen.add(e.eventId));
      if (fresh.length > 0) await store.writeBatch({ events: fresh, deadLetters: [] });
    }
    const entries = await store.log.head();
    const counters = { incremental: 0, recomputed: 0 };
    const p = tripsProcessor(store.processors, { settings: DEFAULT_TRIP_SETTINGS, latenessMs: 7 * 86_400_000, incremental }, counters);
    const runner = new ProcessorRunner(store, [p], { batchSize, pollMs: 20, retryMinMs: 1, retryMaxMs: 10 }, pino({ level: 'silent' }));
    const t0 = process.hrtime.bigint();
    await runner.catchUp(TRIPS);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const rows = (await listTrips(store, { limit: 100_000 })).map(({ updatedAt: _u, version: _v, ...t }) => t);
    return { mode: incremental ? 'incremental' : 'recompute', entries, seconds: Math.round(s * 100) / 100, entriesPerSecond: Math.round(entries / s), counters, trips: rows };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const before = await run(false);
const after = await run(true);
const same = JSON.stringify(before.trips) === JSON.stringify(after.trips);
const { trips: t1, ...b } = before;
const { trips: _t2, ...a } = after;
process.stdout.write(JSON.stringify({ cars, tripsPerCar: trips, batchSize, trips: t1.length, sameTrips: same, recompute: b, incremental: a }, null, 2) + '\n');
process.exit(same ? 0 : 1);

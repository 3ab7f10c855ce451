/**
 * `npm run bench:tiers [-- SECONDS [ROUNDS]]`: ingest throughput with the
 * rollup tiers on (the rollups processor following the commit log and the
 * refresher recomputing dirty buckets, as `start` runs them)
 * against the same store with them off, in the same run, alternating
 * rounds (off, on, on, off, ...) so drift on a shared machine hits both.
 * Each phase starts caught up (log applied, no dirty bucket), untimed.
 * Intake is the store's write path itself (500-event batches back to back),
 * on SQLite and, with TELEHUB_TEST_DATABASE_URL, PostgreSQL, in one of two
 * clocks (BENCH_TIERS_CLOCK):
 * - `now` (default): every event at the time it is written, from
 *   BENCH_TIERS_DEVICES (default 5,000) devices in turn, so at a few
 *   thousand events/s each device reports about once a second and the
 *   buckets fill in real time, as in use; the refresher at telehub's default
 *   interval (BENCH_TIERS_REFRESH_S, default 10).
 * - `fast`: event time starts an hour back and runs at 1 s a round of
 *   BENCH_TIERS_DEVICES (default 100) devices, about 50 times faster than the
 *   clock, so a 1-minute bucket fills in about a second, with the refresher
 *   every BENCH_TIERS_REFRESH_S (default 1) s: a stress, every bucket
 *   recomputed while it fills, the figures of 2026-12-02's first rounds.
 * Each phase reports events/s;
 * an "on" phase also reports how far the rollups processor was behind at
 * its end (entries), since a processor that fell behind would flatter the
 * figure. Target (issue 11): on >= 90 % of off.
 */
import pino from 'pino';
import type { TelemetryEvent } from '../src/core/event.js';
import { ProcessorRunner } from '../src/log/runner.js';
import { rollups, ROLLUPS } from '../src/processors/rollups/index.js';
import { RollupRefresher } from '../src/processors/rollups/refresher.js';
import { DEFAULT_TIERS } from '../src/processors/rollups/tiers.js';
import type { Store } from '../src/storage/store.js';
import { stopTestPostgres } from '../test/helpers/postgres.js';
import { openTestStore } from '../test/helpers/store.js';

export interface TiersOverheadReport {
  store: string;
  /** BENCH_TIERS_CLOCK: `now` (events at the time they are written) or `fast`. */
  clock: string;
  devices: number;
  seconds: number;
  /** The refresher's interval in the on phases, ms. */
  refreshMs: number;
  offEventsPerSecond: number[];
  onEventsPerSecond: number[];
  /** Rollups entries not yet applied at the end of each on phase. */
  onBacklogAtEnd: number[];
  /** Median on / median off. */
  ratio: number;
}

const CLOCK = process.env.BENCH_TIERS_CLOCK ?? 'now';
if (CLOCK !== 'now' && CLOCK !== 'fast') throw new Error(`BENCH_TIERS_CLOCK: ${CLOCK} is not now or fast`);
const DEVICES = Number(process.env.BENCH_TIERS_DEVICES ?? (CLOCK === 'now' ? 5000 : 100));
const REFRESH_S = Number(process.env.BENCH_TIERS_REFRESH_S ?? (CLOCK === 'now' ? 10 : 1));
let n = 0;
let clock = Date.now() - 3_600_000;
function batch(size: number): TelemetryEvent[] {
  const out: TelemetryEvent[] = [];
  const now = Date.now();
  for (let i = 0; i < size; i++) {
    if (n % DEVICES === 0) clock += 1000;
    const t = CLOCK === 'now' ? now : clock;
    out.push({ eventId: `t${n}`, deviceId: `dev-${n % DEVICES}`, schema: 1, eventType: 'temperature', valueNum: (n % 400) / 10, valueText: null, unit: 'C', tsDevice: t, tsServer: now, meta: '{}' });
    n++;
  }
  return out;
}

async function ingest(store: Store, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let count = 0;
  while (performance.now() < end) {
    await store.writeBatch({ events: batch(500), deadLetters: [] });
    count += 500;
  }
  return count / ((performance.now() - t0) / 1000);
}

/** Applies the whole log to the rollups processor and refreshes until no bucket is dirty (untimed). */
async function catchUp(store: Store, tiers: typeof DEFAULT_TIERS, log: pino.Logger): Promise<void> {
  const runner = new ProcessorRunner(store, [rollups(tiers)], { batchSize: 5000, pollMs: 50, retryMinMs: 100, retryMaxMs: 1000 }, log);
  await runner.catchUp(ROLLUPS);
  const refresher = new RollupRefresher(store.processors, store.kind, tiers, { log });
  while ((await refresher.refreshOnce()).more);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchTiers(kind: 'sqlite' | 'postgres', seconds: number, rounds: number, refreshMs = REFRESH_S * 1000): Promise<TiersOverheadReport> {
  const { store, cleanup: close } = await openTestStore(kind, 'bench-tiers');
  const log = pino({ level: 'silent' });
  const tiers = { ...DEFAULT_TIERS, refreshMs };
  const report: TiersOverheadReport = { store: kind, clock: CLOCK, devices: DEVICES, seconds, refreshMs, offEventsPerSecond: [], onEventsPerSecond: [], onBacklogAtEnd: [], ratio: 0 };
  try {
    await ingest(store, 1); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const on of r % 2 === 0 ? [false, true] : [true, false]) {
        if (!on) {
          report.offEventsPerSecond.push(Math.round(await ingest(store, seconds)));
          continue;
        }
        // Start from a caught-up state (the off phase before left its entries
        // unapplied, and they are not this phase's work).
        await catchUp(store, tiers, log);
        const runner = new ProcessorRunner(store, [rollups(tiers)], { batchSize: 1000, pollMs: 100, retryMinMs: 100, retryMaxMs: 1000 }, log);
        const refresher = new RollupRefresher(store.processors, store.kind, tiers, { log });
        await runner.start();
        refresher.start();
        report.onEventsPerSecond.push(Math.round(await ingest(store, seconds)));
        const at = (await store.processors.get(ROLLUPS)) ?? 0;
        report.onBacklogAtEnd.push((await store.log.backlog(at, 10_000_000)).entries);
        await refresher.stop();
        await runner.stop();
        // Let it catch up before an off phase, so that phase does not pay for it.
        await catchUp(store, tiers, log);
      }
    }
    report.ratio = Math.round((median(report.onEventsPerSecond) / median(report.offEventsPerSecond)) * 1000) / 1000;
    return report;
  } finally {
    await close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seconds = Number(process.argv[2] ?? 8);
  const rounds = Number(process.argv[3] ?? 2);
  const reports: TiersOverheadReport[] = [];
  for (const kind of ['sqlite', ...(process.env.TELEHUB_TEST_DATABASE_URL ? ['postgres' as const] : [])] as const) {
    const r = await benchTiers(kind, seconds, rounds);
    reports.push(r);
    console.log(
      `${kind} (clock ${r.clock}, ${r.devices} devices, refresh every ${r.refreshMs / 1000} s): tiers off ${r.offEventsPerSecond.join(' / ')} events/s, on ${r.onEventsPerSecond.join(' / ')} events/s (rollups backlog at the end of each on phase: ${r.onBacklogAtEnd.join(' / ')} entries); on/off (medians) ${(r.ratio * 100).toFixed(1)} %`,
    );
  }
  await stopTestPostgres();
  console.log(JSON.stringify(reports));
}

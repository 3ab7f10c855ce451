/**
 * `npm run bench:tiers [-- SECONDS [ROUNDS]]`: ingest throughput with the
 * rollup tiers on (the rollups processor following the commit log and the
 * refresher recomputing dirty buckets every second, as `start` runs them)
 * against the same store with them off, in the same run, alternating
 * rounds (off, on, on, off, ...) so drift on a shared machine hits both.
 *
 * Intake is the store's write path itself (500-event batches back to back,
 * 100 devices, one reading a device a second of event time), on SQLite and,
 * with TELEHUB_TEST_DATABASE_URL, PostgreSQL. Each phase reports events/s;
 * an "on" phase also reports how far the rollups processor was behind at
 * its end (entries), since a processor that fell behind would flatter the
 * figure. Target (issue 11): on >= 90 % of off.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { TelemetryEvent } from '../src/core/event.js';
import { ProcessorRunner } from '../src/log/runner.js';
import { rollups, ROLLUPS } from '../src/processors/rollups/index.js';
import { RollupRefresher } from '../src/processors/rollups/refresher.js';
import { DEFAULT_TIERS } from '../src/processors/rollups/tiers.js';
import { PostgresStore } from '../src/storage/postgres/index.js';
import { SqliteStore } from '../src/storage/sqlite/index.js';
import type { Store } from '../src/storage/store.js';
import { stopTestPostgres, testDatabase } from '../test/helpers/postgres.js';

export interface TiersOverheadReport {
  store: string;
  seconds: number;
  offEventsPerSecond: number[];
  onEventsPerSecond: number[];
  /** Rollups entries not yet applied at the end of each on phase. */
  onBacklogAtEnd: number[];
  /** Median on / median off. */
  ratio: number;
}

const DEVICES = 100;
let n = 0;
let clock = Date.now() - 3_600_000;
function batch(size: number): TelemetryEvent[] {
  const out: TelemetryEvent[] = [];
  for (let i = 0; i < size; i++) {
    if (n % DEVICES === 0) clock += 1000;
    out.push({ eventId: `t${n}`, deviceId: `dev-${n % DEVICES}`, schema: 1, eventType: 'temperature', valueNum: (n % 400) / 10, valueText: null, unit: 'C', tsDevice: clock, tsServer: Date.now(), meta: '{}' });
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchTiers(kind: 'sqlite' | 'postgres', seconds: number, rounds: number): Promise<TiersOverheadReport> {
  let store: Store;
  let close: () => Promise<void>;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-bench-tiers-'));
    store = new SqliteStore(path.join(dir, 'telehub.db'));
    close = async () => (await store.close(), rmSync(dir, { recursive: true, force: true }));
  } else {
    const db = await testDatabase();
    store = new PostgresStore({ connectionString: db.url, poolSize: 4 });
    close = async () => (await store.close(), await db.drop());
  }
  const log = pino({ level: 'silent' });
  const tiers = { ...DEFAULT_TIERS, refreshMs: 1000 };
  const report: TiersOverheadReport = { store: kind, seconds, offEventsPerSecond: [], onEventsPerSecond: [], onBacklogAtEnd: [], ratio: 0 };
  try {
    await store.migrate();
    await ingest(store, 1); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const on of r % 2 === 0 ? [false, true] : [true, false]) {
        if (!on) {
          report.offEventsPerSecond.push(Math.round(await ingest(store, seconds)));
          continue;
        }
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
        const catchUp = new ProcessorRunner(store, [rollups(tiers)], { batchSize: 5000, pollMs: 50, retryMinMs: 100, retryMaxMs: 1000 }, log);
        await catchUp.start();
        for (;;) {
          const c = (await store.processors.get(ROLLUPS)) ?? 0;
          if ((await store.log.backlog(c, 1)).entries === 0) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        await catchUp.stop();
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
      `${kind}: tiers off ${r.offEventsPerSecond.join(' / ')} events/s, on ${r.onEventsPerSecond.join(' / ')} events/s (rollups backlog at the end of each on phase: ${r.onBacklogAtEnd.join(' / ')} entries); on/off (medians) ${(r.ratio * 100).toFixed(1)} %`,
    );
  }
  await stopTestPostgres();
  console.log(JSON.stringify(reports));
}

/**
 * `npm run bench:retention [-- ROWS [CHUNK...]]`: the cost of dropping a day
 * of raw events with the retention job, and what it does to intake.
 *
 * Fills a store (SQLite in a temp dir; PostgreSQL too when
 * TELEHUB_TEST_DATABASE_URL is set) with ROWS events spread over one day
 * eight days ago plus a day of recent ones, then for each chunk size runs the
 * retention job over that day while an intake loop commits 100-event batches
 * back to back, and reports: drop time, rows/s, the longest chunk, and the
 * longest gap between two intake commits (an ACK waits at most that long)
 * during the drop, against the same loop's longest gap without a drop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TelemetryEvent } from '../src/core/event.js';
import { DEFAULT_TIERS } from '../src/processors/rollups/tiers.js';
import { RetentionJob } from '../src/retention/job.js';
import { PostgresStore } from '../src/storage/postgres/index.js';
import { SqliteStore } from '../src/storage/sqlite/index.js';
import type { Store } from '../src/storage/store.js';
import { stopTestPostgres, testDatabase } from '../test/helpers/postgres.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2025, 5, 20, 12);
const rows = Number(process.argv[2] ?? 300_000);
const chunks = process.argv.slice(3).map(Number);
if (chunks.length === 0) chunks.push(1000, 5000, 20000);

let seq = 0;
function batch(n: number, from: number, span: number): TelemetryEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const t = from + Math.floor(((i + 0.5) / n) * span);
    return { eventId: `b${seq++}`, deviceId: `dev-${i % 100}`, schema: 1, eventType: 'temp', valueNum: i, valueText: null, unit: null, tsDevice: t, tsServer: t, meta: '{}' };
  });
}

async function fill(store: Store, n: number): Promise<void> {
  const day = NOW - 8 * DAY;
  const per = 5000;
  for (let i = 0; i < n; i += per) await store.writeBatch({ events: batch(Math.min(per, n - i), day + (i / n) * DAY, (per / n) * DAY), deadLetters: [] });
}

/** Commits 100-event batches back to back until stop(); returns the longest gap between commits, ms. */
function intake(store: Store): { stop: () => Promise<{ maxGapMs: number; batches: number }> } {
  let running = true;
  let maxGap = 0;
  let batches = 0;
  const done = (async () => {
    let last = performance.now();
    while (running) {
      await store.writeBatch({ events: batch(100, NOW - 60_000, 60_000), deadLetters: [] });
      const t = performance.now();
      maxGap = Math.max(maxGap, t - last);
      last = t;
      batches++;
    }
  })();
  return { stop: async () => ((running = false), await done, { maxGapMs: maxGap, batches }) };
}

async function measure(kind: string, open: () => Promise<{ store: Store; close: () => Promise<void> }>): Promise<void> {
  for (const chunk of chunks) {
    const { store, close } = await open();
    try {
      await fill(store, rows);
      // Baseline: the intake loop alone for 2 s.
      const base = intake(store);
      await new Promise((r) => setTimeout(r, 2000));
      const b = await base.stop();
      const job = new RetentionJob({
        store: store.processors, dialect: store.kind, tiers: DEFAULT_TIERS, processors: [], rollupsOn: false, now: () => NOW,
        retention: { intervalMs: 1, chunk, deadLetterRetentionMs: 0, deadLetterMaxBytes: 0, diskMaxBytes: 0, diskWarnRatio: 1, diskShrinkRaw: false },
      });
      const load = intake(store);
      const t0 = performance.now();
      const r = await job.runOnce();
      const ms = performance.now() - t0;
      const l = await load.stop();
      console.log(
        `${kind} rows=${rows} chunk=${chunk}: dropped ${r.rawDeleted} in ${ms.toFixed(0)} ms (${Math.round(r.rawDeleted / (ms / 1000))} rows/s), longest chunk ${r.longestChunkMs.toFixed(1)} ms; ` +
          `longest gap between intake commits ${l.maxGapMs.toFixed(1)} ms during the drop (${l.batches} batches) vs ${b.maxGapMs.toFixed(1)} ms without (${b.batches} batches in 2 s)`,
      );
    } finally {
      await close();
    }
  }
}

if (process.env.BENCH_SKIP_SQLITE === undefined) await measure('sqlite', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-bench-retention-'));
  const store = new SqliteStore(path.join(dir, 'telehub.db'));
  await store.migrate();
  return { store, close: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
});
if (process.env.TELEHUB_TEST_DATABASE_URL) {
  await measure('postgres', async () => {
    const db = await testDatabase();
    const store = new PostgresStore({ connectionString: db.url, poolSize: 4 });
    await store.migrate();
    return { store, close: async () => (await store.close(), await db.drop()) };
  });
  await stopTestPostgres();
}

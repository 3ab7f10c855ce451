/**
 * `npm run bench:partition-drop [-- PG_ROWS [SQLITE_ROWS]]`: what dropping a
 * day of raw events costs now that PostgreSQL's events are partitioned by
 * day, and what the alternatives cost on SQLite.
 *
 * PostgreSQL (TELEHUB_TEST_DATABASE_URL): a fresh database, migrated, on a
 * simulated clock 40 days ahead; PG_ROWS (default 2,000,000) events of one
 * day eight days back are inserted straight in SQL (generate_series, through
 * the partitioned table and all its indexes); then an intake loop commits
 * 100-event batches through the store for 2 s alone and again while the
 * retention job runs (it drops that day with one DROP TABLE). Reported: the
 * DROP's time, the whole run's, and the longest gap between two intake
 * commits during the run against the loop's own longest gap without it.
 *
 * SQLite (SQLITE_ROWS, default 200,000, 0 to skip): one day of events in
 * the events schema (the seed's three indexes, the query API's three,
 * event_id and seq), three ways to remove it: the retention job's chunked
 * delete by key (what ships), chunked deletes by rowid range (rowids follow
 * arrival, so a day is nearly one range), and DROP TABLE of a per-day table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { TelemetryEvent } from '../src/core/event.js';
import { DEFAULT_TIERS } from '../src/processors/rollups/tiers.js';
import { RetentionJob } from '../src/retention/job.js';
import { PostgresStore } from '../src/storage/postgres/index.js';
import { dayStart, partitionName } from '../src/storage/postgres/partitions.js';
import { MIGRATIONS } from '../src/storage/migrations/index.js';
import { stopTestPostgres, testDatabase } from '../test/helpers/postgres.js';

const DAY = 86_400_000;
const pgRows = Number(process.argv[2] ?? 2_000_000);
const sqliteRows = Number(process.argv[3] ?? 200_000);

export interface PartitionDropReport {
  postgres?: { rows: number; loadS: number; dropMs: number; runMs: number; maxGapDuringMs: number; maxGapBaselineMs: number; batchesDuring: number; partition: string };
  sqlite?: { rows: number; chunkedByKeyMs: number; chunkedByRowidMs: number; dropTableMs: number; chunk: number };
}

let seq = 0;
function batch(n: number, at: number): TelemetryEvent[] {
  return Array.from({ length: n }, (_, i) => ({ eventId: `live-${seq++}`, deviceId: `dev-${i % 100}`, schema: 1, eventType: 'temp', valueNum: i, valueText: null, unit: null, tsDevice: at, tsServer: at, meta: '{}' }));
}

/** Commits 100-event batches back to back until stop(); the longest gap between commits, ms. */
function intake(store: PostgresStore, at: number) {
  let running = true;
  let maxGap = 0;
  let batches = 0;
  const done = (async () => {
    let last = performance.now();
    while (running) {
      await store.writeBatch({ events: batch(100, at), deadLetters: [] });
      const t = performance.now();
      maxGap = Math.max(maxGap, t - last);
      last = t;
      batches++;
    }
  })();
  return { stop: async () => ((running = false), await done, { maxGapMs: maxGap, batches }) };
}

export async function benchPostgres(rows: number): Promise<PartitionDropReport['postgres']> {
  const db = await testDatabase();
  const store = new PostgresStore({ connectionString: db.url, poolSize: 4 });
  try {
    await store.migrate();
    const now = dayStart(Date.now()) + 40 * DAY + 12 * 3_600_000;
    const job = new RetentionJob({
      store: store.processors, dialect: 'postgres', tiers: DEFAULT_TIERS, processors: [], rollupsOn: false, now: () => now,
      retention: { intervalMs: 1, chunk: 5000, deadLetterRetentionMs: 0, deadLetterMaxBytes: 0, diskMaxBytes: 0, diskWarnRatio: 1, diskShrinkRaw: false },
    });
    // The partitions from eight days back to three ahead.
    const { ensurePartitions } = await import('../src/storage/postgres/partitions.js');
    const day = dayStart(now) - 8 * DAY;
    await ensurePartitions(store.processors, day, now + 3 * DAY);
    const t0 = performance.now();
    const step = 500_000;
    for (let i = 0; i < rows; i += step) {
      const n = Math.min(step, rows - i);
      await store.processors.execute([
        {
          sql: `INSERT INTO events (event_id, device_id, schema, event_type, value_num, ts_device, ts_server, meta)
                SELECT 'g' || g, 'dev-' || (g % 100), 1, 'temp', g, t, t, '{}'
                FROM generate_series($1::int8, $2::int8) AS g, LATERAL (SELECT to_timestamp(($3::int8 + g * ${DAY} / $4::int8) / 1000.0) AS t) AS x`,
          params: [i, i + n - 1, day, rows],
        },
      ]);
      process.stderr.write(`postgres: loaded ${i + n} of ${rows} rows (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
    const loadS = (performance.now() - t0) / 1000;
    await store.processors.execute([{ sql: `ANALYZE ${partitionName(day)}`, params: [] }]);
    const base = intake(store, now);
    await new Promise((r) => setTimeout(r, 2000));
    const b = await base.stop();
    const load = intake(store, now);
    const t1 = performance.now();
    const r = await job.runOnce();
    const runMs = performance.now() - t1;
    // Let the loop commit a few more batches after the run, so a stall at its very end shows.
    await new Promise((res) => setTimeout(res, 300));
    const l = await load.stop();
    const dropped = r.partitionsDropped.find((p) => p.name === partitionName(day));
    if (!dropped) throw new Error(`the day ${partitionName(day)} was not dropped: ${JSON.stringify(r)}`);
    return { rows, loadS, dropMs: dropped.ms, runMs, maxGapDuringMs: l.maxGapMs, maxGapBaselineMs: b.maxGapMs, batchesDuring: l.batches, partition: dropped.name };
  } finally {
    await store.close();
    await db.drop();
  }
}

/** SQLite: the same day removed three ways, each on its own fresh file. */
export function benchSqlite(rows: number, chunk = 5000): PartitionDropReport['sqlite'] {
  const schema = MIGRATIONS.filter((m) => m.version <= 6).map((m) => m.sqlite).join('\n');
  const fill = (db: Database.Database, table: string) => {
    const ins = db.prepare(`INSERT INTO ${table} (event_id, device_id, schema, event_type, value_num, ts_device, ts_server, meta, seq) VALUES (?, ?, 1, 'temp', ?, ?, ?, '{}', ?)`);
    const day = Date.UTC(2025, 0, 1);
    db.transaction(() => {
      for (let i = 0; i < rows; i++) {
        const t = day + Math.floor((i * DAY) / rows);
        ins.run(`g${i}`, `dev-${i % 100}`, i, t, t, i + 1);
      }
    })();
  };
  const open = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-bench-drop-'));
    const db = new Database(path.join(dir, 'telehub.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(schema);
    return { db, done: () => (db.close(), rmSync(dir, { recursive: true, force: true })) };
  };
  const timed = (fn: () => void) => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };

  // 1. By key, as the retention job does: read a chunk's rowids through the time index, delete them.
  let s = open();
  fill(s.db, 'events');
  const sel = s.db.prepare(`SELECT rowid AS k FROM events WHERE COALESCE(ts_device, ts_server) < ? LIMIT ?`).pluck();
  const del = s.db.prepare(`DELETE FROM events WHERE rowid IN (SELECT value FROM json_each(?))`);
  const byKey = timed(() => {
    for (;;) {
      const keys = sel.all(Number.MAX_SAFE_INTEGER, chunk);
      if (keys.length === 0) break;
      s.db.transaction(() => del.run(JSON.stringify(keys)))();
    }
  });
  s.done();

  // 2. By rowid range.
  s = open();
  fill(s.db, 'events');
  const delRange = s.db.prepare('DELETE FROM events WHERE rowid >= ? AND rowid < ?');
  const maxRowid = Number(s.db.prepare('SELECT max(rowid) FROM events').pluck().get());
  const byRowid = timed(() => {
    for (let a = 1; a <= maxRowid; a += chunk) s.db.transaction(() => delRange.run(a, a + chunk))();
  });
  s.done();

  // 3. A per-day table with the same indexes, dropped whole.
  s = open();
  // The events statements of migrations 1, 3 and 6 (table, eight indexes), for a table of its own.
  const eventsOnly = schema
    .split(';')
    .filter((st) => /\b(EXISTS|TABLE|ON) events\b/.test(st) && !/events_readable|SELECT/.test(st))
    .map((st) => st.replaceAll(/\bevents\b/g, 'events_day').replaceAll('idx_events_', 'idx_day_'))
    .join(';');
  s.db.exec(eventsOnly);
  fill(s.db, 'events_day');
  const dropTable = timed(() => s.db.exec('DROP TABLE events_day'));
  s.done();
  return { rows, chunkedByKeyMs: byKey, chunkedByRowidMs: byRowid, dropTableMs: dropTable, chunk };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report: PartitionDropReport = {};
  if (sqliteRows > 0) {
    report.sqlite = benchSqlite(sqliteRows);
    const q = report.sqlite!;
    console.log(
      `sqlite, a day of ${q.rows} events: chunked delete by key ${q.chunkedByKeyMs.toFixed(0)} ms (${Math.round(q.rows / (q.chunkedByKeyMs / 1000))} rows/s), ` +
        `by rowid range ${q.chunkedByRowidMs.toFixed(0)} ms (${Math.round(q.rows / (q.chunkedByRowidMs / 1000))} rows/s), DROP TABLE of a per-day table ${q.dropTableMs.toFixed(0)} ms (chunks of ${q.chunk})`,
    );
  }
  if (process.env.TELEHUB_TEST_DATABASE_URL && pgRows > 0) {
    report.postgres = await benchPostgres(pgRows);
    const p = report.postgres!;
    console.log(
      `postgres, a day of ${p.rows} events (loaded in ${p.loadS.toFixed(0)} s): DROP TABLE ${p.partition} ${p.dropMs.toFixed(1)} ms, whole retention run ${p.runMs.toFixed(0)} ms; ` +
        `longest gap between intake commits ${p.maxGapDuringMs.toFixed(1)} ms during the run (${p.batchesDuring} batches) vs ${p.maxGapBaselineMs.toFixed(1)} ms without`,
    );
    await stopTestPostgres();
  }
  console.log(JSON.stringify(report));
}

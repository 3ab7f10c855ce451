/**
 * `npm run bench:partition-drop [-- PG_ROWS [SQLITE_ROWS [IDS_ROWS]]]`: what
 * dropping a day of raw events costs now that PostgreSQL's events are
 * partitioned by day, and what the alternatives cost on SQLite.
 *
 * PostgreSQL (TELEHUB_TEST_DATABASE_URL): a fresh database, migrated, on a
 * simulated clock 40 days ahead. For each way in BENCH_DROP_MODES (default
 * `drop,detach`), one day of PG_ROWS (default 2,000,000) events is loaded
 * fast (a standalone table filled with generate_series without indexes, a
 * CHECK constraint matching the day's bound, ATTACH PARTITION: the
 * partitioned indexes are built once over the loaded table and the
 * constraint spares the validation scan), then removed while an intake loop
 * commits 100-event batches through the store:
 * - `drop`: one DROP TABLE of the attached partition (retention before
 *   detaching);
 * - `detach`: what retention does now: DETACH PARTITION (step 1, the day is
 *   gone from queries at its commit), then the detached table's indexes one
 *   by one and the table (step 2, its files freed);
 * - `detach-whole`: step 1, then one DROP TABLE of the detached table.
 * Reported per way: the time until the day is gone from queries, the time
 * until its files are freed, and the longest gap between two intake commits
 * in each phase, against the loop's own longest gap in 2 s without a drop.
 *
 * IDS_ROWS (default 0, skipped): that many ids loaded into event_ids as
 * received on the dropped day, then pruned by the retention job (chunks of
 * TELEHUB_RETENTION_CHUNK's default, 1000) with the intake loop running: its
 * time, longest chunk and the loop's longest gap.
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
import { dayStart, detachedName, detachPartition, ensurePartitions, freeDetached, partitionName } from '../src/storage/postgres/partitions.js';
import { MIGRATIONS } from '../src/storage/migrations/index.js';
import { stopTestPostgres, testDatabase } from '../test/helpers/postgres.js';

const DAY = 86_400_000;
const pgRows = Number(process.argv[2] ?? 2_000_000);
const sqliteRows = Number(process.argv[3] ?? 200_000);
const idsRows = Number(process.argv[4] ?? 0);
/** How a day is loaded: `fast` (fill, then index and attach) or `indexed` (attach, then fill through its indexes: slower, files grown side by side like a day of intake). */
const LOAD = (process.env.BENCH_DROP_LOAD ?? 'fast') as 'fast' | 'indexed';

export type DropWay = 'drop' | 'detach' | 'detach-whole';

export interface DropRound {
  way: DropWay;
  load: 'fast' | 'indexed';
  partition: string;
  /** The day's table with its indexes. */
  bytes: number;
  loadS: number;
  /** Until the DETACH (for `drop`: the DROP TABLE) returned. */
  goneMs: number;
  /** When another session polling the catalog first saw the partition gone from events (a commit is visible before its statement returns: DROP TABLE unlinks the files after its commit). */
  seenGoneMs: number;
  /** Until its files are freed: the DETACH plus dropping the detached table (for `drop`, the DROP TABLE). */
  freedMs: number;
  /** Longest gap between two intake commits while the day was being detached (for `drop`: the whole DROP), and while its files were freed. */
  maxGapGoneMs: number;
  maxGapFreeMs: number | null;
  batchesDuring: number;
}

export interface PartitionDropReport {
  postgres?: {
    rows: number;
    rounds: DropRound[];
    maxGapBaselineMs: number;
    eventIds?: { rows: number; loadS: number; pruned: number; ms: number; longestChunkMs: number; maxGapMs: number; chunk: number };
    loadavg: number[];
  };
  sqlite?: { rows: number; chunkedByKeyMs: number; chunkedByRowidMs: number; dropTableMs: number; chunk: number };
}

let seq = 0;
function batch(n: number, at: number): TelemetryEvent[] {
  return Array.from({ length: n }, (_, i) => ({ eventId: `live-${seq++}`, deviceId: `dev-${i % 100}`, schema: 1, eventType: 'temp', valueNum: i, valueText: null, unit: null, tsDevice: at, tsServer: at, meta: '{}' }));
}

/** Commits 100-event batches back to back until stop(); gap(a, b) is the longest gap between commits that overlaps [a, b]. */
function intake(store: PostgresStore, at: number) {
  let running = true;
  const commits: number[] = [performance.now()];
  const done = (async () => {
    while (running) {
      await store.writeBatch({ events: batch(100, at), deadLetters: [] });
      commits.push(performance.now());
    }
  })();
  const gap = (a: number, b: number) => {
    let max = 0;
    for (let i = 1; i < commits.length; i++) if (commits[i] >= a && commits[i - 1] <= b) max = Math.max(max, commits[i] - commits[i - 1]);
    return max;
  };
  return { gap, count: (a: number, b: number) => commits.filter((t) => t >= a && t <= b).length, stop: async () => ((running = false), await done) };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One day of `rows` events, loaded fast: a standalone table filled without
 * indexes, a CHECK matching the day's bound, then ATTACH PARTITION (which
 * builds the partitioned indexes on it and, thanks to the CHECK, skips the
 * validation scan). Returns seconds.
 */
async function loadDay(store: PostgresStore, day: number, rows: number): Promise<number> {
  const name = partitionName(day);
  const x = (sql: string, params: unknown[] = []) => store.processors.execute([{ sql, params }]);
  const t0 = performance.now();
  await x(`DROP TABLE IF EXISTS ${name}`); // the empty partition ensurePartitions made
  await x(`CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS)`);
  const [a, b] = [new Date(day).toISOString(), new Date(day + DAY).toISOString()];
  // `indexed`: attached (with its nine empty indexes) before the fill, so every insert grows ten files side by side, as a day of intake does.
  if (LOAD === 'indexed') await x(`ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${a}') TO ('${b}')`);
  const step = LOAD === 'indexed' ? 250_000 : 1_000_000;
  for (let i = 0; i < rows; i += step) {
    const n = Math.min(step, rows - i);
    await x(
      `INSERT INTO ${name} (event_id, device_id, schema, event_type, value_num, ts_device, ts_server, meta)
       SELECT 'g' || g, 'dev-' || (g % 100), 1, 'temp', g, t, t, '{}'
       FROM generate_series($1::int8, $2::int8) AS g, LATERAL (SELECT to_timestamp(($3::int8 + g * ${DAY} / $4::int8) / 1000.0) AS t) AS x`,
      [i, i + n - 1, day, rows],
    );
    process.stderr.write(`postgres: ${name}: ${i + n} of ${rows} rows (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  if (LOAD === 'fast') {
    const key = 'COALESCE(ts_device, ts_server)';
    await x(`ALTER TABLE ${name} ADD CONSTRAINT ${name}_bound CHECK (${key} IS NOT NULL AND ${key} >= '${a}' AND ${key} < '${b}')`);
    await store.processors.execute([
      { sql: "SET LOCAL maintenance_work_mem = '512MB'", params: [] },
      { sql: `ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${a}') TO ('${b}')`, params: [] },
    ]);
    await x(`ALTER TABLE ${name} DROP CONSTRAINT ${name}_bound`);
  }
  await x(`ANALYZE ${name}`);
  process.stderr.write(`postgres: ${name}: loaded and indexed in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  return (performance.now() - t0) / 1000;
}

async function dropRound(store: PostgresStore, way: DropWay, day: number, at: number, rows: number): Promise<DropRound> {
  const name = partitionName(day);
  const loadS = await loadDay(store, day, rows);
  const bytes = Number((await store.processors.select('SELECT pg_total_relation_size(to_regclass($1))::float8 AS n', [name]))[0].n);
  const loop = intake(store, at);
  // Another session watching the catalog: when the day's partition stops being one of events' (what a query plans with).
  let seenGone = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching && seenGone === 0) {
      const [r] = await store.processors.select(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('events') AND c.relname = $1) AS gone",
        [name],
      );
      if (r.gone === true) seenGone = performance.now();
    }
  })();
  await pause(300);
  const t0 = performance.now();
  let t1: number;
  if (way === 'drop') {
    await store.processors.execute([{ sql: `DROP TABLE ${name}`, params: [] }]);
    t1 = performance.now();
  } else {
    if (!(await detachPartition(store.processors, name))) throw new Error(`${name}: the DETACH found its lock busy`);
    t1 = performance.now();
    await freeDetached(store.processors, detachedName(name), way === 'detach' ? 'stepwise' : 'whole');
  }
  const t2 = performance.now();
  watching = false;
  await watcher;
  // Let the loop commit a few more batches, so a stall at the very end shows.
  await pause(300);
  await loop.stop();
  const left = await store.processors.select('SELECT count(*)::int AS n FROM events WHERE COALESCE(ts_device, ts_server) >= $1 AND COALESCE(ts_device, ts_server) < $2', [new Date(day), new Date(day + DAY)]);
  if (left[0].n !== 0) throw new Error(`${name}: ${left[0].n} rows still there`);
  return {
    way,
    load: LOAD,
    partition: name,
    bytes,
    loadS,
    goneMs: t1 - t0,
    seenGoneMs: seenGone - t0,
    freedMs: t2 - t0,
    maxGapGoneMs: loop.gap(t0, t1),
    maxGapFreeMs: way === 'drop' ? null : loop.gap(t1, t2),
    batchesDuring: loop.count(t0, t2),
  };
}

export async function benchPostgres(rows: number, ids = 0, ways: DropWay[] = (process.env.BENCH_DROP_MODES ?? 'drop,detach').split(',') as DropWay[]): Promise<PartitionDropReport['postgres']> {
  const db = await testDatabase();
  const store = new PostgresStore({ connectionString: db.url, poolSize: 4 });
  try {
    await store.migrate();
    const now = dayStart(Date.now()) + 40 * DAY + 12 * 3_600_000;
    // The partitions from twenty days back to three ahead; a day per way, from eight days back.
    await ensurePartitions(store.processors, now - 20 * DAY, now + 3 * DAY);
    const base = intake(store, now);
    const tb = performance.now();
    await pause(2000);
    const maxGapBaselineMs = base.gap(tb, performance.now());
    await base.stop();
    const rounds: DropRound[] = [];
    for (const [i, way] of ways.entries()) {
      const r = await dropRound(store, way, dayStart(now) - (8 + i) * DAY, now, rows);
      rounds.push(r);
      console.log(
        `postgres, ${way}, a day of ${rows} events (${(r.bytes / 2 ** 20).toFixed(0)} MiB, ${LOAD} load, ${r.loadS.toFixed(0)} s): ${way === 'drop' ? 'DROP TABLE' : 'DETACH'} returned after ${r.goneMs.toFixed(1)} ms (day seen gone by another session after ${r.seenGoneMs.toFixed(1)} ms), files freed in ${r.freedMs.toFixed(0)} ms; ` +
          `longest gap between intake commits ${r.maxGapGoneMs.toFixed(1)} ms until gone, ${r.maxGapFreeMs === null ? '-' : r.maxGapFreeMs.toFixed(1)} ms while freeing (${r.batchesDuring} batches) vs ${maxGapBaselineMs.toFixed(1)} ms without; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      );
    }
    let eventIds: NonNullable<PartitionDropReport['postgres']>['eventIds'];
    if (ids > 0) {
      const day = dayStart(now) - 8 * DAY;
      const t0 = performance.now();
      await store.processors.execute([
        {
          sql: `INSERT INTO event_ids (event_id, received_at) SELECT 'old-' || g, to_timestamp(($2::int8 + g * ${DAY} / $1::int8) / 1000.0) FROM generate_series(0, $1::int8 - 1) AS g`,
          params: [ids, day],
        },
      ]);
      const loadS = (performance.now() - t0) / 1000;
      const chunk = 1000;
      const job = new RetentionJob({
        store: store.processors, dialect: 'postgres', tiers: DEFAULT_TIERS, processors: [], rollupsOn: false, now: () => now,
        retention: { intervalMs: 1, chunk, deadLetterRetentionMs: 0, deadLetterMaxBytes: 0, diskMaxBytes: 0, diskWarnRatio: 1, diskShrinkRaw: false },
      });
      const loop = intake(store, now);
      await pause(300);
      const t1 = performance.now();
      const r = await job.runOnce();
      const t2 = performance.now();
      await pause(300);
      await loop.stop();
      eventIds = { rows: ids, loadS, pruned: r.eventIdsPruned, ms: t2 - t1, longestChunkMs: r.longestChunkMs, maxGapMs: loop.gap(t1, t2), chunk };
      console.log(
        `postgres, event_ids: ${r.eventIdsPruned} of ${ids} ids pruned in ${eventIds.ms.toFixed(0)} ms (${Math.round(r.eventIdsPruned / (eventIds.ms / 1000))} ids/s, chunks of ${chunk}), longest chunk ${r.longestChunkMs.toFixed(1)} ms, ` +
          `longest gap between intake commits ${eventIds.maxGapMs.toFixed(1)} ms`,
      );
    }
    return { rows, rounds, maxGapBaselineMs, eventIds, loadavg: os.loadavg() };
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
    report.postgres = await benchPostgres(pgRows, idsRows);
    await stopTestPostgres();
  }
  console.log(JSON.stringify(report));
}

/**
 * Bulk loading for the query bench: N synthetic events straight into the
 * schema telehub's own migrations create, then migration 3 (the query
 * indexes and the devices backfill) runs on the loaded rows, exactly as it
 * would when an existing installation upgrades.
 *
 * The rows (same formula in both stores, so the checks can recompute them):
 * event i belongs to device `dev-<i % D>` (3 digits), k = floor(i / D) is its
 * sequence number on that device, the type cycles through TYPES with k, the
 * time grows linearly over SPAN_MS from T_START, every 20th event has no
 * ts_device (the API's time then falls back to ts_server, 20-69 ms later).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import { PostgresStore } from '../../src/storage/postgres/index.js';

export const TYPES = ['temperature', 'humidity', 'voltage', 'rssi'] as const;
export const T_START = Date.UTC(2026, 10, 1);
export const SPAN_MS = 7 * 86_400_000;
/** Rows per INSERT … SELECT: progress is reported after each. */
const CHUNK = 1_000_000;

export interface LoadResult {
  /** Bulk insert into the migration-2 schema (events with the seed indexes). */
  insertSeconds: number;
  /** Migration 3 on the loaded rows: three indexes and the devices backfill. */
  migrateSeconds: number;
  /** VACUUM/ANALYZE after the load. */
  analyzeSeconds: number;
  /** Size of the database (file, or pg_database_size), bytes. */
  bytes: number;
}

export const deviceName = (d: number) => `dev-${String(d).padStart(3, '0')}`;

const secondsSince = (t0: number) => (performance.now() - t0) / 1000;

/** Loads N events into a new SQLite file and migrates it to the latest schema. */
export async function loadSqlite(file: string, n: number, devices: number, log: (s: string) => void): Promise<LoadResult> {
  const store = new SqliteStore(file);
  await store.migrate(2);
  await store.close();
  const db = new Database(file);
  let t0 = performance.now();
  try {
    // Loading only: no journal, no fsync, a large page cache for the index inserts.
    // The file ends up as telehub would have written it. better-sqlite3 binds
    // JS numbers as REAL, hence the CASTs (integer division).
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -1000000');
    const insert = db.prepare(`WITH RECURSIVE s(i) AS (SELECT CAST(:lo AS INTEGER) UNION ALL SELECT i + 1 FROM s WHERE i + 1 < CAST(:hi AS INTEGER)),
      r AS (SELECT i, i % CAST(:d AS INTEGER) AS dev, i / CAST(:d AS INTEGER) AS k, CAST(:t0 AS INTEGER) + (i * CAST(:span AS INTEGER)) / CAST(:n AS INTEGER) AS t FROM s)
      INSERT INTO events (event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta)
      SELECT printf('dev-%03d-%d', dev, k), printf('dev-%03d', dev), 1,
        CASE k % 4 WHEN 0 THEN 'temperature' WHEN 1 THEN 'humidity' WHEN 2 THEN 'voltage' ELSE 'rssi' END,
        20 + ((k * 37) % 1000) / 100.0 + (i % 13) * 0.1, NULL,
        CASE k % 4 WHEN 0 THEN 'C' WHEN 1 THEN '%' WHEN 2 THEN 'V' ELSE 'dBm' END,
        CASE WHEN i % 20 = 7 THEN NULL ELSE t END, t + 20 + i % 50, '{}'
      FROM r`);
    for (let lo = 0; lo < n; lo += CHUNK) {
      const hi = Math.min(n, lo + CHUNK);
      db.transaction(() => insert.run({ lo, hi, d: devices, t0: T_START, span: SPAN_MS, n }))();
      log(`  sqlite: ${hi.toLocaleString('en-US')} / ${n.toLocaleString('en-US')} events (${secondsSince(t0).toFixed(0)} s)`);
    }
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
  const insertSeconds = secondsSince(t0);
  t0 = performance.now();
  const migrated = new SqliteStore(file);
  await migrated.migrate();
  await migrated.close();
  const migrateSeconds = secondsSince(t0);
  t0 = performance.now();
  const db2 = new Database(file);
  try {
    db2.exec('ANALYZE');
    db2.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db2.close();
  }
  const { statSync } = await import('node:fs');
  return { insertSeconds, migrateSeconds, analyzeSeconds: secondsSince(t0), bytes: statSync(file).size };
}

/** Loads N events into an empty PostgreSQL database and migrates it to the latest schema. */
export async function loadPostgres(url: string, n: number, devices: number, log: (s: string) => void): Promise<LoadResult> {
  const store = new PostgresStore({ connectionString: url, poolSize: 2 });
  await store.migrate(2);
  await store.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  let t0 = performance.now();
  try {
    // Asynchronous commit only for the bulk load (a crash would lose the load, not corrupt it).
    await c.query('SET synchronous_commit = off');
    for (let lo = 0; lo < n; lo += CHUNK) {
      const hi = Math.min(n, lo + CHUNK);
      await c.query(
        `INSERT INTO events (event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta)
         SELECT format('dev-%s-%s', lpad(dev::text, 3, '0'), k), 'dev-' || lpad(dev::text, 3, '0'), 1,
           (ARRAY['temperature','humidity','voltage','rssi'])[k % 4 + 1],
           20 + ((k * 37) % 1000) / 100.0 + (i % 13) * 0.1, NULL,
           (ARRAY['C','%','V','dBm'])[k % 4 + 1],
           CASE WHEN i % 20 = 7 THEN NULL ELSE timestamptz 'epoch' + t * interval '1 millisecond' END,
           timestamptz 'epoch' + (t + 20 + i % 50) * interval '1 millisecond', '{}'::jsonb
         FROM (SELECT i, i % $3 AS dev, i / $3 AS k, $4::int8 + (i * $5::int8) / $6::int8 AS t
               FROM generate_series($1::int8, $2::int8 - 1) AS i) r`,
        [lo, hi, devices, T_START, SPAN_MS, n],
      );
      log(`  postgres: ${hi.toLocaleString('en-US')} / ${n.toLocaleString('en-US')} events (${secondsSince(t0).toFixed(0)} s)`);
    }
  } finally {
    await c.end();
  }
  const insertSeconds = secondsSince(t0);
  t0 = performance.now();
  const migrated = new PostgresStore({ connectionString: url, poolSize: 2 });
  await migrated.migrate();
  await migrated.close();
  const migrateSeconds = secondsSince(t0);
  t0 = performance.now();
  const c2 = new pg.Client({ connectionString: url });
  await c2.connect();
  try {
    // What autovacuum would do soon after such a load: statistics and the visibility map.
    await c2.query('VACUUM (ANALYZE) events');
    await c2.query('ANALYZE devices');
    const bytes = Number((await c2.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b')).rows[0].b);
    return { insertSeconds, migrateSeconds, analyzeSeconds: secondsSince(t0), bytes };
  } finally {
    await c2.end();
  }
}

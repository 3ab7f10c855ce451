/**
 * Daily partitions of PostgreSQL's `events` table (migration 13).
 *
 * The key is the event time, COALESCE(ts_device, ts_server): the time the
 * tiers, the sealed watermark, retention and the series API all use, so a
 * partition whose range ends at or before the retention job's drop point
 * holds only rows that point allows to drop, and queries over a time range
 * read only the partitions under it. Days are UTC.
 *
 * - `events_pYYYYMMDD` partitions are created ahead by `ensurePartitions`
 *   (at start-up and by every retention run).
 * - `events_default` takes whatever has no partition (a device clock days
 *   ahead, an event older than every partition): an insert never fails for
 *   a missing partition. When a day's partition is created, that day's rows
 *   move out of the default partition in the same transaction.
 * - `events_flat` is the table as it was before migration 13, attached whole
 *   for everything before the day after the migration; it is dropped whole
 *   like a day once retention passes its end.
 *
 * DDL runs with a short lock_timeout: DROP TABLE of a partition takes an
 * exclusive lock on `events` for a moment, and waiting behind a long reader
 * would queue every writer behind it; on timeout the step is left to the
 * next run.
 */
import type { ProcessorStatement } from '../log.js';

const DAY = 86_400_000;

/** How many days of partitions ahead of now are kept created (at start-up and by the retention job). */
export const PARTITIONS_AHEAD_DAYS = 3;

/** What the partition functions need: the ProcessorStore's select and execute (one transaction). */
export interface PartitionDb {
  select(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  execute(statements: ProcessorStatement[]): Promise<void>;
}

export interface Partition {
  name: string;
  /** Range in epoch ms; from null is MINVALUE. Both null for the default partition. */
  from: number | null;
  to: number | null;
  isDefault: boolean;
}

/** How long DDL waits for its lock before giving up until the next run. */
export const DDL_LOCK_TIMEOUT = '500ms';

export const dayStart = (t: number) => Math.floor(t / DAY) * DAY;

/** `events_p20250620` for the UTC day starting at `day`. */
export function partitionName(day: number): string {
  return `events_p${new Date(day).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

const BOUND = (which: 'FROM' | 'TO') =>
  `round(extract(epoch FROM (regexp_match(pg_get_expr(c.relpartbound, c.oid), '${which} \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8`;

/** Every partition of `events` with its range, oldest first (the default last). */
export async function listPartitions(db: PartitionDb): Promise<Partition[]> {
  const rows = await db.select(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default, ${BOUND('FROM')} AS lo, ${BOUND('TO')} AS hi
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass('events')`,
  );
  const parts = rows.map((r) => ({
    name: String(r.name),
    isDefault: r.is_default === true,
    from: r.lo === null ? null : Number(r.lo),
    to: r.hi === null ? null : Number(r.hi),
  }));
  return parts.sort((a, b) => (a.isDefault ? 1 : 0) - (b.isDefault ? 1 : 0) || (a.from ?? -Infinity) - (b.from ?? -Infinity));
}

const iso = (t: number) => `'${new Date(t).toISOString()}'`;
const TIME = 'COALESCE(ts_device, ts_server)';

/** The statements that create one day's partition, moving its rows out of the default partition. */
export function createPartitionStatements(day: number, hasDefault: boolean): ProcessorStatement[] {
  const name = partitionName(day);
  const [a, b] = [iso(day), iso(day + DAY)];
  const s: ProcessorStatement[] = [{ sql: `SET LOCAL lock_timeout = '${DDL_LOCK_TIMEOUT}'`, params: [] }];
  // Writers that route rows to the default partition wait for this
  // transaction (it is short); writers to other partitions do not.
  if (hasDefault) s.push({ sql: 'LOCK TABLE events_default IN SHARE ROW EXCLUSIVE MODE', params: [] });
  s.push({ sql: `CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS)`, params: [] });
  if (hasDefault) {
    s.push({ sql: `WITH moved AS (DELETE FROM events_default WHERE ${TIME} >= ${a} AND ${TIME} < ${b} RETURNING *) INSERT INTO ${name} SELECT * FROM moved`, params: [] });
  }
  // ATTACH (not CREATE … PARTITION OF) takes only SHARE UPDATE EXCLUSIVE on
  // events, so inserts go on meanwhile; it builds the parent's indexes here.
  s.push({ sql: `ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM (${a}) TO (${b})`, params: [] });
  return s;
}

/** The days in [from, to] (UTC) that no partition covers yet. */
export function missingDays(parts: readonly Partition[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let d = dayStart(from); d <= dayStart(to); d += DAY) {
    const covered = parts.some((p) => !p.isDefault && (p.from ?? -Infinity) < d + DAY && (p.to ?? Infinity) > d);
    if (!covered) out.push(d);
  }
  return out;
}

/**
 * Creates the missing day partitions over [from, to]; returns the names
 * created. A day another process created meanwhile, or whose DDL could not
 * get its lock in time, is skipped (the next run tries again).
 */
export async function ensurePartitions(db: PartitionDb, from: number, to: number, onError?: (name: string, err: unknown) => void): Promise<string[]> {
  const parts = await listPartitions(db);
  if (parts.length === 0) return []; // not partitioned (a store before migration 13)
  const hasDefault = parts.some((p) => p.isDefault);
  const created: string[] = [];
  for (const day of missingDays(parts, from, to)) {
    try {
      await db.execute(createPartitionStatements(day, hasDefault));
      created.push(partitionName(day));
    } catch (err) {
      onError?.(partitionName(day), err);
    }
  }
  return created;
}

export interface DroppedPartition {
  name: string;
  from: number | null;
  to: number;
  /** The planner's row estimate (pg_class.reltuples; null before the first ANALYZE). */
  rowsEstimate: number | null;
  ms: number;
}

export interface DropResult {
  dropped: DroppedPartition[];
  /** Partitions past the drop point kept because a processor has not read all their entries, or their lock was busy. */
  held: { name: string; reason: 'unread' | 'lock' }[];
}

/**
 * Drops, with one DROP TABLE each, the partitions whose whole range ends at
 * or before `before` (the retention job's drop point, already capped at the
 * sealed watermark and the oldest dirty bucket) and whose entries every
 * processor has read (max seq <= maxSeq).
 */
export async function dropPartitions(db: PartitionDb, before: number, maxSeq: number): Promise<DropResult> {
  const res: DropResult = { dropped: [], held: [] };
  for (const p of await listPartitions(db)) {
    if (p.isDefault || p.to === null || p.to > before) continue;
    const [row] = await db.select(
      `SELECT (SELECT max(seq) FROM ${p.name})::float8 AS m, (SELECT reltuples FROM pg_class WHERE oid = to_regclass($1))::float8 AS n`,
      [p.name],
    );
    if (row.m !== null && Number(row.m) > maxSeq) {
      res.held.push({ name: p.name, reason: 'unread' });
      continue;
    }
    const t = performance.now();
    try {
      await db.execute([
        { sql: `SET LOCAL lock_timeout = '${DDL_LOCK_TIMEOUT}'`, params: [] },
        { sql: `DROP TABLE ${p.name}`, params: [] },
      ]);
    } catch (err) {
      if ((err as { code?: string }).code === '55P03') {
        res.held.push({ name: p.name, reason: 'lock' });
        continue;
      }
      throw err;
    }
    const n = row.n === null ? null : Number(row.n);
    res.dropped.push({ name: p.name, from: p.from, to: p.to, rowsEstimate: n === null || n < 0 ? null : n, ms: performance.now() - t });
  }
  return res;
}

/** The partitions whose rows the retention job deletes in chunks: the default one and events_flat (not dropped whole yet). */
export function chunkedPartitions(parts: readonly Partition[]): string[] {
  return parts.filter((p) => p.isDefault || p.from === null).map((p) => p.name);
}

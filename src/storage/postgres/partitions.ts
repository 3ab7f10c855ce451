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
 * Retention removes a day in two steps (dropPartitions):
 * 1. DETACH PARTITION, and a rename to `events_drop_pYYYYMMDD`, in one short
 *    transaction: catalog work only, whatever the day's size. From its
 *    commit the day is gone from every query and insert. Plain DETACH takes
 *    ACCESS EXCLUSIVE on `events` (and on events_default) for that moment;
 *    DETACH … CONCURRENTLY (PostgreSQL 14+) would not, but PostgreSQL refuses
 *    it while the table has a default partition, and events_default is there
 *    so an insert never fails for a missing partition.
 * 2. The detached table, now no part of `events` (no lock on it), is
 *    dropped: its indexes one by one, then the table, each its own
 *    transaction, so the file system frees the day's files in several
 *    smaller steps. A table left between the steps (a crash, a stop) keeps
 *    its `events_drop_` name and is finished by the next run.
 * A partition left in the 'detach pending' state (a DETACH … CONCURRENTLY
 * someone interrupted; inserts of its range then fail, since events_default
 * may not take them) is completed with DETACH … FINALIZE by the next run.
 *
 * DDL on `events` runs with a short lock_timeout: waiting behind a long
 * reader would queue every writer behind it; on timeout the step is retried
 * a few times and then left to the next run.
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
  /** PostgreSQL 14+: an interrupted DETACH … CONCURRENTLY left it half detached (to be FINALIZEd). */
  detachPending: boolean;
}

/** How long DDL waits for its lock before giving up until the next run. */
export const DDL_LOCK_TIMEOUT = '500ms';
/** How long a DETACH waits for its lock on `events` (writers queue behind it meanwhile), and how many times it tries per run. */
export const DETACH_LOCK_TIMEOUT = '200ms';
export const DETACH_ATTEMPTS = 3;

/** Prefix of a day partition detached by retention and not dropped yet. */
export const DETACHED_PREFIX = 'events_drop_';

export const dayStart = (t: number) => Math.floor(t / DAY) * DAY;

/** `events_p20250620` for the UTC day starting at `day`. */
export function partitionName(day: number): string {
  return `events_p${new Date(day).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

const BOUND = (which: 'FROM' | 'TO') =>
  `round(extract(epoch FROM (regexp_match(pg_get_expr(c.relpartbound, c.oid), '${which} \\(''([^'']+)''\\)'))[1]::timestamptz) * 1000)::float8`;

/** Every partition of `events` with its range, oldest first (the default last). */
export async function listPartitions(db: PartitionDb): Promise<Partition[]> {
  // inhdetachpending exists from PostgreSQL 14 on; read through to_jsonb so 13 answers too.
  const rows = await db.select(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default, ${BOUND('FROM')} AS lo, ${BOUND('TO')} AS hi,
            coalesce((to_jsonb(i.*) ->> 'inhdetachpending')::boolean, false) AS pending
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass('events')`,
  );
  const parts = rows.map((r) => ({
    name: String(r.name),
    isDefault: r.is_default === true,
    from: r.lo === null ? null : Number(r.lo),
    to: r.hi === null ? null : Number(r.hi),
    detachPending: r.pending === true,
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
  /** The DETACH's time: from its commit the day is gone from queries and inserts. */
  ms: number;
  /** The time to drop the detached table (until its files are freed); null when that failed and is left to the next run. */
  freeMs: number | null;
}

export interface DropResult {
  dropped: DroppedPartition[];
  /** Partitions past the drop point kept because a processor has not read all their entries, or their lock was busy. */
  held: { name: string; reason: 'unread' | 'lock' }[];
  /** Detached tables an earlier run left undropped (stopped or crashed between the steps), dropped by this one. */
  finished: string[];
  /** Partitions an interrupted DETACH … CONCURRENTLY left pending, completed with DETACH … FINALIZE. */
  finalized: string[];
}

/** How the detached table's files are freed: its indexes one by one then the table (`stepwise`, what ships), or one DROP TABLE (`whole`). */
export type FreeMode = 'stepwise' | 'whole';

const isLockTimeout = (err: unknown) => (err as { code?: string }).code === '55P03';

/** The detached name of a partition: events_p20250620 becomes events_drop_p20250620. */
export const detachedName = (partition: string) => DETACHED_PREFIX + partition.replace(/^events_/, '');

/** Runs a DDL transaction on `events` with a short lock_timeout, a few times on a lock timeout; false if its lock stayed busy. */
async function withLockRetry(db: PartitionDb, statements: ProcessorStatement[]): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.execute([{ sql: `SET LOCAL lock_timeout = '${DETACH_LOCK_TIMEOUT}'`, params: [] }, ...statements]);
      return true;
    } catch (err) {
      if (!isLockTimeout(err)) throw err;
      if (attempt >= DETACH_ATTEMPTS) return false;
      // Let the writers queued behind the failed attempt through before the next.
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** Tables retention detached and has not dropped yet (a crash or stop between the two steps leaves them). */
export async function listDetached(db: PartitionDb): Promise<string[]> {
  const rows = await db.select(
    `SELECT c.relname AS name FROM pg_class c
      WHERE c.relkind = 'r' AND c.relname LIKE $1 AND pg_table_is_visible(c.oid)
        AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
      ORDER BY 1`,
    [`${DETACHED_PREFIX.replaceAll('_', '\\_')}%`],
  );
  return rows.map((r) => String(r.name));
}

/**
 * Step 1: detaches a partition from `events` and renames it to its
 * detached name, in one transaction (catalog work only). False when the
 * lock on `events` stayed busy.
 */
export async function detachPartition(db: PartitionDb, name: string, pending = false): Promise<boolean> {
  return withLockRetry(db, [
    { sql: `ALTER TABLE events DETACH PARTITION ${name}${pending ? ' FINALIZE' : ''}`, params: [] },
    { sql: `ALTER TABLE ${name} RENAME TO ${detachedName(name)}`, params: [] },
  ]);
}

/**
 * Step 2: drops a detached table, no longer part of `events` (so no lock on
 * it): `stepwise` drops its indexes one by one, then the table, each in its
 * own transaction, so its files are freed in several smaller steps.
 */
export async function freeDetached(db: PartitionDb, table: string, mode: FreeMode = 'stepwise'): Promise<void> {
  const lock = { sql: `SET LOCAL lock_timeout = '${DDL_LOCK_TIMEOUT}'`, params: [] };
  if (mode === 'stepwise') {
    const indexes = await db.select(
      `SELECT i.indexrelid::regclass::text AS name FROM pg_index i LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid
        WHERE i.indrelid = to_regclass($1) AND k.oid IS NULL ORDER BY pg_relation_size(i.indexrelid) DESC`,
      [table],
    );
    for (const ix of indexes) {
      await db.execute([lock, { sql: `DROP INDEX IF EXISTS ${String(ix.name)}`, params: [] }]);
      // Let intake's callbacks run between the steps.
      await new Promise((r) => setImmediate(r));
    }
  }
  await db.execute([lock, { sql: `DROP TABLE IF EXISTS ${table}`, params: [] }]);
}

/**
 * Drops the partitions whose whole range ends at or before `before` (the
 * retention job's drop point, already capped at the sealed watermark and
 * the oldest dirty bucket) and whose entries every processor has read (max
 * seq <= maxSeq): detaches each (step 1), then drops what was detached
 * (step 2). First it finishes what an earlier run left: detached tables not
 * dropped, and partitions left 'detach pending'.
 */
export async function dropPartitions(db: PartitionDb, before: number, maxSeq: number, opts: { free?: FreeMode; onError?: (table: string, err: unknown) => void } = {}): Promise<DropResult> {
  const res: DropResult = { dropped: [], held: [], finished: [], finalized: [] };
  const free = async (table: string): Promise<number | null> => {
    const t = performance.now();
    try {
      await freeDetached(db, table, opts.free);
      return performance.now() - t;
    } catch (err) {
      opts.onError?.(table, err);
      return null;
    }
  };
  for (const table of await listDetached(db)) {
    if ((await free(table)) !== null) res.finished.push(table);
  }
  const toFree: DroppedPartition[] = [];
  // Every DETACH needs the same lock on events: once it stayed busy, the other days wait for the next run too.
  let busy = false;
  for (const p of await listPartitions(db)) {
    if (p.isDefault) continue;
    const past = p.to !== null && p.to <= before;
    if (busy && (past || p.detachPending)) {
      res.held.push({ name: p.name, reason: 'lock' });
      continue;
    }
    if (p.detachPending && !past) {
      // Inserts of its range fail while it is pending: complete what was started, keep the table.
      if (await withLockRetry(db, [{ sql: `ALTER TABLE events DETACH PARTITION ${p.name} FINALIZE`, params: [] }])) res.finalized.push(p.name);
      else {
        res.held.push({ name: p.name, reason: 'lock' });
        busy = true;
      }
      continue;
    }
    if (!past) continue;
    const [row] = await db.select(
      `SELECT (SELECT max(seq) FROM ${p.name})::float8 AS m, (SELECT reltuples FROM pg_class WHERE oid = to_regclass($1))::float8 AS n`,
      [p.name],
    );
    if (row.m !== null && Number(row.m) > maxSeq) {
      res.held.push({ name: p.name, reason: 'unread' });
      continue;
    }
    const t = performance.now();
    if (!(await detachPartition(db, p.name, p.detachPending))) {
      res.held.push({ name: p.name, reason: 'lock' });
      busy = true;
      continue;
    }
    if (p.detachPending) res.finalized.push(p.name);
    const n = row.n === null ? null : Number(row.n);
    toFree.push({ name: p.name, from: p.from, to: p.to!, rowsEstimate: n === null || n < 0 ? null : n, ms: performance.now() - t, freeMs: null });
  }
  for (const d of toFree) {
    d.freeMs = await free(detachedName(d.name));
    res.dropped.push(d);
  }
  return res;
}

/** The partitions whose rows the retention job deletes in chunks: the default one and events_flat (not dropped whole yet). */
export function chunkedPartitions(parts: readonly Partition[]): string[] {
  return parts.filter((p) => p.isDefault || p.from === null).map((p) => p.name);
}

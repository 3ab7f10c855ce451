/**
 * The retention job's SQL in each dialect. Every delete is two steps: read
 * the keys of at most one chunk of rows through the time index (on the
 * reader), then delete exactly those rows by key in one short transaction
 * (on the writer, queued with the write batches). The delete repeats the
 * row conditions, so a key that no longer means a row to drop deletes
 * nothing. Times are epoch ms; PostgreSQL's timestamptz is converted once.
 */
import type { Dialect } from '../log/processor.js';
import type { ProcessorStatement } from '../storage/log.js';

const TIME = 'COALESCE(ts_device, ts_server)';
const pgTs = (p: string) => `(to_timestamp((${p}::int8 / 1000)::float8) + (${p}::int8 % 1000) * interval '1 millisecond')`;

export interface Query {
  sql: string;
  params: unknown[];
}

/**
 * Keys (`k`) of up to `limit` raw events older than `before` and already
 * read by every processor (`seq <= maxSeq`). The time predicate spells the
 * indexed expression exactly (idx_events_time), so this is one range scan.
 */
export function selectOldEvents(dialect: Dialect, before: number, maxSeq: number, limit: number, table = 'events'): Query {
  if (dialect === 'sqlite') return { sql: `SELECT rowid AS k FROM ${table} WHERE ${TIME} < ? AND seq <= ? LIMIT ?`, params: [before, maxSeq, limit] };
  // PostgreSQL's table is one partition (events_default, events_flat): its
  // rows are keyed by ctid, since event_id is not unique in a partitioned table.
  return { sql: `SELECT ctid::text AS k FROM ${table} WHERE ${TIME} < ${pgTs('$1')} AND seq <= $2 LIMIT $3`, params: [before, maxSeq, limit] };
}

export function deleteEvents(dialect: Dialect, keys: readonly unknown[], before: number, maxSeq: number, table = 'events'): ProcessorStatement {
  if (dialect === 'sqlite') {
    return { sql: `DELETE FROM ${table} WHERE rowid IN (SELECT value FROM json_each(?)) AND ${TIME} < ? AND seq <= ?`, params: [JSON.stringify(keys), before, maxSeq] };
  }
  return { sql: `DELETE FROM ${table} WHERE ctid = ANY($1::tid[]) AND ${TIME} < ${pgTs('$2')} AND seq <= $3`, params: [keys, before, maxSeq] };
}

/** Up to `limit` ids of event_ids (PostgreSQL) received before `before`: the dedup window has passed them. */
export function selectOldEventIds(before: number, limit: number): Query {
  return { sql: `SELECT event_id AS k FROM event_ids WHERE received_at < ${pgTs('$1')} LIMIT $2`, params: [before, limit] };
}

export function deleteEventIds(keys: readonly unknown[], before: number): ProcessorStatement {
  return { sql: `DELETE FROM event_ids WHERE event_id = ANY($1::text[]) AND received_at < ${pgTs('$2')}`, params: [keys, before] };
}

/** Ids of up to `limit` dead letters received before `before` (idx_deadletters_time) and read by every processor. */
export function selectOldDeadLetters(dialect: Dialect, before: number, maxSeq: number, limit: number): Query {
  if (dialect === 'sqlite') return { sql: 'SELECT id AS k FROM deadletters WHERE received_at < ? AND seq <= ? LIMIT ?', params: [before, maxSeq, limit] };
  return { sql: `SELECT id::float8 AS k FROM deadletters WHERE received_at < ${pgTs('$1')} AND seq <= $2 LIMIT $3`, params: [before, maxSeq, limit] };
}

/** The oldest dead letters (by id) with their payload size, to make room under the ceiling. */
export function selectOldestDeadLetterSizes(dialect: Dialect, maxSeq: number, limit: number): Query {
  if (dialect === 'sqlite') return { sql: 'SELECT id AS k, length(payload) AS n FROM deadletters WHERE seq <= ? ORDER BY id LIMIT ?', params: [maxSeq, limit] };
  return { sql: 'SELECT id::float8 AS k, octet_length(payload)::float8 AS n FROM deadletters WHERE seq <= $1 ORDER BY id LIMIT $2', params: [maxSeq, limit] };
}

export function deleteDeadLetters(dialect: Dialect, ids: readonly number[]): ProcessorStatement {
  if (dialect === 'sqlite') return { sql: 'DELETE FROM deadletters WHERE id IN (SELECT value FROM json_each(?))', params: [JSON.stringify(ids)] };
  return { sql: 'DELETE FROM deadletters WHERE id = ANY($1::int8[])', params: [ids] };
}

/** Payload bytes of all dead letters. */
export function deadLetterBytes(dialect: Dialect): Query {
  return { sql: dialect === 'sqlite' ? 'SELECT COALESCE(sum(length(payload)), 0) AS n FROM deadletters' : 'SELECT COALESCE(sum(octet_length(payload)), 0)::float8 AS n FROM deadletters', params: [] };
}

/**
 * What the store uses. SQLite: the pages in use (a deleted row's pages go to
 * the free list and are reused, so the file does not shrink but this does).
 * PostgreSQL: pg_database_size, which shrinks only when space is returned to
 * the OS (VACUUM FULL, or a dropped partition), not after a DELETE.
 */
export function storeBytes(dialect: Dialect): Query {
  return {
    sql:
      dialect === 'sqlite'
        ? 'SELECT (p.page_count - f.freelist_count) * s.page_size AS n FROM pragma_page_count() AS p, pragma_freelist_count() AS f, pragma_page_size() AS s'
        : 'SELECT pg_database_size(current_database())::float8 AS n',
    params: [],
  };
}

/** The oldest dirty bucket of a tier: raw data under it must stay until it is recomputed. */
export function oldestDirty(dialect: Dialect, widthMs: number): Query {
  return { sql: dialect === 'sqlite' ? 'SELECT min(bucket_start) AS b FROM rollup_dirty WHERE width_ms = ?' : 'SELECT min(bucket_start)::float8 AS b FROM rollup_dirty WHERE width_ms = $1', params: [widthMs] };
}

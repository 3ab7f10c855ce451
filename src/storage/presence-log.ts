/**
 * Presence transitions as commit-log entries (their own table,
 * `presence_transitions`, migration 14): appending them with a log number
 * from the same source as events and dead letters, and reading a device's
 * history.
 *
 * Appends run through the store's processor side (`ProcessorStore.execute`,
 * one transaction), so no store class grows a method:
 * - SQLite: on the writer connection, queued with the batches (one writer,
 *   so reading telehub_log_head and raising it in the same transaction is
 *   commit order, as for events);
 * - PostgreSQL: under the log lock of the write path (LOG_LOCK_KEY, held to
 *   COMMIT) with seq from telehub_log_seq, so numbers become visible in
 *   increasing order across events, dead letters and transitions.
 * The device's `devices` row is made when it has none yet (a client that
 * connected and whose first reading is not committed yet), so the registry
 * has a row to put its presence on; its event count stays 0 until data.
 */
import type { Dialect } from '../log/processor.js';
import type { PresenceTransitionEntry, ProcessorStatement, ProcessorStore } from './log.js';
import { LOG_LOCK_KEY } from './postgres/index.js';

const toTs = (col: string) => `(to_timestamp((${col} / 1000)::float8) + (${col} % 1000) * interval '1 millisecond')`;

const SQLITE_INSERT = `INSERT INTO presence_transitions (seq, device_id, state, cause, from_state, at)
  SELECT (SELECT seq FROM telehub_log_head WHERE id = 1) + 1 + key, value->>0, value->>1, value->>2, value->>3, value->>4
    FROM json_each(?) WHERE true
  ON CONFLICT DO NOTHING`;
// Conflicting rows leave gaps (numbers are never reused, gaps are allowed).
const SQLITE_HEAD = `UPDATE telehub_log_head SET seq = (SELECT MAX(seq) FROM presence_transitions)
  WHERE id = 1 AND (SELECT MAX(seq) FROM presence_transitions) > seq`;
const SQLITE_DEVICES = `INSERT INTO devices (device_id, first_seen, last_seen, event_count)
  SELECT value->>0, MIN(value->>4), MIN(value->>4), 0 FROM json_each(?) WHERE true GROUP BY value->>0
  ON CONFLICT (device_id) DO NOTHING`;

// One statement: the lock before any nextval, rows in the order given. The
// devices insert cannot wait on a write-path insert of the same device (both
// hold the log lock); the registry only updates rows.
const POSTGRES_APPEND = `WITH lk AS MATERIALIZED (SELECT pg_advisory_xact_lock(${LOG_LOCK_KEY})),
  ins AS (INSERT INTO presence_transitions (device_id, state, cause, from_state, at)
    SELECT p.d, p.s, p.c, p.f, ${toTs('p.t')} FROM json_to_recordset($1::json) AS p(d text, s text, c text, f text, t int8) CROSS JOIN lk
    ON CONFLICT (device_id, at, state) DO NOTHING
    RETURNING device_id, at)
  INSERT INTO devices (device_id, first_seen, last_seen, event_count)
    SELECT device_id, min(at), min(at), 0 FROM ins GROUP BY device_id ORDER BY device_id
    ON CONFLICT (device_id) DO NOTHING`;

/** The statements appending `entries` (in this order) to the log. */
export function presenceAppendStatements(dialect: Dialect, entries: readonly PresenceTransitionEntry[]): ProcessorStatement[] {
  if (entries.length === 0) return [];
  if (dialect === 'postgres') {
    return [{ sql: POSTGRES_APPEND, params: [JSON.stringify(entries.map((e) => ({ d: e.deviceId, s: e.state, c: e.cause, f: e.from, t: e.at })))] }];
  }
  const rows = JSON.stringify(entries.map((e) => [e.deviceId, e.state, e.cause, e.from, e.at]));
  return [
    { sql: SQLITE_INSERT, params: [rows] },
    { sql: SQLITE_HEAD, params: [] },
    { sql: SQLITE_DEVICES, params: [rows] },
  ];
}

/** Appends transitions to the commit log in one transaction; the same transition twice is stored once. */
export async function appendPresence(dialect: Dialect, processors: Pick<ProcessorStore, 'execute'>, entries: readonly PresenceTransitionEntry[]): Promise<void> {
  await processors.execute(presenceAppendStatements(dialect, entries));
}

/** One stored transition with its log number. */
export interface StoredPresenceTransition extends PresenceTransitionEntry {
  seq: number;
}

/**
 * A device's transitions, newest first: up to `limit`, with a log number
 * below `beforeSeq` when given (the next page).
 */
export async function readPresenceHistory(
  dialect: Dialect,
  processors: Pick<ProcessorStore, 'select'>,
  deviceId: string,
  limit: number,
  beforeSeq?: number,
): Promise<StoredPresenceTransition[]> {
  const pg = dialect === 'postgres';
  const before = beforeSeq ?? Number.MAX_SAFE_INTEGER;
  const sql = pg
    ? `SELECT seq::float8 AS seq, device_id, state, cause, from_state, round(extract(epoch FROM at) * 1000)::float8 AS at
         FROM presence_transitions WHERE device_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`
    : 'SELECT seq, device_id, state, cause, from_state, at FROM presence_transitions WHERE device_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?';
  const rows = await processors.select(sql, [deviceId, before, limit]);
  return rows.map((r) => ({ seq: Number(r.seq), deviceId: String(r.device_id), state: String(r.state), cause: String(r.cause), from: String(r.from_state), at: Number(r.at) }));
}

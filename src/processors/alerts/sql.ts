/**
 * The alerts tables' SQL in each dialect (migration 10). Times are epoch-ms
 * integers in both stores; PostgreSQL returns BIGINT as text, hence the
 * `::float8` casts on reads.
 */
import type { AlertState, AlertTransition } from '../../alerts/evaluate.js';
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStatement } from '../../storage/log.js';

/** `?` placeholders as written, numbered for PostgreSQL. */
export function ph(dialect: Dialect, sql: string): string {
  if (dialect === 'sqlite') return sql;
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

const f8 = (dialect: Dialect, col: string) => (dialect === 'postgres' ? `${col}::float8 AS ${col}` : col);
const STATE_COLS = (d: Dialect) => `rule, device_id, state, ${f8(d, 'since')}, ${f8(d, 'last_time')}, ${f8(d, 'last_server')}, value_num, value_text, ${f8(d, 'changed_at')}`;

/** The state rows of these devices. */
export function selectStates(dialect: Dialect, devices: string[]): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') return { sql: `SELECT ${STATE_COLS(dialect)} FROM alert_state WHERE device_id IN (SELECT value FROM json_each(?))`, params: [JSON.stringify(devices)] };
  return { sql: `SELECT ${STATE_COLS(dialect)} FROM alert_state WHERE device_id = ANY($1::text[])`, params: [devices] };
}

export function selectPending(dialect: Dialect): { sql: string; params: unknown[] } {
  return { sql: `SELECT ${STATE_COLS(dialect)} FROM alert_state WHERE state = 'pending'`, params: [] };
}

export function selectAllStates(dialect: Dialect): string {
  return `SELECT ${STATE_COLS(dialect)} FROM alert_state ORDER BY rule, device_id`;
}

export function stateFromRow(r: Record<string, unknown>): AlertState {
  return {
    rule: String(r.rule),
    deviceId: String(r.device_id),
    state: String(r.state) as AlertState['state'],
    since: r.since === null ? null : Number(r.since),
    lastTime: Number(r.last_time),
    lastServer: Number(r.last_server),
    valueNum: r.value_num === null ? null : Number(r.value_num),
    valueText: r.value_text === null ? null : String(r.value_text),
    changedAt: Number(r.changed_at),
  };
}

export function selectGuard(dialect: Dialect): string {
  return `SELECT ${f8(dialect, 'version')} FROM alert_guard WHERE id = 1`;
}

/**
 * Moves the guard from the version read before computing: 0 rows changed
 * (another process's alerts transaction moved it meanwhile) undoes the whole
 * transaction, and the runner reads again.
 */
export function bumpGuard(dialect: Dialect, version: number): ProcessorStatement {
  return { sql: ph(dialect, 'UPDATE alert_guard SET version = version + 1 WHERE id = 1 AND version = ?'), params: [version], expect: 1 };
}

export function upsertState(dialect: Dialect, s: AlertState): ProcessorStatement {
  const ex = dialect === 'sqlite' ? 'excluded' : 'EXCLUDED';
  return {
    sql: ph(
      dialect,
      `INSERT INTO alert_state (rule, device_id, state, since, last_time, last_server, value_num, value_text, changed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (rule, device_id) DO UPDATE SET state = ${ex}.state, since = ${ex}.since, last_time = ${ex}.last_time,
         last_server = ${ex}.last_server, value_num = ${ex}.value_num, value_text = ${ex}.value_text, changed_at = ${ex}.changed_at`,
    ),
    params: [s.rule, s.deviceId, s.state, s.since, s.lastTime, s.lastServer, s.valueNum, s.valueText, s.changedAt],
  };
}

/** Records a change once (its key is unique: a rebuild or a retried step cannot record it twice). */
export function insertEvent(dialect: Dialect, t: AlertTransition, now: number): ProcessorStatement {
  return {
    sql: ph(dialect, `INSERT INTO alert_events (key, rule, device_id, state, value_num, value_text, at, seq, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`),
    params: [t.key, t.rule, t.deviceId, t.state, t.valueNum, t.valueText, t.at, t.seq, now],
  };
}

/**
 * Queues a delivery. The outbox is not emptied by a rebuild, so a change
 * already queued (delivered or not) is not queued again; nor is a change
 * older (event time) than one already queued for the same target, rule and
 * device: the outbox cleanup (src/alerts/outbox.ts) deletes old delivered
 * rows but always leaves a newer row of their stream, which keeps a
 * rebuild from queueing the deleted ones again.
 */
export function insertOutbox(dialect: Dialect, t: AlertTransition, target: string, payload: string, now: number): ProcessorStatement {
  // The queued change's time is the payload's `at` (ISO-8601 UTC, so it orders as text; "C" collation in PostgreSQL).
  const at = dialect === 'postgres' ? `(h.payload::json->>'at') COLLATE "C"` : `json_extract(h.payload, '$.at')`;
  return {
    sql: ph(
      dialect,
      `INSERT INTO alert_outbox (key, target, rule, device_id, payload, created_at, next_at, attempts)
       SELECT ?, ?, ?, ?, ?, ?, ?, 0
       WHERE NOT EXISTS (SELECT 1 FROM alert_outbox h WHERE h.target = ? AND h.rule = ? AND h.device_id = ? AND ${at} > ?)
       ON CONFLICT (key, target) DO NOTHING`,
    ),
    params: [t.key, target, t.rule, t.deviceId, payload, now, now, target, t.rule, t.deviceId, new Date(t.at).toISOString()],
  };
}

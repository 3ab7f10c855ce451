/** Helpers both stores use to read the commit log and name processors. */
import { rowToDeadLetter, rowToEvent, type DeadLetterRow, type EventRow } from './rows.js';
import type { CheckpointRow, LogEntry } from './log.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

/** A processor name or state table that is safe to use (names are stored; tables are spliced into SQL). */
export function checkName(name: string, kind: 'processor' | 'table'): void {
  if (!(kind === 'processor' ? NAME : TABLE).test(name)) throw new Error(`invalid ${kind} name: ${JSON.stringify(name)}`);
}

/**
 * Turns a row of READ_SQL (either dialect) into a log entry. A presence
 * transition (`k` = 'p') travels in the union's columns as: state in
 * value_text, cause in reason, the state it left in message, its time in ts_server.
 */
export function rowToEntry(r: Record<string, unknown>, payload: (v: unknown) => Buffer): LogEntry {
  const seq = Number(r.seq);
  if (r.k === 'e') return { seq, kind: 'event', event: rowToEvent(r as unknown as EventRow) };
  if (r.k === 'p') {
    return { seq, kind: 'presence', presence: { deviceId: String(r.device_id), state: String(r.value_text), cause: String(r.reason), from: String(r.message), at: Number(r.ts_server) } };
  }
  return {
    seq,
    kind: 'deadletter',
    deadLetter: rowToDeadLetter({ ...(r as unknown as DeadLetterRow), id: Number(r.id), received_at: r.ts_server as number, payload: payload(r.payload) }),
  };
}

/**
 * Entries-after count and oldest time from a BACKLOG_SQL row: per table
 * (events e, dead letters d, presence transitions p) a count `n?`, the
 * first seq after the position `?s` and its time `?t`.
 */
export function backlogFromRow(r: Record<string, unknown>, cap: number): { entries: number; oldestAt: number | null } {
  const entries = Math.min(cap, Number(r.ne) + Number(r.nd) + Number(r.np));
  let first = Infinity;
  let oldestAt: number | null = null;
  for (const k of ['e', 'd', 'p']) {
    const s = r[`${k}s`];
    if (s === null || s === undefined || Number(s) >= first) continue;
    first = Number(s);
    oldestAt = Number(r[`${k}t`]);
  }
  return { entries, oldestAt };
}

/** A processor_checkpoints row (either dialect, times already epoch ms). */
export function checkpointFromRow(r: Record<string, unknown>): CheckpointRow {
  const state = r.state === 'retrying' || r.state === 'stopped' ? r.state : 'running';
  return {
    name: String(r.name),
    seq: Number(r.seq),
    updatedAt: Number(r.updated_at),
    state,
    errors: Number(r.errors),
    lastError: r.last_error === null || r.last_error === undefined ? null : { message: String(r.last_error), at: Number(r.last_error_at) },
  };
}

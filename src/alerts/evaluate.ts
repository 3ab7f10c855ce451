/**
 * The alert state machine of one (rule, device), as pure functions: the
 * alerts processor folds log entries through `step` and the passing of time
 * through `tick`, with the state read from and written back to the store.
 *
 *     ok ──enter──► pending ──held `for`──► firing ──exit──► ok
 *      ▲               │                                      (resolved)
 *      └────exit───────┘  (no notification: it never fired)
 *
 * Time is event time (ts_device, else ts_server): a reading's value is taken
 * to hold until the next reading. A pending condition fires at exactly
 * `since + for` (event time) — when a later reading shows it still held then
 * (`step`), or, with no new reading, when the clock says that moment has
 * passed (`tick`). The clock estimates the device's event time now as
 * `lastTime + (now - lastServer)` (its last reading's event time plus the
 * server time elapsed since that reading arrived), so a device whose clock is
 * off still waits its full `for`. Either path records the same change with
 * the same time and the same idempotency key, so a rebuild from the log
 * finds what the live run recorded and notifies nothing twice.
 *
 * A reading older (event time) than the last one applied to the pair is
 * ignored: late data does not rewrite an alert's past.
 */
import { createHash } from 'node:crypto';
import type { AlertRule } from './rules.js';

export type AlertStateName = 'ok' | 'pending' | 'firing';

export interface AlertState {
  rule: string;
  deviceId: string;
  state: AlertStateName;
  /** pending/firing: event time the condition started to hold. */
  since: number | null;
  /** Event time and server time of the last reading applied. */
  lastTime: number;
  lastServer: number;
  valueNum: number | null;
  valueText: string | null;
  /** Event time of the last change of `state`. */
  changedAt: number;
}

export interface Reading {
  time: number;
  server: number;
  valueNum: number | null;
  valueText: string | null;
  seq: number;
}

/** A stored, notified change. */
export interface AlertTransition {
  key: string;
  rule: string;
  deviceId: string;
  state: 'firing' | 'resolved';
  valueNum: number | null;
  valueText: string | null;
  /** Event time of the change. */
  at: number;
  /** Log entry that caused it; null when the clock did. */
  seq: number | null;
}

/** The idempotency key of a change: the same change always gets the same key. */
export function transitionKey(rule: string, deviceId: string, state: string, at: number): string {
  return createHash('sha256').update(JSON.stringify([rule, deviceId, state, at])).digest('hex').slice(0, 32);
}

type Verdict = 'enter' | 'exit' | 'keep' | 'ignore';

/** What one reading says about the rule's condition. */
export function verdict(rule: AlertRule, r: Reading): Verdict {
  if (rule.kind === 'presence') return r.valueText !== null && rule.states!.includes(r.valueText) ? 'enter' : 'exit';
  const v = r.valueNum;
  if (v === null || !Number.isFinite(v)) return 'ignore';
  if (rule.direction === 'above') return v > rule.limit! ? 'enter' : v < rule.clear! ? 'exit' : 'keep';
  return v < rule.limit! ? 'enter' : v > rule.clear! ? 'exit' : 'keep';
}

function change(s: AlertState, state: 'firing' | 'resolved', at: number, valueNum: number | null, valueText: string | null, seq: number | null): AlertTransition {
  return { key: transitionKey(s.rule, s.deviceId, state, at), rule: s.rule, deviceId: s.deviceId, state, valueNum, valueText, at, seq };
}

/** Applies one reading; returns the new state (a copy) and the changes it made. */
export function step(rule: AlertRule, deviceId: string, current: AlertState | undefined, r: Reading): { state: AlertState; changes: AlertTransition[] } | undefined {
  if (current !== undefined && r.time < current.lastTime) return undefined;
  const v = verdict(rule, r);
  if (v === 'ignore') return undefined;
  const s: AlertState = current
    ? { ...current }
    : { rule: rule.name, deviceId, state: 'ok', since: null, lastTime: r.time, lastServer: r.server, valueNum: null, valueText: null, changedAt: r.time };
  const changes: AlertTransition[] = [];
  // The previous value held until this reading: did the pending condition last its `for`?
  if (s.state === 'pending' && r.time >= s.since! + rule.forMs) {
    const at = s.since! + rule.forMs;
    changes.push(change(s, 'firing', at, s.valueNum, s.valueText, r.seq));
    s.state = 'firing';
    s.changedAt = at;
  }
  if (s.state === 'ok' && v === 'enter') {
    s.since = r.time;
    s.changedAt = r.time;
    if (rule.forMs === 0) {
      s.state = 'firing';
      changes.push(change(s, 'firing', r.time, r.valueNum, r.valueText, r.seq));
    } else s.state = 'pending';
  } else if (s.state === 'pending' && v === 'exit') {
    s.state = 'ok';
    s.since = null;
    s.changedAt = r.time;
  } else if (s.state === 'firing' && v === 'exit') {
    changes.push(change(s, 'resolved', r.time, r.valueNum, r.valueText, r.seq));
    s.state = 'ok';
    s.since = null;
    s.changedAt = r.time;
  }
  s.lastTime = r.time;
  s.lastServer = r.server;
  s.valueNum = r.valueNum;
  s.valueText = r.valueText;
  return { state: s, changes };
}

/** The passing of time (server clock `now`): fires a pending condition whose `for` has elapsed. */
export function tick(rule: AlertRule, current: AlertState, now: number): { state: AlertState; changes: AlertTransition[] } | undefined {
  if (current.state !== 'pending') return undefined;
  const deviceNow = current.lastTime + Math.max(0, now - current.lastServer);
  const at = current.since! + rule.forMs;
  if (deviceNow < at) return undefined;
  const s: AlertState = { ...current, state: 'firing', changedAt: at };
  return { state: s, changes: [change(s, 'firing', at, s.valueNum, s.valueText, null)] };
}

/**
 * The store side of the commit log (design §3): every committed event, dead
 * letter and presence transition carries a commit sequence number (`seq`), given in the
 * transaction that commits it and increasing in commit order, so a reader
 * that has seen `seq` = n has seen every entry that will ever have a smaller
 * number. Processors (src/log/) read it from their checkpoints, which live
 * here too, beside their state.
 */
import type { StoredDeadLetter, StoredEvent } from './store.js';

/**
 * A change of a device's presence (src/devices/): kept in its own table
 * (`presence_transitions`, migration 14), numbered from the same log
 * sequence as events and dead letters, so it is not a row of `events`.
 */
export interface PresenceTransitionEntry {
  deviceId: string;
  /** The new presence: `online`, `silent`, `offline` or `unknown`. */
  state: string;
  /** `connected`, `disconnected`, `will`, `status`, `silence` or `data`. */
  cause: string;
  /** The presence it left. */
  from: string;
  /** When it changed (epoch ms). */
  at: number;
}

/** One committed entry of the log. */
export type LogEntry =
  | { seq: number; kind: 'event'; event: StoredEvent }
  | { seq: number; kind: 'deadletter'; deadLetter: StoredDeadLetter }
  | { seq: number; kind: 'presence'; presence: PresenceTransitionEntry };

/** The device a log entry concerns (null: a dead letter that names none). */
export function entryDevice(e: LogEntry): string | null {
  return e.kind === 'event' ? e.event.deviceId : e.kind === 'presence' ? e.presence.deviceId : e.deadLetter.deviceId;
}

/** What is still to read after a position. */
export interface LogBacklog {
  /** Entries after the position, counted up to the cap given. */
  entries: number;
  /** Commit-side time (ts_server / received_at / a transition's at, epoch ms) of the first entry after the position; null when none. */
  oldestAt: number | null;
}

/**
 * The entries a reader wants: the store leaves the others out of a page
 * (`CommitLog.readPage`), so a consumer that needs only a few kinds (the
 * command dispatcher: node status messages and presence transitions) does
 * not fetch, ship and decode every event of the log to move past it.
 */
export interface LogInterest {
  /** Events: every one (`'all'`), or those whose `event_type` is listed. */
  events: 'all' | readonly string[];
  deadLetters: boolean;
  presence: boolean;
}

/** Every entry of the log. */
export const ALL_ENTRIES: LogInterest = Object.freeze({ events: 'all', deadLetters: true, presence: true });

/** Whether `interest` is every entry (then a page is a plain read). */
export function wantsAll(interest: LogInterest): boolean {
  return interest.events === 'all' && interest.deadLetters && interest.presence;
}

/** What any of `interests` wants (the shared reader reads for all its processors at once). */
export function unionInterest(interests: readonly LogInterest[]): LogInterest {
  let events: 'all' | Set<string> = new Set();
  let deadLetters = false;
  let presence = false;
  for (const i of interests) {
    if (i.events === 'all') events = 'all';
    else if (events !== 'all') for (const t of i.events) events.add(t);
    deadLetters ||= i.deadLetters;
    presence ||= i.presence;
  }
  return { events: events === 'all' ? 'all' : [...events].sort(), deadLetters, presence };
}

/** Whether `interest` wants `e`. */
export function wants(interest: LogInterest, e: LogEntry): boolean {
  if (e.kind === 'event') return interest.events === 'all' || interest.events.includes(e.event.eventType);
  return e.kind === 'deadletter' ? interest.deadLetters : interest.presence;
}

/** A page of the log as `readPage` returns it. */
export interface LogPage {
  /** The wanted entries with afterSeq < seq ≤ `to`, ascending: all of them. */
  entries: LogEntry[];
  /** How far the page covers (afterSeq when it covers nothing): a reader moves past `to`, wanted or not. */
  to: number;
  /** Entries of the log the page covered, wanted or not (fewer than the limit: it reached the head). */
  scanned: number;
}

/**
 * The page `readPage` returns, from the entries a plain `read` of the same
 * limit returned (for logs without a filtered read of their own: tests' fakes).
 */
export function pageOf(after: number, read: readonly LogEntry[], interest: LogInterest): LogPage {
  const to = read.length === 0 ? after : read[read.length - 1].seq;
  return { entries: wantsAll(interest) ? [...read] : read.filter((e) => wants(interest, e)), to, scanned: read.length };
}

/** Reads of the commit log. */
export interface CommitLog {
  /**
   * Up to `limit` entries with seq > `afterSeq`, ascending, from one
   * snapshot: no entry with a smaller seq than the last returned can commit later.
   */
  read(afterSeq: number, limit: number): Promise<LogEntry[]>;
  /**
   * The next `limit` entries after `afterSeq` (one snapshot, as `read`),
   * with those `interest` does not want left out by the store.
   */
  readPage(afterSeq: number, limit: number, interest: LogInterest): Promise<LogPage>;
  /** The highest seq committed so far (0 when the log is empty). */
  head(): Promise<number>;
  /** Entries after `afterSeq` (counted up to `cap`) and the age of the first of them. */
  backlog(afterSeq: number, cap: number): Promise<LogBacklog>;
}

/** One statement of a processor's transaction, in the store's own dialect. */
export interface ProcessorStatement {
  sql: string;
  params: unknown[];
  /**
   * Optional guard: the number of rows the statement must change, else the
   * whole transaction is undone and CheckpointMovedError raised (the runner
   * then re-reads and goes on). For processors whose state also moves
   * outside their log steps (the alerts processor's clock tick).
   */
  expect?: number;
}

export interface CheckpointRow {
  name: string;
  seq: number;
  /** When the checkpoint last moved (epoch ms). */
  updatedAt: number;
  /** As its runner last recorded it (best effort: a runner killed keeps its last word). */
  state: 'running' | 'retrying' | 'stopped';
  /** Failed attempts, all runners together, since the last rebuild. */
  errors: number;
  lastError: { message: string; at: number } | null;
}

/** Raised when a processor's checkpoint is not where its runner expected (another runner or a rebuild moved it). */
export class CheckpointMovedError extends Error {
  readonly code = 'TELEHUB_CHECKPOINT_MOVED';
  constructor(name: string, expected: number) {
    super(`the checkpoint of processor ${name} is no longer at ${expected} (another runner or a rebuild moved it)`);
  }
}

/**
 * The processors' side of the store: checkpoints, moved in the same
 * transaction as the processor's state, so a crash at any moment neither
 * loses an entry nor applies one twice; and reads of that state.
 */
export interface ProcessorStore {
  /** Creates the checkpoint at 0 when it does not exist; returns where it stands. */
  register(name: string): Promise<number>;
  get(name: string): Promise<number | undefined>;
  list(): Promise<CheckpointRow[]>;
  /**
   * In one transaction: moves the checkpoint from `fromSeq` to `toSeq` and
   * runs `statements`. Throws CheckpointMovedError (and changes nothing)
   * when the checkpoint is not at `fromSeq`.
   */
  commit(name: string, fromSeq: number, toSeq: number, statements: readonly ProcessorStatement[]): Promise<void>;
  /** In one transaction: deletes every row of `tables` and sets the checkpoint to 0 (a rebuild). */
  reset(name: string, tables: readonly string[]): Promise<void>;
  /**
   * Records a runner's state; with `error`, counts a failed attempt and keeps
   * its message. Outside any processor transaction, best effort.
   */
  recordState(name: string, state: CheckpointRow['state'], error?: string): Promise<void>;
  /**
   * Runs `statements` in one transaction without moving any checkpoint: for
   * jobs that keep a processor's derived state (the rollup refresher), whose
   * own statements guard against concurrent changes.
   */
  execute(statements: readonly ProcessorStatement[]): Promise<void>;
  /** Reads a processor's state: one SELECT in the store's dialect (SQLite: on the reader thread). */
  select(sql: string, params: unknown[]): Promise<Record<string, unknown>[]>;
}

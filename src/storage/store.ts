import type { TokenRecord } from '../auth/tokens.js';
import type { DeadLetter, StoreStatus, TelemetryEvent } from '../core/event.js';
import type { CommandRepository } from './commands.js';
import type { CommitLog, ProcessorStore } from './log.js';

/**
 * One batch as the pipeline hands it to a store: events to insert once each
 * (by `event_id`) and dead letters to keep, committed in one transaction.
 */
export interface WriteBatch {
  events: readonly TelemetryEvent[];
  deadLetters: readonly DeadLetter[];
}

/**
 * The result of a committed batch: one status per event, in the order given.
 * An event whose id is already stored (or appeared earlier in the same batch)
 * is a `duplicate` when its content is the same (see `event-content.ts`) and a
 * `conflict` when it is not; either way nothing of it is written.
 */
export interface WriteResult {
  statuses: StoreStatus[];
  /** For each event reported `conflict`, by its index in `events`; absent when there is none. */
  conflicts?: Map<number, EventConflict>;
}

/** What a `conflict` collided with: the row stored under the event's id. */
export interface EventConflict {
  /** The device of the event stored under this id. */
  storedDeviceId: string;
  /** Fields (as in the device's JSON) where the refused event differs from the stored one. */
  differs: string[];
}

/** A stored event as read back (times as epoch ms). */
export type StoredEvent = TelemetryEvent;

export interface StoredDeadLetter extends DeadLetter {
  id: number;
}

export interface DeadLetterQuery {
  reason?: string;
  limit?: number;
}

/** Thrown by `TokenRepository.create` when an active (not revoked) token already has that name. */
export class TokenNameTakenError extends Error {
  constructor(readonly tokenName: string) {
    super(`An active token is already named "${tokenName}".`);
    this.name = 'TokenNameTakenError';
  }
}

/** API tokens (hashed secrets only), see src/auth/tokens.ts. */
export interface TokenRepository {
  /** Rejects with TokenNameTakenError when an active token has the same name (a unique index decides, so races are safe). */
  create(record: TokenRecord): Promise<void>;
  get(id: string): Promise<TokenRecord | undefined>;
  list(): Promise<TokenRecord[]>;
  /** Revokes the tokens with this id or name; returns how many were revoked. */
  revoke(idOrName: string, at: number): Promise<number>;
}

/** Time filter and keyset cursor for event pages; "time" is ts_device, else ts_server. */
export interface EventPageQuery {
  deviceId?: string;
  eventType?: string;
  /** Inclusive lower bound, epoch ms. */
  from?: number;
  /** Exclusive upper bound, epoch ms. */
  to?: number;
  /** Continue after this (time, event_id). */
  after?: { time: number; eventId: string };
  limit: number;
}

export interface DeadLetterPageQuery {
  reason?: string;
  from?: number;
  to?: number;
  /** Continue after this dead-letter id. */
  afterId?: number;
  /** Only these ids. */
  ids?: number[];
  limit: number;
}

export interface SeriesQuery {
  deviceId: string;
  eventType: string;
  from: number;
  to: number;
  bucketMs: number;
}

/** One time bucket of numeric values (value_num; events without one are not counted). */
export interface SeriesBucket {
  /** Start of the bucket, epoch ms (a multiple of bucketMs). */
  bucket: number;
  count: number;
  avg: number;
  min: number;
  max: number;
  /** Values of the earliest and the latest event in the bucket. */
  first: number;
  last: number;
}

/**
 * One row of the `devices` table, kept by every batch in the same
 * transaction as its events (newly stored events only, duplicates do not
 * count), so listing devices never scans the events.
 */
export interface DeviceSummary {
  deviceId: string;
  /** Smallest and largest ts_server of its stored events, epoch ms. */
  firstSeen: number;
  lastSeen: number;
  events: number;
}

/** Reads for the query API, in ascending order of time (events) or id (dead letters). */
export interface QueryRepository {
  events(q: EventPageQuery): Promise<Array<StoredEvent & { time: number }>>;
  deadLetters(q: DeadLetterPageQuery): Promise<StoredDeadLetter[]>;
  series(q: SeriesQuery): Promise<SeriesBucket[]>;
  devices(): Promise<DeviceSummary[]>;
}

/**
 * The small interface every store implements; batching, retries, in-flight
 * caps and acknowledgement live once, in `pipeline/`, around it.
 *
 * Contract (checked by `storage/conformance.ts` for every store):
 * - `writeBatch` is atomic: it either commits every event and dead letter
 *   and resolves, or commits nothing and rejects.
 * - When it resolves the data is durable (survives a crash or power loss
 *   of the store's host as far as the engine promises it).
 * - Inserting an `event_id` that is already stored changes nothing and is
 *   reported `duplicate` when the content is the same, `conflict` (with the
 *   stored row's device and the differing fields) when it is not, also when
 *   two writers race: the comparison is with the row that won.
 * - Every newly stored event and every dead letter gets a commit sequence
 *   number (`log`) in the same transaction; a reader of the log never sees a
 *   number appear below one it has already read.
 * - `isRetriable(err)` tells a transient failure (connection lost, busy,
 *   disk full) from a permanent one (the data was refused).
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Applies pending versioned migrations (up to `upTo` when given: tests and
   * the query bench load data under an older schema, then migrate the rest).
   * Safe to call from several processes.
   */
  migrate(upTo?: number): Promise<void>;
  writeBatch(batch: WriteBatch): Promise<WriteResult>;
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  isRetriable(err: unknown): boolean;
  close(): Promise<void>;

  // Reads used by the CLI, tests and (later) the query API.
  countEvents(): Promise<number>;
  getEvent(eventId: string): Promise<StoredEvent | undefined>;
  recentEvents(limit: number, deviceId?: string): Promise<StoredEvent[]>;
  countDeadLetters(): Promise<number>;
  listDeadLetters(q?: DeadLetterQuery): Promise<StoredDeadLetter[]>;
  /** Applied migration versions, ascending. */
  migrationVersions(): Promise<number[]>;

  readonly tokens: TokenRepository;
  readonly queries: QueryRepository;
  /** Commands to devices (src/commands/). */
  readonly commands: CommandRepository;
  /** The commit log: every committed event and dead letter by commit sequence number. */
  readonly log: CommitLog;
  /** Processors' checkpoints, moved in one transaction with their state. */
  readonly processors: ProcessorStore;
}

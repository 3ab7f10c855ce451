/**
 * The retention job: every TELEHUB_RETENTION_INTERVAL_S it drops raw events
 * past their retention, dead letters past theirs or over their size ceiling,
 * and checks the disk guardrail.
 *
 * Never a giant DELETE. PostgreSQL: raw events are day partitions, detached
 * whole then dropped (partitions(), src/storage/postgres/partitions.ts). SQLite (and
 * PostgreSQL's default and pre-partitioning partitions): rows go in chunks
 * of TELEHUB_RETENTION_CHUNK, each chunk's keys read through the time index
 * and deleted by key in its own short transaction, which queues with the
 * write batches, so intake waits at most one chunk
 * (docs/data-lifecycle.md has the measurements, and why SQLite keeps this).
 *
 * What is never dropped: a raw event under a bucket that may still be
 * recomputed (above the first tier's sealed watermark, or in a bucket still
 * marked dirty), and any entry a configured processor has not read yet.
 */
import type { Logger } from 'pino';
import type { RetentionConfig } from '../core/config.js';
import type { Dialect } from '../log/processor.js';
import type { ProcessorStore } from '../storage/log.js';
import { dropBefore, type TierConfig } from '../processors/rollups/tiers.js';
import { chunkedPartitions, dropPartitions, ensurePartitions, listPartitions, PARTITIONS_AHEAD_DAYS, type PartitionDb } from '../storage/postgres/partitions.js';
import { deadLetterBytes, deleteDeadLetters, deleteEventIds, deleteEvents, oldestDirty, selectOldDeadLetters, selectOldEventIds, selectOldestDeadLetterSizes, selectOldEvents, storeBytes, type Query } from './sql.js';

const DAY = 86_400_000;

export interface RetentionResult {
  /** Raw events deleted, and the time before which they were. */
  rawDeleted: number;
  rawBefore: number;
  /** Dead letters deleted for age and for the size ceiling. */
  deadLettersExpired: number;
  deadLettersEvicted: number;
  /** What the store uses, bytes (undefined when the guardrail is off). */
  storeBytes?: number;
  /** True when the store is at or above the warning level of the guardrail. */
  nearCeiling: boolean;
  /** The raw retention this run applied (shorter than configured under the guardrail). */
  rawRetentionMs: number;
  /** Longest single chunk (select + delete), ms. */
  longestChunkMs: number;
  /** PostgreSQL: day partitions created, and dropped whole (with the planner's row estimate). */
  partitionsCreated: string[];
  partitionsDropped: { name: string; rowsEstimate: number | null; ms: number; freeMs: number | null }[];
  /** PostgreSQL: tables an earlier run detached and did not drop (stopped or crashed between the steps), dropped by this one. */
  detachedFinished: string[];
  /** PostgreSQL: ids pruned from event_ids (older than the dedup window). */
  eventIdsPruned: number;
}

export interface RetentionDeps {
  store: ProcessorStore;
  dialect: Dialect;
  tiers: TierConfig;
  retention: RetentionConfig;
  /** Processors whose checkpoints bound what may be dropped (the configured ones). */
  processors: readonly string[];
  /** True when the rollups processor runs: dirty buckets keep their raw data. */
  rollupsOn: boolean;
  now?: () => number;
  log?: Logger;
}

/** Running totals for /metrics. */
export interface RetentionTotals {
  rawDeleted: number;
  deadLettersDeleted: number;
  runs: number;
  last?: RetentionResult;
}

export class RetentionJob {
  readonly totals: RetentionTotals = { rawDeleted: 0, deadLettersDeleted: 0, runs: 0 };
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  /** Whether the last run found the store near its ceiling (to log the change once). */
  private wasNear = false;

  constructor(private readonly d: RetentionDeps) {}

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  private async select(q: Query): Promise<Record<string, unknown>[]> {
    return this.d.store.select(q.sql, q.params);
  }

  /** Highest log number every configured processor has read (entries above it are kept). */
  private async readByAll(): Promise<number> {
    if (this.d.processors.length === 0) return Number.MAX_SAFE_INTEGER;
    let min = Number.MAX_SAFE_INTEGER;
    for (const name of this.d.processors) min = Math.min(min, (await this.d.store.get(name)) ?? 0);
    return min;
  }

  /** One run: the guardrail first (it may shorten raw retention), then raw events, then dead letters. */
  async runOnce(): Promise<RetentionResult> {
    const { retention, tiers, dialect } = this.d;
    const now = this.now();
    const result: RetentionResult = {
      rawDeleted: 0,
      rawBefore: 0,
      deadLettersExpired: 0,
      deadLettersEvicted: 0,
      nearCeiling: false,
      rawRetentionMs: tiers.rawRetentionMs,
      longestChunkMs: 0,
      partitionsCreated: [],
      partitionsDropped: [],
      detachedFinished: [],
      eventIdsPruned: 0,
    };

    if (retention.diskMaxBytes > 0) {
      result.storeBytes = Number((await this.select(storeBytes(dialect)))[0].n);
      result.nearCeiling = result.storeBytes >= retention.diskWarnRatio * retention.diskMaxBytes;
      if (result.nearCeiling) {
        // The shortest raw retention that loses no aggregate: the lateness window.
        if (retention.diskShrinkRaw) result.rawRetentionMs = Math.min(tiers.rawRetentionMs, tiers.latenessMs);
        this.d.log?.warn(
          { storeBytes: result.storeBytes, ceilingBytes: retention.diskMaxBytes, rawRetentionS: result.rawRetentionMs / 1000, shrinking: retention.diskShrinkRaw },
          retention.diskShrinkRaw ? 'The store is near its disk ceiling; raw retention is shortened to the lateness window.' : 'The store is near its disk ceiling (TELEHUB_DISK_MAX_MB); set TELEHUB_DISK_SHRINK_RAW or shorten retention.',
        );
      } else if (this.wasNear) {
        this.d.log?.info({ storeBytes: result.storeBytes, ceilingBytes: retention.diskMaxBytes }, 'The store is below its disk warning level again; configured retention applies.');
      }
      this.wasNear = result.nearCeiling;
    }

    const maxSeq = await this.readByAll();
    // Raw: retention, capped at the first tier's sealed watermark (dropBefore) and at its oldest dirty bucket.
    const w0 = tiers.aggregates[0]?.widthMs;
    let before = dropBefore(now, tiers, result.rawRetentionMs, w0);
    if (this.d.rollupsOn && w0 !== undefined) {
      const dirty = (await this.select(oldestDirty(dialect, w0)))[0]?.b;
      if (dirty !== null && dirty !== undefined) before = Math.min(before, Number(dirty));
    }
    result.rawBefore = before;
    if (dialect === 'postgres') {
      await this.partitions(now, before, maxSeq, result);
    } else {
      result.rawDeleted = await this.chunked(selectOldEvents(dialect, before, maxSeq, retention.chunk), (keys) => deleteEvents(dialect, keys, before, maxSeq), result);
    }

    if (retention.deadLetterRetentionMs > 0) {
      const dlBefore = now - retention.deadLetterRetentionMs;
      result.deadLettersExpired = await this.chunked(selectOldDeadLetters(dialect, dlBefore, maxSeq, retention.chunk), (ids) => deleteDeadLetters(dialect, ids as number[]), result);
    }
    if (retention.deadLetterMaxBytes > 0) result.deadLettersEvicted = await this.evictDeadLetters(maxSeq, result);

    this.totals.runs++;
    this.totals.rawDeleted += result.rawDeleted;
    this.totals.deadLettersDeleted += result.deadLettersExpired + result.deadLettersEvicted;
    this.totals.last = result;
    if (result.rawDeleted + result.deadLettersExpired + result.deadLettersEvicted + result.partitionsDropped.length + result.eventIdsPruned > 0) {
      this.d.log?.info(
        {
          rawDeleted: result.rawDeleted,
          rawBefore: new Date(result.rawBefore).toISOString(),
          partitionsDropped: result.partitionsDropped.map((p) => p.name),
          partitionDetachMs: result.partitionsDropped.map((p) => Math.round(p.ms)),
          partitionFreeMs: result.partitionsDropped.map((p) => (p.freeMs === null ? null : Math.round(p.freeMs))),
          partitionRowsEstimate: result.partitionsDropped.reduce((n, p) => n + (p.rowsEstimate ?? 0), 0),
          eventIdsPruned: result.eventIdsPruned,
          deadLettersExpired: result.deadLettersExpired,
          deadLettersEvicted: result.deadLettersEvicted,
          longestChunkMs: Math.round(result.longestChunkMs),
        },
        'Retention dropped old data.',
      );
    }
    return result;
  }

  /**
   * PostgreSQL's raw events are partitioned by day of event time: create the
   * days ahead (and those the lateness window may still write to), drop whole
   * every partition that ends at or before the drop point and that every
   * processor has read, delete in chunks only in the default partition and
   * in events_flat (the pre-partitioning table, until it is dropped whole),
   * and prune event_ids past the dedup window (the raw retention applied,
   * never shorter than the lateness window).
   */
  private async partitions(now: number, before: number, maxSeq: number, result: RetentionResult): Promise<void> {
    const { dialect, retention, tiers } = this.d;
    const db: PartitionDb = { select: (sql, params) => this.d.store.select(sql, params ?? []), execute: (s) => this.d.store.execute(s) };
    result.partitionsCreated = await ensurePartitions(db, Math.max(before, now - tiers.latenessMs), now + PARTITIONS_AHEAD_DAYS * DAY, (name, err) =>
      this.d.log?.warn({ partition: name, err }, 'Could not create an events partition; rows of that day go to events_default until the next run.'),
    );
    const drop = await dropPartitions(db, before, maxSeq, {
      onError: (table, err) => this.d.log?.warn({ table, err }, 'A detached events partition could not be dropped yet; the next retention run tries again.'),
    });
    result.partitionsDropped = drop.dropped.map((p) => ({ name: p.name, rowsEstimate: p.rowsEstimate, ms: p.ms, freeMs: p.freeMs }));
    result.detachedFinished = drop.finished;
    for (const p of drop.dropped) result.longestChunkMs = Math.max(result.longestChunkMs, p.ms);
    if (drop.finished.length > 0) this.d.log?.info({ tables: drop.finished }, 'Dropped events partitions an earlier retention run had detached but not dropped.');
    if (drop.finalized.length > 0) this.d.log?.warn({ partitions: drop.finalized }, 'Completed an interrupted DETACH PARTITION … CONCURRENTLY of events (FINALIZE).');
    for (const h of drop.held.filter((x) => x.reason === 'lock')) {
      this.d.log?.warn({ partition: h.name }, 'An events partition past retention was not dropped: its lock was busy (a long query?); retrying at the next run.');
    }
    for (const table of chunkedPartitions(await listPartitions(db))) {
      result.rawDeleted += await this.chunked(selectOldEvents(dialect, before, maxSeq, retention.chunk, table), (keys) => deleteEvents(dialect, keys, before, maxSeq, table), result);
    }
    const idsBefore = now - Math.max(result.rawRetentionMs, tiers.latenessMs);
    result.eventIdsPruned = await this.chunked(selectOldEventIds(idsBefore, retention.chunk), (keys) => deleteEventIds(keys, idsBefore), result);
  }

  /** Deletes chunk after chunk until a select finds fewer rows than a chunk; returns how many. */
  private async chunked(select: Query, del: (keys: unknown[]) => { sql: string; params: unknown[] }, result: RetentionResult): Promise<number> {
    let total = 0;
    for (;;) {
      if (this.stopped) return total;
      const t = performance.now();
      const keys = (await this.select(select)).map((r) => r.k);
      if (keys.length === 0) return total;
      await this.d.store.execute([del(keys)]);
      result.longestChunkMs = Math.max(result.longestChunkMs, performance.now() - t);
      total += keys.length;
      if (keys.length < this.d.retention.chunk) return total;
      // Let intake's callbacks run between chunks.
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Deletes the oldest dead letters until their payloads fit under the ceiling. */
  private async evictDeadLetters(maxSeq: number, result: RetentionResult): Promise<number> {
    const { dialect, retention } = this.d;
    let excess = Number((await this.select(deadLetterBytes(dialect)))[0].n) - retention.deadLetterMaxBytes;
    let total = 0;
    while (excess > 0 && !this.stopped) {
      const t = performance.now();
      const rows = await this.select(selectOldestDeadLetterSizes(dialect, maxSeq, retention.chunk));
      if (rows.length === 0) break;
      const ids: number[] = [];
      for (const r of rows) {
        if (excess <= 0) break;
        ids.push(Number(r.k));
        excess -= Number(r.n);
      }
      await this.d.store.execute([deleteDeadLetters(dialect, ids)]);
      result.longestChunkMs = Math.max(result.longestChunkMs, performance.now() - t);
      total += ids.length;
    }
    if (total > 0) this.d.log?.warn({ evicted: total, ceilingBytes: retention.deadLetterMaxBytes }, 'Dead letters over TELEHUB_DEADLETTER_MAX_MB; the oldest were deleted.');
    return total;
  }

  /** Runs every interval until stop(); a failed run is logged and retried at the next one. */
  start(): void {
    if (this.d.retention.intervalMs <= 0) return;
    const tick = () => {
      if (this.stopped) return;
      this.running = this.runOnce()
        .catch((err: unknown) => this.d.log?.error({ err }, 'Retention run failed; retrying at the next interval.'))
        .then(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.d.retention.intervalMs);
        });
    };
    this.timer = setTimeout(tick, Math.min(this.d.retention.intervalMs, 30_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

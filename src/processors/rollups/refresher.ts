/**
 * The refresher: every TELEHUB_ROLLUP_REFRESH_S, recomputes dirty buckets,
 * the finest tier from raw events and each coarser tier from the one below,
 * exactly (aggregate.ts), whatever their age up to the lateness window; then
 * seals what left it and expires tier rows past their retention.
 *
 * Each bucket's new row, the removal of the marks it has seen (by seq: a mark
 * a newer event moved stays), and the mark of its parent bucket commit in one
 * transaction, so a crash leaves either the old row and its mark or the new
 * row and the parent's mark. Two refreshers (two processes) compute the same
 * rows; the last write wins with the same content.
 */
import type { Logger } from 'pino';
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStatement, ProcessorStore } from '../../storage/log.js';
import { addPoint, emptyAggregate, mergeAggregate, type Aggregate, type RawPoint } from './aggregate.js';
import { advanceSeal, dropMark, expireRows, markDirty, replaceBuckets, rowToAggregate, selectDirty, selectRaw, selectRawMany, selectRows, selectRowsMany, type BucketKey, type DirtyMark } from './sql.js';
import { bucketStart, dropBefore, formatDuration, sealedBefore, type TierConfig } from './tiers.js';

/** Buckets recomputed in one transaction. */
const CHUNK = 100;

export interface RefreshResult {
  /** Buckets recomputed, per tier width. */
  recomputed: Record<number, number>;
  /** Marks dropped because their bucket was already sealed (data later than the lateness window). */
  tooLate: number;
  /** True when a tier had more dirty buckets than one run takes. */
  more: boolean;
}

/** Reads raw points of one device and type in [from, to). */
export async function readRaw(store: ProcessorStore, dialect: Dialect, device: string, type: string, from: number, to: number): Promise<RawPoint[]> {
  const q = selectRaw(dialect, device, type, from, to);
  const rows = await store.select(q.sql, q.params);
  return rows.map((r) => ({ t: Number(r.t), eventId: String(r.event_id), value: r.value_num === null ? null : Number(r.value_num) }));
}

/** Reads stored rows of one tier (bucket start → aggregate). */
export async function readRows(store: ProcessorStore, dialect: Dialect, device: string, type: string, w: number, from: number, to: number): Promise<Array<[number, Aggregate]>> {
  const q = selectRows(dialect, device, type, w, from, to);
  return (await store.select(q.sql, q.params)).map((r) => [Number(r.bucket_start), rowToAggregate(r)]);
}

/** What the refresher knows of each tier in this process, for /metrics. */
export interface RefresherTierState {
  tier: string;
  widthMs: number;
  /** When a run last left no dirty bucket of this tier behind, epoch ms (the refresher's start before that). */
  caughtUpAt: number;
  /** Dirty buckets the last run found (up to maxBucketsPerRun). */
  lastDirty: number;
}

export class RollupRefresher {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;
  private readonly states: RefresherTierState[];
  /** Marks dropped because their bucket was sealed, since this refresher was made. */
  tooLateTotal = 0;

  constructor(
    private readonly store: ProcessorStore,
    private readonly dialect: Dialect,
    private readonly tiers: TierConfig,
    private readonly opts: { maxBucketsPerRun?: number; now?: () => number; log?: Logger } = {},
  ) {
    const t0 = (opts.now ?? Date.now)();
    this.states = tiers.aggregates.map((a) => ({ tier: formatDuration(a.widthMs), widthMs: a.widthMs, caughtUpAt: t0, lastDirty: 0 }));
  }

  /** Per tier: when it was last caught up and how many dirty buckets the last run found. */
  tierStates(): readonly RefresherTierState[] {
    return this.states;
  }

  /** Seconds since each tier was last caught up (0 right after a run that left nothing behind). */
  refreshLagSeconds(): Array<{ tier: string; seconds: number }> {
    const now = (this.opts.now ?? Date.now)();
    return this.states.map((s) => ({ tier: s.tier, seconds: Math.max(0, (now - s.caughtUpAt) / 1000) }));
  }

  /** One refresh: every tier, finest first, up to maxBucketsPerRun buckets each. */
  async refreshOnce(): Promise<RefreshResult> {
    const now = (this.opts.now ?? Date.now)();
    const limit = this.opts.maxBucketsPerRun ?? 2000;
    const result: RefreshResult = { recomputed: {}, tooLate: 0, more: false };
    const ladder = this.tiers.aggregates;
    for (let k = 0; k < ladder.length; k++) {
      const w = ladder[k].widthMs;
      const sealed = sealedBefore(now, this.tiers, w);
      // Only buckets that have ended: one still filling would be recomputed at
      // every run until it ends (a 5-minute bucket 30 times at the default
      // interval). The series API reads it from raw meanwhile, as any dirty
      // bucket, so answers stay exact; it is computed at the first run after its end.
      const q = selectDirty(this.dialect, w, limit, now - w);
      const marks = (await this.store.select(q.sql, q.params)).map((r): DirtyMark => [String(r.device_id), String(r.event_type), Number(r.bucket_start), Number(r.seq)]);
      if (marks.length === limit) result.more = true;
      this.states[k].lastDirty = marks.length;
      result.recomputed[w] = 0;
      // Chunks of buckets, each one transaction: one read of their sources and
      // a few statements per chunk, whatever the number of buckets in it.
      for (let i = 0; i < marks.length; i += CHUNK) {
        const statements: ProcessorStatement[] = [];
        const todo: DirtyMark[] = [];
        for (const mark of marks.slice(i, i + CHUNK)) {
          const [device, type, b, seq] = mark;
          // Sealed: never recomputed. A bucket never computed at all (data
          // written while the tiers were off, or a backfill) is computed once.
          if (b < sealed && (await readRows(this.store, this.dialect, device, type, w, b, b + 1)).length > 0) {
            statements.push(dropMark(this.dialect, device, type, w, b, seq));
            result.tooLate++;
            continue;
          }
          todo.push(mark);
        }
        if (todo.length > 0) {
          statements.push(...replaceBuckets(this.dialect, w, todo, await this.computeMany(k, todo.map(([device, type, b]): BucketKey => [device, type, b]))));
          result.recomputed[w] += todo.length;
          if (k + 1 < ladder.length) {
            const pw = ladder[k + 1].widthMs;
            statements.push(markDirty(this.dialect, pw, todo.map(([device, type, b, seq]): DirtyMark => [device, type, bucketStart(b, pw), seq])));
          }
        }
        if (statements.length > 0) await this.store.execute(statements);
      }
      const expire = dropBefore(now, this.tiers, ladder[k].retentionMs, ladder[k + 1]?.widthMs);
      await this.store.execute([advanceSeal(this.dialect, w, sealed, now), expireRows(this.dialect, w, Math.min(bucketStart(expire, w), sealed))]);
      // Every mark this run saw is handled; with fewer than the limit, none was left behind.
      if (marks.length < limit) this.states[k].caughtUpAt = now;
    }
    this.tooLateTotal += result.tooLate;
    if (result.tooLate > 0) this.opts.log?.warn({ marks: result.tooLate }, 'Events arrived after their rollup buckets were sealed; they stay in raw only.');
    return result;
  }

  /** The exact aggregates of buckets `keys` of tier k, from their source, in one read. */
  private async computeMany(k: number, keys: readonly BucketKey[]): Promise<Aggregate[]> {
    const w = this.tiers.aggregates[k].widthMs;
    const aggs = keys.map(() => emptyAggregate());
    if (k === 0) {
      const q = selectRawMany(this.dialect, w, keys);
      for (const r of await this.store.select(q.sql, q.params)) addPoint(aggs[Number(r.i)], { t: Number(r.t), eventId: String(r.event_id), value: r.value_num === null ? null : Number(r.value_num) });
      return aggs;
    }
    // Rows come by bucket, in time order within each (as readRows gives them).
    const q = selectRowsMany(this.dialect, this.tiers.aggregates[k - 1].widthMs, w, keys);
    for (const r of await this.store.select(q.sql, q.params)) mergeAggregate(aggs[Number(r.i)], rowToAggregate(r));
    return aggs;
  }

  /** Refreshes every refresh interval (sooner again while a run leaves work behind) until stop(). */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.refreshOnce()
        .then((r) => r.more)
        .catch((err: unknown) => {
          this.opts.log?.error({ err }, 'Rollup refresh failed; retrying at the next interval.');
          return false;
        })
        .then((more) => {
          if (!this.stopped) this.timer = setTimeout(tick, more ? 0 : this.tiers.refreshMs);
        });
    };
    this.timer = setTimeout(tick, this.tiers.refreshMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

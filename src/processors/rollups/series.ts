/**
 * The series API's real-time answer over the tiers: each requested bucket
 * from the coarsest tier whose buckets tile it, joined with raw events for
 * what that tier does not hold yet (its dirty buckets, the rollups
 * processor's backlog, and edges of the range not aligned to the tier), so
 * the answer is exact at the moment of the query. Says which tiers it used,
 * and where retention begins: a bucket before it is "outside retention",
 * one after it without events is "empty".
 */
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStore } from '../../storage/log.js';
import { addPoint, emptyAggregate, mergeAggregate, statsOf, type Aggregate } from './aggregate.js';
import { ROLLUPS } from './index.js';
import { mergeExpansion } from './exact-sum.js';
import { readRaw, readRows } from './refresher.js';
import { selectBacklog, selectBucketRows, segmentRows, selectDirtyFor, selectSegments, selectStarts, type SegmentRow } from './sql.js';
import { bucketStart, formatDuration, sealedBefore, type TierConfig } from './tiers.js';

export interface TieredSeriesQuery {
  deviceId: string;
  eventType: string;
  /** Bucket boundaries, ascending: bucket i is [b[i], b[i+1]). The range asked is [from, to) within them. */
  boundaries: readonly number[];
  from: number;
  to: number;
}

export interface TieredBucket {
  start: number;
  state: 'data' | 'empty' | 'outside_retention';
  stats: ReturnType<typeof statsOf>;
}

export interface TieredSeries {
  tiersUsed: string[];
  /** The tier that serves the buckets (`raw` or a width such as `5m`). */
  tier: string;
  /** Earliest time that tier keeps. */
  retainedFrom: number;
  buckets: TieredBucket[];
}

/** Backlog entries read at most; beyond, the whole range is answered from raw. */
const BACKLOG_CAP = 100_000;

/** The coarsest aggregate tier whose buckets tile every requested bucket; undefined: raw. */
export function chooseTier(tiers: TierConfig, boundaries: readonly number[]): number | undefined {
  for (let k = tiers.aggregates.length - 1; k >= 0; k--) {
    const w = tiers.aggregates[k].widthMs;
    if (boundaries.every((b) => b % w === 0)) return k;
  }
  return undefined;
}

/** Merges sorted [start, end) ranges that touch or overlap. */
function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  ranges.sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last !== undefined && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else if (r[1] > r[0]) out.push([r[0], r[1]]);
  }
  return out;
}

/**
 * The segments of [A, Z) that tier rows serve, outside `fromRaw` (sorted,
 * disjoint) and cut at the answer's boundaries: [answer bucket, lo, hi],
 * ascending. Every bound is a multiple of the tier width.
 */
export function segmentsOf(bs: readonly number[], A: number, Z: number, fromRaw: ReadonlyArray<readonly [number, number]>): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  let r = 0;
  for (let i = 0; i + 1 < bs.length && bs[i] < Z; i++) {
    let lo = Math.max(bs[i], A);
    const hi = Math.min(bs[i + 1], Z);
    while (lo < hi) {
      while (r < fromRaw.length && fromRaw[r][1] <= lo) r++;
      const cut = r < fromRaw.length ? fromRaw[r] : undefined;
      if (cut === undefined || cut[0] >= hi) {
        out.push([i, lo, hi]);
        break;
      }
      if (cut[0] > lo) out.push([i, lo, cut[0]]);
      lo = cut[1];
    }
  }
  return out;
}

/** Which of `starts` have a stored row of tier `w`. */
async function storedStarts(store: ProcessorStore, dialect: Dialect, device: string, type: string, w: number, starts: readonly number[]): Promise<Set<number>> {
  const q = selectStarts(dialect, device, type, w, starts);
  return new Set((await store.select(q.sql, q.params)).map((r) => Number(r.bucket_start)));
}

/**
 * Folds the stored rows of tier `w` under `segments` into their answer
 * buckets, aggregated in SQL per segment (selectSegments), exactly as
 * merging them row by row in bucket order would: count, n, min, max, first
 * and last with their times, and the sum: every row's parts are added to the
 * expansion here, exactly, and the correctly rounded sum of an exact
 * expansion does not depend on the order of the additions. (SQL's MIN and MAX
 * could pick 0 for -0, which compare equal, but no stored value is -0: pg
 * binds -0 as "0", and SQLite stores an integral REAL as an integer.)
 * True when any row was folded.
 */
async function mergeTierRows(store: ProcessorStore, dialect: Dialect, q: TieredSeriesQuery, w: number, segments: ReadonlyArray<readonly [number, number, number]>, aggs: Aggregate[]): Promise<boolean> {
  if (segments.length === 0) return false;
  let rows: SegmentRow[];
  if (segments.every(([, lo, hi]) => hi - lo === w)) {
    // Each segment one stored row: read the rows of the span, keep those of a segment (the others are read from raw).
    const at = new Map(segments.map(([, lo], i) => [lo, i]));
    const sq = selectBucketRows(dialect, q.deviceId, q.eventType, w, segments[0][1], segments[segments.length - 1][2]);
    rows = [];
    for (const r of segmentRows(dialect, await store.select(sq.sql, sq.params))) {
      const i = at.get(r[0]);
      if (i === undefined) continue;
      r[0] = i;
      rows.push(r);
    }
  } else {
    const sq = selectSegments(dialect, q.deviceId, q.eventType, w, segments.map(([, lo, hi]) => [lo, hi]));
    rows = segmentRows(dialect, await store.select(sq.sql, sq.params));
  }
  // In segment order, so answers do not depend on the order rows come in (the rounded sum would not anyway).
  rows.sort((x, y) => x[0] - y[0]);
  for (const [i, count, n, min, max, firstT, first, lastT, last, parts] of rows) {
    const a = aggs[segments[i][0]];
    mergeAggregate(a, { count, n, sumParts: [], min, max, first, firstT, firstKey: '', last, lastT, lastKey: '' });
    for (const p of parts) mergeExpansion(a.sumParts, p);
  }
  return rows.length > 0;
}

export async function tieredSeries(store: ProcessorStore, dialect: Dialect, tiers: TierConfig, q: TieredSeriesQuery, now: number): Promise<TieredSeries> {
  const { boundaries: bs, from, to } = q;
  const k = chooseTier(tiers, bs);
  const retention = k === undefined ? tiers.rawRetentionMs : tiers.aggregates[k].retentionMs;
  const w = k === undefined ? undefined : tiers.aggregates[k].widthMs;
  const retainedFrom = w === undefined ? now - retention : bucketStart(now - retention, w) + w;
  const lo = Math.max(from, retainedFrom);
  const aggs: Aggregate[] = bs.slice(0, -1).map(() => emptyAggregate());
  // The bucket holding time t (boundaries ascending).
  const slot = (t: number): number => {
    let a = 0;
    let b = bs.length - 1;
    while (b - a > 1) {
      const m = (a + b) >> 1;
      if (bs[m] <= t) a = m;
      else b = m;
    }
    return a;
  };
  const used = new Set<string>();
  const rawRanges: Array<[number, number]> = [];
  if (w === undefined || lo >= to) {
    if (lo < to) rawRanges.push([lo, to]);
  } else {
    const A = Math.ceil(lo / w) * w;
    const Z = Math.max(A, bucketStart(to, w));
    rawRanges.push([lo, Math.min(A, to)], [Z, to]);
    // Checkpoint first, then marks, then backlog: an entry applied meanwhile
    // is in the backlog read (seq above the checkpoint read), never in neither.
    const checkpoint = (await store.get(ROLLUPS)) ?? 0;
    const dirty = new Set<number>();
    const d = selectDirtyFor(dialect, q.deviceId, q.eventType, w, A - w, Z);
    for (const r of await store.select(d.sql, d.params)) dirty.add(bucketStart(Number(r.bucket_start), w));
    const b = selectBacklog(dialect, q.deviceId, q.eventType, checkpoint, BACKLOG_CAP + 1);
    const backlog = await store.select(b.sql, b.params);
    const sealed = sealedBefore(now, tiers, tiers.aggregates[0].widthMs);
    if (backlog.length > BACKLOG_CAP) rawRanges.push([A, Z]);
    else {
      for (const r of backlog) dirty.add(bucketStart(Number(r.t), w));
      // A sealed bucket keeps its row; one never computed (backfill) is computed once (refresher.ts).
      const inRange = [...dirty].filter((x) => x >= A && x < Z);
      const sealedOnes = inRange.filter((x) => x + w <= sealed);
      const stored = sealedOnes.length === 0 ? new Set<number>() : await storedStarts(store, dialect, q.deviceId, q.eventType, w, sealedOnes);
      for (const x of inRange) if (x + w > sealed || !stored.has(x)) rawRanges.push([x, x + w]);
      const fromRaw = mergeRanges(rawRanges.slice(2).map((r) => [r[0], r[1]]));
      if (await mergeTierRows(store, dialect, q, w, segmentsOf(bs, A, Z, fromRaw), aggs)) used.add(formatDuration(w));
    }
  }
  for (const [s, e] of mergeRanges(rawRanges)) {
    used.add('raw');
    for (const p of await readRaw(store, dialect, q.deviceId, q.eventType, s, e)) addPoint(aggs[slot(p.t)], p);
  }
  const buckets: TieredBucket[] = aggs.map((a, i) => ({
    start: bs[i],
    state: bs[i + 1] <= retainedFrom ? 'outside_retention' : a.count > 0 ? 'data' : 'empty',
    stats: statsOf(a),
  }));
  return { tiersUsed: [...used].sort((a, b) => (a === 'raw' ? 1 : b === 'raw' ? -1 : 0)), tier: w === undefined ? 'raw' : formatDuration(w), retainedFrom, buckets };
}

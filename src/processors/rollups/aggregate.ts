/**
 * One bucket's statistics, the unit every tier stores and every query folds:
 * count (all events, text values too), and over numeric values only: their
 * count, exact sum (see exact-sum.ts), min, max, first and last each with its
 * time. Merging two aggregates of disjoint sets of events gives exactly the
 * aggregate of their union, so a rollup of rollups equals the rollup of raw.
 *
 * "First" is the value of the earliest event (ties: smallest event_id),
 * "last" of the latest (ties: largest event_id), as the raw series defines them.
 */
import { addToExpansion, mergeExpansion, roundExpansion } from './exact-sum.js';

export interface Aggregate {
  /** Events in the bucket, numeric or not. */
  count: number;
  /** Events with a numeric value; the statistics below are over these. */
  n: number;
  /** Exact sum as an expansion (non-overlapping partials). */
  sumParts: number[];
  min: number | null;
  max: number | null;
  first: number | null;
  firstT: number | null;
  /** Tie-break key of `first` within its time (event_id); '' once merged from a stored row. */
  firstKey: string;
  last: number | null;
  lastT: number | null;
  lastKey: string;
}

/** One raw event as the tiers read it. */
export interface RawPoint {
  /** Event time: ts_device, else ts_server (epoch ms). */
  t: number;
  eventId: string;
  value: number | null;
}

export function emptyAggregate(): Aggregate {
  return { count: 0, n: 0, sumParts: [], min: null, max: null, first: null, firstT: null, firstKey: '', last: null, lastT: null, lastKey: '' };
}

/** Adds one raw event to `a` (in place). */
export function addPoint(a: Aggregate, p: RawPoint): void {
  a.count++;
  const v = p.value;
  if (v === null) return;
  a.n++;
  addToExpansion(a.sumParts, v);
  if (a.min === null || v < a.min) a.min = v;
  if (a.max === null || v > a.max) a.max = v;
  if (a.firstT === null || p.t < a.firstT || (p.t === a.firstT && p.eventId < a.firstKey)) {
    a.first = v;
    a.firstT = p.t;
    a.firstKey = p.eventId;
  }
  if (a.lastT === null || p.t > a.lastT || (p.t === a.lastT && p.eventId > a.lastKey)) {
    a.last = v;
    a.lastT = p.t;
    a.lastKey = p.eventId;
  }
}

/**
 * Adds `b` to `a` (in place). The two must cover disjoint time ranges (two
 * buckets, or a bucket and raw events outside it), so first/last never tie.
 */
export function mergeAggregate(a: Aggregate, b: Aggregate): void {
  a.count += b.count;
  if (b.n === 0) return;
  a.n += b.n;
  mergeExpansion(a.sumParts, b.sumParts);
  if (a.min === null || b.min! < a.min) a.min = b.min;
  if (a.max === null || b.max! > a.max) a.max = b.max;
  if (a.firstT === null || b.firstT! < a.firstT || (b.firstT === a.firstT && b.firstKey < a.firstKey)) {
    a.first = b.first;
    a.firstT = b.firstT;
    a.firstKey = b.firstKey;
  }
  if (a.lastT === null || b.lastT! > a.lastT || (b.lastT === a.lastT && b.lastKey > a.lastKey)) {
    a.last = b.last;
    a.lastT = b.lastT;
    a.lastKey = b.lastKey;
  }
}

/** The aggregate of `points`. */
export function aggregateOf(points: Iterable<RawPoint>): Aggregate {
  const a = emptyAggregate();
  for (const p of points) addPoint(a, p);
  return a;
}

/** The correctly rounded sum of the numeric values. */
export const sumOf = (a: Aggregate): number => roundExpansion(a.sumParts);

/** The statistics a caller sees (sum and average from the exact sum). */
export function statsOf(a: Aggregate): { count: number; n: number; sum: number; avg: number | null; min: number | null; max: number | null; first: number | null; firstT: number | null; last: number | null; lastT: number | null } {
  const sum = sumOf(a);
  return { count: a.count, n: a.n, sum, avg: a.n === 0 ? null : sum / a.n, min: a.min, max: a.max, first: a.first, firstT: a.firstT, last: a.last, lastT: a.lastT };
}

/**
 * Time parameters of the query API (`from`, `to`, `bucket`): parsing,
 * ordering, and the defaults of `/api/v1/series`.
 */
import { parseIsoTimestamp } from '../codecs/seed001-json/timestamp.js';
import { ApiError } from './errors.js';

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/**
 * A time parameter in epoch milliseconds: epoch milliseconds as digits, an
 * ISO-8601 date-time (without offset: UTC), or a date alone, read as that
 * day's UTC midnight.
 *
 * @example
 * parseTimeParam('from', '2026-11-30')           // Date.UTC(2026, 10, 30)
 * parseTimeParam('to', '2026-11-30T12:00:00+01:00')
 * parseTimeParam('from', '1764460800000')
 */
export function parseTimeParam(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (/^-?\d{1,15}$/.test(v)) return Number(v);
  const date = DATE_ONLY.exec(v);
  const ms = date ? utcMidnight(+date[1], +date[2], +date[3]) : parseIsoTimestamp(v);
  if (ms === undefined) throw new ApiError(400, 'invalid_request', `${name} must be an ISO-8601 date-time, a date (YYYY-MM-DD, UTC midnight) or epoch milliseconds; got ${JSON.stringify(v.slice(0, 64))}`, [{ path: `/${name}`, message: 'is not a time' }]);
  return ms;
}

function utcMidnight(year: number, month: number, day: number): number | undefined {
  if (month < 1 || month > 12 || day < 1) return undefined;
  // Day 0 of the next month is the last day of this one.
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // Date.UTC maps years 0–99 to 1900–1999
  return d.getTime();
}

/**
 * `from` and `to` parsed; 400 naming both when `from` is after `to`
 * (`strict`: also when they are equal, for ranges that must not be empty).
 */
export function parseRange(q: { from?: string; to?: string }, strict = false): { from?: number; to?: number } {
  const from = parseTimeParam('from', q.from);
  const to = parseTimeParam('to', q.to);
  if (from !== undefined && to !== undefined && (from > to || (strict && from === to))) throw rangeError(from, to);
  return { from, to };
}

function rangeError(from: number, to: number): ApiError {
  const iso = (ms: number) => (Number.isFinite(new Date(ms).getTime()) ? new Date(ms).toISOString() : String(ms));
  return new ApiError(400, 'invalid_request', `from (${iso(from)}) must be before to (${iso(to)})`, [
    { path: '/from', message: 'is after to' },
    { path: '/to', message: 'is before from' },
  ]);
}

/**
 * Bucket widths the series route chooses from when none is asked for; any
 * width from 1s to 1d may be asked for explicitly.
 */
export const AUTO_BUCKETS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400] as const;
/** AUTO_BUCKETS_S as the API writes widths: `1s, 2s, …, 1m, …, 1d`. */
export const AUTO_BUCKETS_LABEL = AUTO_BUCKETS_S.map((s) => (s % 86400 === 0 ? `${s / 86400}d` : s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`)).join(', ');
/** About how many points an automatic bucket gives at most. */
export const TARGET_POINTS = 300;
export const DEFAULT_SERIES_SPAN_MS = DAY_MS;

/**
 * The smallest of AUTO_BUCKETS_S that cuts [from, to) into at most
 * TARGET_POINTS buckets; 1d when even that gives more (ranges over 300 days).
 *
 * @example
 * chooseBucketMs(0, 86_400_000) // 300_000 (5m: 288 buckets)
 */
export function chooseBucketMs(from: number, to: number): number {
  const span = to - from;
  for (const s of AUTO_BUCKETS_S) if (Math.ceil(span / (s * 1000)) <= TARGET_POINTS) return s * 1000;
  return DAY_MS;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };

/** An explicit `bucket` (`10s`, `5m`, `1h`, `1d`) in milliseconds, between 1s and 1d. */
export function parseBucket(bucket: string): number {
  const m = /^([0-9]+)([smhd])$/.exec(bucket);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
  if (!(ms >= 1000 && ms <= DAY_MS)) throw new ApiError(400, 'invalid_request', 'bucket must be between 1s and 1d, e.g. 10s, 1m, 5m, 1h, 1d', [{ path: '/bucket', message: 'is not a bucket width' }]);
  return ms;
}

/**
 * The series range: `to` defaults to now, `from` to 24 h before `to`, the
 * bucket to chooseBucketMs(from, to).
 */
export function resolveSeriesRange(q: { from?: string; to?: string; bucket?: string }, now: number): { from: number; to: number; bucketMs: number } {
  const given = parseRange(q, true);
  const to = given.to ?? now;
  const from = given.from ?? to - DEFAULT_SERIES_SPAN_MS;
  if (from >= to) throw rangeError(from, to);
  const bucketMs = q.bucket === undefined ? chooseBucketMs(from, to) : parseBucket(q.bucket);
  return { from, to, bucketMs };
}

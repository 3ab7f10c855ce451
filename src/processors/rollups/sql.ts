/**
 * The rollup tables' SQL in each dialect. Tier rows, dirty marks and
 * watermarks use epoch-ms integers in both stores; only raw events differ
 * (timestamptz in PostgreSQL).
 */
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStatement } from '../../storage/log.js';
import type { Aggregate } from './aggregate.js';
import { roundExpansion } from './exact-sum.js';

const TIME = 'COALESCE(ts_device, ts_server)';
const pgTs = (p: string) => `(to_timestamp((${p}::int8 / 1000)::float8) + (${p}::int8 % 1000) * interval '1 millisecond')`;

/** Numbered placeholders for PostgreSQL, `?` for SQLite. */
function ph(dialect: Dialect, sql: string): string {
  if (dialect === 'sqlite') return sql;
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** One dirty mark: device, type, bucket start, highest seq. */
export type DirtyMark = [string, string, number, number];

export function markDirty(dialect: Dialect, widthMs: number, given: readonly DirtyMark[]): ProcessorStatement {
  // One mark per bucket (PostgreSQL refuses to upsert a row twice in one statement).
  const byKey = new Map<string, DirtyMark>();
  for (const m of given) {
    const key = `${m[0]}\u0000${m[1]}\u0000${m[2]}`;
    const seen = byKey.get(key);
    if (seen === undefined || m[3] > seen[3]) byKey.set(key, m);
  }
  const marks = [...byKey.values()];
  if (dialect === 'sqlite') {
    return {
      sql: `INSERT INTO rollup_dirty (device_id, event_type, width_ms, bucket_start, seq)
        SELECT value->>0, value->>1, ?, value->>2, value->>3 FROM json_each(?) WHERE true
        ON CONFLICT (device_id, event_type, width_ms, bucket_start) DO UPDATE SET seq = MAX(seq, excluded.seq)`,
      params: [widthMs, JSON.stringify(marks)],
    };
  }
  return {
    // Sorted, so two transactions upserting the same marks lock them in the same order.
    sql: `INSERT INTO rollup_dirty (device_id, event_type, width_ms, bucket_start, seq)
      SELECT r.d, r.t, $1, r.b, r.s FROM json_to_recordset($2::json) AS r(d text, t text, b int8, s int8) ORDER BY r.d, r.t, r.b
      ON CONFLICT (device_id, event_type, width_ms, bucket_start) DO UPDATE SET seq = GREATEST(rollup_dirty.seq, EXCLUDED.seq)`,
    params: [widthMs, JSON.stringify(marks.map(([d, t, b, s]) => ({ d, t, b, s })))],
  };
}

/** Dirty marks of one tier whose buckets start at or before `startedBy`, oldest buckets first. */
export function selectDirty(dialect: Dialect, widthMs: number, limit: number, startedBy: number): { sql: string; params: unknown[] } {
  return {
    sql: ph(dialect, `SELECT device_id, event_type, bucket_start::float8 AS bucket_start, seq::float8 AS seq FROM rollup_dirty WHERE width_ms = ? AND bucket_start <= ? ORDER BY bucket_start LIMIT ?`).replace(
      /::float8/g,
      dialect === 'sqlite' ? '' : '::float8',
    ),
    params: [widthMs, startedBy, limit],
  };
}

/** Raw events of one device and type in [from, to): time, event_id, numeric value. */
export function selectRaw(dialect: Dialect, device: string, type: string, from: number, to: number): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') {
    return { sql: `SELECT ${TIME} AS t, event_id, value_num FROM events WHERE device_id = ? AND event_type = ? AND ${TIME} >= ? AND ${TIME} < ?`, params: [device, type, from, to] };
  }
  return {
    sql: `SELECT round(extract(epoch FROM ${TIME}) * 1000)::float8 AS t, event_id, value_num FROM events
      WHERE device_id = $1 AND event_type = $2 AND ${TIME} >= ${pgTs('$3')} AND ${TIME} < ${pgTs('$4')}`,
    params: [device, type, from, to],
  };
}

/** Stored rows of one tier for one device and type in [from, to). */
export function selectRows(dialect: Dialect, device: string, type: string, widthMs: number, from: number, to: number): { sql: string; params: unknown[] } {
  const f = dialect === 'sqlite' ? '' : '::float8';
  return {
    sql: ph(
      dialect,
      `SELECT bucket_start${f} AS bucket_start, count${f} AS count, n${f} AS n, sum_parts, min, max, first, first_t${f} AS first_t, last, last_t${f} AS last_t
       FROM rollups WHERE device_id = ? AND event_type = ? AND width_ms = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start`,
    ),
    params: [device, type, widthMs, from, to],
  };
}

/** Dirty marks of one device and type at tiers up to `maxWidthMs`, in [from, to). */
export function selectDirtyFor(dialect: Dialect, device: string, type: string, maxWidthMs: number, from: number, to: number): { sql: string; params: unknown[] } {
  const f = dialect === 'sqlite' ? '' : '::float8';
  return {
    sql: ph(dialect, `SELECT width_ms${f} AS width_ms, bucket_start${f} AS bucket_start FROM rollup_dirty WHERE device_id = ? AND event_type = ? AND width_ms <= ? AND bucket_start >= ? AND bucket_start < ?`),
    params: [device, type, maxWidthMs, from, to],
  };
}

/** Times of the events of one device and type the processor has not applied yet. */
export function selectBacklog(dialect: Dialect, device: string, type: string, afterSeq: number, limit: number): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') return { sql: `SELECT ${TIME} AS t FROM events WHERE seq > ? AND device_id = ? AND event_type = ? LIMIT ?`, params: [afterSeq, device, type, limit] };
  return { sql: `SELECT round(extract(epoch FROM ${TIME}) * 1000)::float8 AS t FROM events WHERE seq > $1 AND device_id = $2 AND event_type = $3 LIMIT $4`, params: [afterSeq, device, type, limit] };
}

/** Drops a mark without recomputing (its bucket is sealed). */
export function dropMark(dialect: Dialect, device: string, type: string, widthMs: number, bucket: number, seenSeq: number): ProcessorStatement {
  return { sql: ph(dialect, 'DELETE FROM rollup_dirty WHERE device_id = ? AND event_type = ? AND width_ms = ? AND bucket_start = ? AND seq <= ?'), params: [device, type, widthMs, bucket, seenSeq] };
}

/** Moves a tier's sealed watermark forward (never back). */
export function advanceSeal(dialect: Dialect, widthMs: number, sealedBefore: number, now: number): ProcessorStatement {
  return {
    sql: ph(
      dialect,
      dialect === 'sqlite'
        ? 'INSERT INTO rollup_tiers (width_ms, sealed_before, refreshed_at) VALUES (?, ?, ?) ON CONFLICT (width_ms) DO UPDATE SET sealed_before = MAX(sealed_before, excluded.sealed_before), refreshed_at = excluded.refreshed_at'
        : 'INSERT INTO rollup_tiers (width_ms, sealed_before, refreshed_at) VALUES (?, ?, ?) ON CONFLICT (width_ms) DO UPDATE SET sealed_before = GREATEST(rollup_tiers.sealed_before, EXCLUDED.sealed_before), refreshed_at = EXCLUDED.refreshed_at',
    ),
    params: [widthMs, sealedBefore, now],
  };
}

/** Deletes a tier's buckets that left its retention (only sealed ones: the check at start-up guarantees it). */
export function expireRows(dialect: Dialect, widthMs: number, before: number): ProcessorStatement {
  return { sql: ph(dialect, 'DELETE FROM rollups WHERE width_ms = ? AND bucket_start < ?'), params: [widthMs, before] };
}

export const SELECT_TIERS = 'SELECT width_ms, sealed_before, refreshed_at FROM rollup_tiers ORDER BY width_ms';

/** A stored row as an Aggregate. */
export function rowToAggregate(r: Record<string, unknown>): Aggregate {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    count: Number(r.count),
    n: Number(r.n),
    sumParts: JSON.parse(String(r.sum_parts)) as number[],
    min: num(r.min),
    max: num(r.max),
    first: num(r.first),
    firstT: num(r.first_t),
    firstKey: '',
    last: num(r.last),
    lastT: num(r.last_t),
    lastKey: '',
  };
}

/** A bucket of one tier: device, type, bucket start. */
export type BucketKey = readonly [string, string, number];

/**
 * Raw events of many buckets of width `widthMs` in one SELECT: each row
 * carries `i`, the index of its bucket in `keys`, then time, event_id and
 * numeric value (as selectRaw).
 */
export function selectRawMany(dialect: Dialect, widthMs: number, keys: readonly BucketKey[]): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') {
    // json_each drives the loop; each bucket is a range of idx_events_device_type_time.
    return {
      sql: `SELECT j.key AS i, ${TIME} AS t, event_id, value_num FROM json_each(?) AS j CROSS JOIN events
        WHERE device_id = (j.value->>0) AND event_type = (j.value->>1) AND ${TIME} >= (j.value->>2) AND ${TIME} < (j.value->>2) + ?`,
      params: [JSON.stringify(keys), widthMs],
    };
  }
  return {
    sql: `SELECT j.i, round(extract(epoch FROM e.t) * 1000)::float8 AS t, e.event_id, e.value_num
      FROM json_to_recordset($1::json) AS j(i int4, d text, y text, b int8)
      CROSS JOIN LATERAL (SELECT ${TIME} AS t, event_id, value_num FROM events
        WHERE device_id = j.d AND event_type = j.y AND ${TIME} >= ${pgTs('j.b')} AND ${TIME} < ${pgTs('(j.b + $2::int8)')}) AS e`,
    params: [JSON.stringify(keys.map(([d, y, b], i) => ({ i, d, y, b }))), widthMs],
  };
}

/**
 * Stored rows of tier `srcWidthMs` under many buckets of width `widthMs` in
 * one SELECT: each row carries `i`, the index of its bucket in `keys`;
 * ordered by `i`, then bucket start (as selectRows).
 */
export function selectRowsMany(dialect: Dialect, srcWidthMs: number, widthMs: number, keys: readonly BucketKey[]): { sql: string; params: unknown[] } {
  const cols = (f: string) => `bucket_start${f} AS bucket_start, count${f} AS count, n${f} AS n, sum_parts, min, max, first, first_t${f} AS first_t, last, last_t${f} AS last_t`;
  if (dialect === 'sqlite') {
    return {
      sql: `SELECT j.key AS i, ${cols('')} FROM json_each(?) AS j CROSS JOIN rollups
        WHERE device_id = (j.value->>0) AND event_type = (j.value->>1) AND width_ms = ? AND bucket_start >= (j.value->>2) AND bucket_start < (j.value->>2) + ?
        ORDER BY j.key, bucket_start`,
      params: [JSON.stringify(keys), srcWidthMs, widthMs],
    };
  }
  return {
    sql: `SELECT j.i, ${cols('::float8')} FROM json_to_recordset($1::json) AS j(i int4, d text, y text, b int8)
      JOIN rollups r ON r.device_id = j.d AND r.event_type = j.y AND r.width_ms = $2 AND r.bucket_start >= j.b AND r.bucket_start < j.b + $3::int8
      ORDER BY j.i, r.bucket_start`,
    params: [JSON.stringify(keys.map(([d, y, b], i) => ({ i, d, y, b }))), srcWidthMs, widthMs],
  };
}

const ROLLUP_COLUMNS = '(device_id, event_type, width_ms, bucket_start, count, n, sum, sum_parts, min, max, first, first_t, last, last_t)';

/** `count` rows of 14 placeholders. */
function valuesList(dialect: Dialect, count: number): string {
  return ph(dialect, Array.from({ length: count }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', '));
}

/**
 * replaceBucket for many buckets of one tier, in a few statements whatever
 * their number: one DELETE of their rows, INSERTs of the non-empty ones
 * (multi-row, in groups of a power of two so a handful of statement texts
 * serve every count), one DELETE of the marks seen. Values are bound, not
 * sent as JSON, so every double reaches the row bit for bit.
 *
 * A mark is deleted only when its seq is still the one the refresher read: a
 * mark moved by a newer event stays (that event may not have been read), as
 * a `seq <= seen` guard would (a mark's seq only grows while it exists; one
 * deleted and made again meanwhile stays, and costs one more recomputation).
 */
export function replaceBuckets(dialect: Dialect, widthMs: number, marks: readonly DirtyMark[], aggs: readonly Aggregate[]): ProcessorStatement[] {
  const keys = JSON.stringify(marks.map(([d, y, b]) => [d, y, b]));
  const out: ProcessorStatement[] =
    dialect === 'sqlite'
      ? [{ sql: 'DELETE FROM rollups WHERE (device_id, event_type, width_ms, bucket_start) IN (SELECT value->>0, value->>1, ?, value->>2 FROM json_each(?))', params: [widthMs, keys] }]
      : [{ sql: 'DELETE FROM rollups WHERE (device_id, event_type, width_ms, bucket_start) IN (SELECT r->>0, r->>1, $1::int8, (r->>2)::int8 FROM json_array_elements($2::json) AS r)', params: [widthMs, keys] }];
  const rows: unknown[][] = [];
  marks.forEach(([device, type, bucket], i) => {
    const agg = aggs[i];
    if (agg.count > 0) rows.push([device, type, widthMs, bucket, agg.count, agg.n, agg.n === 0 ? null : roundExpansion(agg.sumParts), JSON.stringify(agg.sumParts), agg.min, agg.max, agg.first, agg.firstT, agg.last, agg.lastT]);
  });
  for (let at = 0; at < rows.length; ) {
    let size = 64;
    while (size > rows.length - at) size >>= 1;
    out.push({ sql: `INSERT INTO rollups ${ROLLUP_COLUMNS} VALUES ${valuesList(dialect, size)}`, params: rows.slice(at, at + size).flat() });
    at += size;
  }
  const seen = JSON.stringify(marks.map(([d, y, b, s]) => [d, y, b, s]));
  out.push(
    dialect === 'sqlite'
      ? { sql: 'DELETE FROM rollup_dirty WHERE (device_id, event_type, width_ms, bucket_start, seq) IN (SELECT value->>0, value->>1, ?, value->>2, value->>3 FROM json_each(?))', params: [widthMs, seen] }
      : { sql: 'DELETE FROM rollup_dirty WHERE (device_id, event_type, width_ms, bucket_start, seq) IN (SELECT r->>0, r->>1, $1::int8, (r->>2)::int8, (r->>3)::int8 FROM json_array_elements($2::json) AS r)', params: [widthMs, seen] },
  );
  return out;
}

/**
 * Stored rows of one tier, aggregated in SQL per segment: `segments` are
 * [lo, hi) ranges of bucket starts, disjoint; for each segment with rows
 * (read with segmentRows; in no set order): `i`, the index of the segment,
 * and over its rows: count and n summed, min and max,
 * first at the earliest first_t and last at the latest last_t (as
 * mergeAggregate; two rows never share one, each row's times being inside
 * its own bucket), and `parts`, every row's sum_parts
 * joined by commas (a JSON array of expansions once wrapped in brackets),
 * merged exactly in JavaScript. One answer row per segment instead of one
 * per tier row: the rows never become JavaScript objects.
 *
 * Each segment is a range scan of the primary key. SQLite: json_each drives
 * the loop, grouped by segment; first and last are one more seek of the key
 * each, from the segment's start (first) or end (last) to the row holding
 * the time found. PostgreSQL: a LATERAL aggregate per segment (a GROUP BY
 * over the joined rows makes the planner sort them all, spilling to disk at
 * the default work_mem); first and last from the least and greatest array
 * [time, ±bucket, value], exact for epoch ms in a float8.
 */
export function selectSegments(dialect: Dialect, device: string, type: string, widthMs: number, segments: ReadonlyArray<readonly [number, number]>): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') {
    const key = 'device_id = ? AND event_type = ? AND width_ms = ? AND bucket_start >= g.lo AND bucket_start < g.hi';
    // One row, one text, as on PostgreSQL: rows through the reader thread cost
    // more than the JSON (SQLite renders a double's shortest round-trip form).
    return {
      sql: `SELECT json_group_array(json_array(g.i, g.count, g.n, g.min, g.max, g.first_t,
          (SELECT first FROM rollups WHERE ${key} AND first_t = g.first_t ORDER BY bucket_start LIMIT 1),
          g.last_t,
          (SELECT last FROM rollups WHERE ${key} AND last_t = g.last_t ORDER BY bucket_start DESC LIMIT 1),
          json('[' || g.parts || ']'))) AS segments
        FROM (SELECT s.key AS i, s.value->>0 AS lo, s.value->>1 AS hi, SUM(r.count) AS count, SUM(r.n) AS n, MIN(r.min) AS min, MAX(r.max) AS max,
            group_concat(r.sum_parts, ',') AS parts, MIN(r.first_t) AS first_t, MAX(r.last_t) AS last_t
          FROM json_each(?) AS s CROSS JOIN rollups AS r
          WHERE r.device_id = ? AND r.event_type = ? AND r.width_ms = ? AND r.bucket_start >= (s.value->>0) AND r.bucket_start < (s.value->>1)
          GROUP BY s.key) AS g`,
      params: [device, type, widthMs, device, type, widthMs, JSON.stringify(segments), device, type, widthMs],
    };
  }
  // One row, one text: a JSON array per segment, as segmentRows reads it.
  // 2,160 rows of ten columns cost more to send and make into objects than
  // to aggregate; float8 text is exact (shortest round-trip, extra_float_digits
  // >= 1, the default), as for every float8 column pg reads.
  const j = (x: string) => `coalesce((${x})::text, 'null')`;
  return {
    sql: `SELECT string_agg('[' || s.i || ',' || a.count || ',' || a.n || ',' || ${j('a.min')} || ',' || ${j('a.max')} || ',' || ${j('a.f[1]')} || ',' || ${j('a.f[3]')}
          || ',' || ${j('a.l[1]')} || ',' || ${j('a.l[3]')} || ',[' || a.parts || ']]', ',') AS segments
      FROM json_to_recordset($1::json) AS s(i int4, lo int8, hi int8)
      CROSS JOIN LATERAL (SELECT SUM(count::float8) AS count, SUM(n::float8) AS n, MIN(min) AS min, MAX(max) AS max, string_agg(sum_parts, ',') AS parts,
          MIN(ARRAY[first_t, bucket_start, first]) FILTER (WHERE n > 0) AS f, MAX(ARRAY[last_t, -bucket_start, last]) FILTER (WHERE n > 0) AS l
        FROM rollups WHERE device_id = $2 AND event_type = $3 AND width_ms = $4 AND bucket_start >= s.lo AND bucket_start < s.hi) AS a
      WHERE a.count IS NOT NULL`,
    params: [JSON.stringify(segments.map(([lo, hi], i) => ({ i, lo, hi }))), device, type, widthMs],
  };
}

/** One segment's aggregate as selectSegments gives it: i, count, n, min, max, first_t, first, last_t, last, and each row's sum parts. */
export type SegmentRow = [number, number, number, number | null, number | null, number | null, number | null, number | null, number | null, number[][]];

/** selectSegments' answer as SegmentRows. */
export function segmentRows(dialect: Dialect, rows: ReadonlyArray<Record<string, unknown>>): SegmentRow[] {
  const text = rows[0]?.segments;
  if (text === null || text === undefined) return [];
  // PostgreSQL's string_agg gives the elements, SQLite's json_group_array the whole array.
  return JSON.parse(dialect === 'postgres' ? `[${String(text)}]` : String(text)) as SegmentRow[];
}

/**
 * The stored rows of one tier, device and type in [from, to) as one text (a
 * JSON array, unordered): per row `[bucket_start, count, n, min, max,
 * first_t, first, last_t, last, sum_parts]`, as SegmentRow with the bucket
 * start for the segment and the row's one expansion as its parts. For an
 * answer whose buckets are the tier's own (a 1-hour series from the 1-hour
 * tier), a range scan: nothing to aggregate, and no row becomes an object.
 */
export function selectBucketRows(dialect: Dialect, device: string, type: string, widthMs: number, from: number, to: number): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') {
    return {
      sql: `SELECT json_group_array(json_array(bucket_start, count, n, min, max, first_t, first, last_t, last, json('[' || sum_parts || ']'))) AS segments
        FROM rollups WHERE device_id = ? AND event_type = ? AND width_ms = ? AND bucket_start >= ? AND bucket_start < ?`,
      params: [device, type, widthMs, from, to],
    };
  }
  const j = (x: string) => `coalesce((${x})::text, 'null')`;
  return {
    sql: `SELECT string_agg('[' || bucket_start || ',' || count || ',' || n || ',' || ${j('min')} || ',' || ${j('max')} || ',' || ${j('first_t')} || ',' || ${j('first')}
          || ',' || ${j('last_t')} || ',' || ${j('last')} || ',[' || sum_parts || ']]', ',') AS segments
      FROM rollups WHERE device_id = $1 AND event_type = $2 AND width_ms = $3 AND bucket_start >= $4 AND bucket_start < $5`,
    params: [device, type, widthMs, from, to],
  };
}

/** Which of the bucket starts `starts` have a stored row of one tier, device and type: their `bucket_start`s. */
export function selectStarts(dialect: Dialect, device: string, type: string, widthMs: number, starts: readonly number[]): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') {
    return { sql: 'SELECT bucket_start FROM rollups WHERE device_id = ? AND event_type = ? AND width_ms = ? AND bucket_start IN (SELECT value FROM json_each(?))', params: [device, type, widthMs, JSON.stringify(starts)] };
  }
  return {
    sql: 'SELECT bucket_start::float8 AS bucket_start FROM rollups WHERE device_id = $1 AND event_type = $2 AND width_ms = $3 AND bucket_start = ANY (SELECT json_array_elements_text($4::json)::int8)',
    params: [device, type, widthMs, JSON.stringify(starts)],
  };
}

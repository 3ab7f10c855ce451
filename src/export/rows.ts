/**
 * What `telehub export` reads: raw events or the rows of one rollup tier,
 * in keyset pages (never OFFSET, never the whole range at once), so memory
 * stays the size of one page however many rows the range holds.
 *
 * Raw events come in time order (`COALESCE(ts_device, ts_server)`, then
 * event_id), through the query API's own keyset read (store.queries.events).
 * Tier rows come in (device_id, event_type, bucket_start) order, the order
 * of the rollups table's primary key.
 */
import { formatDuration, DEFAULT_TIERS } from '../processors/rollups/tiers.js';
import type { Store } from '../storage/store.js';

/** Column types, as the writers need them (Parquet types; JSON is text in CSV and Parquet, an object in NDJSON). */
export type ColumnType = 'STRING' | 'DOUBLE' | 'INT64' | 'TIMESTAMP' | 'JSON';

export interface ExportColumn {
  name: string;
  type: ColumnType;
  /** False when every row has a value. */
  nullable: boolean;
}

/** One exported row: column name → string, number, Date (TIMESTAMP) or null. */
export type ExportRow = Record<string, string | number | Date | null>;

/** `raw` or an aggregate tier by its width (`1m`, `5m`). */
export const EXPORT_TIERS = ['raw', ...DEFAULT_TIERS.aggregates.map((a) => formatDuration(a.widthMs))] as const;
export type ExportTier = string;

export interface ExportQuery {
  tier: ExportTier;
  /** Inclusive, epoch ms: event time for raw, bucket start for a tier. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
  deviceId?: string;
  eventType?: string;
  /** Rows read per page (default 5000). */
  pageSize?: number;
}

const col = (name: string, type: ColumnType, nullable = true): ExportColumn => ({ name, type, nullable });

/** Columns of a raw export: the events table, times as timestamps. */
export const RAW_COLUMNS: readonly ExportColumn[] = [
  col('event_id', 'STRING', false),
  col('device_id', 'STRING', false),
  col('event_type', 'STRING', false),
  col('value_num', 'DOUBLE'),
  col('value_text', 'STRING'),
  col('unit', 'STRING'),
  col('ts_device', 'TIMESTAMP'),
  col('ts_server', 'TIMESTAMP', false),
  col('meta', 'JSON', false),
];

/** Columns of a tier export: one row per device, event type and bucket (docs/data-lifecycle.md). */
export const TIER_COLUMNS: readonly ExportColumn[] = [
  col('device_id', 'STRING', false),
  col('event_type', 'STRING', false),
  col('tier', 'STRING', false),
  col('bucket_start', 'TIMESTAMP', false),
  col('count', 'INT64', false),
  col('n', 'INT64', false),
  col('sum', 'DOUBLE'),
  col('avg', 'DOUBLE'),
  col('min', 'DOUBLE'),
  col('max', 'DOUBLE'),
  col('first', 'DOUBLE'),
  col('first_t', 'TIMESTAMP'),
  col('last', 'DOUBLE'),
  col('last_t', 'TIMESTAMP'),
];

/** The columns of an export of `tier`. */
export function exportColumns(tier: ExportTier): readonly ExportColumn[] {
  return tier === 'raw' ? RAW_COLUMNS : TIER_COLUMNS;
}

/** Width in ms of an aggregate tier name, or undefined when there is no such tier. */
export function tierWidth(tier: string): number | undefined {
  return DEFAULT_TIERS.aggregates.find((a) => formatDuration(a.widthMs) === tier)?.widthMs;
}

/** The rows of the export, page by page. */
export function exportRows(store: Store, q: ExportQuery): AsyncGenerator<ExportRow> {
  return q.tier === 'raw' ? rawRows(store, q) : tierRows(store, q);
}

async function* rawRows(store: Store, q: ExportQuery): AsyncGenerator<ExportRow> {
  const limit = q.pageSize ?? 5000;
  let after: { time: number; eventId: string } | undefined;
  for (;;) {
    const page = await store.queries.events({ deviceId: q.deviceId, eventType: q.eventType, from: q.from, to: q.to, after, limit });
    for (const e of page) {
      yield {
        event_id: e.eventId,
        device_id: e.deviceId,
        event_type: e.eventType,
        value_num: e.valueNum,
        value_text: e.valueText,
        unit: e.unit,
        ts_device: e.tsDevice === null ? null : new Date(e.tsDevice),
        ts_server: new Date(e.tsServer),
        meta: e.meta,
      };
    }
    if (page.length < limit) return;
    const last = page[page.length - 1];
    after = { time: last.time, eventId: last.eventId };
  }
}

interface TierRow {
  device_id: string;
  event_type: string;
  bucket_start: number;
  count: number;
  n: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  first: number | null;
  first_t: number | null;
  last: number | null;
  last_t: number | null;
}

/** One page of tier rows after the cursor, in both dialects (PostgreSQL: bigints read as float8, exact below 2^53). */
function tierPageSql(kind: Store['kind'], q: ExportQuery, widthMs: number, after: TierRow | undefined, limit: number): { sql: string; params: unknown[] } {
  const f = kind === 'postgres' ? '::float8' : '';
  const where = ['width_ms = ?', 'bucket_start >= ?', 'bucket_start < ?'];
  const params: unknown[] = [widthMs, q.from, q.to];
  if (q.deviceId !== undefined) (where.push('device_id = ?'), params.push(q.deviceId));
  if (q.eventType !== undefined) (where.push('event_type = ?'), params.push(q.eventType));
  if (after !== undefined) (where.push('(device_id, event_type, bucket_start) > (?, ?, ?)'), params.push(after.device_id, after.event_type, after.bucket_start));
  params.push(limit);
  let sql = `SELECT device_id, event_type, bucket_start${f} AS bucket_start, count${f} AS count, n${f} AS n, sum, min, max,
      first, first_t${f} AS first_t, last, last_t${f} AS last_t
    FROM rollups WHERE ${where.join(' AND ')} ORDER BY device_id, event_type, bucket_start LIMIT ?`;
  if (kind === 'postgres') {
    let i = 0;
    sql = sql.replace(/\?/g, () => `$${++i}`);
  }
  return { sql, params };
}

async function* tierRows(store: Store, q: ExportQuery): AsyncGenerator<ExportRow> {
  const widthMs = tierWidth(q.tier);
  if (widthMs === undefined) throw new Error(`unknown tier ${q.tier}`);
  const limit = q.pageSize ?? 5000;
  let after: TierRow | undefined;
  const time = (t: number | null) => (t === null ? null : new Date(t));
  for (;;) {
    const { sql, params } = tierPageSql(store.kind, q, widthMs, after, limit);
    const page = (await store.processors.select(sql, params)) as unknown as TierRow[];
    for (const r of page) {
      yield {
        device_id: r.device_id,
        event_type: r.event_type,
        tier: q.tier,
        bucket_start: new Date(r.bucket_start),
        count: r.count,
        n: r.n,
        sum: r.sum,
        avg: r.sum === null || r.n === 0 ? null : r.sum / r.n,
        min: r.min,
        max: r.max,
        first: r.first,
        first_t: time(r.first_t),
        last: r.last,
        last_t: time(r.last_t),
      };
    }
    if (page.length < limit) return;
    after = page[page.length - 1];
  }
}

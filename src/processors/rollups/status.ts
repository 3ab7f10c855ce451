/**
 * What the tiers look like in a store, for `telehub tiers`, the refresh-lag
 * metrics and operators: per configured tier its rows, dirty buckets, sealed
 * watermark and last refresh. Read-only; works beside a running telehub.
 */
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStore } from '../../storage/log.js';
import { bucketStart, dropBefore, formatDuration, sealedBefore, type TierConfig } from './tiers.js';

export interface TierStatus {
  /** `1m`, `5m`, … */
  tier: string;
  widthMs: number;
  retentionMs: number;
  rows: number;
  /** Start of the oldest and newest stored bucket, epoch ms; null when none. */
  oldestBucket: number | null;
  newestBucket: number | null;
  /** Buckets waiting to be recomputed, and the oldest of them. */
  dirty: number;
  oldestDirty: number | null;
  /** Buckets ending at or before this are never recomputed; null before the first refresh. */
  sealedBefore: number | null;
  /** When the refresher last finished this tier, epoch ms; null before the first refresh. */
  refreshedAt: number | null;
  /** Rows before this may be expired now (retention, capped at the next tier's sealed watermark). */
  expiresBefore: number;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** The status of every configured tier, finest first, at `now`. */
export async function tierStatus(store: ProcessorStore, dialect: Dialect, tiers: TierConfig, now: number): Promise<TierStatus[]> {
  const f = dialect === 'sqlite' ? '' : '::float8';
  const rows = await store.select(
    `SELECT width_ms${f} AS width_ms, count(*)${f} AS n, min(bucket_start)${f} AS lo, max(bucket_start)${f} AS hi FROM rollups GROUP BY width_ms`,
    [],
  );
  const dirty = await store.select(`SELECT width_ms${f} AS width_ms, count(*)${f} AS n, min(bucket_start)${f} AS lo FROM rollup_dirty GROUP BY width_ms`, []);
  const marks = await store.select(`SELECT width_ms${f} AS width_ms, sealed_before${f} AS sealed_before, refreshed_at${f} AS refreshed_at FROM rollup_tiers`, []);
  const by = (list: Record<string, unknown>[], w: number) => list.find((r) => Number(r.width_ms) === w);
  return tiers.aggregates.map((a, k) => {
    const r = by(rows, a.widthMs);
    const d = by(dirty, a.widthMs);
    const m = by(marks, a.widthMs);
    return {
      tier: formatDuration(a.widthMs),
      widthMs: a.widthMs,
      retentionMs: a.retentionMs,
      rows: Number(r?.n ?? 0),
      oldestBucket: num(r?.lo),
      newestBucket: num(r?.hi),
      dirty: Number(d?.n ?? 0),
      oldestDirty: num(d?.lo),
      sealedBefore: num(m?.sealed_before),
      refreshedAt: num(m?.refreshed_at),
      // As the refresher expires them: never a bucket of this tier that is not sealed yet.
      expiresBefore: Math.min(bucketStart(dropBefore(now, tiers, a.retentionMs, tiers.aggregates[k + 1]?.widthMs), a.widthMs), sealedBefore(now, tiers, a.widthMs)),
    };
  });
}

export interface RawStatus {
  retentionMs: number;
  /** Time (ts_device, else ts_server) of the oldest raw event, epoch ms; null when there is none. */
  oldest: number | null;
  /** Raw events before this may be dropped now: retention, capped at the first tier's sealed watermark. */
  dropsBefore: number;
}

/** The raw tier: its oldest event (one index probe, idx_events_time) and where retention may drop. */
export async function rawStatus(store: ProcessorStore, dialect: Dialect, tiers: TierConfig, now: number): Promise<RawStatus> {
  const sql =
    dialect === 'sqlite'
      ? 'SELECT min(COALESCE(ts_device, ts_server)) AS t FROM events'
      : 'SELECT round(extract(epoch FROM min(COALESCE(ts_device, ts_server))) * 1000)::float8 AS t FROM events';
  const [row] = await store.select(sql, []);
  return { retentionMs: tiers.rawRetentionMs, oldest: num(row?.t), dropsBefore: dropBefore(now, tiers, tiers.rawRetentionMs, tiers.aggregates[0]?.widthMs) };
}

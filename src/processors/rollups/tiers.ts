/**
 * The tier ladder (seed 004 §5): raw events, then aggregates of growing
 * width, each with its own retention. Tier k is computed from tier k-1 (tier
 * 1 from raw), so each width must be a multiple of the one before.
 */

export interface AggregateTier {
  /** Width of a bucket, ms. */
  widthMs: number;
  /** How long its buckets are kept, ms. */
  retentionMs: number;
}

export interface TierConfig {
  /** Retention of raw events, ms. */
  rawRetentionMs: number;
  /** Finest first. */
  aggregates: AggregateTier[];
  /** A bucket is recomputed for late data until it ends this long ago, then sealed. */
  latenessMs: number;
  /** How often dirty buckets are recomputed, ms. */
  refreshMs: number;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** `90s`, `1m`, `7d`, `2y` (a year is 365 days) → ms; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,8})([smhdwy])$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]] : undefined;
}

/** A width as the API and CLI write it: `1m`, `5m`, `1h`, `1d`. */
export function formatDuration(ms: number): string {
  for (const u of ['y', 'd', 'h', 'm', 's'] as const) if (ms % UNIT_MS[u] === 0) return `${ms / UNIT_MS[u]}${u}`;
  return `${ms}ms`;
}

/**
 * Seed 004: raw 7 days → 1-minute 90 days → 5-minute 2 years; lateness 7
 * days. Plus a 1-hour tier kept as long as the 5-minute one: a chart of
 * months asks for hourly or daily buckets, which it then reads at one row a
 * bucket instead of twelve (a 90-day hourly series: 2,160 rows, not 25,920;
 * bench/README.md, "Series over 90 days from the tiers"), for 1/12 more rows
 * than the 5-minute tier and a refresh that reads the 5-minute rows once.
 */
export const DEFAULT_TIERS: TierConfig = {
  rawRetentionMs: 7 * UNIT_MS.d,
  aggregates: [
    { widthMs: UNIT_MS.m, retentionMs: 90 * UNIT_MS.d },
    { widthMs: 5 * UNIT_MS.m, retentionMs: 2 * UNIT_MS.y },
    { widthMs: UNIT_MS.h, retentionMs: 2 * UNIT_MS.y },
  ],
  latenessMs: 7 * UNIT_MS.d,
  refreshMs: 10_000,
};

/**
 * Problems with a ladder, as lines naming what to fix (empty when sound).
 * A bucket is sealed only when its lateness window has passed; the data it
 * is recomputed from (raw for the first tier, the tier below for the
 * others) must still be there until then, or a late event would recompute
 * it from a partial source.
 */
export function checkTiers(t: TierConfig, where = 'tiers'): string[] {
  const problems: string[] = [];
  if (t.aggregates.length === 0) problems.push(`${where}.aggregates: at least one aggregate tier is needed`);
  let prev = { name: 'raw', widthMs: 1, retentionMs: t.rawRetentionMs };
  t.aggregates.forEach((a, i) => {
    const at = `${where}.aggregates[${i}]`;
    if (a.widthMs % prev.widthMs !== 0 || a.widthMs <= prev.widthMs) {
      problems.push(`${at}.width: ${formatDuration(a.widthMs)} must be a larger multiple of the tier below (${prev.name}, ${formatDuration(prev.widthMs)})`);
    }
    if (86_400_000 % a.widthMs !== 0) problems.push(`${at}.width: ${formatDuration(a.widthMs)} must divide a day (1m, 5m, 15m, 1h, …)`);
    // The source must outlive the lateness window of every bucket computed
    // from it; drops are also clamped to the sealed watermark (dropBefore),
    // which covers the at most one bucket by which the window overhangs.
    const need = t.latenessMs;
    if (prev.retentionMs < need) {
      problems.push(
        `${prev.name === 'raw' ? `${where}.raw_retention` : `${where}.aggregates[${i - 1}].retention`}: ${formatDuration(prev.retentionMs)} ends before the lateness window (TELEHUB_ROLLUP_LATENESS_S, ${formatDuration(t.latenessMs)}) of the ${formatDuration(a.widthMs)} tier computed from it does; make it at least ${formatDuration(need)} or shorten the lateness`,
      );
    }
    if (a.retentionMs < prev.retentionMs) problems.push(`${at}.retention: ${formatDuration(a.retentionMs)} is shorter than the tier below keeps (${formatDuration(prev.retentionMs)})`);
    prev = { name: formatDuration(a.widthMs), widthMs: a.widthMs, retentionMs: a.retentionMs };
  });
  return problems;
}

/** Start of the bucket of width `w` holding `t` (epoch-aligned). */
export const bucketStart = (t: number, w: number): number => Math.floor(t / w) * w;

/**
 * Buckets that end at or before this time are sealed: never recomputed
 * again, so the raw data under them may be dropped.
 */
export const sealedBefore = (now: number, t: TierConfig, w: number): number => bucketStart(now - t.latenessMs, w);

/**
 * Where a tier (or raw, `sourceOf` the first aggregate) may drop data: below
 * its retention, and never above the sealed watermark of the tier computed
 * from it, so nothing is dropped under a bucket that can still be recomputed.
 */
export function dropBefore(now: number, t: TierConfig, retentionMs: number, nextWidthMs: number | undefined): number {
  const byRetention = now - retentionMs;
  return nextWidthMs === undefined ? byRetention : Math.min(byRetention, sealedBefore(now, t, nextWidthMs));
}

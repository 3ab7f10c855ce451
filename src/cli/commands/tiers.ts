/**
 * `telehub tiers [--json]`: the rollup tier ladder as configured and as the
 * store holds it (rows, dirty buckets, sealed watermark, last refresh and its
 * age, what retention may drop now). Everything is read from the store, so it
 * works beside a running telehub.
 */
import { rawStatus, tierStatus, type RawStatus, type TierStatus } from '../../processors/rollups/status.js';
import { formatDuration } from '../../processors/rollups/tiers.js';
import type { Command } from '../command.js';
import { EXIT } from '../errors.js';
import { withStore } from '../store.js';

const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString());

function table(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/** One tier as `--json` prints it (times ISO-8601, durations as written in the config file). */
export function tierToJson(s: TierStatus, now: number) {
  return {
    tier: s.tier,
    retention: formatDuration(s.retentionMs),
    rows: s.rows,
    oldest_bucket: s.oldestBucket === null ? null : iso(s.oldestBucket),
    newest_bucket: s.newestBucket === null ? null : iso(s.newestBucket),
    dirty_buckets: s.dirty,
    oldest_dirty: s.oldestDirty === null ? null : iso(s.oldestDirty),
    sealed_before: s.sealedBefore === null ? null : iso(s.sealedBefore),
    refreshed_at: s.refreshedAt === null ? null : iso(s.refreshedAt),
    refresh_age_s: s.refreshedAt === null ? null : Math.max(0, (now - s.refreshedAt) / 1000),
    expires_before: iso(s.expiresBefore),
  };
}

function rawToJson(r: RawStatus) {
  return { tier: 'raw', retention: formatDuration(r.retentionMs), oldest: r.oldest === null ? null : iso(r.oldest), drops_before: iso(r.dropsBefore) };
}

export const tiers: Command = {
  name: 'tiers',
  summary: 'Show the rollup tiers: retention, rows, dirty buckets, sealed watermark and last refresh.',
  description:
    'One line for raw events (retention, oldest event, where retention may drop now) and one per aggregate tier of the ladder (TELEHUB_CONFIG tiers:, ' +
    'else the seed 004 defaults): its retention, stored buckets (count, oldest, newest), dirty buckets waiting for the refresher, the sealed watermark ' +
    '(buckets before it are never recomputed), when the refresher last finished it and how long ago. Read from the store; works while telehub runs. ' +
    'See docs/data-lifecycle.md.',
  options: { json: { type: 'boolean', description: 'One JSON object per tier (raw first) instead of the table.' } },
  examples: ['telehub tiers', 'telehub tiers --json'],
  async run(ctx) {
    const config = ctx.loadConfig();
    const now = Date.now();
    await withStore(ctx, async (store) => {
      const raw = await rawStatus(store.processors, store.kind, config.tiers, now);
      const status = await tierStatus(store.processors, store.kind, config.tiers, now);
      if (ctx.values.json === true) {
        ctx.out(JSON.stringify(rawToJson(raw)) + '\n');
        for (const s of status) ctx.out(JSON.stringify(tierToJson(s, now)) + '\n');
        return;
      }
      const rows = [['TIER', 'RETENTION', 'ROWS', 'OLDEST', 'DIRTY', 'SEALED_BEFORE', 'REFRESHED', 'AGE_S']];
      rows.push(['raw', formatDuration(raw.retentionMs), '-', iso(raw.oldest), '-', '-', '-', '-']);
      for (const s of status) {
        const j = tierToJson(s, now);
        rows.push([s.tier, j.retention, String(s.rows), iso(s.oldestBucket), String(s.dirty), iso(s.sealedBefore), iso(s.refreshedAt), j.refresh_age_s === null ? '-' : j.refresh_age_s.toFixed(1)]);
      }
      ctx.out(table(rows));
      ctx.out(`Lateness window ${formatDuration(config.tiers.latenessMs)}, refresh every ${formatDuration(config.tiers.refreshMs)}. Raw events before ${iso(raw.dropsBefore)} may be dropped.\n`);
    });
    return EXIT.ok;
  },
};

/**
 * `rollups`: the processor that keeps the aggregate tiers exact and
 * late-proof. For each committed event it marks the finest tier's bucket
 * under the event's time dirty (with the entry's seq), in the transaction
 * that moves its checkpoint; the refresher (refresher.ts) recomputes dirty
 * buckets from raw, and each coarser tier from the one below.
 *
 * Why a processor and not a mark in the write transaction: the write path
 * stays as it is (one upsert per batch here instead of one per event there,
 * and none while intake is busiest), a kill -9 neither loses nor doubles a
 * mark (checkpoint and marks commit together), and a rebuild from seq 0
 * marks every bucket again. The price is lag: an event is in a tier only
 * after this processor and a refresh ran; the series API closes that gap by
 * reading the processor's backlog and the dirty buckets from raw (series.ts).
 */
import type { Dialect, Processor } from '../../log/processor.js';
import type { LogEntry, ProcessorStatement } from '../../storage/log.js';
import { markDirty, type DirtyMark } from './sql.js';
import { bucketStart, type TierConfig } from './tiers.js';

export const ROLLUPS = 'rollups';

/** Dirty marks for `entries` at width `w`: one per (device, type, bucket), with the highest seq. */
export function dirtyMarks(entries: readonly LogEntry[], w: number): DirtyMark[] {
  const marks = new Map<string, DirtyMark>();
  for (const entry of entries) {
    if (entry.kind !== 'event') continue;
    const e = entry.event;
    const b = bucketStart(e.tsDevice ?? e.tsServer, w);
    const key = `${e.deviceId}\u0000${e.eventType}\u0000${b}`;
    const m = marks.get(key);
    if (m === undefined) marks.set(key, [e.deviceId, e.eventType, b, entry.seq]);
    else if (entry.seq > m[3]) m[3] = entry.seq;
  }
  return [...marks.values()];
}

export function rollups(tiers: TierConfig): Processor {
  const w = tiers.aggregates[0].widthMs;
  return {
    name: ROLLUPS,
    // A rebuild re-marks every bucket; sealed tier rows are kept, as their raw data may be gone.
    tables: ['rollup_dirty'],
    apply(entries: readonly LogEntry[], dialect: Dialect): ProcessorStatement[] {
      const marks = dirtyMarks(entries, w);
      return marks.length === 0 ? [] : [markDirty(dialect, w, marks)];
    },
  };
}

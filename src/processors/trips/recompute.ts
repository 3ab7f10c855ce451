/**
 * Recomputing one vehicle's trips over a window of device time, as live
 * processing and `telehub trips rebuild` both do (so a rebuild gives what
 * live gave): read its stored events around the window, run the pure engine
 * (src/trips), and turn the difference to the stored trips into statements.
 *
 * Identity survives recomputation: each computed trip takes the id of the
 * stored trip it overlaps most (late data that extends, splits or merges
 * trips keeps an id and bumps its version); stored trips nobody took are
 * deleted; unchanged trips are not written at all.
 */
import { createHash } from 'node:crypto';
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStatement, ProcessorStore } from '../../storage/log.js';
import { computeTrips, type ComputedTrip, type TripInputEvent, type TripSettings } from '../../trips/index.js';
import { ANY_SEQ, deleteTrip, eventParams, toTripRow, tripSql, upsertTrip, type TripRow } from './sql.js';

/**
 * Context read on each side of a window: a trip whose start is within this of
 * the window begins in it (the engine needs the points before a trip to know
 * it starts there). A silence bridged by the odometer longer than this is
 * only joined by a rebuild.
 */
export function contextMs(s: TripSettings): number {
  return Math.max(s.idleTimeoutMs + s.resumeWindowMs, 600_000);
}

/** A new trip's id: stable for a vehicle and start, so replaying the same events gives the same ids. */
export function newTripId(deviceId: string, startTs: number): string {
  return 't_' + createHash('sha1').update(`${deviceId}\u0000${startTs}`).digest('base64url').slice(0, 22);
}

/** Reads a vehicle's stored events whose device time is in [from, to]. */
export async function readVehicleEvents(d: Dialect, ps: ProcessorStore, deviceId: string, from: number, to: number, maxSeq = ANY_SEQ): Promise<TripInputEvent[]> {
  const rows = await ps.select(tripSql(d).events, eventParams(d, deviceId, from, to, maxSeq));
  return rows.map((r) => ({
    eventId: String(r.event_id),
    eventType: String(r.event_type),
    valueNum: r.value_num === null ? null : Number(r.value_num),
    tsDevice: r.ts_device === null ? null : Number(r.ts_device),
    meta: String(r.meta ?? '{}'),
  }));
}

export async function readOverlapping(d: Dialect, ps: ProcessorStore, deviceId: string, from: number, to: number): Promise<TripRow[]> {
  return (await ps.select(tripSql(d).overlapping, [deviceId, from, to])).map(toTripRow);
}

const overlap = (a: { startTs: number; endTs: number }, b: { startTs: number; endTs: number }) => Math.min(a.endTs, b.endTs) - Math.max(a.startTs, b.startTs);

/** Same figures (what a reader sees), ignoring identity, version and write time. */
function sameTrip(c: ComputedTrip, t: TripRow): boolean {
  const { inProgress, ...sum } = c;
  const { tripId: _i, deviceId: _d, version: _v, inProgress: tip, updatedAt: _u, ...stored } = t;
  return inProgress === tip && JSON.stringify(sum) === JSON.stringify(pick(stored, sum));
}

function pick(o: Record<string, unknown>, like: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(like)) out[k] = o[k];
  return out;
}

export interface Recomputed {
  statements: ProcessorStatement[];
  /** Trips written (new or changed) and deleted. */
  written: number;
  deleted: number;
  /** The computed trips and the id each has after the statements. */
  assigned: Array<{ c: ComputedTrip; id: string }>;
}

export interface RecomputedWindow extends Recomputed {
  /** The events read (device time from `readFrom` to `readTo`) and computed over. */
  events: TripInputEvent[];
  readTo: number;
}

/**
 * Recomputes `deviceId`'s trips that touch [from, to] (device time, ms).
 * The window widens to take in the whole of every stored trip that touches
 * it, plus context on both sides. `maxSeq`: only events committed at that
 * log position or before (the processor: what it has applied so far, so the
 * engine state it builds from them is not ahead of its checkpoint).
 */
export async function recomputeVehicle(
  d: Dialect,
  ps: ProcessorStore,
  deviceId: string,
  from: number,
  to: number,
  s: TripSettings,
  now: number,
  maxSeq = ANY_SEQ,
): Promise<RecomputedWindow> {
  let lo = from;
  let hi = to;
  const ctx = contextMs(s);
  // Widen until the stored trips touching the window and the computed trips of it cover the same span:
  // a recomputed trip may reach into a stored one beyond the first window, which it must then replace.
  for (let round = 0; ; round++) {
    const stored = await readOverlapping(d, ps, deviceId, lo, hi);
    const sLo = Math.min(lo, ...stored.map((t) => t.startTs));
    const sHi = Math.max(hi, ...stored.map((t) => t.endTs));
    const readTo = sHi + ctx;
    const events = await readVehicleEvents(d, ps, deviceId, Math.max(0, sLo - ctx), readTo, maxSeq);
    const computed = computeTrips(events, s, now).trips.filter((c) => c.endTs >= sLo && c.startTs <= sHi);
    const cLo = Math.min(sLo, ...computed.map((c) => c.startTs));
    const cHi = Math.max(sHi, ...computed.map((c) => c.endTs));
    if ((cLo === lo && cHi === hi) || round >= 8) return { ...diff(d, deviceId, stored, computed, now), events, readTo };
    lo = cLo;
    hi = cHi;
  }
}

/** Statements that turn `stored` into `computed`, keeping ids by largest overlap. */
export function diff(d: Dialect, deviceId: string, stored: readonly TripRow[], computed: readonly ComputedTrip[], now: number): Recomputed {
  const taken = new Set<string>();
  const out: ProcessorStatement[] = [];
  const keep: Array<{ c: ComputedTrip; match: TripRow | undefined }> = [];
  // Longest computed trips choose first, so a merge keeps the id of the trip that covers most of it.
  const order = [...computed].sort((a, b) => b.endTs - b.startTs - (a.endTs - a.startTs) || a.startTs - b.startTs);
  for (const c of order) {
    let best: TripRow | undefined;
    for (const t of stored) {
      if (taken.has(t.tripId) || overlap(c, t) < 0) continue;
      if (best === undefined || overlap(c, t) > overlap(c, best)) best = t;
    }
    if (best !== undefined) taken.add(best.tripId);
    keep.push({ c, match: best });
  }
  let deleted = 0;
  for (const t of stored) {
    if (taken.has(t.tripId)) continue;
    out.push(deleteTrip(d, t.tripId));
    deleted++;
  }
  let written = 0;
  const assigned: Recomputed['assigned'] = [];
  for (const { c, match } of keep) {
    const id = match?.tripId ?? newTripId(deviceId, c.startTs);
    assigned.push({ c, id });
    if (match !== undefined && sameTrip(c, match)) continue;
    out.push(upsertTrip(d, { ...c, tripId: id, deviceId, updatedAt: now }));
    written++;
  }
  return { statements: out, written, deleted, assigned };
}

/**
 * Reads of the trips processor's state (CLI, HTTP API, tests) and the
 * rebuild of a vehicle's trips over a range, which goes through the same
 * recomputation as live processing.
 */
import simplify from 'simplify-js';
import type { Store } from '../../storage/store.js';
import { cleanPoints } from '../../trips/clean.js';
import { toPoints, type TripSettings, type VehicleState } from '../../trips/index.js';
import { TRIPS } from './index.js';
import { readVehicleEvents, recomputeVehicle } from './recompute.js';
import { deleteEngineState, MAX_TIME, toTripRow, tripSql, type TripRow } from './sql.js';

export interface TripListQuery {
  deviceId?: string;
  /** Trips that end at or after this (epoch ms). */
  from?: number;
  /** Trips that start before this (epoch ms). */
  to?: number;
  limit: number;
}

/** Trips overlapping [from, to), by start time. */
export async function listTrips(store: Store, q: TripListQuery): Promise<TripRow[]> {
  const d = q.deviceId ?? null;
  const rows = await store.processors.select(tripSql(store.kind).list, [d, d, q.from ?? 0, q.to ?? MAX_TIME, q.limit]);
  return rows.map(toTripRow);
}

export async function getTrip(store: Store, tripId: string): Promise<TripRow | undefined> {
  const rows = await store.processors.select(tripSql(store.kind).get, [tripId]);
  return rows.length === 0 ? undefined : toTripRow(rows[0]);
}

export interface TripState {
  deviceId: string;
  state: VehicleState;
  /** Since when (epoch ms, device time); null when the vehicle never made a trip. */
  since: number | null;
  /** The trip in progress (driving or paused), else null. */
  tripId: string | null;
}

/**
 * Where a vehicle is in the state machine at `now`, from its latest trip
 * (as the engine's stateAt: driving until idle_timeout after the last moving
 * point, then paused for resume_window, then idle).
 */
export async function tripState(store: Store, deviceId: string, s: TripSettings, now: number): Promise<TripState> {
  const rows = await store.processors.select(tripSql(store.kind).latest, [deviceId]);
  if (rows.length === 0) return { deviceId, state: 'idle', since: null, tripId: null };
  const t = toTripRow(rows[0]);
  const still = now - t.endTs;
  if (still < s.idleTimeoutMs) return { deviceId, state: 'driving', since: t.startTs, tripId: t.tripId };
  if (still < s.idleTimeoutMs + s.resumeWindowMs) return { deviceId, state: 'paused', since: t.endTs + s.idleTimeoutMs, tripId: t.tripId };
  return { deviceId, state: 'idle', since: t.endTs + s.idleTimeoutMs + s.resumeWindowMs, tripId: null };
}

/** The trip's track: its believed GPS fixes, simplified (Ramer-Douglas-Peucker, simplify-js) to at most `maxPoints`. */
export async function tripTrack(store: Store, t: TripRow, s: TripSettings, maxPoints: number): Promise<Array<{ ts: number; lat: number; lon: number }>> {
  const events = await readVehicleEvents(store.kind, store.processors, t.deviceId, t.startTs, t.endTs);
  const c = cleanPoints(toPoints(events), s);
  const fixes: Array<{ x: number; y: number; ts: number }> = [];
  c.points.forEach((p, i) => {
    if (c.goodFix[i]) fixes.push({ x: p.lon!, y: p.lat!, ts: p.ts });
  });
  let track = fixes;
  // Tolerance in degrees, from ~1 m up, until the track fits.
  for (let tol = 0.00001; track.length > maxPoints; tol *= 2) track = simplify(fixes, tol, true) as typeof fixes;
  return track.map((p) => ({ ts: p.ts, lat: p.y, lon: p.x }));
}

/**
 * Recomputes `deviceId`'s trips touching [from, to] from its stored events,
 * as live processing would, and writes the changes in one transaction
 * guarded by the trips processor's checkpoint (a running processor and a
 * rebuild never interleave; on a clash it tries again).
 */
export async function rebuildTrips(store: Store, deviceId: string, from: number, to: number, s: TripSettings, now: number): Promise<{ written: number; deleted: number }> {
  for (let attempt = 0; ; attempt++) {
    const at = await store.processors.register(TRIPS);
    const r = await recomputeVehicle(store.kind, store.processors, deviceId, from, to, s, now);
    try {
      // The vehicle's engine state may stand for rows this changes: the next batch recomputes and builds a new one.
      await store.processors.commit(TRIPS, at, at, [...r.statements, deleteEngineState(store.kind, deviceId)]);
      return { written: r.written, deleted: r.deleted };
    } catch (err) {
      if ((err as { code?: string }).code !== 'TELEHUB_CHECKPOINT_MOVED' || attempt >= 20) throw err;
    }
  }
}

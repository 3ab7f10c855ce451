/**
 * Trip segmentation as pure, deterministic logic (docs/trips.md): a
 * vehicle's stored events in, its trips out. Late or reordered data needs no
 * special case: the caller recomputes the affected window from the stored
 * events (sorted by device time here) and gets the same trips as if
 * everything had come in order.
 *
 * @example
 * const { trips, state } = computeTrips(events, DEFAULT_TRIP_SETTINGS, Date.now());
 */
import { cleanPoints } from './clean.js';
import { toPoints, type TripInputEvent, type TripPoint } from './points.js';
import { segment, stateAt, type VehicleState } from './segment.js';
import type { TripSettings } from './settings.js';
import { summarise, type TripSummary } from './summary.js';

export { DEFAULT_TRIP_SETTINGS, type TripSettings } from './settings.js';
export { toPoints, type TripInputEvent, type TripPoint } from './points.js';
export type { TripGap, VehicleState } from './segment.js';
export type { DistanceSource, TripPosition, TripSummary } from './summary.js';

export interface ComputedTrip extends TripSummary {
  /** Still able to continue at `now`: its last moving point is less than idle_timeout + resume_window ago. */
  inProgress: boolean;
}

export interface TripsResult {
  trips: ComputedTrip[];
  /** The vehicle's state machine at `now`. */
  state: { state: VehicleState; since: number | null };
}

/**
 * Segments a vehicle's events into trips. `now` (epoch ms) only decides
 * which trip is still in progress and the current state; the trips
 * themselves depend on the events alone.
 */
export function computeTrips(events: readonly TripInputEvent[], s: TripSettings, now: number): TripsResult {
  return computeTripsFromPoints(toPoints(events), s, now);
}

/** As computeTrips, from points already built (sorted by ts, one per instant). */
export function computeTripsFromPoints(points: readonly TripPoint[], s: TripSettings, now: number): TripsResult {
  const c = cleanPoints(points, s);
  const segments = segment(c, s);
  const last = segments.at(-1);
  const trips: ComputedTrip[] = [];
  for (const seg of segments) {
    const sum = summarise(c, seg, s);
    const inProgress = seg === last && now - sum.endTs < s.idleTimeoutMs + s.resumeWindowMs;
    // A short segment is not a trip, unless it is still going (it may yet become one).
    if (!inProgress && (sum.distanceKm < s.minDistanceKm || sum.durationMs < s.minDurationMs)) continue;
    trips.push({ ...sum, inProgress });
  }
  return { trips, state: stateAt(c, last, now, s) };
}

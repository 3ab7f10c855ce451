/**
 * The trip state machine of seed 004 §4, on device time:
 *
 *   Idle ──first point above speed_threshold──► Driving
 *   Driving ──a stop reaches idle_timeout──► Paused ──moves within resume_window──► Driving
 *   Paused ──resume_window elapsed──► EndTrip (summary) ──► Idle
 *
 * A trip starts at its first moving point and ends at its last one, never at
 * the moment the end was noticed. A silence (no point at all) longer than
 * idle_timeout ends the trip at its last moving point, unless the odometer or
 * GPS across the silence shows the car kept driving (a tunnel, a dead spot):
 * then the trip stays whole and records the gap.
 */
import { haversineKm } from './geo.js';
import type { CleanPoints } from './clean.js';
import type { TripSettings } from './settings.js';

export interface TripGap {
  from: number;
  to: number;
  durationMs: number;
  /** km driven across the gap (odometer, else straight-line GPS). */
  distanceKm: number;
}

/** A trip as indices into the points: start and end are its first and last moving points. */
export interface Segment {
  start: number;
  end: number;
  gaps: TripGap[];
}

export type VehicleState = 'idle' | 'driving' | 'paused';

/**
 * Cuts the points into segments (before the minimum distance/duration
 * filter). Deterministic: the same sorted points give the same segments.
 */
export function segment(c: CleanPoints, s: TripSettings): Segment[] {
  const { points, speed } = c;
  const out: Segment[] = [];
  const thr = s.speedThresholdKmh;
  const endAfter = s.idleTimeoutMs + s.resumeWindowMs;
  let cur: Segment | undefined;
  let lastMoving = -1;
  for (let i = 0; i < points.length; i++) {
    const moving = speed[i] > thr;
    if (cur !== undefined) {
      const prev = i - 1;
      const silence = points[i].ts - points[prev].ts;
      if (silence > s.idleTimeoutMs) {
        const across = droveAcross(c, prev, i, s);
        if (across !== undefined) {
          cur.gaps.push({ from: points[prev].ts, to: points[i].ts, durationMs: silence, distanceKm: across });
          if (moving || across > 0) lastMoving = i;
          continue;
        }
        cur.end = lastMoving;
        out.push(cur);
        cur = undefined;
      } else if (points[i].ts - points[lastMoving].ts >= endAfter) {
        // Stopped for idle_timeout (Paused), then resume_window passed without moving (EndTrip).
        cur.end = lastMoving;
        out.push(cur);
        cur = undefined;
      } else {
        if (moving) lastMoving = i;
        continue;
      }
    }
    if (moving) {
      cur = { start: i, end: i, gaps: [] };
      lastMoving = i;
    }
  }
  if (cur !== undefined) {
    cur.end = lastMoving;
    out.push(cur);
  }
  return out;
}

/**
 * km the car drove across a silence, when the readings on both sides show it
 * kept driving at more than the speed threshold on average; undefined when
 * they do not (or cannot tell: then the silence is a stop).
 */
function droveAcross(c: CleanPoints, a: number, b: number, s: TripSettings): number | undefined {
  const h = (c.points[b].ts - c.points[a].ts) / 3_600_000;
  const km = acrossKm(c, a, b);
  if (km === undefined) return undefined;
  return km / h > s.speedThresholdKmh ? km : undefined;
}

/** Odometer (the nearest good readings on each side, within the silence's neighbours) else GPS straight line. */
function acrossKm(c: CleanPoints, a: number, b: number): number | undefined {
  const { points, goodOdo, goodFix } = c;
  if (goodOdo[a] && goodOdo[b]) return points[b].odometer! - points[a].odometer!;
  if (goodFix[a] && goodFix[b]) return haversineKm(points[a].lat!, points[a].lon!, points[b].lat!, points[b].lon!);
  return undefined;
}

/** Where the vehicle is in the state machine at `now` (device time), given its last segment. */
export function stateAt(c: CleanPoints, last: Segment | undefined, now: number, s: TripSettings): { state: VehicleState; since: number | null } {
  if (last === undefined) return { state: 'idle', since: c.points.length > 0 ? c.points[0].ts : null };
  const lastMovingTs = c.points[last.end].ts;
  const still = now - lastMovingTs;
  if (still < s.idleTimeoutMs) return { state: 'driving', since: c.points[last.start].ts };
  if (still < s.idleTimeoutMs + s.resumeWindowMs) return { state: 'paused', since: lastMovingTs + s.idleTimeoutMs };
  return { state: 'idle', since: lastMovingTs + s.idleTimeoutMs + s.resumeWindowMs };
}

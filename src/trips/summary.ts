/**
 * A segment's summary: what a trip says about itself. Distance has a source:
 * the odometer when the trip has two good readings, else speed integrated over
 * time, else GPS with jumps filtered (clean.ts).
 */
import type { CleanPoints } from './clean.js';
import { haversineKm } from './geo.js';
import type { TripPoint } from './points.js';
import type { Segment, TripGap } from './segment.js';
import type { TripSettings } from './settings.js';

export type DistanceSource = 'odometer' | 'speed' | 'gps' | 'none';

export interface TripPosition {
  lat: number;
  lon: number;
}

export interface TripSummary {
  startTs: number;
  endTs: number;
  startPosition: TripPosition | null;
  endPosition: TripPosition | null;
  durationMs: number;
  movingMs: number;
  distanceKm: number;
  distanceSource: DistanceSource;
  avgSpeedKmh: number | null;
  maxSpeedKmh: number | null;
  maxRpm: number | null;
  maxCoolantC: number | null;
  /** Percentage points of tank used (first − last fuel level), null without two readings. */
  fuelUsedPct: number | null;
  points: number;
  gaps: TripGap[];
}

const MS_PER_HOUR = 3_600_000;

/**
 * Running figures of one trip, folded point by point in time order. The batch
 * summary (summarise) and the incremental engine (stream.ts) fold the same
 * points through the same function in the same order, so their floating-point
 * sums are identical, bit for bit. Plain JSON (no NaN or infinities): the
 * incremental engine persists it.
 */
export interface SummaryAcc {
  firstOdo: number | null;
  lastOdo: number | null;
  /** Good odometer readings folded (two or more: the odometer can give a distance). */
  odoN: number;
  speedSamples: number;
  fixes: number;
  maxSpeed: number | null;
  maxRpm: number | null;
  maxCoolant: number | null;
  firstFuel: number | null;
  lastFuel: number | null;
  startPos: TripPosition | null;
  endPos: TripPosition | null;
  speedKm: number;
  gpsKm: number;
  movingMs: number;
  /** The last good fix folded (for GPS distance). */
  prevFix: TripPosition | null;
  /** Points between the first and last moving point, both included. */
  points: number;
}

export function newSummaryAcc(): SummaryAcc {
  return {
    firstOdo: null, lastOdo: null, odoN: 0, speedSamples: 0, fixes: 0, maxSpeed: null, maxRpm: null, maxCoolant: null,
    firstFuel: null, lastFuel: null, startPos: null, endPos: null, speedKm: 0, gpsKm: 0, movingMs: 0, prevFix: null, points: 0,
  };
}

/**
 * Folds one point. `inside`: between the trip's first and last moving point
 * (else it is the still neighbour before or after, which only adds distance);
 * `q`/`qSpeed`: the point before it and its judged speed, absent for the first
 * point folded; `afterStart`: later than the first moving point.
 */
export function foldPoint(
  a: SummaryAcc,
  p: TripPoint,
  goodFix: boolean,
  goodOdo: boolean,
  speed: number,
  q: TripPoint | undefined,
  qSpeed: number,
  inside: boolean,
  afterStart: boolean,
  s: TripSettings,
): void {
  if (goodOdo) {
    if (a.firstOdo === null) a.firstOdo = p.odometer!;
    a.lastOdo = p.odometer!;
    a.odoN++;
  }
  if (!inside) {
    if (goodFix) {
      if (a.prevFix !== null) a.gpsKm += haversineKm(a.prevFix.lat, a.prevFix.lon, p.lat!, p.lon!);
      a.prevFix = { lat: p.lat!, lon: p.lon! };
    }
    if (q !== undefined && p.speed !== undefined && q.speed !== undefined) a.speedKm += ((p.speed + q.speed) / 2) * ((p.ts - q.ts) / MS_PER_HOUR);
    return;
  }
  a.points++;
  if (p.speed !== undefined) {
    a.speedSamples++;
    if (a.maxSpeed === null || p.speed > a.maxSpeed) a.maxSpeed = p.speed;
  }
  if (p.rpm !== undefined && (a.maxRpm === null || p.rpm > a.maxRpm)) a.maxRpm = p.rpm;
  if (p.coolant !== undefined && (a.maxCoolant === null || p.coolant > a.maxCoolant)) a.maxCoolant = p.coolant;
  if (p.fuel !== undefined) {
    if (a.firstFuel === null) a.firstFuel = p.fuel;
    a.lastFuel = p.fuel;
  }
  if (goodFix) {
    a.fixes++;
    if (a.startPos === null) a.startPos = { lat: p.lat!, lon: p.lon! };
    // (fixes counts the trip's own fixes; the neighbours only add distance.)
    a.endPos = { lat: p.lat!, lon: p.lon! };
    if (a.prevFix !== null) a.gpsKm += haversineKm(a.prevFix.lat, a.prevFix.lon, p.lat!, p.lon!);
    a.prevFix = { lat: p.lat!, lon: p.lon! };
  }
  if (q !== undefined) {
    const dt = p.ts - q.ts;
    if (dt > s.idleTimeoutMs) {
      a.movingMs += dt; // A gap inside a trip is one the car drove through (segment.ts).
    } else {
      if (afterStart && (qSpeed > s.speedThresholdKmh || speed > s.speedThresholdKmh)) a.movingMs += dt;
      // Trapezoids over reported speeds; a gap's distance comes from its own judgement.
      if (p.speed !== undefined && q.speed !== undefined) a.speedKm += ((p.speed + q.speed) / 2) * (dt / MS_PER_HOUR);
    }
  }
}

/** The summary of the figures folded, for a trip from `startTs` to `endTs` with `gaps`. */
export function finishSummary(a: SummaryAcc, startTs: number, endTs: number, gaps: readonly TripGap[]): TripSummary {
  const gapKm = gaps.reduce((x, g) => x + g.distanceKm, 0);
  let distanceKm = 0;
  let distanceSource: DistanceSource = 'none';
  // An odometer that did not advance while speeds were reported is stuck (a PID not refreshed), not a 0 km trip.
  if (a.odoN >= 2 && (a.lastOdo! > a.firstOdo! || a.speedSamples < 2)) {
    distanceKm = a.lastOdo! - a.firstOdo!;
    distanceSource = 'odometer';
  } else if (a.speedSamples >= 2) {
    distanceKm = a.speedKm + gapKm;
    distanceSource = 'speed';
  } else if (a.fixes >= 2) {
    distanceKm = a.gpsKm;
    distanceSource = 'gps';
  }
  return {
    startTs,
    endTs,
    startPosition: a.startPos === null ? null : { ...a.startPos },
    endPosition: a.endPos === null ? null : { ...a.endPos },
    durationMs: endTs - startTs,
    movingMs: a.movingMs,
    distanceKm: round(distanceKm, 3),
    distanceSource,
    avgSpeedKmh: a.movingMs > 0 ? round(distanceKm / (a.movingMs / MS_PER_HOUR), 2) : null,
    maxSpeedKmh: a.speedSamples > 0 ? a.maxSpeed : null,
    maxRpm: a.maxRpm,
    maxCoolantC: a.maxCoolant,
    fuelUsedPct: a.firstFuel !== null && a.lastFuel !== null && a.firstFuel !== a.lastFuel ? round(a.firstFuel - a.lastFuel, 2) : null,
    points: a.points,
    gaps: gaps.map((g) => ({ ...g, distanceKm: round(g.distanceKm, 3) })),
  };
}

export function summarise(c: CleanPoints, seg: Segment, s: TripSettings): TripSummary {
  const { points, goodFix, goodOdo, speed } = c;
  // Distance also covers the step from the last still point into the trip and from its last moving point
  // to the stop (the car moved in both), when they are within idle_timeout; every other figure is start..end.
  const lo = seg.start > 0 && points[seg.start].ts - points[seg.start - 1].ts <= s.idleTimeoutMs ? seg.start - 1 : seg.start;
  const hi = seg.end + 1 < points.length && points[seg.end + 1].ts - points[seg.end].ts <= s.idleTimeoutMs ? seg.end + 1 : seg.end;
  const a = newSummaryAcc();
  for (let i = lo; i <= hi; i++) {
    const first = i === lo;
    foldPoint(a, points[i], goodFix[i] === 1, goodOdo[i] === 1, speed[i], first ? undefined : points[i - 1], first ? Number.NaN : speed[i - 1], i >= seg.start && i <= seg.end, i > seg.start, s);
  }
  return finishSummary(a, points[seg.start].ts, points[seg.end].ts, seg.gaps);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

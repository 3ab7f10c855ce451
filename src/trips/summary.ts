/**
 * A segment's summary: what a trip says about itself. Distance has a source:
 * the odometer when the trip has two good readings, else speed integrated over
 * time, else GPS with jumps filtered (clean.ts).
 */
import type { CleanPoints } from './clean.js';
import { haversineKm } from './geo.js';
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

export function summarise(c: CleanPoints, seg: Segment, s: TripSettings): TripSummary {
  const { points, goodFix, goodOdo, speed } = c;
  let firstOdo = -1;
  let lastOdo = -1;
  let speedSamples = 0;
  let fixes = 0;
  let maxSpeed = Number.NEGATIVE_INFINITY;
  let maxRpm = Number.NEGATIVE_INFINITY;
  let maxCoolant = Number.NEGATIVE_INFINITY;
  let firstFuel: number | undefined;
  let lastFuel: number | undefined;
  let startPos: TripPosition | null = null;
  let endPos: TripPosition | null = null;
  let speedKm = 0;
  let gpsKm = 0;
  let movingMs = 0;
  let prevFix = -1;
  // Distance also covers the step from the last still point into the trip and from its last moving point
  // to the stop (the car moved in both), when they are within idle_timeout; every other figure is start..end.
  const lo = seg.start > 0 && points[seg.start].ts - points[seg.start - 1].ts <= s.idleTimeoutMs ? seg.start - 1 : seg.start;
  const hi = seg.end + 1 < points.length && points[seg.end + 1].ts - points[seg.end].ts <= s.idleTimeoutMs ? seg.end + 1 : seg.end;
  for (let i = lo; i <= hi; i++) {
    const p = points[i];
    if (i < seg.start || i > seg.end) {
      if (goodOdo[i]) {
        if (firstOdo < 0) firstOdo = i;
        lastOdo = i;
      }
      if (goodFix[i]) {
        if (prevFix >= 0) gpsKm += haversineKm(points[prevFix].lat!, points[prevFix].lon!, p.lat!, p.lon!);
        prevFix = i;
      }
      if (i > lo && p.speed !== undefined && points[i - 1].speed !== undefined) speedKm += ((p.speed + points[i - 1].speed!) / 2) * ((p.ts - points[i - 1].ts) / MS_PER_HOUR);
      continue;
    }
    if (goodOdo[i]) {
      if (firstOdo < 0) firstOdo = i;
      lastOdo = i;
    }
    if (p.speed !== undefined) {
      speedSamples++;
      if (p.speed > maxSpeed) maxSpeed = p.speed;
    }
    if (p.rpm !== undefined && p.rpm > maxRpm) maxRpm = p.rpm;
    if (p.coolant !== undefined && p.coolant > maxCoolant) maxCoolant = p.coolant;
    if (p.fuel !== undefined) {
      if (firstFuel === undefined) firstFuel = p.fuel;
      lastFuel = p.fuel;
    }
    if (goodFix[i]) {
      fixes++;
      if (startPos === null) startPos = { lat: p.lat!, lon: p.lon! };
      // (fixes counts the trip's own fixes; the neighbours above only add distance.)
      endPos = { lat: p.lat!, lon: p.lon! };
      if (prevFix >= 0) gpsKm += haversineKm(points[prevFix].lat!, points[prevFix].lon!, p.lat!, p.lon!);
      prevFix = i;
    }
    if (i > lo) {
      const q = points[i - 1];
      const dt = p.ts - q.ts;
      if (dt > s.idleTimeoutMs) {
        movingMs += dt; // A gap inside a trip is one the car drove through (segment.ts).
      } else {
        if (i > seg.start && (speed[i - 1] > s.speedThresholdKmh || speed[i] > s.speedThresholdKmh)) movingMs += dt;
        // Trapezoids over reported speeds; a gap's distance comes from its own judgement.
        if (p.speed !== undefined && q.speed !== undefined) speedKm += ((p.speed + q.speed) / 2) * (dt / MS_PER_HOUR);
      }
    }
  }
  const gapKm = seg.gaps.reduce((a, g) => a + g.distanceKm, 0);
  let distanceKm = 0;
  let distanceSource: DistanceSource = 'none';
  // An odometer that did not advance while speeds were reported is stuck (a PID not refreshed), not a 0 km trip.
  if (firstOdo >= 0 && lastOdo > firstOdo && (points[lastOdo].odometer! > points[firstOdo].odometer! || speedSamples < 2)) {
    distanceKm = points[lastOdo].odometer! - points[firstOdo].odometer!;
    distanceSource = 'odometer';
  } else if (speedSamples >= 2) {
    distanceKm = speedKm + gapKm;
    distanceSource = 'speed';
  } else if (fixes >= 2) {
    distanceKm = gpsKm;
    distanceSource = 'gps';
  }
  const startTs = points[seg.start].ts;
  const endTs = points[seg.end].ts;
  return {
    startTs,
    endTs,
    startPosition: startPos,
    endPosition: endPos,
    durationMs: endTs - startTs,
    movingMs,
    distanceKm: round(distanceKm, 3),
    distanceSource,
    avgSpeedKmh: movingMs > 0 ? round(distanceKm / (movingMs / MS_PER_HOUR), 2) : null,
    maxSpeedKmh: speedSamples > 0 ? maxSpeed : null,
    maxRpm: maxRpm === Number.NEGATIVE_INFINITY ? null : maxRpm,
    maxCoolantC: maxCoolant === Number.NEGATIVE_INFINITY ? null : maxCoolant,
    fuelUsedPct: firstFuel !== undefined && lastFuel !== undefined && firstFuel !== lastFuel ? round(firstFuel - lastFuel, 2) : null,
    points: seg.end - seg.start + 1,
    gaps: seg.gaps.map((g) => ({ ...g, distanceKm: round(g.distanceKm, 3) })),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Real-data filters, run once over a vehicle's sorted points before
 * segmentation: GPS fixes and odometer readings that imply an impossible
 * speed from the last good one are glitches (a 30 km GPS spike, an odometer
 * that read garbage), and each point gets the speed the state machine judges
 * it by.
 */
import { haversineKm } from './geo.js';
import type { TripPoint } from './points.js';
import type { TripSettings } from './settings.js';

export interface CleanPoints {
  points: readonly TripPoint[];
  /** Per point: its fix is believed (has lat/lon and passed the jump filter). */
  goodFix: Uint8Array;
  /** Per point: its odometer reading is believed. */
  goodOdo: Uint8Array;
  /** Per point: km/h the state machine judges it by (reported speed, else derived), NaN when unknown. */
  speed: Float64Array;
}

const MS_PER_HOUR = 3_600_000;

/** Runs the filters; O(n), no allocation per point beyond the typed arrays. */
export function cleanPoints(points: readonly TripPoint[], s: TripSettings): CleanPoints {
  const n = points.length;
  const goodFix = new Uint8Array(n);
  const goodOdo = new Uint8Array(n);
  const speed = new Float64Array(n).fill(Number.NaN);
  let lastFix = -1;
  let lastOdo = -1;
  for (let i = 0; i < n; i++) {
    const p = points[i];
    if (p.lat !== undefined && p.lon !== undefined) {
      if (lastFix < 0) {
        // The first fix is taken unless the next one shows it is the odd one out.
        goodFix[i] = firstFixPlausible(points, i, s) ? 1 : 0;
        if (goodFix[i]) lastFix = i;
      } else {
        const q = points[lastFix];
        const km = haversineKm(q.lat!, q.lon!, p.lat, p.lon);
        const h = (p.ts - q.ts) / MS_PER_HOUR;
        if (km <= s.maxPlausibleSpeedKmh * h + 0.05) {
          goodFix[i] = 1;
          lastFix = i;
        }
      }
    }
    if (p.odometer !== undefined) {
      if (lastOdo < 0) {
        goodOdo[i] = 1;
        lastOdo = i;
      } else {
        const q = points[lastOdo];
        const km = p.odometer - q.odometer!;
        const h = (p.ts - q.ts) / MS_PER_HOUR;
        // Backwards or impossibly far: a misread, not a drive (the next good reading continues from the last good one).
        if (km >= 0 && km <= s.maxPlausibleSpeedKmh * h + 0.05) {
          goodOdo[i] = 1;
          lastOdo = i;
        }
      }
    }
  }
  // The speed a point is judged by: reported, else from odometer or GPS since the previous point (within idle_timeout).
  let prevFix = -1;
  let prevOdo = -1;
  for (let i = 0; i < n; i++) {
    const p = points[i];
    if (p.speed !== undefined) speed[i] = p.speed;
    else if (goodOdo[i] && prevOdo >= 0 && p.ts - points[prevOdo].ts <= s.idleTimeoutMs) {
      speed[i] = (p.odometer! - points[prevOdo].odometer!) / ((p.ts - points[prevOdo].ts) / MS_PER_HOUR);
    } else if (goodFix[i] && prevFix >= 0 && p.ts - points[prevFix].ts <= s.idleTimeoutMs) {
      const q = points[prevFix];
      speed[i] = haversineKm(q.lat!, q.lon!, p.lat!, p.lon!) / ((p.ts - q.ts) / MS_PER_HOUR);
    }
    if (goodFix[i]) prevFix = i;
    if (goodOdo[i]) prevOdo = i;
  }
  return { points, goodFix, goodOdo, speed };
}

/** A first fix is believed when one of the next two fixes is reachable from it (one spike after it cannot veto it), or when none follows. */
function firstFixPlausible(points: readonly TripPoint[], i: number, s: TripSettings): boolean {
  const p = points[i];
  let seen = 0;
  for (let j = i + 1; j < points.length && seen < 2; j++) {
    const q = points[j];
    if (q.lat === undefined || q.lon === undefined) continue;
    seen++;
    const km = haversineKm(p.lat!, p.lon!, q.lat, q.lon);
    if (km <= s.maxPlausibleSpeedKmh * ((q.ts - p.ts) / MS_PER_HOUR) + 0.05) return true;
  }
  return seen === 0;
}

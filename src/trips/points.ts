/**
 * Events → points: the car's samples, one per device time, sorted, with
 * duplicates gone. This is what makes segmentation independent of arrival
 * order: whatever order events came in, the points are the same.
 */

/** What the engine needs of a stored event (a TelemetryEvent has all of it). */
export interface TripInputEvent {
  eventId: string;
  eventType: string;
  valueNum: number | null;
  tsDevice: number | null;
  /** JSON text; `position` events carry latitude/longitude here. */
  meta: string;
}

/** One sample of a vehicle: every quantity reported at one device time. */
export interface TripPoint {
  ts: number;
  speed?: number;
  rpm?: number;
  coolant?: number;
  fuel?: number;
  odometer?: number;
  ignition?: number;
  lat?: number;
  lon?: number;
}

const NUMERIC: Readonly<Record<string, keyof TripPoint>> = {
  speed: 'speed',
  rpm: 'rpm',
  coolant_temp: 'coolant',
  fuel_level: 'fuel',
  odometer: 'odometer',
  ignition: 'ignition',
};

/**
 * Builds the points. Events without ts_device, and quantities the engine does
 * not use, are left out. Two different events for the same quantity at the
 * same instant (a resend with another id) are settled by event id, the larger
 * wins, so the result never depends on which came first.
 */
export function toPoints(events: readonly TripInputEvent[]): TripPoint[] {
  const byTs = new Map<number, TripPoint>();
  // Per instant, the event id that set each quantity (no string keys on the hot path: the rebuild bench).
  const winners = new Map<number, Partial<Record<keyof TripPoint | 'position', string>>>();
  for (const e of events) {
    const ts = e.tsDevice;
    if (ts === null) continue;
    let field: keyof TripPoint | 'position' | undefined = NUMERIC[e.eventType];
    if (field === undefined && e.eventType === 'position') field = 'position';
    if (field === undefined) continue;
    let p = byTs.get(ts);
    let ids = winners.get(ts);
    if (p === undefined || ids === undefined) {
      p = { ts };
      ids = {};
      byTs.set(ts, p);
      winners.set(ts, ids);
    }
    const prev = ids[field];
    if (prev !== undefined && prev >= e.eventId) continue;
    if (field === 'position') {
      const pos = readPosition(e.meta);
      if (pos === undefined) continue;
      ids.position = e.eventId;
      p.lat = pos[0];
      p.lon = pos[1];
    } else {
      if (e.valueNum === null || !Number.isFinite(e.valueNum)) continue;
      ids[field] = e.eventId;
      p[field] = e.valueNum;
    }
  }
  const out = [...byTs.values()];
  // Only instants that carried a usable quantity are points.
  return out.filter((p) => Object.keys(p).length > 1).sort((a, b) => a.ts - b.ts);
}

/** latitude/longitude of a position's meta; (0, 0) is a receiver without a fix, not a place. */
function readPosition(meta: string): [number, number] | undefined {
  let m: unknown;
  try {
    m = JSON.parse(meta);
  } catch {
    return undefined;
  }
  const o = m as { latitude?: unknown; longitude?: unknown };
  if (typeof o?.latitude !== 'number' || typeof o.longitude !== 'number') return undefined;
  if (o.latitude === 0 && o.longitude === 0) return undefined;
  if (Math.abs(o.latitude) > 90 || Math.abs(o.longitude) > 180) return undefined;
  return [o.latitude, o.longitude];
}

/**
 * The trips table in each store's dialect (migration 7). Times are epoch ms
 * on the way in and out; PostgreSQL keeps them as TIMESTAMPTZ.
 */
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStatement } from '../../storage/log.js';
import type { TripGap, TripSummary } from '../../trips/index.js';

/** A stored trip: the engine's summary plus identity, version and whether it is still going. */
export interface TripRow extends TripSummary {
  tripId: string;
  deviceId: string;
  version: number;
  inProgress: boolean;
  updatedAt: number;
}

/** Quantities the engine reads (src/trips/points.ts); other events never touch trips. */
export const TRIP_EVENT_TYPES = ['speed', 'rpm', 'coolant_temp', 'fuel_level', 'odometer', 'ignition', 'position'] as const;

/** Largest time bound used for "no upper bound" (year 9999), valid in both stores. */
export const MAX_TIME = 253_402_300_799_000;

const COLS = `trip_id, device_id, version, in_progress, start_time, end_time, start_lat, start_lon, end_lat, end_lon,
  duration_ms, moving_ms, distance_km, distance_source, avg_speed_kmh, max_speed_kmh, max_rpm, max_coolant_c, fuel_used_pct,
  points, gaps, updated_at`;

const epoch = (c: string) => `round(extract(epoch FROM ${c}) * 1000)::float8 AS ${c}`;
// Exact milliseconds from an int8 (a float8 division alone can be off by one).
const ts = (p: string) => `(to_timestamp((${p}::int8 / 1000)::float8) + (${p}::int8 % 1000) * interval '1 millisecond')`;

const PG_COLS = `trip_id, device_id, version::float8 AS version, in_progress, ${epoch('start_time')}, ${epoch('end_time')},
  start_lat, start_lon, end_lat, end_lon, duration_ms::float8 AS duration_ms, moving_ms::float8 AS moving_ms, distance_km,
  distance_source, avg_speed_kmh, max_speed_kmh, max_rpm, max_coolant_c, fuel_used_pct, points::float8 AS points,
  gaps::text AS gaps, ${epoch('updated_at')}`;

const UPDATE_SET = `version = trips.version + 1, device_id = excluded.device_id, in_progress = excluded.in_progress,
  start_time = excluded.start_time, end_time = excluded.end_time, start_lat = excluded.start_lat, start_lon = excluded.start_lon,
  end_lat = excluded.end_lat, end_lon = excluded.end_lon, duration_ms = excluded.duration_ms, moving_ms = excluded.moving_ms,
  distance_km = excluded.distance_km, distance_source = excluded.distance_source, avg_speed_kmh = excluded.avg_speed_kmh,
  max_speed_kmh = excluded.max_speed_kmh, max_rpm = excluded.max_rpm, max_coolant_c = excluded.max_coolant_c,
  fuel_used_pct = excluded.fuel_used_pct, points = excluded.points, gaps = excluded.gaps, updated_at = excluded.updated_at`;

const SQL = {
  sqlite: {
    upsert: `INSERT INTO trips (${COLS}) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (trip_id) DO UPDATE SET ${UPDATE_SET}`,
    delete: 'DELETE FROM trips WHERE trip_id = ?',
    overlapping: `SELECT ${COLS} FROM trips WHERE device_id = ? AND end_time >= ? AND start_time <= ? ORDER BY start_time, trip_id`,
    list: `SELECT ${COLS} FROM trips WHERE (? IS NULL OR device_id = ?) AND end_time >= ? AND start_time < ? ORDER BY start_time, device_id, trip_id LIMIT ?`,
    get: `SELECT ${COLS} FROM trips WHERE trip_id = ?`,
    latest: `SELECT ${COLS} FROM trips WHERE device_id = ? ORDER BY end_time DESC LIMIT 1`,
    events: `SELECT event_id, event_type, value_num, ts_device, meta FROM events
      WHERE device_id = ? AND ts_device >= ? AND ts_device <= ? AND seq <= ? AND event_type IN (${TRIP_EVENT_TYPES.map(() => '?').join(', ')})`,
    inProgress: `SELECT trip_id, device_id, end_time, distance_km, duration_ms FROM trips WHERE in_progress = 1`,
    expire: `UPDATE trips SET in_progress = 0, version = version + 1, updated_at = ? WHERE trip_id = ? AND in_progress = 1`,
  },
  postgres: {
    upsert: `INSERT INTO trips (${COLS}) VALUES ($1, $2, 1, $3, ${ts('$4')}, ${ts('$5')}, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
      $20::jsonb, ${ts('$21')})
      ON CONFLICT (trip_id) DO UPDATE SET ${UPDATE_SET}`,
    delete: 'DELETE FROM trips WHERE trip_id = $1',
    overlapping: `SELECT ${PG_COLS} FROM trips WHERE device_id = $1 AND end_time >= ${ts('$2')} AND start_time <= ${ts('$3')} ORDER BY start_time, trip_id`,
    list: `SELECT ${PG_COLS} FROM trips WHERE ($1::text IS NULL OR device_id = $2) AND end_time >= ${ts('$3')} AND start_time < ${ts('$4')}
      ORDER BY start_time, device_id, trip_id LIMIT $5`,
    get: `SELECT ${PG_COLS} FROM trips WHERE trip_id = $1`,
    latest: `SELECT ${PG_COLS} FROM trips WHERE device_id = $1 ORDER BY end_time DESC LIMIT 1`,
    events: `SELECT event_id, event_type, value_num, ${epoch('ts_device')}, meta::text AS meta FROM events
      WHERE device_id = $1 AND ts_device >= ${ts('$2')} AND ts_device <= ${ts('$3')} AND seq <= $5 AND event_type = ANY($4::text[])`,
    inProgress: `SELECT trip_id, device_id, ${epoch('end_time')}, distance_km, duration_ms::float8 AS duration_ms FROM trips WHERE in_progress`,
    expire: `UPDATE trips SET in_progress = false, version = version + 1, updated_at = ${ts('$1')} WHERE trip_id = $2 AND in_progress`,
  },
} as const;

/** The SQL of one dialect (for the reads in store.ts). */
export function tripSql(d: Dialect) {
  return SQL[d];
}

/** No bound on the log position of the events read. */
export const ANY_SEQ = Number.MAX_SAFE_INTEGER;

/** Parameters of the events read for a vehicle's window (events committed at log position `maxSeq` or before). */
export function eventParams(d: Dialect, deviceId: string, from: number, to: number, maxSeq = ANY_SEQ): unknown[] {
  return d === 'sqlite' ? [deviceId, from, to, maxSeq, ...TRIP_EVENT_TYPES] : [deviceId, from, to, [...TRIP_EVENT_TYPES], maxSeq];
}

/** Insert, or overwrite with version + 1. */
export function upsertTrip(d: Dialect, t: Omit<TripRow, 'version'>): ProcessorStatement {
  return {
    sql: SQL[d].upsert,
    params: [
      t.tripId, t.deviceId, d === 'sqlite' ? (t.inProgress ? 1 : 0) : t.inProgress, t.startTs, t.endTs,
      t.startPosition?.lat ?? null, t.startPosition?.lon ?? null, t.endPosition?.lat ?? null, t.endPosition?.lon ?? null,
      t.durationMs, t.movingMs, t.distanceKm, t.distanceSource, t.avgSpeedKmh, t.maxSpeedKmh, t.maxRpm, t.maxCoolantC, t.fuelUsedPct,
      t.points, JSON.stringify(t.gaps), t.updatedAt,
    ],
  };
}

export function deleteTrip(d: Dialect, tripId: string): ProcessorStatement {
  return { sql: SQL[d].delete, params: [tripId] };
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A row as read by either dialect. */
export function toTripRow(r: Record<string, unknown>): TripRow {
  const pos = (lat: unknown, lon: unknown) => (lat === null || lon === null || lat === undefined ? null : { lat: Number(lat), lon: Number(lon) });
  return {
    tripId: String(r.trip_id),
    deviceId: String(r.device_id),
    version: Number(r.version),
    inProgress: r.in_progress === true || Number(r.in_progress) === 1,
    startTs: Number(r.start_time),
    endTs: Number(r.end_time),
    startPosition: pos(r.start_lat, r.start_lon),
    endPosition: pos(r.end_lat, r.end_lon),
    durationMs: Number(r.duration_ms),
    movingMs: Number(r.moving_ms),
    distanceKm: Number(r.distance_km),
    distanceSource: String(r.distance_source) as TripRow['distanceSource'],
    avgSpeedKmh: num(r.avg_speed_kmh),
    maxSpeedKmh: num(r.max_speed_kmh),
    maxRpm: num(r.max_rpm),
    maxCoolantC: num(r.max_coolant_c),
    fuelUsedPct: num(r.fuel_used_pct),
    points: Number(r.points),
    // PostgreSQL's jsonb reorders keys: rebuild each gap in the engine's order, so an unchanged trip compares equal (recompute.ts).
    gaps: (JSON.parse(String(r.gaps)) as TripGap[]).map((g) => ({ from: g.from, to: g.to, durationMs: g.durationMs, distanceKm: g.distanceKm })),
    updatedAt: Number(r.updated_at),
  };
}

/** A vehicle's persisted incremental engine (migration 15, table trip_engine_state). */
export interface EngineStateRow {
  deviceId: string;
  settings: string;
  writtenAt: number;
  tripId: string | null;
  state: string;
}

const STATE_SQL = {
  sqlite: {
    select: `SELECT device_id, settings, written_at, trip_id, state FROM trip_engine_state WHERE device_id IN (SELECT value FROM json_each(?))`,
    upsert: `INSERT INTO trip_engine_state (device_id, settings, written_at, trip_id, state) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET settings = excluded.settings, written_at = excluded.written_at, trip_id = excluded.trip_id, state = excluded.state`,
    delete: 'DELETE FROM trip_engine_state WHERE device_id = ?',
    eventAfter: `SELECT 1 AS x FROM events WHERE device_id = ? AND ts_device > ? AND seq <= ? AND event_type IN (${TRIP_EVENT_TYPES.map(() => '?').join(', ')}) LIMIT 1`,
  },
  postgres: {
    select: `SELECT device_id, settings, written_at::float8 AS written_at, trip_id, state FROM trip_engine_state WHERE device_id = ANY($1::text[])`,
    upsert: `INSERT INTO trip_engine_state (device_id, settings, written_at, trip_id, state) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (device_id) DO UPDATE SET settings = excluded.settings, written_at = excluded.written_at, trip_id = excluded.trip_id, state = excluded.state`,
    delete: 'DELETE FROM trip_engine_state WHERE device_id = $1',
    eventAfter: `SELECT 1 AS x FROM events WHERE device_id = $1 AND ts_device > ${ts('$2')} AND seq <= $3 AND event_type = ANY($4::text[]) LIMIT 1`,
  },
} as const;

export async function readEngineStates(d: Dialect, select: (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>, deviceIds: readonly string[]): Promise<Map<string, EngineStateRow>> {
  const out = new Map<string, EngineStateRow>();
  if (deviceIds.length === 0) return out;
  const rows = await select(STATE_SQL[d].select, [d === 'sqlite' ? JSON.stringify(deviceIds) : [...deviceIds]]);
  for (const r of rows) {
    out.set(String(r.device_id), { deviceId: String(r.device_id), settings: String(r.settings), writtenAt: Number(r.written_at), tripId: r.trip_id === null ? null : String(r.trip_id), state: String(r.state) });
  }
  return out;
}

export function upsertEngineState(d: Dialect, r: EngineStateRow): ProcessorStatement {
  return { sql: STATE_SQL[d].upsert, params: [r.deviceId, r.settings, r.writtenAt, r.tripId, r.state] };
}

export function deleteEngineState(d: Dialect, deviceId: string): ProcessorStatement {
  return { sql: STATE_SQL[d].delete, params: [deviceId] };
}

/** Whether the vehicle has stored events the engine reads later than `after` (device time), up to log position `maxSeq`. */
export async function hasEventsAfter(d: Dialect, select: (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>, deviceId: string, after: number, maxSeq: number): Promise<boolean> {
  const params = d === 'sqlite' ? [deviceId, after, maxSeq, ...TRIP_EVENT_TYPES] : [deviceId, after, maxSeq, [...TRIP_EVENT_TYPES]];
  return (await select(STATE_SQL[d].eventAfter, params)).length > 0;
}

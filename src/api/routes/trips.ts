/**
 * Trips of cars (docs/trips.md), as the trips processor keeps them:
 * `GET /api/v1/trips` lists trips overlapping a time range (with the
 * vehicle's current state when one device is asked for), and
 * `GET /api/v1/trips/{id}` gives one trip with its track simplified to at
 * most 1,000 points.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { ApiError, storeUnavailable } from '../../core/http-error.js';
import { getTrip, listTrips, tripState, tripTrack, type TripState } from '../../processors/trips/queries.js';
import type { TripRow } from '../../processors/trips/sql.js';
import type { Store } from '../../storage/store.js';
import type { TripSettingsFor } from '../../trips/config.js';
import type { TokenAuth } from '../auth.js';
import { ErrorSchema } from '../schemas.js';
import { parseRange } from '../time-range.js';

/** Most points of a trip's track in GET /api/v1/trips/{id}. */
export const MAX_TRACK_POINTS = 1000;

const Nullable = <T extends ReturnType<typeof Type.Number>>(t: T) => Type.Union([t, Type.Null()]);
const Position = Type.Union([Type.Object({ lat: Type.Number(), lon: Type.Number() }), Type.Null()]);

const TripSchema = Type.Object({
  id: Type.String(),
  device_id: Type.String(),
  version: Type.Integer({ description: 'Goes up each time late data or the clock changes the trip' }),
  in_progress: Type.Boolean({ description: 'Still able to continue: figures are running' }),
  start: Type.String({ format: 'date-time', description: 'First moving point (device time)' }),
  end: Type.String({ format: 'date-time', description: 'Last moving point (device time)' }),
  start_position: Position,
  end_position: Position,
  duration_s: Type.Number(),
  moving_s: Type.Number(),
  distance_km: Type.Number(),
  distance_source: Type.Union([Type.Literal('odometer'), Type.Literal('speed'), Type.Literal('gps'), Type.Literal('none')]),
  avg_speed_kmh: Nullable(Type.Number()),
  max_speed_kmh: Nullable(Type.Number()),
  max_rpm: Nullable(Type.Number()),
  max_coolant_c: Nullable(Type.Number()),
  fuel_used_pct: Nullable(Type.Number({ description: 'Percentage points of tank (first − last fuel level)' })),
  points: Type.Integer(),
  gaps: Type.Array(Type.Object({ from: Type.String({ format: 'date-time' }), to: Type.String({ format: 'date-time' }), duration_s: Type.Number(), distance_km: Type.Number() })),
  updated_at: Type.String({ format: 'date-time' }),
});

/** A vehicle's place in the trip state machine (GET /api/v1/trips?device=, GET /api/v1/devices/{id}). */
export const TripStateSchema = Type.Object({
  device_id: Type.String(),
  state: Type.Union([Type.Literal('idle'), Type.Literal('driving'), Type.Literal('paused')]),
  since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'null when the vehicle never made a trip' }),
  trip_id: Type.Union([Type.String(), Type.Null()], { description: 'The trip in progress (driving or paused)' }),
});

const TripsPage = Type.Object({
  trips: Type.Array(TripSchema),
  state: Type.Optional(TripStateSchema),
});

const TripDetail = Type.Object({
  trip: TripSchema,
  track: Type.Array(Type.Object({ ts: Type.String({ format: 'date-time' }), lat: Type.Number(), lon: Type.Number() }), { description: `GPS fixes, simplified to at most ${MAX_TRACK_POINTS} points` }),
});

const iso = (ms: number) => new Date(ms).toISOString();

/** A stored trip as the API and `telehub trips list --json` show it. */
export function tripToJson(t: TripRow) {
  return {
    id: t.tripId,
    device_id: t.deviceId,
    version: t.version,
    in_progress: t.inProgress,
    start: iso(t.startTs),
    end: iso(t.endTs),
    start_position: t.startPosition,
    end_position: t.endPosition,
    duration_s: t.durationMs / 1000,
    moving_s: t.movingMs / 1000,
    distance_km: t.distanceKm,
    distance_source: t.distanceSource,
    avg_speed_kmh: t.avgSpeedKmh,
    max_speed_kmh: t.maxSpeedKmh,
    max_rpm: t.maxRpm,
    max_coolant_c: t.maxCoolantC,
    fuel_used_pct: t.fuelUsedPct,
    points: t.points,
    gaps: t.gaps.map((g) => ({ from: iso(g.from), to: iso(g.to), duration_s: g.durationMs / 1000, distance_km: g.distanceKm })),
    updated_at: iso(t.updatedAt),
  };
}

export function stateToJson(s: TripState) {
  return { device_id: s.deviceId, state: s.state, since: s.since === null ? null : iso(s.since), trip_id: s.tripId };
}

export const registerTripRoutes: FastifyPluginAsync<{ auth: TokenAuth; store: Store; settingsFor: TripSettingsFor }> = async (app, { auth, store, settingsFor }) => {
  const guard = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      throw store.isRetriable(err) ? storeUnavailable() : err;
    }
  };

  app.get<{ Querystring: { device?: string; from?: string; to?: string; limit?: number } }>(
    '/api/v1/trips',
    {
      onRequest: auth.hook('read'),
      schema: {
        summary: 'Trips',
        description: 'Trips overlapping [from, to) (device time), by start; with `device`, that vehicle only, and its current state (idle, driving or paused, and since when).',
        security: [{ bearer: [] }],
        querystring: Type.Object({
          device: Type.Optional(Type.String({ minLength: 1 })),
          from: Type.Optional(Type.String({ description: 'ISO-8601, a date, or epoch ms: trips ending at or after this' })),
          to: Type.Optional(Type.String({ description: 'ISO-8601, a date, or epoch ms: trips starting before this' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000 })),
        }),
        response: { 200: TripsPage, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema },
      },
    },
    async (req) => {
      const q = req.query;
      const { from, to } = parseRange(q);
      return guard(async () => {
        const trips = (await listTrips(store, { deviceId: q.device, from, to, limit: q.limit ?? 1000 })).map(tripToJson);
        if (q.device === undefined) return { trips };
        return { trips, state: stateToJson(await tripState(store, q.device, settingsFor(q.device), Date.now())) };
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/trips/:id',
    {
      onRequest: auth.hook('read'),
      schema: {
        summary: 'One trip with its track',
        description: `The trip's summary and its GPS track, simplified (Ramer-Douglas-Peucker) to at most ${MAX_TRACK_POINTS} points.`,
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String() }),
        response: { 200: TripDetail, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema },
      },
    },
    async (req) =>
      guard(async () => {
        const t = await getTrip(store, req.params.id);
        if (t === undefined) throw new ApiError(404, 'not_found', `no trip with id ${JSON.stringify(req.params.id.slice(0, 64))}`);
        const track = await tripTrack(store, t, settingsFor(t.deviceId), MAX_TRACK_POINTS);
        return { trip: tripToJson(t), track: track.map((p) => ({ ts: iso(p.ts), lat: p.lat, lon: p.lon })) };
      }),
  );
};

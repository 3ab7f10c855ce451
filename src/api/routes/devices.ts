/**
 * `GET /api/v1/devices` and `GET /api/v1/devices/{id}` (read scope): the
 * device registry, i.e. the `devices` rows with what the device-registry
 * processor keeps on them (last status, last data, learned interval,
 * presence from the last presence transition of the commit log).
 * `GET /api/v1/devices/{id}/presence` (read): its presence transitions,
 * newest first. `PATCH /api/v1/devices/{id}` (admin): sets or clears its
 * expected reporting interval (`interval_override_ms`), which the running
 * presence monitor applies at once.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { storeUnavailable } from '../../core/http-error.js';
import { expectedIntervalMs, newDeviceState, timeoutMs, type PresenceSettings } from '../../devices/presence.js';
import { readRegistry, readRegistryDevice, type RegistryRow } from '../../processors/device-registry/read.js';
import { readPresenceHistory } from '../../storage/presence-log.js';
import type { Store } from '../../storage/store.js';
import type { TokenAuth } from '../auth.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas.js';
import { tripState } from '../../processors/trips/queries.js';
import type { TripSettingsFor } from '../../trips/config.js';
import { stateToJson, TripStateSchema } from './trips.js';

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const Num = Type.Union([Type.Number(), Type.Null()]);
const PresenceState = Type.Union(['online', 'silent', 'offline', 'unknown'].map((p) => Type.Literal(p)), {
  description: 'online; silent (connected or recently heard, but no data for longer than its timeout); offline; unknown (nothing decided yet)',
});

export const DeviceSchema = Type.Object({
  device_id: Type.String(),
  first_seen: Type.String({ description: 'Server time of its first stored event' }),
  last_seen: Type.String({ description: 'Server time of its last stored event (status entries included; for a device known only by a presence transition, that time)' }),
  events: Type.Integer({ description: 'Stored events, status entries included (presence transitions are not events)' }),
  presence: PresenceState,
  presence_cause: Type.Union(['connected', 'disconnected', 'will', 'status', 'silence', 'data'].map((c) => Type.Literal(c)).concat([Type.Null() as never]), {
    description: 'What caused the current presence; null while unknown',
  }),
  presence_since: Time,
  last_data_at: { ...Time, description: 'Server time of its last reading (status entries are not data)' },
  last_heard_at: { ...Time, description: 'Server time of the last sign of life of any kind in the log' },
  wifi_rssi: Num,
  uptime_s: Num,
  firmware: Type.Union([Type.String(), Type.Null()]),
  status_at: { ...Time, description: 'When the status fields were last reported' },
  interval_ms: Type.Number({ description: 'Expected reporting interval in use' }),
  interval_source: Type.Union([Type.Literal('override'), Type.Literal('learned'), Type.Literal('default')], {
    description: 'override: set with PATCH /api/v1/devices/{id} (or telehub devices set-interval), else the config file devices: entry',
  }),
  timeout_ms: Type.Number({ description: 'No data for longer than this turns it silent' }),
});
const DevicesPage = Type.Object({ devices: Type.Array(DeviceSchema) });
/** One device: its registry row, and where it is in the trip state machine (docs/trips.md). */
const DeviceDetail = Type.Object({
  ...DeviceSchema.properties,
  trip: Type.Optional({ ...TripStateSchema, description: 'Its trip state (idle / driving / paused, since when, the trip in progress), by its trip thresholds; absent when telehub runs without the trips table' }),
});
const DeviceParams = Type.Object({ id: Type.String({ minLength: 1 }) });
const IntervalPatch = Type.Object(
  {
    // One `type` array, not anyOf: the validator coerces types per anyOf branch
    // (0 would become null, a clear, and null 0). The range is checked in the handler.
    expected_interval_s: Type.Unsafe<number | null>({
      type: ['number', 'null'],
      description: 'Seconds between the device\'s reports, 0.1 to 31536000 (its timeout is this × TELEHUB_PRESENCE_GRACE_PERCENT / 100); null: back to the config file\'s devices: entry, else the learned interval',
    }),
  },
  { additionalProperties: false },
);
const HistoryQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'Only transitions with a smaller seq (the next page, newest first)' })),
  },
  { additionalProperties: false },
);
const Transition = Type.Object({
  seq: Type.Integer({ description: 'Its commit-log number' }),
  presence: PresenceState,
  cause: Type.String(),
  from: Type.String({ description: 'The presence it left' }),
  at: Type.String({ format: 'date-time' }),
});
const HistoryPage = Type.Object({ transitions: Type.Array(Transition), next_before: Type.Union([Type.Integer(), Type.Null()], { description: 'Pass as before for older ones; null at the end' }) });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A registry row as the API (and `telehub devices`) shows it. */
export function deviceToJson(r: RegistryRow, cfg: PresenceSettings, overrides: ReadonlyMap<string, number>): Static<typeof DeviceSchema> {
  const s = newDeviceState(r.deviceId, r.firstSeen);
  s.learnedIntervalMs = r.intervalMs;
  s.intervalOverrideMs = r.intervalOverrideMs ?? overrides.get(r.deviceId) ?? null;
  return {
    device_id: r.deviceId,
    first_seen: new Date(r.firstSeen).toISOString(),
    last_seen: new Date(r.lastSeen).toISOString(),
    events: r.events,
    presence: (r.presence ?? 'unknown') as Static<typeof DeviceSchema>['presence'],
    presence_cause: (r.presenceCause ?? null) as Static<typeof DeviceSchema>['presence_cause'],
    presence_since: iso(r.presenceSince),
    last_data_at: iso(r.lastDataAt),
    last_heard_at: iso(r.lastHeardAt),
    wifi_rssi: r.wifiRssi,
    uptime_s: r.uptimeS,
    firmware: r.firmware,
    status_at: iso(r.statusAt),
    interval_ms: Math.round(expectedIntervalMs(s, cfg)),
    interval_source: s.intervalOverrideMs !== null ? 'override' : r.intervalMs !== null ? 'learned' : 'default',
    timeout_ms: Math.round(timeoutMs(s, cfg)),
  };
}

export interface DeviceRouteOptions {
  auth: TokenAuth;
  store: Store;
  presence: PresenceSettings & { overrides: ReadonlyMap<string, number> };
  /** The running presence monitor, told of interval changes (absent without device-registry: applied at its next start). */
  monitor?: { setIntervalOverride(deviceId: string, ms: number | null): void };
  /** Each vehicle's trip thresholds: GET /api/v1/devices/{id} then shows its trip state. */
  tripSettingsFor?: TripSettingsFor;
}

export const registerDeviceRoutes: FastifyPluginAsync<DeviceRouteOptions> = async (app, { auth, store, presence, monitor, tripSettingsFor }) => {
  const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema };
  const readScope = auth.hook('read');
  const read = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err) => {
      throw store.isRetriable(err) ? storeUnavailable() : err;
    });

  app.get(
    '/api/v1/devices',
    // No parameters: any query parameter is refused (400 unknown_parameter).
    {
      onRequest: readScope,
      schema: {
        summary: 'Devices with stored events',
        description: 'The device registry: first and last seen, event count, presence with its cause, last status (RSSI, uptime, firmware), last data and expected interval. See docs/devices.md.',
        security: [{ bearer: [] }],
        response: { 200: DevicesPage, ...errors },
      },
    },
    async () => {
      const rows = await read(readRegistry(store.kind, store.processors));
      return { devices: rows.map((r) => deviceToJson(r, presence, presence.overrides)) };
    },
  );

  app.get<{ Params: Static<typeof DeviceParams> }>(
    '/api/v1/devices/:id',
    {
      onRequest: readScope,
      schema: {
        summary: 'One device of the registry',
        description: 'The same fields as one row of GET /api/v1/devices, plus `trip`: where the vehicle is in the trip state machine (idle / driving / paused, since when); 404 when the store holds nothing of that device.',
        security: [{ bearer: [] }],
        params: DeviceParams,
        response: { 200: DeviceDetail, 404: ErrorSchema, ...errors },
      },
    },
    async (req) => {
      const row = await read(readRegistryDevice(store.kind, store.processors, req.params.id));
      if (row === undefined) throw new ApiError(404, 'not_found', `no device ${req.params.id} in the registry`);
      const device = deviceToJson(row, presence, presence.overrides);
      if (tripSettingsFor === undefined) return device;
      const trip = await read(tripState(store, req.params.id, tripSettingsFor(req.params.id), Date.now()));
      return { ...device, trip: stateToJson(trip) };
    },
  );

  app.get<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof HistoryQuery> }>(
    '/api/v1/devices/:id/presence',
    {
      onRequest: readScope,
      schema: {
        summary: 'A device\'s presence transitions',
        description: 'Its presence transitions (commit-log entries of their own kind, docs/devices.md), newest first, paged by seq; 404 when the store holds nothing of that device.',
        security: [{ bearer: [] }],
        params: DeviceParams,
        querystring: HistoryQuery,
        response: { 200: HistoryPage, 404: ErrorSchema, ...errors },
      },
    },
    async (req) => {
      const row = await read(readRegistryDevice(store.kind, store.processors, req.params.id));
      if (row === undefined) throw new ApiError(404, 'not_found', `no device ${req.params.id} in the registry`);
      const limit = req.query.limit ?? 100;
      const h = await read(readPresenceHistory(store.kind, store.processors, req.params.id, limit, req.query.before));
      return {
        transitions: h.map((t) => ({ seq: t.seq, presence: t.state as Static<typeof PresenceState>, cause: t.cause, from: t.from, at: new Date(t.at).toISOString() })),
        next_before: h.length === limit ? h[h.length - 1].seq : null,
      };
    },
  );

  app.patch<{ Params: Static<typeof DeviceParams>; Body: Static<typeof IntervalPatch> }>(
    '/api/v1/devices/:id',
    {
      onRequest: auth.hook('admin'),
      // Fastify's Ajv strips unknown properties instead of refusing them; a misspelt field must not pass as a clear.
      preValidation: async (req) => {
        const body = req.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
        const unknown = Object.keys(body).filter((k) => !(k in IntervalPatch.properties));
        if (unknown.length > 0) throw new ApiError(400, 'invalid_request', `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the body takes expected_interval_s`);
      },
      schema: {
        summary: 'Set or clear a device\'s expected reporting interval',
        description:
          'Sets the expected interval (the override; the config file\'s devices: entry and the learned interval apply only without one), or clears it with null. ' +
          'The running presence monitor applies it at once: the device turns silent when no data came for the new timeout. Answers the device as GET does; 404 when the store holds nothing of it.',
        security: [{ bearer: [] }],
        params: DeviceParams,
        body: IntervalPatch,
        response: { 200: DeviceSchema, 404: ErrorSchema, ...errors },
      },
    },
    async (req) => {
      const id = req.params.id;
      const v = req.body.expected_interval_s;
      if (v !== null && !(v >= 0.1 && v <= 31_536_000)) {
        throw new ApiError(400, 'invalid_request', `expected_interval_s must be from 0.1 to 31536000 seconds, or null; got ${v}`, [{ path: '/expected_interval_s', message: 'is out of range' }]);
      }
      const ms = v === null ? null : Math.round(v * 1000);
      const found = await read(readRegistryDevice(store.kind, store.processors, id));
      if (found === undefined) throw new ApiError(404, 'not_found', `no device ${id} in the registry`);
      await read(store.processors.execute([{ sql: store.kind === 'postgres' ? 'UPDATE devices SET interval_override_ms = $1 WHERE device_id = $2' : 'UPDATE devices SET interval_override_ms = ? WHERE device_id = ?', params: [ms, id] }]));
      monitor?.setIntervalOverride(id, ms ?? presence.overrides.get(id) ?? null);
      const row = await read(readRegistryDevice(store.kind, store.processors, id));
      return deviceToJson(row!, presence, presence.overrides);
    },
  );
};

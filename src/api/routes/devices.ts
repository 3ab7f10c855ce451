/**
 * `GET /api/v1/devices` and `GET /api/v1/devices/{id}` (read scope): the
 * device registry, i.e. the `devices` rows with what the device-registry
 * processor keeps on them (last status, last data, learned interval,
 * presence from the last `presence` entry of the commit log).
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { storeUnavailable } from '../../core/http-error.js';
import { expectedIntervalMs, newDeviceState, timeoutMs, type PresenceSettings } from '../../devices/presence.js';
import { readRegistry, readRegistryDevice, type RegistryRow } from '../../processors/device-registry/read.js';
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
  last_seen: Type.String({ description: 'Server time of its last stored event (presence entries included)' }),
  events: Type.Integer({ description: 'Stored events, status and presence entries included' }),
  presence: PresenceState,
  presence_cause: Type.Union(['connected', 'disconnected', 'will', 'status', 'silence', 'data'].map((c) => Type.Literal(c)).concat([Type.Null() as never]), {
    description: 'What caused the current presence; null while unknown',
  }),
  presence_since: Time,
  last_data_at: { ...Time, description: 'Server time of its last reading (status and presence entries are not data)' },
  last_heard_at: { ...Time, description: 'Server time of the last sign of life of any kind in the log' },
  wifi_rssi: Num,
  uptime_s: Num,
  firmware: Type.Union([Type.String(), Type.Null()]),
  status_at: { ...Time, description: 'When the status fields were last reported' },
  interval_ms: Type.Number({ description: 'Expected reporting interval in use' }),
  interval_source: Type.Union([Type.Literal('override'), Type.Literal('learned'), Type.Literal('default')]),
  timeout_ms: Type.Number({ description: 'No data for longer than this turns it silent' }),
});
const DevicesPage = Type.Object({ devices: Type.Array(DeviceSchema) });
/** One device: its registry row, and where it is in the trip state machine (docs/trips.md). */
const DeviceDetail = Type.Object({
  ...DeviceSchema.properties,
  trip: Type.Optional({ ...TripStateSchema, description: 'Its trip state (idle / driving / paused, since when, the trip in progress), by its trip thresholds; absent when telehub runs without the trips table' }),
});
const DeviceParams = Type.Object({ id: Type.String({ minLength: 1 }) });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A registry row as the API (and `telehub devices`) shows it. */
export function deviceToJson(r: RegistryRow, cfg: PresenceSettings, overrides: ReadonlyMap<string, number>): Static<typeof DeviceSchema> {
  const s = newDeviceState(r.deviceId, r.firstSeen);
  s.learnedIntervalMs = r.intervalMs;
  s.intervalOverrideMs = overrides.get(r.deviceId) ?? null;
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
  /** Each vehicle's trip thresholds: GET /api/v1/devices/{id} then shows its trip state. */
  tripSettingsFor?: TripSettingsFor;
}

export const registerDeviceRoutes: FastifyPluginAsync<DeviceRouteOptions> = async (app, { auth, store, presence, tripSettingsFor }) => {
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
};

/**
 * The HTTP server (Fastify): health, readiness, metrics, ingestion, and the
 * OpenAPI document built from the same schemas that validate the routes.
 */
import type { TierConfig } from '../processors/rollups/tiers.js';
import swagger, { type SwaggerTransform } from '@fastify/swagger';
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import type { Metrics } from '../core/metrics.js';
import type { Store, TokenRepository } from '../storage/store.js';
import { registerDeviceRoutes, type DeviceRouteOptions } from './routes/devices.js';

/** Presence rules when the caller gives none (the settings' defaults). */
const DEFAULT_PRESENCE: DeviceRouteOptions['presence'] = { defaultIntervalMs: 60_000, minIntervalMs: 1000, maxIntervalMs: 3_600_000, graceFactor: 3, offlineAfterTimeouts: 3, overrides: new Map() };
import { registerQueryRoutes } from './routes/query.js';
import { registerStreamRoutes } from './routes/stream.js';
import { registerProcessorRoutes } from './routes/processors.js';
import { registerAlertRoutes } from './routes/alerts.js';
import type { AlertsConfig } from '../alerts/config.js';
import { registerTripRoutes } from './routes/trips.js';
import { DEFAULT_TRIP_SETTINGS } from '../trips/index.js';
import type { TripSettingsFor } from '../trips/config.js';
import type { ProcessorRunner } from '../log/runner.js';
import type { LiveHub } from '../sinks/live/hub.js';
import type { DeadLetterReplay } from '../sources/http-ingest/replay.js';
import type { HttpIngest } from '../sources/http-ingest/index.js';
import type { InfluxWrite } from '../sources/http-ingest/influx.js';
import { registerInfluxRoutes } from './routes/influx.js';
import { TokenAuth } from './auth.js';
import { closeIfBodyUnread, handleError } from './errors.js';
import { rejectUnknownQuery } from './query-params.js';
import { collectApiRoutes, registerHomeRoute, type ApiRouteLink } from './routes/home.js';
import { registerIngestRoutes } from './routes/ingest.js';
import { registerCommandRoutes } from './routes/commands.js';
import type { CommandDispatcher } from '../commands/dispatcher.js';
import { ErrorSchema, RetryAfterHeader } from './schemas.js';

export interface Readiness {
  /** Names of the parts that are not ready, empty when all are. */
  problems(): Promise<string[]>;
}

export interface HttpDeps {
  metrics: Metrics;
  readiness: Readiness;
  tokens?: TokenRepository;
  ingest?: HttpIngest;
  influx?: InfluxWrite;
  /** The store the query API reads. */
  store?: Store;
  replay?: DeadLetterReplay;
  hub?: LiveHub;
  /** Commands to devices (needs `store`). */
  commands?: CommandDispatcher;
  /** The processors following the commit log (GET /api/v1/processors). */
  processors?: ProcessorRunner;
  /** Presence rules, for the expected interval and timeout the device routes show. */
  presence?: DeviceRouteOptions['presence'];
  /** The running presence monitor (PATCH /api/v1/devices/{id} tells it of interval changes). */
  presenceMonitor?: DeviceRouteOptions['monitor'];
  /** The config file's alerts section (the alert routes; undefined: no alert routes). */
  alerts?: AlertsConfig;
  /** The rollup tiers the series API answers from; undefined: from raw only. */
  tiers?: TierConfig;
  /** Each vehicle's trip thresholds (GET /api/v1/trips: the current state, tracks); default DEFAULT_TRIP_SETTINGS for all. */
  tripSettingsFor?: TripSettingsFor;
  maxBodyBytes?: number;
  /** TELEHUB_DASHBOARD_AUTH=off: read and admin routes answer requests without a token. */
  openReads?: boolean;
  /** The built dashboard (index.html and assets/), served at `/`; the placeholder page when absent. */
  webRoot?: string;
  /** Called for every route as it is registered (tests walk the routes with it). */
  onRoute?: (route: RouteOptions) => void;
}

/**
 * How a route appears in the OpenAPI document, beyond its own schema:
 * - @fastify/websocket hides WebSocket routes; the stream is public, so it is listed;
 * - every 503 carries Retry-After (storeUnavailable() and the InfluxDB routes set it).
 */
const documentRoute: SwaggerTransform = ({ schema, url, route }) => {
  if (!schema) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  if (route.websocket) out.hide = false;
  const response = schema.response as Record<string, Record<string, unknown>> | undefined;
  if (response?.[503]) out.response = { ...response, 503: { ...response[503], headers: { 'retry-after': RetryAfterHeader } } };
  return { schema: out, url };
};

export async function buildHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  // On close (after the pipeline has drained and every answer was sent),
  // drop keep-alive and stream connections instead of waiting for clients.
  const app = Fastify({ logger: false, bodyLimit: deps.maxBodyBytes ?? 10 * 1024 * 1024, forceCloseConnections: true });
  if (deps.onRoute) {
    const onRoute = deps.onRoute;
    app.addHook('onRoute', (route) => onRoute(route));
  }
  // Every route in the OpenAPI document refuses query parameters it does not declare.
  app.addHook('onRoute', rejectUnknownQuery);
  const apiRoutes: ApiRouteLink[] = [];
  app.addHook('onRoute', collectApiRoutes(apiRoutes));
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) => {
    closeIfBodyUnread(req, reply);
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'telehub HTTP API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: documentRoute,
  });
  app.addSchema({ ...ErrorSchema, $id: 'Error' });

  await app.register(registerHomeRoute, { api: apiRoutes, webRoot: deps.webRoot });
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const problems = await deps.readiness.problems();
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', problems });
    return { status: 'ready' };
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  if (deps.tokens && deps.ingest) {
    const store = deps.store;
    // A token looked up while the store is down: 503, like the request itself would get.
    const auth = new TokenAuth(deps.tokens, store ? (err) => store.isRetriable(err) : undefined, deps.openReads);
    await app.register(registerIngestRoutes, { auth, ingest: deps.ingest });
    if (deps.influx) await app.register(registerInfluxRoutes, { auth, influx: deps.influx });
    if (deps.store) await app.register(registerQueryRoutes, { auth, store: deps.store, replay: deps.replay, tiers: deps.tiers });
    if (deps.hub) await app.register(registerStreamRoutes, { auth, hub: deps.hub });
    if (deps.store) await app.register(registerDeviceRoutes, { auth, store: deps.store, presence: deps.presence ?? DEFAULT_PRESENCE, monitor: deps.presenceMonitor, tripSettingsFor: deps.tripSettingsFor ?? (() => DEFAULT_TRIP_SETTINGS) });
    if (deps.commands && store) await app.register(registerCommandRoutes, { auth, commands: deps.commands, repo: store.commands, isRetriable: (err) => store.isRetriable(err) });
    if (deps.store && deps.processors) await app.register(registerProcessorRoutes, { auth, store: deps.store, processors: deps.processors });
    if (deps.store && deps.alerts) await app.register(registerAlertRoutes, { auth, store: deps.store, alerts: deps.alerts });
    if (deps.store) await app.register(registerTripRoutes, { auth, store: deps.store, settingsFor: deps.tripSettingsFor ?? (() => DEFAULT_TRIP_SETTINGS) });
  }

  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

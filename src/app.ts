/**
 * Wires one telehub process: store, batch writer, an MQTT source (embedded
 * broker or external client) and the HTTP server.
 *
 * @example
 * const hub = await startTelehub(loadConfig());
 * process.on('SIGTERM', () => hub.stop().then(() => process.exit(0)));
 */
import type { FastifyInstance } from 'fastify';
import { fileURLToPath } from 'node:url';
import { ensureAdminToken, type AdminTokenFacts } from './auth/admin-token.js';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { buildHttpServer, type HttpDeps } from './api/server.js';
import type { Config } from './core/config.js';
import { listenProblem, ListenError, type ListenTarget } from './core/listen.js';
import { createLogger } from './core/logger.js';
import { createMetrics, type Metrics } from './core/metrics.js';
import { BatchWriter, errorSummary } from './pipeline/batch-writer.js';
import { Ingest } from './pipeline/ingest.js';
import type { MessagePublisher } from './pipeline/message.js';
import { RouteTable } from './pipeline/routes.js';
import { HttpIngest } from './sources/http-ingest/index.js';
import { InfluxWrite } from './sources/http-ingest/influx.js';
import { DeadLetterReplay } from './sources/http-ingest/replay.js';
import { LiveHub } from './sinks/live/hub.js';
import type { Processor } from './log/processor.js';
import { ProcessorRunner } from './log/runner.js';
import { Wakeup } from './log/wakeup.js';
import { makeProcessors } from './processors/index.js';
import { DEVICE_REGISTRY } from './processors/device-registry/index.js';
import { readRegistry } from './processors/device-registry/read.js';
import { PresenceMonitor } from './devices/monitor.js';
import { PresenceWriter } from './devices/presence-writer.js';
import { appendPresence } from './storage/presence-log.js';
import { ROLLUPS } from './processors/rollups/index.js';
import { RollupRefresher } from './processors/rollups/refresher.js';
import { RetentionJob } from './retention/job.js';
import { TRIPS } from './processors/trips/index.js';
import { TripTick } from './processors/trips/tick.js';
import { EmbeddedBrokerSource } from './sources/mqtt-broker/index.js';
import { MqttClientSource } from './sources/mqtt-client/index.js';
import { BrokerHealth } from './sources/broker-health/index.js';
import { SysRelay } from './sources/broker-health/sys-relay.js';
import { openStore } from './storage/open.js';
import { AlertDeliverer } from './alerts/deliverer.js';
import { OutboxCleaner, outboxDepth } from './alerts/outbox.js';
import { MQTT_TARGET } from './alerts/config.js';
import { CommandDispatcher } from './commands/dispatcher.js';
import { commandAnswers, registerCommandAnswers } from './commands/answers.js';
import type { Store } from './storage/store.js';

export interface Telehub {
  config: Config;
  store: Store;
  writer: BatchWriter;
  /** The processors following the commit log. */
  processors: ProcessorRunner;
  /** Live device presence (isOnline for commands); undefined when device-registry is not run. */
  presence: PresenceMonitor | undefined;
  /** The live stream's fan-out (reads the commit log). */
  liveHub: LiveHub;
  metrics: Metrics;
  log: Logger;
  http: FastifyInstance;
  httpPort: number;
  /** Commands to devices (src/commands/). */
  commands: CommandDispatcher;
  /** Embedded broker ports (0/-1 when an external broker is used). */
  mqttPort: number;
  mqttWsPort: number;
  /** The first-start admin token's file, and the token when this start created it (for the banner). */
  adminToken: AdminTokenFacts;
  /** Stops intake, commits and acknowledges what is in flight, closes everything. */
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  onRoute?: HttpDeps['onRoute'];
  /** Processors to run besides those TELEHUB_PROCESSORS names (tests, benchmarks). */
  extraProcessors?: Processor[];
  /** Where the built dashboard is (default DEFAULT_WEB_ROOT); null serves the plain links page. */
  webRoot?: string | null;
}

/**
 * The built dashboard: dist/web beside dist/ (from src/app.ts and from
 * dist/app.js alike, both one level under the package root).
 */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../dist/web', import.meta.url));

/** Which settings to name when a listener cannot bind. */
const LISTENERS: Record<'http' | 'mqtt' | 'ws', ListenTarget> = {
  http: { what: 'HTTP', portSetting: 'TELEHUB_HTTP_PORT', hostSetting: 'TELEHUB_HTTP_HOST' },
  mqtt: { what: 'MQTT', portSetting: 'TELEHUB_MQTT_PORT', hostSetting: 'TELEHUB_MQTT_HOST' },
  ws: { what: 'MQTT WebSocket', portSetting: 'TELEHUB_MQTT_WS_PORT', hostSetting: 'TELEHUB_MQTT_HOST' },
};

/**
 * Starts everything; resolves once every listener is bound and the store is
 * migrated. A port that is taken (or an address that is not this machine's)
 * rejects with a ConfigError naming the setting to change, after closing
 * what had started.
 */
export async function startTelehub(config: Config, opts: StartOptions = {}): Promise<Telehub> {
  const log = opts.log ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  const store = openStore(config.store);
  let migrated = false;
  let embedded: EmbeddedBrokerSource | undefined;
  let external: MqttClientSource | undefined;
  let stopping = false;
  let started = false;
  let alertDeliverer: AlertDeliverer | undefined;
  let outboxCleaner: OutboxCleaner | undefined;
  // The writer exists from the start (it touches the store only on submit);
  // HTTP ingestion answers 503 until the store is migrated.
  const w = new BatchWriter(store, config.pipeline, log, metrics);
  metrics.observeInflight(() => w.inflight);
  // The one ingest path for every source; the route table is built (and its codecs made) once.
  const ingest = new Ingest(w, new RouteTable(config.routes, config), config, log, metrics);
  const accepting = () => migrated && !stopping;
  const httpIngest = new HttpIngest(ingest, w, accepting);

  // After a commit the writer only rings this (no data); processors and the
  // live stream read what was committed from the commit log.
  const wakeup = new Wakeup();
  w.onCommit(() => wakeup.ring());
  // Presence lives beside the device-registry processor, which feeds it the
  // entries it applied (src/devices/monitor.ts).
  // Its transitions are commit-log entries of their own (presence_transitions),
  // appended in order and retried while the store is away.
  const presenceWriter = config.log.processors.includes(DEVICE_REGISTRY)
    ? new PresenceWriter((entries) => appendPresence(store.kind, store.processors, entries), log, () => wakeup.ring())
    : undefined;
  const presence = presenceWriter ? new PresenceMonitor(presenceWriter, config.presence, log) : undefined;
  // The dispatcher publishes through the active source, bound once it has started.
  let commandOut: MessagePublisher | undefined;
  const commands = new CommandDispatcher(
    store.commands,
    { publish: (topic, payload, qos) => commandOut?.publish(topic, payload, qos) },
    config.commands,
    log.child({ component: 'commands' }),
    Date.now,
    // Held back only for a device known to be offline: `unknown` (never seen
    // connect, or behind an external broker that shows no connects) still
    // gets its commands, retried and bounded by their TTL.
    (deviceId) => presence?.state(deviceId)?.presence !== 'offline',
  );
  const processors = new ProcessorRunner(
    store,
    // The dispatcher follows the log too (node answers are `status` entries), whatever TELEHUB_PROCESSORS says.
    [
      ...makeProcessors(config.log.processors, {
        tiers: config.tiers,
        processors: store.processors,
        config,
        intervalBounds: config.presence,
        registryListener: () => (presence ? (e) => presence.onEntries(e) : undefined),
      }),
      commandAnswers(commands),
      ...(opts.extraProcessors ?? []),
    ],
    { batchSize: config.log.processorBatch, pollMs: config.log.pollMs, retryMinMs: config.pipeline.retryMinMs, retryMaxMs: config.pipeline.retryMaxMs },
    log,
    wakeup,
  );
  processors.onError = (name) => metrics.processorErrors.inc({ name });
  metrics.observeProcessors(() => (migrated ? processors.status() : Promise.resolve([])));
  // The tiers' refresher runs where their processor does.
  const tiersOn = config.log.processors.includes(ROLLUPS);
  const refresher = tiersOn ? new RollupRefresher(store.processors, store.kind, config.tiers, { log }) : undefined;
  const retention = new RetentionJob({ store: store.processors, dialect: store.kind, tiers: config.tiers, retention: config.retention, processors: config.log.processors, rollupsOn: tiersOn, log });
  metrics.observeRetention(() => retention.totals);
  if (refresher) metrics.observeTiers({ lag: () => refresher.refreshLagSeconds(), tooLate: () => refresher.tooLateTotal });
  const hub = new LiveHub({ maxBufferedBytes: config.http.streamMaxBufferBytes, log: store.log, wakeup, pollMs: config.log.pollMs, logger: log });
  metrics.observeStream(() => hub.counters);
  const influx = new InfluxWrite(ingest, w, config.lineProtocol, accepting);
  const http = await buildHttpServer({
    metrics,
    tokens: store.tokens,
    store,
    replay: new DeadLetterReplay(ingest),
    hub,
    processors,
    presence: config.presence,
    presenceMonitor: presence,
    alerts: config.alerts,
    tiers: tiersOn ? config.tiers : undefined,
    tripSettingsFor: config.trips.settingsFor,
    ingest: httpIngest,
    influx,
    commands,
    maxBodyBytes: config.http.maxBodyBytes,
    openReads: !config.http.dashboardAuth,
    webRoot: opts.webRoot === null ? undefined : (opts.webRoot ?? DEFAULT_WEB_ROOT),
    onRoute: opts.onRoute,
    readiness: { problems: async () => {
      const p: string[] = [];
      if (stopping) p.push('shutting down');
      else if (!started) p.push('starting up');
      if (!migrated) p.push('store: not yet migrated');
      else if (!w.storeHealthy) p.push('store: writes are failing and being retried');
      else {
        try {
          await withTimeout(store.ping(), 2000);
        } catch (err) {
          p.push(`store: ${errorSummary(err).message}`);
        }
      }
      if (external && !external.ready) p.push('mqtt: not connected to the broker');
      return p;
    } },
  });
  try {
    await http.listen({ port: config.http.port, host: config.http.host });
  } catch (err) {
    await http.close().catch(() => undefined);
    await store.close();
    throw listenProblem(err, LISTENERS.http, config.http);
  }
  const httpPort = (http.server.address() as AddressInfo).port;
  log.info({ port: httpPort }, 'HTTP server listening.');

  // The store may not be up yet (containers start in any order): keep trying.
  for (let attempt = 0; ; attempt++) {
    try {
      await store.migrate();
      migrated = true;
      break;
    } catch (err) {
      if (!store.isRetriable(err)) {
        await http.close();
        await store.close();
        throw err;
      }
      const delay = Math.min(config.pipeline.retryMaxMs, config.pipeline.retryMinMs * 2 ** attempt);
      log.warn({ err: errorSummary(err), retryInMs: delay }, 'Store is not reachable yet; retrying.');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  log.info({ store: store.kind, versions: await store.migrationVersions() }, 'Store ready.');

  metrics.storeUp.set(1);
  const adminToken = await ensureAdminToken(store.tokens, config.dataDir);
  if (adminToken.created) log.info({ file: adminToken.file }, 'Admin token created on first start; the banner shows it once.');
  if (!config.http.dashboardAuth) {
    log.warn({ setting: 'TELEHUB_DASHBOARD_AUTH' }, 'Dashboard authentication is off: anyone who can reach the HTTP port can read all data and replay dead letters.');
  }
  log.info({ routes: config.routes.map((r) => ({ filter: r.filter, codec: r.codec, reply: r.reply })) }, 'Routes ready.');

  // Before the broker (its connects need the known devices) and before the
  // processors (entries after the registry's checkpoint reach it through them).
  presence?.start(await readRegistry(store.kind, store.processors));

  const healthMs = config.brokerStatsIntervalS * 1000;
  let health: BrokerHealth | undefined;
  let sysRelay: SysRelay | undefined;
  metrics.observeBroker(() => health?.last);
  if (config.mqtt) {
    external = new MqttClientSource(ingest, w, config.mqtt, ingest.routes.filters, config.pipeline.maxInflight, log, metrics);
    external.announceStatus = healthMs > 0;
    try {
      await external.start();
    } catch (err) {
      // A refused subscription: close what started, then let the CLI say what to fix.
      await http.close();
      await withTimeout(w.close(), config.shutdownTimeoutMs).catch(() => undefined);
      await store.close();
      throw err;
    }
  } else {
    embedded = new EmbeddedBrokerSource(ingest, w, { ...config.embedded, maxInflight: config.pipeline.maxInflight }, log, metrics, presence);
    try {
      await embedded.start();
    } catch (err) {
      await http.close();
      await withTimeout(w.close(), config.shutdownTimeoutMs).catch(() => undefined);
      await store.close();
      throw err instanceof ListenError ? listenProblem(err, err.listener === 'ws' ? LISTENERS.ws : LISTENERS.mqtt) : err;
    }
  }
  ingest.deadLetterOut = external?.publisher ?? embedded?.publisher;
  commandOut = external?.publisher ?? embedded?.publisher;
  // Node answers reach the dispatcher through the commit log (its `commands` consumer, started with the processors below).
  await registerCommandAnswers(store.processors, store.log);
  await commands.start();
  if (healthMs > 0 && embedded) {
    const broker = embedded;
    health = new BrokerHealth('embedded', () => broker.totals(), { publish: (t, p, retain) => broker.publishHealth(t, p, retain) }, healthMs, log);
    health.start();
  } else if (healthMs > 0 && external && config.mqtt) {
    const source = external;
    const relay = (sysRelay = new SysRelay(config.mqtt, log));
    relay.start();
    // `online`/`offline` are the ingest connection's (announceStatus, its will).
    health = new BrokerHealth('$SYS', () => relay.totals(), { publish: (t, p) => source.publishStats(t, p) }, healthMs, log);
    health.start(false);
  }
  // Beside intake, after it: a processor never delays the first ACK.
  await processors.start();
  const publisher = ingest.deadLetterOut;
  alertDeliverer = new AlertDeliverer(store.processors, store.kind, config.alerts, { log, wakeup, mqtt: () => publisher });
  alertDeliverer.start();
  outboxCleaner = new OutboxCleaner(store.processors, store.kind, config.alerts, { log });
  outboxCleaner.start();
  {
    const deliverer = alertDeliverer;
    const cleaner = outboxCleaner;
    metrics.observeAlerts({
      byTarget: () => deliverer.byTarget,
      channelOf: (target) => (target === MQTT_TARGET ? 'mqtt' : (config.alerts.webhooks.find((h) => h.name === target)?.type ?? 'unknown')),
      targets: () => deliverer.targets,
      depth: () => outboxDepth(store.processors, store.kind),
      deleted: () => cleaner.deleted,
    });
  }
  refresher?.start();
  retention.start();
  log.info({ processors: processors.names }, 'Processors following the commit log.');
  // Trips in progress end by the clock when no data comes (the processor only runs on new entries).
  const tripTick = processors.names.includes(TRIPS) ? new TripTick(store, config.trips, log) : undefined;
  tripTick?.start();
  started = true;

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.info({ inflight: w.inflight }, 'Stopping: intake closed, committing what is in flight.');
    commands.stop();
    external?.stopIntake();
    embedded?.stopIntake();
    presence?.stop();
    const drained = await withTimeout(Promise.all([w.close(), presenceWriter?.stop()]), config.shutdownTimeoutMs).then(
      () => true,
      () => false,
    );
    if (!drained) log.warn({ inflight: w.inflight }, 'Shutdown timeout reached; unacknowledged events will be redelivered.');
    await tripTick?.stop();
    health?.stop(embedded !== undefined);
    await sysRelay?.close();
    await retention.stop();
    await refresher?.stop();
    await alertDeliverer?.stop();
    await outboxCleaner?.stop();
    await processors.stop();
    await external?.close();
    await embedded?.close();
    log.debug('MQTT closed.');
    hub.closeAll();
    await http.close();
    log.debug('HTTP closed.');
    await store.close();
    log.info('Stopped.');
  };

  return {
    config,
    store,
    writer: w,
    processors,
    presence,
    liveHub: hub,
    metrics,
    log,
    http,
    httpPort,
    commands,
    mqttPort: embedded?.port ?? 0,
    mqttWsPort: embedded?.wsPort ?? -1,
    adminToken,
    stop,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

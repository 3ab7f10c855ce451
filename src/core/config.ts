import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { ReplyKind } from '../codecs/codec.js';
import { loadConfigFile, type ConfigFile, type RouteConfig } from './config-file.js';
import { DEFAULT_ALERTS, type AlertsConfig } from '../alerts/config.js';
import { ConfigError } from './errors.js';
import { KNOWN_PROCESSORS } from '../processors/index.js';
import { checkTiers, DEFAULT_TIERS, type TierConfig } from '../processors/rollups/tiers.js';
import type { TripSettings } from '../trips/settings.js';
import { tripSettingsResolver, type TripSettingsFor } from '../trips/config.js';
import { editDistance } from './setting-typos.js';
import { IGNORED_PREFIXES, SETTINGS, type SettingSpec } from './settings.js';

export type { RouteConfig } from './config-file.js';

export interface Limits {
  maxPayloadBytes: number;
  maxMetaBytes: number;
  maxMetaDepth: number;
  maxIdLength: number;
  maxValueTextLength: number;
}

export interface ExternalMqttConfig {
  url: string;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  clientId: string;
  protocolVersion: 4 | 5;
  sessionExpirySeconds: number;
  keepaliveSeconds: number;
  shareGroup?: string;
}

export type StoreConfig =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; connectionString?: string; host: string; port: number; database: string; user: string; password: string; poolSize: number };

export interface Config {
  dataDir: string;
  http: { host: string; port: number; maxBodyBytes: number; streamMaxBufferBytes: number; /** false: TELEHUB_DASHBOARD_AUTH=off, reads need no token. */ dashboardAuth: boolean };
  logLevel: string;
  shutdownTimeoutMs: number;
  /** Commands to devices (src/commands/). */
  commands: { ttlMs: number; ackTimeoutMs: number; maxAttempts: number };
  /** Broker health interval (iot/broker/stats); 0: off. */
  brokerStatsIntervalS: number;
  /** Embedded broker, used when `mqtt` is undefined. */
  embedded: { host: string; port: number; wsPort: number; maxPacketBytes: number };
  /** External broker; undefined means the embedded one. */
  mqtt?: ExternalMqttConfig;
  topics: { events: string; deadLetter: string; ackTemplate: string; ackQos: 0 | 1 };
  store: StoreConfig;
  pipeline: {
    batchMax: number;
    batchWaitMs: number;
    mergeMax: number;
    maxInflight: number;
    writeConcurrency: number;
    retryMinMs: number;
    retryMaxMs: number;
  };
  /** Commit-log readers: the processors to run and how they read. */
  log: { processors: string[]; processorBatch: number; pollMs: number };
  /** Device presence rules (src/devices/presence.ts); per-device intervals from the config file's `devices:`. */
  presence: { defaultIntervalMs: number; minIntervalMs: number; maxIntervalMs: number; graceFactor: number; offlineAfterTimeouts: number; overrides: Map<string, number> };
  /** The rollup tier ladder (seed 004 defaults, lateness and refresh from settings). */
  tiers: TierConfig;
  /** The retention job (src/retention): raw events, dead letters, disk guardrail. */
  retention: RetentionConfig;
  /** The trips processor: state-machine thresholds, how late data may come, how often in-progress trips are re-judged. */
  trips: {
    /** The fleet's thresholds (settings, then the config file's `trips:` section). */
    settings: TripSettings;
    /** One vehicle's thresholds (its `trips.vehicles` entry over the fleet's). */
    settingsFor: TripSettingsFor;
    latenessMs: number;
    tickMs: number;
  };
  limits: Limits;
  lineProtocol: { deviceTag: string; fallbackDeviceTags: string[]; eventType: 'measurement.field' | 'field' };
  /**
   * The route table, in matching order (the first route whose filter matches
   * a topic takes the message): MQTT_EVENTS_TOPIC → seed001-json, then the
   * routes of TELEHUB_CONFIG (one with the same filter replaces the default).
   */
  routes: RouteConfig[];
  /** TELEHUB_CONFIG, when given. */
  configFile?: string;
  /** The config file's `alerts:` section (docs/alerts.md). */
  alerts: AlertsConfig;
}

export interface RetentionConfig {
  /** 0: the job does not run. */
  intervalMs: number;
  chunk: number;
  /** 0: no age limit. */
  deadLetterRetentionMs: number;
  /** 0: no ceiling. */
  deadLetterMaxBytes: number;
  /** 0: no guardrail. */
  diskMaxBytes: number;
  diskWarnRatio: number;
  diskShrinkRaw: boolean;
}

type Raw = Record<string, string | undefined>;

/**
 * Checks one value written as text against its spec; on a problem adds a
 * line naming the setting (or config-file key) and returns undefined.
 */
export function checkSetting(spec: SettingSpec, raw: string, problems: string[]): unknown {
  const bad = (why: string) => {
    problems.push(`${spec.env}=${spec.secret ? '<hidden>' : JSON.stringify(raw)}: ${why}`);
    return undefined;
  };
  switch (spec.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) return bad('must be an integer');
      const n = Number(raw.trim());
      if (spec.min !== undefined && n < spec.min) return bad(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) return bad(`must be at most ${spec.max}`);
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      return bad('must be true or false');
    }
    case 'enum':
      if (!spec.values!.includes(raw.trim())) return bad(`must be one of ${spec.values!.join(', ')}`);
      return raw.trim();
    case 'url': {
      let u: URL;
      try {
        u = new URL(raw.trim());
      } catch {
        return bad('is not a valid URL');
      }
      if (spec.values && !spec.values.includes(u.protocol)) return bad(`scheme must be one of ${spec.values.map((s) => s.replace(':', '://')).join(', ')}`);
      return raw.trim();
    }
    case 'file':
      try {
        accessSync(raw, constants.R_OK);
      } catch {
        return bad('file does not exist or cannot be read');
      }
      return raw;
    case 'topic-filter': {
      const levels = raw.split('/');
      if (raw.length === 0) return bad('must not be empty');
      for (let i = 0; i < levels.length; i++) {
        const l = levels[i];
        if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return bad('`#` must be a whole level and the last one');
        if (l.includes('+') && l !== '+') return bad('`+` must be a whole level');
      }
      return raw;
    }
    case 'topic-template':
      if (!raw.includes('{device_id}')) return bad('must contain {device_id}');
      if (/[+#]/.test(raw)) return bad('must not contain the wildcards + or #');
      return raw;
    case 'string':
      if (raw.length === 0) return bad('must not be empty');
      return raw;
  }
}

/** Suggests the known name closest to an unknown one (typos such as TELEHUB_BATCHMAX). */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return bestD <= 3 ? best : undefined;
}

/**
 * Validates the environment against the settings schema and builds the
 * configuration. Every problem is reported at once, each naming its setting.
 *
 * @example
 * const config = loadConfig(process.env); // throws ConfigError on a bad setting
 */
export function loadConfig(env: Raw = process.env): Config {
  const problems: string[] = [];
  const v: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const raw = env[spec.env];
    const given = raw !== undefined && raw !== '';
    const text = given ? raw : spec.default;
    v[spec.env] = text === undefined ? undefined : checkSetting(spec, text, problems);
  }
  const known = new Set(SETTINGS.map((s) => s.env));
  for (const name of Object.keys(env)) {
    if (!name.startsWith('TELEHUB_') || known.has(name)) continue;
    if (IGNORED_PREFIXES.some((p) => name.startsWith(p))) continue;
    const hint = closestName(name, SETTINGS.map((s) => s.env));
    problems.push(`${name}: unknown setting${hint ? ` (did you mean ${hint}?)` : ''}`);
  }
  const str = (k: string) => v[k] as string | undefined;
  const int = (k: string) => v[k] as number;

  if (int('TELEHUB_RETRY_MIN_MS') > int('TELEHUB_RETRY_MAX_MS')) {
    problems.push('TELEHUB_RETRY_MIN_MS: must not exceed TELEHUB_RETRY_MAX_MS');
  }
  if (int('TELEHUB_BATCH_MAX') > int('TELEHUB_MAX_INFLIGHT')) {
    problems.push('TELEHUB_BATCH_MAX: must not exceed TELEHUB_MAX_INFLIGHT');
  }
  if (v.TELEHUB_MQTT_MAX_PACKET_BYTES !== undefined && int('TELEHUB_MQTT_MAX_PACKET_BYTES') < int('TELEHUB_MAX_PAYLOAD_BYTES')) {
    problems.push('TELEHUB_MQTT_MAX_PACKET_BYTES: must be at least TELEHUB_MAX_PAYLOAD_BYTES');
  }
  if ((str('MQTT_CERT_FILE') === undefined) !== (str('MQTT_KEY_FILE') === undefined)) {
    problems.push('MQTT_CERT_FILE: MQTT_CERT_FILE and MQTT_KEY_FILE must be set together');
  }

  const configFile = str('TELEHUB_CONFIG');
  const carTopic = str('TELEHUB_CAR_TELEMETRY_TOPIC');
  if (carTopic !== undefined && carTopic !== 'none') {
    // Declared as a string so `none` can turn it off; any other value must be a topic filter.
    checkSetting({ env: 'TELEHUB_CAR_TELEMETRY_TOPIC', group: 'Topics', type: 'topic-filter', description: '' }, carTopic, problems);
  }
  const file = configFile === undefined ? undefined : loadConfigFile(configFile, problems);
  const routes = buildRoutes(
    defaultRoutes(str('MQTT_EVENTS_TOPIC'), str('ACK_TEMPLATE')!, str('TELEHUB_NODE_TELEMETRY_TOPIC'), str('TELEHUB_NODE_TELEMETRY_REPLY') as ReplyKind, str('TELEHUB_NODE_STATUS_TOPIC'), carTopic === 'none' ? undefined : carTopic),
    str('ACK_TEMPLATE')!, configFile, file, problems,
  );

  const storeKind = str('TELEHUB_STORE');
  const pgWanted = storeKind === 'postgres' || (storeKind === 'auto' && (str('DATABASE_URL') !== undefined || str('POSTGRES_HOST') !== undefined));

  const processorNames = [...new Set((str('TELEHUB_PROCESSORS') ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '' && t !== 'none'))];
  for (const n of processorNames) {
    if (!KNOWN_PROCESSORS.includes(n)) problems.push(`TELEHUB_PROCESSORS: unknown processor ${JSON.stringify(n)} (known: ${KNOWN_PROCESSORS.join(', ')})`);
  }
  // The file's ladder (when given) over the seed 004 defaults; lateness and refresh are settings.
  const tiers: TierConfig = {
    ...DEFAULT_TIERS,
    rawRetentionMs: file?.tiers?.rawRetentionMs ?? DEFAULT_TIERS.rawRetentionMs,
    aggregates: file?.tiers?.aggregates ?? DEFAULT_TIERS.aggregates,
    latenessMs: int('TELEHUB_ROLLUP_LATENESS_S') * 1000,
    refreshMs: int('TELEHUB_ROLLUP_REFRESH_S') * 1000,
  };
  problems.push(...checkTiers(tiers, file?.tiers !== undefined ? `${configFile}: tiers` : 'tiers'));
  // Trip thresholds: the settings, then the file's fleet default (`trips:`); vehicles' entries on top (settingsFor).
  const tripFleet: TripSettings = {
    speedThresholdKmh: int('TELEHUB_TRIP_SPEED_THRESHOLD_KMH'),
    idleTimeoutMs: int('TELEHUB_TRIP_IDLE_TIMEOUT_S') * 1000,
    resumeWindowMs: int('TELEHUB_TRIP_RESUME_WINDOW_S') * 1000,
    minDistanceKm: int('TELEHUB_TRIP_MIN_DISTANCE_M') / 1000,
    minDurationMs: int('TELEHUB_TRIP_MIN_DURATION_S') * 1000,
    maxPlausibleSpeedKmh: int('TELEHUB_TRIP_MAX_PLAUSIBLE_SPEED_KMH'),
    ...file?.trips?.fleet,
  };
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }

  const dataDir = path.resolve(str('TELEHUB_DATA_DIR')!);
  let mqtt: ExternalMqttConfig | undefined;
  const url = str('MQTT_URL') ?? (str('MQTT_HOST') ? `mqtt://${str('MQTT_HOST')}:${int('MQTT_PORT')}` : undefined);
  if (url) {
    mqtt = {
      url,
      username: str('MQTT_USERNAME'),
      password: str('MQTT_PASSWORD'),
      caFile: str('MQTT_CA_FILE'),
      certFile: str('MQTT_CERT_FILE'),
      keyFile: str('MQTT_KEY_FILE'),
      clientId: str('MQTT_CLIENT_ID')!,
      protocolVersion: str('TELEHUB_MQTT_PROTOCOL') === '3.1.1' ? 4 : 5,
      sessionExpirySeconds: int('TELEHUB_MQTT_SESSION_EXPIRY_S'),
      keepaliveSeconds: int('TELEHUB_MQTT_KEEPALIVE_S'),
      shareGroup: str('TELEHUB_MQTT_SHARE_GROUP'),
    };
  }

  const store: StoreConfig = pgWanted
    ? {
        kind: 'postgres',
        connectionString: str('DATABASE_URL'),
        host: str('POSTGRES_HOST') ?? 'localhost',
        port: int('POSTGRES_PORT'),
        database: str('POSTGRES_DB')!,
        user: str('POSTGRES_USER')!,
        password: str('POSTGRES_PASSWORD')!,
        poolSize: int('TELEHUB_PG_POOL_SIZE'),
      }
    : { kind: 'sqlite', file: path.join(dataDir, 'telehub.db') };

  return {
    dataDir,
    http: { host: str('TELEHUB_HTTP_HOST')!, port: int('TELEHUB_HTTP_PORT'), maxBodyBytes: int('TELEHUB_HTTP_MAX_BODY_BYTES'), streamMaxBufferBytes: int('TELEHUB_STREAM_MAX_BUFFER_BYTES'), dashboardAuth: str('TELEHUB_DASHBOARD_AUTH') !== 'off' },
    logLevel: str('TELEHUB_LOG_LEVEL')!,
    shutdownTimeoutMs: int('TELEHUB_SHUTDOWN_TIMEOUT_MS'),
    commands: { ttlMs: int('TELEHUB_COMMAND_TTL_S') * 1000, ackTimeoutMs: int('TELEHUB_COMMAND_ACK_TIMEOUT_S') * 1000, maxAttempts: int('TELEHUB_COMMAND_MAX_ATTEMPTS') },
    brokerStatsIntervalS: int('TELEHUB_BROKER_STATS_INTERVAL_S'),
    embedded: {
      host: str('TELEHUB_MQTT_HOST')!,
      port: int('TELEHUB_MQTT_PORT'),
      wsPort: int('TELEHUB_MQTT_WS_PORT'),
      // Unset: room for the payload limit plus the longest topic and the header.
      maxPacketBytes: (v.TELEHUB_MQTT_MAX_PACKET_BYTES as number | undefined) ?? int('TELEHUB_MAX_PAYLOAD_BYTES') + 65536,
    },
    mqtt,
    topics: {
      events: str('MQTT_EVENTS_TOPIC')!,
      deadLetter: str('MQTT_DEADLETTER_TOPIC')!,
      ackTemplate: str('ACK_TEMPLATE')!,
      ackQos: int('TELEHUB_ACK_QOS') as 0 | 1,
    },
    store,
    pipeline: {
      batchMax: int('TELEHUB_BATCH_MAX'),
      batchWaitMs: int('TELEHUB_BATCH_WAIT_MS'),
      mergeMax: int('TELEHUB_BATCH_MERGE_MAX'),
      maxInflight: int('TELEHUB_MAX_INFLIGHT'),
      writeConcurrency: int('TELEHUB_WRITE_CONCURRENCY'),
      retryMinMs: int('TELEHUB_RETRY_MIN_MS'),
      retryMaxMs: int('TELEHUB_RETRY_MAX_MS'),
    },
    log: {
      processors: processorNames,
      processorBatch: int('TELEHUB_PROCESSOR_BATCH'),
      pollMs: int('TELEHUB_LOG_POLL_MS'),
    },
    presence: {
      defaultIntervalMs: int('TELEHUB_PRESENCE_DEFAULT_INTERVAL_MS'),
      minIntervalMs: int('TELEHUB_PRESENCE_MIN_INTERVAL_MS'),
      maxIntervalMs: int('TELEHUB_PRESENCE_MAX_INTERVAL_MS'),
      graceFactor: int('TELEHUB_PRESENCE_GRACE_PERCENT') / 100,
      offlineAfterTimeouts: int('TELEHUB_PRESENCE_OFFLINE_AFTER'),
      overrides: new Map((file?.devices ?? []).map((d) => [d.id, d.intervalMs])),
    },
    tiers,
    retention: {
      intervalMs: int('TELEHUB_RETENTION_INTERVAL_S') * 1000,
      chunk: int('TELEHUB_RETENTION_CHUNK'),
      deadLetterRetentionMs: int('TELEHUB_DEADLETTER_RETENTION_DAYS') * 86_400_000,
      deadLetterMaxBytes: int('TELEHUB_DEADLETTER_MAX_MB') * 1024 * 1024,
      diskMaxBytes: int('TELEHUB_DISK_MAX_MB') * 1024 * 1024,
      diskWarnRatio: int('TELEHUB_DISK_WARN_PERCENT') / 100,
      diskShrinkRaw: v.TELEHUB_DISK_SHRINK_RAW as boolean,
    },
    trips: {
      settings: tripFleet,
      settingsFor: tripSettingsResolver(tripFleet, file?.trips),
      latenessMs: int('TELEHUB_TRIP_LATENESS_S') * 1000,
      tickMs: int('TELEHUB_TRIP_TICK_S') * 1000,
    },
    lineProtocol: {
      deviceTag: str('TELEHUB_LP_DEVICE_TAG')!,
      fallbackDeviceTags: str('TELEHUB_LP_FALLBACK_DEVICE_TAGS')!.split(',').map((t) => t.trim()).filter(Boolean),
      eventType: str('TELEHUB_LP_EVENT_TYPE') as 'measurement.field' | 'field',
    },
    routes,
    configFile,
    alerts: file?.alerts ?? DEFAULT_ALERTS,
    limits: {
      maxPayloadBytes: int('TELEHUB_MAX_PAYLOAD_BYTES'),
      maxMetaBytes: int('TELEHUB_MAX_META_BYTES'),
      maxMetaDepth: int('TELEHUB_MAX_META_DEPTH'),
      maxIdLength: int('TELEHUB_MAX_ID_LENGTH'),
      maxValueTextLength: int('TELEHUB_MAX_VALUE_TEXT_LENGTH'),
    },
  };
}

/**
 * The default routes, each from its setting: MQTT_EVENTS_TOPIC →
 * seed001-json (ACK reply on ACK_TEMPLATE), TELEHUB_NODE_TELEMETRY_TOPIC →
 * node-telemetry (reply TELEHUB_NODE_TELEMETRY_REPLY), TELEHUB_NODE_STATUS_TOPIC
 * → node-status (no reply), TELEHUB_CAR_TELEMETRY_TOPIC → car-telemetry (no
 * reply). Two settings naming one filter keep the first.
 */
export function defaultRoutes(eventsTopic: string | undefined, ackTemplate: string, nodeTelemetryTopic?: string, nodeTelemetryReply: ReplyKind = 'none', nodeStatusTopic?: string, carTopic?: string): RouteConfig[] {
  const routes: RouteConfig[] = [];
  const add = (r: RouteConfig) => {
    if (!routes.some((d) => d.filter === r.filter)) routes.push(r);
  };
  if (eventsTopic !== undefined) add(defaultRoute(eventsTopic, ackTemplate));
  if (nodeTelemetryTopic !== undefined) add(settingRoute('TELEHUB_NODE_TELEMETRY_TOPIC', nodeTelemetryTopic, 'node-telemetry', nodeTelemetryReply, ackTemplate));
  if (nodeStatusTopic !== undefined) add(settingRoute('TELEHUB_NODE_STATUS_TOPIC', nodeStatusTopic, 'node-status', 'none', ackTemplate));
  if (carTopic !== undefined) add(carTelemetryRoute(carTopic, ackTemplate));
  return routes;
}

function settingRoute(origin: string, filter: string, codec: string, reply: ReplyKind, ackTemplate: string): RouteConfig {
  const plus = filter.split('/').indexOf('+');
  return { origin, filter, codec, deviceLevel: plus >= 0 ? plus + 1 : undefined, reply, ackTemplate, options: {} };
}

/** Where a route comes from a setting rather than the file. */
const DEFAULT_ORIGINS = new Set(['MQTT_EVENTS_TOPIC', 'TELEHUB_NODE_TELEMETRY_TOPIC', 'TELEHUB_NODE_STATUS_TOPIC', 'TELEHUB_CAR_TELEMETRY_TOPIC']);

/**
 * The route table: the default routes, then the file's routes; a file route
 * with a default's filter replaces it.
 */
function buildRoutes(defaults: RouteConfig[], ackTemplate: string, configFile: string | undefined, file: ConfigFile | undefined, problems: string[]): RouteConfig[] {
  const routes = defaults;
  if (configFile === undefined || file === undefined) return routes;
  for (const r of file.routes) {
    const route: RouteConfig = { ...r, origin: `${configFile} ${r.origin}`, ackTemplate: r.ackTemplate ?? ackTemplate };
    const same = routes.findIndex((d) => DEFAULT_ORIGINS.has(d.origin) && d.filter === r.filter);
    if (same >= 0) routes.splice(same, 1);
    routes.push(route);
  }
  return routes;
}

/** The seed 001 route: MQTT_EVENTS_TOPIC → seed001-json, device at the first `+`, ACK on ACK_TEMPLATE. */
export function defaultRoute(eventsTopic: string, ackTemplate: string): RouteConfig {
  const plus = eventsTopic.split('/').indexOf('+');
  return { origin: 'MQTT_EVENTS_TOPIC', filter: eventsTopic, codec: 'seed001-json', deviceLevel: plus >= 0 ? plus + 1 : undefined, reply: 'seed001-ack', ackTemplate, options: {} };
}

/** The car route: TELEHUB_CAR_TELEMETRY_TOPIC → car-telemetry, vehicle at the first `+`, no reply message (PUBACK after commit). */
export function carTelemetryRoute(filter: string, ackTemplate: string): RouteConfig {
  const plus = filter.split('/').indexOf('+');
  return { origin: 'TELEHUB_CAR_TELEMETRY_TOPIC', filter, codec: 'car-telemetry', deviceLevel: plus >= 0 ? plus + 1 : undefined, reply: 'none', ackTemplate, options: {} };
}

/** The TELEHUB_LP_* defaults codecs fall back on, for tests and tools without a full configuration. */
export const DEFAULT_CODEC_DEFAULTS: Pick<Config, 'lineProtocol'> = {
  lineProtocol: { deviceTag: 'device', fallbackDeviceTags: ['host'], eventType: 'measurement.field' },
};

/** Default limits, for tests and tools that decode without a full configuration. */
export const DEFAULT_LIMITS: Limits = {
  maxPayloadBytes: 65536,
  maxMetaBytes: 8192,
  maxMetaDepth: 8,
  maxIdLength: 128,
  maxValueTextLength: 4096,
};

/**
 * The settings schema, written as data: it validates the environment at
 * start-up (see `config.ts`) and is the source of `docs/configuration.md`
 * (`npm run docs:config` writes it, and a test fails when the two differ).
 *
 * Names from the seed documents (MQTT_*, POSTGRES_*, ACK_TEMPLATE) keep their
 * names and defaults; everything new is TELEHUB_*.
 */
export type SettingType = 'int' | 'string' | 'enum' | 'bool' | 'url' | 'file' | 'topic-filter' | 'topic-template';

export interface SettingSpec {
  env: string;
  group: string;
  type: SettingType;
  /** Default as the user would write it; undefined means unset. */
  default?: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  secret?: boolean;
  description: string;
}

/**
 * A key of the config file (TELEHUB_CONFIG): a value of a given type is
 * checked by the same rules as a setting of that type (config.ts), and a
 * key not declared is refused with its path.
 */
export interface OptionSpec {
  key: string;
  type: SettingType | 'string-list';
  required?: boolean;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Default as the docs show it (a value, or the setting it comes from). */
  default?: string;
  description: string;
}

export const SETTINGS: readonly SettingSpec[] = [
  // General
  { env: 'TELEHUB_DATA_DIR', group: 'General', type: 'string', default: './data', description: 'Directory for the embedded SQLite store (`telehub.db`) and other local state. Created if missing.' },
  { env: 'TELEHUB_HTTP_HOST', group: 'General', type: 'string', default: '0.0.0.0', description: 'Address the HTTP server (health, readiness, metrics) binds to.' },
  { env: 'TELEHUB_HTTP_PORT', group: 'General', type: 'int', default: '8080', min: 0, max: 65535, description: 'HTTP port for `/healthz`, `/readyz` and `/metrics`. 0 picks a free port.' },
  { env: 'TELEHUB_HTTP_MAX_BODY_BYTES', group: 'General', type: 'int', default: '10485760', min: 1024, max: 1073741824, description: 'Largest HTTP request body, after gzip decompression (`413 payload_too_large` beyond).' },
  { env: 'TELEHUB_DASHBOARD_AUTH', group: 'General', type: 'enum', default: 'on', values: ['on', 'off'], description: '`off`: the dashboard and the read API (and dead-letter replay) answer requests without a token, for a trusted LAN; a warning is logged at start. Ingestion always needs a token. See docs/dashboard.md.' },
  { env: 'TELEHUB_STREAM_MAX_BUFFER_BYTES', group: 'General', type: 'int', default: '1048576', min: 1024, max: 1073741824, description: 'Unsent bytes a live-stream WebSocket client may fall behind by before it is closed with code 4008 (slow consumer). Ingestion never waits for stream clients.' },
  { env: 'TELEHUB_LOG_LEVEL', group: 'General', type: 'enum', default: 'info', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], description: 'Log level; logs are JSON lines (pino) on stdout.' },
  { env: 'TELEHUB_CONFIG', group: 'General', type: 'file', description: 'Optional config file (YAML or JSON) for what variables cannot express, such as more MQTT routes: see [the config file](#the-config-file-telehub_config) below. Validated at start-up with these settings.' },
  { env: 'TELEHUB_SHUTDOWN_TIMEOUT_MS', group: 'General', type: 'int', default: '30000', min: 100, max: 600000, description: 'On SIGTERM/SIGINT, how long to wait for in-flight events to commit and be acknowledged before exiting anyway (unacknowledged events are then redelivered by the broker).' },

  // Commands
  { env: 'TELEHUB_COMMAND_TTL_S', group: 'Commands', type: 'int', default: '3600', min: 1, max: 31536000, description: 'Expiry of a command sent without `ttl_s`: a command not answered within this many seconds after it was queued becomes `expired` and is never published after that (a command for an offline device waits at most this long).' },
  { env: 'TELEHUB_COMMAND_ACK_TIMEOUT_S', group: 'Commands', type: 'int', default: '10', min: 1, max: 86400, description: 'How long to wait for the node\'s answer (`received`, `succeeded` or `failed` echoing the `command_id`) before publishing the command again with the same `command_id`.' },
  { env: 'TELEHUB_COMMAND_MAX_ATTEMPTS', group: 'Commands', type: 'int', default: '5', min: 1, max: 1000, description: 'How many times a command is published before it is `failed` with cause `timeout` (a node that said `received` but never finished is not resent).' },

  // Embedded broker
  { env: 'TELEHUB_MQTT_HOST', group: 'Embedded MQTT broker', type: 'string', default: '0.0.0.0', description: 'Address the embedded broker listens on (used only when no external broker is configured).' },
  { env: 'TELEHUB_MQTT_PORT', group: 'Embedded MQTT broker', type: 'int', default: '1883', min: 0, max: 65535, description: 'MQTT TCP port of the embedded broker. 0 picks a free port.' },
  { env: 'TELEHUB_MQTT_WS_PORT', group: 'Embedded MQTT broker', type: 'int', default: '9001', min: -1, max: 65535, description: 'MQTT-over-WebSocket port of the embedded broker. 0 picks a free port, -1 disables it.' },
  { env: 'TELEHUB_MQTT_MAX_PACKET_BYTES', group: 'Embedded MQTT broker', type: 'int', min: 64, max: 268435460, description: 'Largest MQTT packet (fixed header included) a client may send to the embedded broker; unset: TELEHUB_MAX_PAYLOAD_BYTES + 65536 (room for the longest topic), so a packet whose payload is within the payload limit always gets through. A larger packet is refused as soon as its header arrives, before it is buffered: the connection is closed and counted in `telehub_mqtt_oversized_packets_total`. Payloads between the two limits are dead-lettered as `payload_too_large`. Must be at least TELEHUB_MAX_PAYLOAD_BYTES. Also the largest WebSocket message.' },

  { env: 'TELEHUB_BROKER_STATS_INTERVAL_S', group: 'Embedded MQTT broker', type: 'int', default: '10', min: 0, max: 86400, description: 'How often broker health is published on `iot/broker/stats` (clients connected, messages in/out per second, dropped, uptime) and refreshed in `/metrics`: from the embedded broker, or relayed from an external broker\'s `$SYS` when it offers it. 0 turns broker health off (no `iot/broker/status` either). See docs/operations.md.' },

  // External broker
  { env: 'MQTT_URL', group: 'External MQTT broker', type: 'url', values: ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:'], description: 'External broker, e.g. `mqtt://mosquitto:1883` or `mqtts://xxxx.hivemq.cloud:8883`. When set (or MQTT_HOST is), the embedded broker is not started.' },
  { env: 'MQTT_HOST', group: 'External MQTT broker', type: 'string', description: 'Seed 001 name for the external broker host (its compose file sets `mosquitto`). Used with MQTT_PORT when MQTT_URL is unset. Unset: embedded broker.' },
  { env: 'MQTT_PORT', group: 'External MQTT broker', type: 'int', default: '1883', min: 1, max: 65535, description: 'Port used with MQTT_HOST.' },
  { env: 'MQTT_USERNAME', group: 'External MQTT broker', type: 'string', description: 'Username for the external broker.' },
  { env: 'MQTT_PASSWORD', group: 'External MQTT broker', type: 'string', secret: true, description: 'Password for the external broker. Never logged.' },
  { env: 'MQTT_CA_FILE', group: 'External MQTT broker', type: 'file', description: 'PEM file of the CA that signed the broker certificate (for `mqtts://`/`wss://` with a private CA). Public CAs (HiveMQ Cloud) need nothing.' },
  { env: 'MQTT_CERT_FILE', group: 'External MQTT broker', type: 'file', description: 'PEM client certificate for brokers that require mutual TLS.' },
  { env: 'MQTT_KEY_FILE', group: 'External MQTT broker', type: 'file', description: 'PEM private key of MQTT_CERT_FILE.' },
  { env: 'MQTT_CLIENT_ID', group: 'External MQTT broker', type: 'string', default: 'telehub-ingester', description: 'Fixed client id of the persistent session. Each ingester replica needs its own.' },
  { env: 'TELEHUB_MQTT_PROTOCOL', group: 'External MQTT broker', type: 'enum', default: '5', values: ['5', '3.1.1'], description: 'MQTT protocol version for the external broker connection.' },
  { env: 'TELEHUB_MQTT_SESSION_EXPIRY_S', group: 'External MQTT broker', type: 'int', default: '604800', min: 1, max: 4294967295, description: 'MQTT 5 session expiry: how long the broker keeps the session (and queues events) while telehub is away.' },
  { env: 'TELEHUB_MQTT_KEEPALIVE_S', group: 'External MQTT broker', type: 'int', default: '30', min: 0, max: 65535, description: 'MQTT keepalive interval.' },
  { env: 'TELEHUB_MQTT_SHARE_GROUP', group: 'External MQTT broker', type: 'string', description: 'When set, subscribe to every route as `$share/<group>/<filter>` so several ingesters split the stream (see docs/operations.md).' },

  // Topics
  { env: 'MQTT_EVENTS_TOPIC', group: 'Topics', type: 'topic-filter', default: 'qs/v1/+/events', description: 'The seed 001 route: topic filter telehub takes seed 001 events on (subscribed at QoS 1, decoded by `seed001-json`, answered on ACK_TEMPLATE). The level matched by the first `+` is the device id the payload must carry. More routes: TELEHUB_CONFIG.' },
  { env: 'TELEHUB_CAR_TELEMETRY_TOPIC', group: 'Topics', type: 'string', default: 'fleet/v1/+/telemetry', description: 'The car route: topic filter of OBD senders\' compact records (`{"ts","speed","rpm","lat","lon","odometer",…}`, decoded by `car-telemetry`, docs/trips.md); the level of the first `+` is the vehicle id. `none` turns the route off. A TELEHUB_CONFIG route with the same filter replaces it.' },
  { env: 'MQTT_DEADLETTER_TOPIC', group: 'Topics', type: 'string', default: 'qs/v1/deadletter', description: 'Topic dead letters are published to (JSON, see docs/errors.md).' },
  { env: 'ACK_TEMPLATE', group: 'Topics', type: 'topic-template', default: 'qs/v1/{device_id}/acks', description: 'Topic an ACK is published to after commit; `{device_id}` is replaced.' },
  { env: 'TELEHUB_NODE_TELEMETRY_TOPIC', group: 'Topics', type: 'topic-filter', default: 'iot/node/+/telemetry', description: 'The seed 003 sensor-node route: topic filter of node telemetry (`{"node_id","timestamp","sensors":{…},"wifi_rssi","uptime"}`), decoded by `node-telemetry` into one reading per sensor. The first `+` is the node id. A TELEHUB_CONFIG route with the same filter replaces it.' },
  { env: 'TELEHUB_NODE_TELEMETRY_REPLY', group: 'Topics', type: 'enum', default: 'none', values: ['none', 'seed001-ack'], description: 'Reply of the node-telemetry route after commit: `none` (seed 003 nodes wait for none) or `seed001-ack` (one ACK per reading on ACK_TEMPLATE).' },
  { env: 'TELEHUB_NODE_STATUS_TOPIC', group: 'Topics', type: 'topic-filter', default: 'iot/node/+/status', description: 'The seed 003 node-status route: node health and command results, decoded by `node-status` into one `status` entry for the device registry (not a reading). The first `+` is the node id.' },
  { env: 'TELEHUB_ACK_QOS', group: 'Topics', type: 'int', default: '1', min: 0, max: 1, description: 'QoS of ACK and dead-letter publications.' },

  // Line protocol
  { env: 'TELEHUB_LP_DEVICE_TAG', group: 'InfluxDB line protocol', type: 'string', default: 'device', description: 'Tag whose value is the device id of a line-protocol point.' },
  { env: 'TELEHUB_LP_FALLBACK_DEVICE_TAGS', group: 'InfluxDB line protocol', type: 'string', default: 'host', description: 'Comma-separated tags tried in turn when TELEHUB_LP_DEVICE_TAG is absent (Telegraf sets `host`). A point with none of them is refused (`missing_field`).' },
  { env: 'TELEHUB_LP_EVENT_TYPE', group: 'InfluxDB line protocol', type: 'enum', default: 'measurement.field', values: ['measurement.field', 'field'], description: 'event_type of each field: `cpu.usage_idle` or `usage_idle`.' },

  // Store
  { env: 'TELEHUB_STORE', group: 'Store', type: 'enum', default: 'auto', values: ['auto', 'sqlite', 'postgres'], description: '`auto`: PostgreSQL when DATABASE_URL or POSTGRES_HOST is set, else embedded SQLite.' },
  { env: 'DATABASE_URL', group: 'Store', type: 'url', values: ['postgres:', 'postgresql:'], secret: true, description: 'PostgreSQL/TimescaleDB connection string, e.g. `postgres://qs:qs_password@db:5432/qs`. Takes precedence over POSTGRES_*.' },
  { env: 'POSTGRES_HOST', group: 'Store', type: 'string', description: 'PostgreSQL host (used when DATABASE_URL is unset). Setting it selects PostgreSQL in `auto` mode.' },
  { env: 'POSTGRES_PORT', group: 'Store', type: 'int', default: '5432', min: 1, max: 65535, description: 'PostgreSQL port (seed 001).' },
  { env: 'POSTGRES_DB', group: 'Store', type: 'string', default: 'qs', description: 'PostgreSQL database (seed 001).' },
  { env: 'POSTGRES_USER', group: 'Store', type: 'string', default: 'qs', description: 'PostgreSQL user (seed 001).' },
  { env: 'POSTGRES_PASSWORD', group: 'Store', type: 'string', default: 'qs_password', secret: true, description: 'PostgreSQL password (seed 001). Never logged.' },
  { env: 'TELEHUB_PG_POOL_SIZE', group: 'Store', type: 'int', default: '4', min: 1, max: 100, description: 'PostgreSQL connections in the pool.' },

  // Pipeline
  { env: 'TELEHUB_BATCH_MAX', group: 'Pipeline', type: 'int', default: '1000', min: 1, max: 100000, description: 'A batch is committed when it holds this many events...' },
  { env: 'TELEHUB_BATCH_WAIT_MS', group: 'Pipeline', type: 'int', default: '10', min: 0, max: 60000, description: '...or when its first event has waited this long.' },
  { env: 'TELEHUB_MAX_INFLIGHT', group: 'Pipeline', type: 'int', default: '20000', min: 1, max: 10000000, description: 'Events received but not yet committed and acknowledged. At the cap, intake pauses (the broker holds the rest), so memory stays bounded when the store is slow or down.' },
  { env: 'TELEHUB_BATCH_MERGE_MAX', group: 'Pipeline', type: 'int', default: '10000', min: 1, max: 1000000, description: 'Group commit: batches that queued while the store was busy are merged into one commit of up to this many items (one fsync and far fewer index page writes per event). At or below TELEHUB_BATCH_MAX nothing is merged.' },
  { env: 'TELEHUB_WRITE_CONCURRENCY', group: 'Pipeline', type: 'int', default: '2', min: 1, max: 64, description: 'Batches committed at the same time (PostgreSQL; SQLite commits one at a time).' },
  { env: 'TELEHUB_RETRY_MIN_MS', group: 'Pipeline', type: 'int', default: '100', min: 1, max: 600000, description: 'First back-off after a transient store error; doubles up to TELEHUB_RETRY_MAX_MS, with jitter.' },
  { env: 'TELEHUB_RETRY_MAX_MS', group: 'Pipeline', type: 'int', default: '5000', min: 1, max: 600000, description: 'Longest back-off between retries of a batch. Retries never stop while telehub runs: nothing is dropped.' },

  // Commit log and processors
  { env: 'TELEHUB_PROCESSORS', group: 'Commit log and processors', type: 'string', default: 'device-counters,device-registry,rollups,trips,alerts', description: 'Comma-separated processors to run beside intake, each following the commit log from its own checkpoint (`device-counters`: per-device counts, first/last seen, last value per event type; `device-registry`: last status, learned interval and presence of each device, with the presence monitor, whose transitions are commit-log entries of their own (not rows of `events`), docs/devices.md; without it there is no presence and commands do not wait for offline devices; `rollups`: the rollup tiers (1-minute, 5-minute and 1-hour by default) the series API answers from, docs/data-lifecycle.md; `trips`: trips of cars, docs/trips.md; `alerts`: alert rules, docs/alerts.md). `none`: run none of these. The command dispatcher\'s own consumer of node answers, `commands`, runs whatever this says. See docs/architecture.md.' },
  { env: 'TELEHUB_PROCESSOR_BATCH', group: 'Commit log and processors', type: 'int', default: '1000', min: 1, max: 100000, description: 'Most log entries a processor applies in one transaction (its state and checkpoint together).' },
  { env: 'TELEHUB_LOG_POLL_MS', group: 'Commit log and processors', type: 'int', default: '500', min: 10, max: 60000, description: 'Longest wait of a commit-log reader (processors, live stream) between reads. Commits in this process wake readers at once; the poll finds commits of other processes.' },
  // Trips (docs/trips.md)
  { env: 'TELEHUB_TRIP_SPEED_THRESHOLD_KMH', group: 'Trips', type: 'int', default: '5', min: 0, max: 100, description: 'km/h: a point faster than this is moving (Idle → Driving). Above the jitter of a parked car, below creeping in a jam.' },
  { env: 'TELEHUB_TRIP_IDLE_TIMEOUT_S', group: 'Trips', type: 'int', default: '180', min: 1, max: 86400, description: 'Seconds stopped (or silent) after which a trip is Paused. Longer than a red light or a level crossing.' },
  { env: 'TELEHUB_TRIP_RESUME_WINDOW_S', group: 'Trips', type: 'int', default: '300', min: 0, max: 86400, description: 'Seconds a Paused trip may move again and stay one trip; after that it ends (parked).' },
  { env: 'TELEHUB_TRIP_MIN_DISTANCE_M', group: 'Trips', type: 'int', default: '200', min: 0, max: 1000000, description: 'Metres: a closed segment shorter than this is not a trip (moving the car in a driveway).' },
  { env: 'TELEHUB_TRIP_MIN_DURATION_S', group: 'Trips', type: 'int', default: '60', min: 0, max: 86400, description: 'Seconds: a closed segment shorter than this is not a trip.' },
  { env: 'TELEHUB_TRIP_MAX_PLAUSIBLE_SPEED_KMH', group: 'Trips', type: 'int', default: '250', min: 1, max: 2000, description: 'km/h: a GPS fix or odometer step implying more than this from the last good one is a glitch and is skipped.' },
  { env: 'TELEHUB_TRIP_LATENESS_S', group: 'Trips', type: 'int', default: '604800', min: 0, max: 31622400, description: 'Seconds (default 7 days): the trips processor recomputes trips for data up to this late by device time; older data changes trips only through `telehub trips rebuild`.' },
  { env: 'TELEHUB_TRIP_TICK_S', group: 'Trips', type: 'int', default: '30', min: 1, max: 3600, description: 'Seconds between re-evaluations of trips in progress against the clock, so a trip ends (by timeout) when no new data comes.' },

  // Rollup tiers
  { env: 'TELEHUB_ROLLUP_REFRESH_S', group: 'Rollup tiers', type: 'int', default: '10', min: 1, max: 3600, description: 'How often the `rollups` processor\'s dirty buckets are recomputed (1-minute from raw, 5-minute from 1-minute), whatever their age up to TELEHUB_ROLLUP_LATENESS_S. The series API is exact in between: it reads what is not rolled up yet from raw. See docs/data-lifecycle.md.' },
  { env: 'TELEHUB_ROLLUP_LATENESS_S', group: 'Rollup tiers', type: 'int', default: '604800', min: 60, max: 315360000, description: 'How late an event may arrive and still be rolled up: a bucket that ended longer ago is sealed, never recomputed, and its raw data may then be dropped. Raw retention shorter than this is refused at start-up.' },

  // Retention
  { env: 'TELEHUB_RETENTION_INTERVAL_S', group: 'Retention', type: 'int', default: '300', min: 0, max: 86400, description: 'How often the retention job runs: raw events past their retention (`tiers.raw_retention` in TELEHUB_CONFIG, default 7 days; never a bucket that may still be rolled up), dead letters past TELEHUB_DEADLETTER_RETENTION_DAYS or over TELEHUB_DEADLETTER_MAX_MB, and the disk guardrail. 0 turns the job off (nothing is ever deleted). See docs/data-lifecycle.md.' },
  { env: 'TELEHUB_RETENTION_CHUNK', group: 'Retention', type: 'int', default: '1000', min: 100, max: 100000, description: 'Rows deleted per transaction by the retention job. Each chunk is a short transaction queued with the write batches, so intake never waits for more than one chunk (docs/data-lifecycle.md has the measurements).' },
  { env: 'TELEHUB_DEADLETTER_RETENTION_DAYS', group: 'Retention', type: 'int', default: '30', min: 0, max: 36500, description: 'Dead letters older than this (by received time) are deleted. 0: kept until TELEHUB_DEADLETTER_MAX_MB needs room.' },
  { env: 'TELEHUB_DEADLETTER_MAX_MB', group: 'Retention', type: 'int', default: '1024', min: 0, max: 16777216, description: 'Ceiling on the dead letters\' payload bytes; over it the oldest are deleted until they fit. 0: no ceiling.' },
  { env: 'TELEHUB_DISK_MAX_MB', group: 'Retention', type: 'int', default: '0', min: 0, max: 1073741824, description: 'Disk guardrail: the most the store may use (SQLite: the pages in use in the database file; PostgreSQL: pg_database_size). Near it telehub warns in its log and in /metrics. 0: off.' },
  { env: 'TELEHUB_DISK_WARN_PERCENT', group: 'Retention', type: 'int', default: '90', min: 1, max: 100, description: 'Share of TELEHUB_DISK_MAX_MB at which the guardrail warns (and, with TELEHUB_DISK_SHRINK_RAW, shortens raw retention).' },
  { env: 'TELEHUB_DISK_SHRINK_RAW', group: 'Retention', type: 'bool', default: 'false', description: 'When the store is near TELEHUB_DISK_MAX_MB, shorten raw retention to the lateness window (TELEHUB_ROLLUP_LATENESS_S, the shortest that loses no aggregate) until it is below the warning level again. Aggregate tiers and dead letters keep their retention.' },

  // Presence
  { env: 'TELEHUB_PRESENCE_DEFAULT_INTERVAL_MS', group: 'Device presence', type: 'int', default: '60000', min: 10, max: 86400000, description: 'Reporting interval assumed for a device until its own cadence is learned (ms). See docs/devices.md.' },
  { env: 'TELEHUB_PRESENCE_MIN_INTERVAL_MS', group: 'Device presence', type: 'int', default: '1000', min: 10, max: 86400000, description: 'Lower bound of a learned reporting interval (ms).' },
  { env: 'TELEHUB_PRESENCE_MAX_INTERVAL_MS', group: 'Device presence', type: 'int', default: '3600000', min: 10, max: 604800000, description: 'Upper bound of a learned reporting interval (ms); one long outage never teaches more than this.' },
  { env: 'TELEHUB_PRESENCE_GRACE_PERCENT', group: 'Device presence', type: 'int', default: '300', min: 100, max: 10000, description: 'A device turns `silent` after no data for its expected interval times this percentage (300: three missed reports).' },
  { env: 'TELEHUB_PRESENCE_OFFLINE_AFTER', group: 'Device presence', type: 'int', default: '3', min: 1, max: 1000, description: 'A silent device with no open connection turns `offline` after this many timeouts with nothing heard at all.' },

  // Limits
  { env: 'TELEHUB_MAX_PAYLOAD_BYTES', group: 'Limits', type: 'int', default: '65536', min: 64, max: 268435455, description: 'Largest accepted event payload; larger ones are dead-lettered as `payload_too_large`.' },
  { env: 'TELEHUB_MAX_META_BYTES', group: 'Limits', type: 'int', default: '8192', min: 2, max: 16777216, description: 'Largest `meta` object, as serialised JSON (`meta_too_large`).' },
  { env: 'TELEHUB_MAX_META_DEPTH', group: 'Limits', type: 'int', default: '8', min: 1, max: 256, description: 'Deepest nesting of `meta` (`meta_too_large`).' },
  { env: 'TELEHUB_MAX_ID_LENGTH', group: 'Limits', type: 'int', default: '128', min: 1, max: 65536, description: 'Longest event_id, device_id, event_type and unit, in characters (`field_too_long`).' },
  { env: 'TELEHUB_MAX_VALUE_TEXT_LENGTH', group: 'Limits', type: 'int', default: '4096', min: 1, max: 16777216, description: 'Longest string `value`, in characters (`field_too_long`).' },
];

/** Prefixes of variables that belong to tools, not to telehub (never rejected as unknown). */
export const IGNORED_PREFIXES = ['TELEHUB_TEST_'];

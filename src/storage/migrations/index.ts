/**
 * Versioned schema migrations, one entry per version, per dialect. A store
 * applies every version above the highest recorded in `telehub_migrations`,
 * each in its own transaction, at start-up.
 *
 * The `events` table keeps the columns and the three index names of seed 001
 * so existing SQL and dashboards keep working (version 3 adds indexes of its
 * own for the query API). In SQLite, times are INTEGER epoch milliseconds
 * (compact and fast to bucket) and `meta` is JSON text; the `events_readable`
 * view (version 4) shows the times as ISO-8601 text in both stores.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events and dead letters',
    sqlite: `
      CREATE TABLE IF NOT EXISTS events (
        event_id   TEXT PRIMARY KEY,
        device_id  TEXT NOT NULL,
        schema     INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        value_num  REAL,
        value_text TEXT,
        unit       TEXT,
        ts_device  INTEGER,
        ts_server  INTEGER NOT NULL,
        meta       TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX IF NOT EXISTS idx_events_ts_device ON events (ts_device DESC);
      CREATE INDEX IF NOT EXISTS idx_events_type_ts ON events (event_type, ts_device DESC);
      CREATE INDEX IF NOT EXISTS idx_events_device_ts ON events (device_id, ts_device DESC);
      CREATE TABLE IF NOT EXISTS deadletters (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at INTEGER NOT NULL,
        reason      TEXT NOT NULL,
        message     TEXT NOT NULL,
        topic       TEXT NOT NULL,
        device_id   TEXT,
        source      TEXT NOT NULL,
        payload     BLOB NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idx_deadletters_reason_time ON deadletters (reason, received_at);
      CREATE INDEX IF NOT EXISTS idx_deadletters_time ON deadletters (received_at);
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS events (
        event_id   TEXT PRIMARY KEY,
        device_id  TEXT NOT NULL,
        schema     INT  NOT NULL,
        event_type TEXT NOT NULL,
        value_num  DOUBLE PRECISION,
        value_text TEXT,
        unit       TEXT,
        ts_device  TIMESTAMPTZ,
        ts_server  TIMESTAMPTZ DEFAULT NOW(),
        meta       JSONB DEFAULT '{}'
      );
      CREATE INDEX IF NOT EXISTS idx_events_ts_device ON events (ts_device DESC);
      CREATE INDEX IF NOT EXISTS idx_events_type_ts ON events (event_type, ts_device DESC);
      CREATE INDEX IF NOT EXISTS idx_events_device_ts ON events (device_id, ts_device DESC);
      CREATE TABLE IF NOT EXISTS deadletters (
        id          BIGSERIAL PRIMARY KEY,
        received_at TIMESTAMPTZ NOT NULL,
        reason      TEXT NOT NULL,
        message     TEXT NOT NULL,
        topic       TEXT NOT NULL,
        device_id   TEXT,
        source      TEXT NOT NULL,
        payload     BYTEA NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idx_deadletters_reason_time ON deadletters (reason, received_at);
      CREATE INDEX IF NOT EXISTS idx_deadletters_time ON deadletters (received_at);
    `,
  },
  {
    version: 2,
    name: 'api tokens',
    sqlite: `
      CREATE TABLE IF NOT EXISTS api_tokens (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        scope       TEXT NOT NULL,
        devices     TEXT NOT NULL DEFAULT '[]',
        secret_hash BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
      );
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS api_tokens (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        scope       TEXT NOT NULL,
        devices     JSONB NOT NULL DEFAULT '[]',
        secret_hash BYTEA NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        revoked_at  TIMESTAMPTZ
      );
    `,
  },
  {
    version: 3,
    name: 'query indexes and devices',
    // The query API's time is COALESCE(ts_device, ts_server); SQLite uses an
    // expression index only when the query spells the expression exactly
    // like this (src/storage/*/queries.ts use the same TIME_EXPR text).
    // event_id ends each key so a keyset page (time, event_id) is one range
    // scan already in order. The series index also carries the columns the
    // series query reads (value_num, and ts_device/ts_server, which both
    // planners want even though only the expression is used), so a series is
    // answered from the index alone: without it each of a day's ~3,600 rows
    // of one device and type sits on its own table page. The devices table is kept up to date by every
    // batch (same transaction) and backfilled here from existing events
    // (PostgreSQL's ts_server may be NULL in rows other writers made).
    sqlite: `
      CREATE INDEX IF NOT EXISTS idx_events_device_type_time ON events (device_id, event_type, COALESCE(ts_device, ts_server), event_id, value_num, ts_device, ts_server);
      CREATE INDEX IF NOT EXISTS idx_events_device_time ON events (device_id, COALESCE(ts_device, ts_server), event_id);
      CREATE INDEX IF NOT EXISTS idx_events_time ON events (COALESCE(ts_device, ts_server), event_id);
      CREATE TABLE IF NOT EXISTS devices (
        device_id   TEXT PRIMARY KEY,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        event_count INTEGER NOT NULL
      );
      INSERT INTO devices (device_id, first_seen, last_seen, event_count)
        SELECT device_id, MIN(ts_server), MAX(ts_server), COUNT(*) FROM events WHERE true GROUP BY device_id
        ON CONFLICT (device_id) DO NOTHING;
    `,
    postgres: `
      CREATE INDEX IF NOT EXISTS idx_events_device_type_time ON events (device_id, event_type, COALESCE(ts_device, ts_server), event_id)
        INCLUDE (value_num, ts_device, ts_server);
      CREATE INDEX IF NOT EXISTS idx_events_device_time ON events (device_id, COALESCE(ts_device, ts_server), event_id);
      CREATE INDEX IF NOT EXISTS idx_events_time ON events (COALESCE(ts_device, ts_server), event_id);
      CREATE TABLE IF NOT EXISTS devices (
        device_id   TEXT PRIMARY KEY,
        first_seen  TIMESTAMPTZ NOT NULL,
        last_seen   TIMESTAMPTZ NOT NULL,
        event_count BIGINT NOT NULL
      );
      INSERT INTO devices (device_id, first_seen, last_seen, event_count)
        SELECT device_id, COALESCE(min(ts_server), now()), COALESCE(max(ts_server), now()), count(*) FROM events GROUP BY device_id
        ON CONFLICT (device_id) DO NOTHING;
    `,
  },
  {
    version: 4,
    name: 'events_readable view',
    // For people at a SQL prompt: SQLite keeps times as epoch milliseconds,
    // which no one reads. The same columns as events, times as ISO-8601 UTC
    // text with milliseconds (2024-02-10T00:00:00.123Z), identical in both
    // stores. 'unixepoch' of ms / 1000.0 is exact to the millisecond over
    // years 0001-9999 (checked against Date#toISOString).
    sqlite: `
      CREATE VIEW IF NOT EXISTS events_readable AS
        SELECT event_id, device_id, schema, event_type, value_num, value_text, unit,
          strftime('%Y-%m-%dT%H:%M:%fZ', ts_device / 1000.0, 'unixepoch') AS ts_device,
          strftime('%Y-%m-%dT%H:%M:%fZ', ts_server / 1000.0, 'unixepoch') AS ts_server,
          meta
        FROM events;
    `,
    postgres: `
      CREATE OR REPLACE VIEW events_readable AS
        SELECT event_id, device_id, schema, event_type, value_num, value_text, unit,
          to_char(ts_device AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts_device,
          to_char(ts_server AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts_server,
          meta::text AS meta
        FROM events;
    `,
  },
  {
    version: 5,
    name: 'unique active token names',
    // `telehub tokens revoke <name>` and the operator's own bookkeeping need a
    // name to mean one token. Tokens made before this rule may share a name:
    // the oldest active one keeps it, the others become `<name>-<id>`. Renaming
    // rather than revoking keeps every device and dashboard that holds one of
    // them working; `telehub tokens list` shows the new names. Revoked tokens
    // may share names (a name can be reused after a revoke).
    sqlite: `
      UPDATE api_tokens SET name = name || '-' || id
        WHERE revoked_at IS NULL AND EXISTS (
          SELECT 1 FROM api_tokens AS older
          WHERE older.name = api_tokens.name AND older.revoked_at IS NULL
            AND (older.created_at < api_tokens.created_at OR (older.created_at = api_tokens.created_at AND older.id < api_tokens.id)));
      CREATE UNIQUE INDEX IF NOT EXISTS idx_api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
    `,
    postgres: `
      UPDATE api_tokens AS t SET name = t.name || '-' || t.id
        WHERE t.revoked_at IS NULL AND EXISTS (
          SELECT 1 FROM api_tokens AS older
          WHERE older.name = t.name AND older.revoked_at IS NULL AND (older.created_at, older.id) < (t.created_at, t.id));
      CREATE UNIQUE INDEX IF NOT EXISTS idx_api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
    `,
  },
  {
    version: 6,
    name: 'commit log and processors',
    // Every committed event and dead letter gets a commit sequence number
    // (src/storage/log.ts). SQLite has one writer, so the writer thread hands
    // out numbers from telehub_log_head in commit order (never reused, even
    // when rows are deleted). PostgreSQL takes them from telehub_log_seq
    // under a transaction-level advisory lock held until commit, so numbers
    // become visible in increasing order (docs/architecture.md, "The commit
    // log"). Existing rows are numbered here: SQLite in rowid (= insertion)
    // order, PostgreSQL in physical order (ADD COLUMN with a volatile default
    // rewrites the table and numbers every row), events before dead letters.
    // processor_checkpoints holds each processor's position (and, for
    // `telehub processors` in another process, its runner's last state and
    // error, written best-effort); device_counters
    // and device_last_values are the state of the device-counters processor.
    sqlite: `
      ALTER TABLE events ADD COLUMN seq INTEGER;
      ALTER TABLE deadletters ADD COLUMN seq INTEGER;
      UPDATE events SET seq = rowid;
      UPDATE deadletters SET seq = (SELECT COALESCE(MAX(seq), 0) FROM events) + id;
      CREATE UNIQUE INDEX IF NOT EXISTS idx_events_seq ON events (seq);
      CREATE UNIQUE INDEX IF NOT EXISTS idx_deadletters_seq ON deadletters (seq);
      CREATE TABLE IF NOT EXISTS telehub_log_head (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
      );
      INSERT INTO telehub_log_head (id, seq)
        SELECT 1, COALESCE(MAX(s), 0) FROM (SELECT MAX(seq) AS s FROM events UNION ALL SELECT MAX(seq) FROM deadletters) WHERE true
        ON CONFLICT (id) DO NOTHING;
      CREATE TABLE IF NOT EXISTS processor_checkpoints (
        name          TEXT PRIMARY KEY,
        seq           INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        state         TEXT NOT NULL DEFAULT 'running',
        errors        INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        last_error_at INTEGER
      );
      CREATE TABLE IF NOT EXISTS device_counters (
        device_id  TEXT PRIMARY KEY,
        events     INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        last_seq   INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS device_last_values (
        device_id  TEXT NOT NULL,
        event_type TEXT NOT NULL,
        value_num  REAL,
        value_text TEXT,
        unit       TEXT,
        time       INTEGER NOT NULL,
        seq        INTEGER NOT NULL,
        PRIMARY KEY (device_id, event_type)
      );
    `,
    postgres: `
      CREATE SEQUENCE IF NOT EXISTS telehub_log_seq AS BIGINT;
      ALTER TABLE events ADD COLUMN IF NOT EXISTS seq BIGINT NOT NULL DEFAULT nextval('telehub_log_seq');
      ALTER TABLE deadletters ADD COLUMN IF NOT EXISTS seq BIGINT NOT NULL DEFAULT nextval('telehub_log_seq');
      CREATE UNIQUE INDEX IF NOT EXISTS idx_events_seq ON events (seq);
      CREATE UNIQUE INDEX IF NOT EXISTS idx_deadletters_seq ON deadletters (seq);
      CREATE TABLE IF NOT EXISTS processor_checkpoints (
        name          TEXT PRIMARY KEY,
        seq           BIGINT NOT NULL,
        updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        state         TEXT NOT NULL DEFAULT 'running',
        errors        BIGINT NOT NULL DEFAULT 0,
        last_error    TEXT,
        last_error_at TIMESTAMPTZ
      );
      CREATE TABLE IF NOT EXISTS device_counters (
        device_id  TEXT PRIMARY KEY,
        events     BIGINT NOT NULL,
        first_seen TIMESTAMPTZ NOT NULL,
        last_seen  TIMESTAMPTZ NOT NULL,
        last_seq   BIGINT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS device_last_values (
        device_id  TEXT NOT NULL,
        event_type TEXT NOT NULL,
        value_num  DOUBLE PRECISION,
        value_text TEXT,
        unit       TEXT,
        time       TIMESTAMPTZ NOT NULL,
        seq        BIGINT NOT NULL,
        PRIMARY KEY (device_id, event_type)
      );
    `,
  },
  {
    version: 7,
    name: 'rollup tiers',
    // The rollups processor (src/processors/rollups): aggregate rows per
    // tier (width_ms), keyed by device, type and bucket start (epoch ms in
    // both dialects: tier rows are only ever addressed by bucket number).
    // sum_parts is the exact sum as JSON partials (exact-sum.ts); sum its
    // rounding, for SQL readers. rollup_dirty lists buckets to recompute,
    // with the highest log seq that touched them (a refresh deletes only
    // marks it has seen); rollup_tiers holds each tier's sealed watermark.
    sqlite: `
      CREATE TABLE IF NOT EXISTS rollups (
        device_id    TEXT NOT NULL,
        event_type   TEXT NOT NULL,
        width_ms     BIGINT NOT NULL,
        bucket_start BIGINT NOT NULL,
        count        INTEGER NOT NULL,
        n            INTEGER NOT NULL,
        sum          REAL,
        sum_parts    TEXT NOT NULL,
        min          REAL,
        max          REAL,
        first        REAL,
        first_t      INTEGER,
        last         REAL,
        last_t       INTEGER,
        PRIMARY KEY (device_id, event_type, width_ms, bucket_start)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS rollup_dirty (
        device_id    TEXT NOT NULL,
        event_type   TEXT NOT NULL,
        width_ms     BIGINT NOT NULL,
        bucket_start BIGINT NOT NULL,
        seq          INTEGER NOT NULL,
        PRIMARY KEY (device_id, event_type, width_ms, bucket_start)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS idx_rollup_dirty_width ON rollup_dirty (width_ms, bucket_start);
      CREATE TABLE IF NOT EXISTS rollup_tiers (
        width_ms      INTEGER PRIMARY KEY,
        sealed_before INTEGER NOT NULL,
        refreshed_at  INTEGER NOT NULL
      );
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS rollups (
        device_id    TEXT NOT NULL,
        event_type   TEXT NOT NULL,
        width_ms     BIGINT NOT NULL,
        bucket_start BIGINT NOT NULL,
        count        BIGINT NOT NULL,
        n            BIGINT NOT NULL,
        sum          DOUBLE PRECISION,
        sum_parts    TEXT NOT NULL,
        min          DOUBLE PRECISION,
        max          DOUBLE PRECISION,
        first        DOUBLE PRECISION,
        first_t      BIGINT,
        last         DOUBLE PRECISION,
        last_t       BIGINT,
        PRIMARY KEY (device_id, event_type, width_ms, bucket_start)
      );
      CREATE TABLE IF NOT EXISTS rollup_dirty (
        device_id    TEXT NOT NULL,
        event_type   TEXT NOT NULL,
        width_ms     BIGINT NOT NULL,
        bucket_start BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        PRIMARY KEY (device_id, event_type, width_ms, bucket_start)
      );
      CREATE INDEX IF NOT EXISTS idx_rollup_dirty_width ON rollup_dirty (width_ms, bucket_start);
      CREATE TABLE IF NOT EXISTS rollup_tiers (
        width_ms      BIGINT PRIMARY KEY,
        sealed_before BIGINT NOT NULL,
        refreshed_at  BIGINT NOT NULL
      );
    `,
  },
  {
    version: 8,
    name: 'trips',
    // State of the trips processor (src/processors/trips): one row per trip
    // of a vehicle, rewritten with version + 1 whenever late data or the
    // clock changes it. start_time/end_time are the first and last moving
    // points (device time); gaps is a JSON array of {from, to, duration_ms,
    // distance_km}.
    sqlite: `
      CREATE TABLE IF NOT EXISTS trips (
        trip_id         TEXT PRIMARY KEY,
        device_id       TEXT NOT NULL,
        version         INTEGER NOT NULL,
        in_progress     INTEGER NOT NULL,
        start_time      INTEGER NOT NULL,
        end_time        INTEGER NOT NULL,
        start_lat       REAL,
        start_lon       REAL,
        end_lat         REAL,
        end_lon         REAL,
        duration_ms     INTEGER NOT NULL,
        moving_ms       INTEGER NOT NULL,
        distance_km     REAL NOT NULL,
        distance_source TEXT NOT NULL,
        avg_speed_kmh   REAL,
        max_speed_kmh   REAL,
        max_rpm         REAL,
        max_coolant_c   REAL,
        fuel_used_pct   REAL,
        points          INTEGER NOT NULL,
        gaps            TEXT NOT NULL DEFAULT '[]',
        updated_at      INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idx_trips_device_start ON trips (device_id, start_time);
      CREATE INDEX IF NOT EXISTS idx_trips_in_progress ON trips (in_progress, end_time);
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS trips (
        trip_id         TEXT PRIMARY KEY,
        device_id       TEXT NOT NULL,
        version         BIGINT NOT NULL,
        in_progress     BOOLEAN NOT NULL,
        start_time      TIMESTAMPTZ NOT NULL,
        end_time        TIMESTAMPTZ NOT NULL,
        start_lat       DOUBLE PRECISION,
        start_lon       DOUBLE PRECISION,
        end_lat         DOUBLE PRECISION,
        end_lon         DOUBLE PRECISION,
        duration_ms     BIGINT NOT NULL,
        moving_ms       BIGINT NOT NULL,
        distance_km     DOUBLE PRECISION NOT NULL,
        distance_source TEXT NOT NULL,
        avg_speed_kmh   DOUBLE PRECISION,
        max_speed_kmh   DOUBLE PRECISION,
        max_rpm         DOUBLE PRECISION,
        max_coolant_c   DOUBLE PRECISION,
        fuel_used_pct   DOUBLE PRECISION,
        points          BIGINT NOT NULL,
        gaps            JSONB NOT NULL DEFAULT '[]',
        updated_at      TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idx_trips_device_start ON trips (device_id, start_time);
      CREATE INDEX IF NOT EXISTS idx_trips_in_progress ON trips (in_progress, end_time);
    `,
  },
  {
    version: 9,
    name: 'commands',
    // Commands to devices (src/commands/). Times are epoch ms in both
    // dialects (BIGINT in PostgreSQL): the dispatcher computes timers with
    // them and nothing aggregates over them. `id` orders a device's commands
    // (they go out one at a time, in that order); params and result are JSON
    // text kept as given.
    sqlite: `
      CREATE TABLE IF NOT EXISTS commands (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        command_id   TEXT NOT NULL UNIQUE,
        device_id    TEXT NOT NULL,
        command      TEXT NOT NULL,
        params       TEXT NOT NULL,
        state        TEXT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        queued_at    INTEGER NOT NULL,
        sent_at      INTEGER,
        last_sent_at INTEGER,
        delivered_at INTEGER,
        finished_at  INTEGER,
        expires_at   INTEGER NOT NULL,
        cause        TEXT,
        result       TEXT
      );
      CREATE INDEX IF NOT EXISTS idx_commands_device ON commands (device_id, id);
      CREATE INDEX IF NOT EXISTS idx_commands_open ON commands (id) WHERE state IN ('queued', 'sent', 'delivered');
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS commands (
        id           BIGSERIAL PRIMARY KEY,
        command_id   TEXT NOT NULL UNIQUE,
        device_id    TEXT NOT NULL,
        command      TEXT NOT NULL,
        params       TEXT NOT NULL,
        state        TEXT NOT NULL,
        attempts     INT NOT NULL DEFAULT 0,
        queued_at    BIGINT NOT NULL,
        sent_at      BIGINT,
        last_sent_at BIGINT,
        delivered_at BIGINT,
        finished_at  BIGINT,
        expires_at   BIGINT NOT NULL,
        cause        TEXT,
        result       TEXT
      );
      CREATE INDEX IF NOT EXISTS idx_commands_device ON commands (device_id, id);
      CREATE INDEX IF NOT EXISTS idx_commands_open ON commands (id) WHERE state IN ('queued', 'sent', 'delivered');
    `,
  },
  {
    version: 10,
    name: 'alerts',
    // The alerts processor (src/processors/alerts): rules added through the
    // API (config-file rules are not stored), each (rule, device)'s state,
    // the history of state changes (key: the idempotency key of the change,
    // so a rebuild or a retried step cannot record one twice), the outbox of
    // deliveries written in the same transaction as the change (one row per
    // target, delivered and retried by src/alerts/deliverer.ts), and the
    // guard row every alerts transaction bumps, so the clock tick and a log
    // step of another process cannot both apply over the same state. Times
    // are epoch ms in both dialects.
    sqlite: `
      CREATE TABLE IF NOT EXISTS alert_rules (
        name       TEXT PRIMARY KEY,
        spec       TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS alert_state (
        rule        TEXT NOT NULL,
        device_id   TEXT NOT NULL,
        state       TEXT NOT NULL,
        since       BIGINT,
        last_time   BIGINT NOT NULL,
        last_server BIGINT NOT NULL,
        value_num   REAL,
        value_text  TEXT,
        changed_at  BIGINT NOT NULL,
        PRIMARY KEY (rule, device_id)
      );
      CREATE TABLE IF NOT EXISTS alert_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        key         TEXT NOT NULL UNIQUE,
        rule        TEXT NOT NULL,
        device_id   TEXT NOT NULL,
        state       TEXT NOT NULL,
        value_num   REAL,
        value_text  TEXT,
        at          BIGINT NOT NULL,
        seq         BIGINT,
        recorded_at BIGINT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idx_alert_events_at ON alert_events (at);
      CREATE INDEX IF NOT EXISTS idx_alert_events_rule_device ON alert_events (rule, device_id, at);
      CREATE TABLE IF NOT EXISTS alert_outbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        key          TEXT NOT NULL,
        target       TEXT NOT NULL,
        rule         TEXT NOT NULL,
        device_id    TEXT NOT NULL,
        payload      TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        next_at      BIGINT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        delivered_at BIGINT,
        last_error   TEXT,
        UNIQUE (key, target)
      );
      CREATE INDEX IF NOT EXISTS idx_alert_outbox_due ON alert_outbox (next_at) WHERE delivered_at IS NULL;
      CREATE TABLE IF NOT EXISTS alert_guard (
        id      INTEGER PRIMARY KEY,
        version BIGINT NOT NULL
      );
      INSERT INTO alert_guard (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS alert_rules (
        name       TEXT PRIMARY KEY,
        spec       TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS alert_state (
        rule        TEXT NOT NULL,
        device_id   TEXT NOT NULL,
        state       TEXT NOT NULL,
        since       BIGINT,
        last_time   BIGINT NOT NULL,
        last_server BIGINT NOT NULL,
        value_num   DOUBLE PRECISION,
        value_text  TEXT,
        changed_at  BIGINT NOT NULL,
        PRIMARY KEY (rule, device_id)
      );
      CREATE TABLE IF NOT EXISTS alert_events (
        id          BIGSERIAL PRIMARY KEY,
        key         TEXT NOT NULL UNIQUE,
        rule        TEXT NOT NULL,
        device_id   TEXT NOT NULL,
        state       TEXT NOT NULL,
        value_num   DOUBLE PRECISION,
        value_text  TEXT,
        at          BIGINT NOT NULL,
        seq         BIGINT,
        recorded_at BIGINT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idx_alert_events_at ON alert_events (at);
      CREATE INDEX IF NOT EXISTS idx_alert_events_rule_device ON alert_events (rule, device_id, at);
      CREATE TABLE IF NOT EXISTS alert_outbox (
        id           BIGSERIAL PRIMARY KEY,
        key          TEXT NOT NULL,
        target       TEXT NOT NULL,
        rule         TEXT NOT NULL,
        device_id    TEXT NOT NULL,
        payload      TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        next_at      BIGINT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        delivered_at BIGINT,
        last_error   TEXT,
        UNIQUE (key, target)
      );
      CREATE INDEX IF NOT EXISTS idx_alert_outbox_due ON alert_outbox (next_at) WHERE delivered_at IS NULL;
      CREATE TABLE IF NOT EXISTS alert_guard (
        id      INTEGER PRIMARY KEY,
        version BIGINT NOT NULL
      );
      INSERT INTO alert_guard (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
    `,
  },
  {
    version: 11,
    name: 'commands_open_per_device',
    // The dispatcher's step asks for one device's oldest open command; a
    // partial index on (device_id, id) of open commands answers it in one
    // lookup, however many ended commands the device has behind it.
    sqlite: `
      CREATE INDEX IF NOT EXISTS idx_commands_device_open ON commands (device_id, id) WHERE state IN ('queued', 'sent', 'delivered');
    `,
    postgres: `
      CREATE INDEX IF NOT EXISTS idx_commands_device_open ON commands (device_id, id) WHERE state IN ('queued', 'sent', 'delivered');
    `,
  },
  {
    version: 12,
    name: 'device registry columns',
    // The device-registry processor (src/processors/device-registry) keeps
    // these on the devices rows the write path already maintains, so one row
    // per device holds counts, last status and presence (no second table).
    // Times as elsewhere: epoch ms in SQLite, TIMESTAMPTZ in PostgreSQL.
    // interval_ms is learned from the device's cadence; interval_override_ms
    // comes from the config file's `devices:` section; presence_seq is the log
    // number of the presence entry shown, so a replay never goes back in time;
    // registry_seq the last log number applied to the row, so a replay of
    // entries already folded in (a rebuild from 0) leaves the row as it is.
    sqlite: `
      ALTER TABLE devices ADD COLUMN wifi_rssi REAL;
      ALTER TABLE devices ADD COLUMN uptime_s REAL;
      ALTER TABLE devices ADD COLUMN firmware TEXT;
      ALTER TABLE devices ADD COLUMN status_at INTEGER;
      ALTER TABLE devices ADD COLUMN last_data_at INTEGER;
      ALTER TABLE devices ADD COLUMN last_heard_at INTEGER;
      ALTER TABLE devices ADD COLUMN interval_ms REAL;
      ALTER TABLE devices ADD COLUMN interval_override_ms INTEGER;
      ALTER TABLE devices ADD COLUMN presence TEXT;
      ALTER TABLE devices ADD COLUMN presence_cause TEXT;
      ALTER TABLE devices ADD COLUMN presence_since INTEGER;
      ALTER TABLE devices ADD COLUMN presence_seq INTEGER;
      ALTER TABLE devices ADD COLUMN registry_seq INTEGER;
    `,
    postgres: `
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS wifi_rssi DOUBLE PRECISION;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS uptime_s DOUBLE PRECISION;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS firmware TEXT;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS status_at TIMESTAMPTZ;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS last_data_at TIMESTAMPTZ;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS last_heard_at TIMESTAMPTZ;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS interval_ms DOUBLE PRECISION;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS interval_override_ms BIGINT;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS presence TEXT;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS presence_cause TEXT;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS presence_since TIMESTAMPTZ;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS presence_seq BIGINT;
      ALTER TABLE devices ADD COLUMN IF NOT EXISTS registry_seq BIGINT;
    `,
  },
  {
    version: 13,
    name: 'partitioned raw events',
    // PostgreSQL: events becomes a table partitioned by day (UTC) on the
    // event time COALESCE(ts_device, ts_server) (docs/data-lifecycle.md,
    // "Partitioned raw events", says why that key), so retention drops a
    // day whole (detached, then dropped). The existing flat table is not copied: it is
    // attached whole as the partition events_flat, covering everything
    // before tomorrow (UTC), and is dropped whole once retention passes
    // that; its rows dated tomorrow or later (a device clock ahead) move to
    // the default partition first. Rows with no time at all (both times
    // NULL, possible only from other writers of the seed table) get
    // ts_server = now(). Uniqueness of event_id cannot be enforced on a
    // partitioned table (a unique index must include the partition key), so
    // the event_ids table holds every stored id with its receive time; the
    // write statement inserts there first (ON CONFLICT decides stored or
    // duplicate) and the retention job prunes it after the dedup window.
    // The events_readable view is recreated (a view follows the renamed
    // table). SQLite keeps its flat table (its retention deletes in chunks).
    sqlite: `
      SELECT 1;
    `,
    postgres: `
      DO $m13$
      DECLARE
        cutoff timestamptz := date_trunc('day', now(), 'UTC') + interval '1 day';
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('events')) THEN
          RETURN;
        END IF;
        UPDATE events SET ts_server = now() WHERE ts_server IS NULL AND ts_device IS NULL;
        ALTER TABLE events RENAME TO events_flat;
        ALTER INDEX IF EXISTS events_pkey RENAME TO events_flat_pkey;
        ALTER INDEX IF EXISTS idx_events_ts_device RENAME TO events_flat_ts_device;
        ALTER INDEX IF EXISTS idx_events_type_ts RENAME TO events_flat_type_ts;
        ALTER INDEX IF EXISTS idx_events_device_ts RENAME TO events_flat_device_ts;
        ALTER INDEX IF EXISTS idx_events_device_type_time RENAME TO events_flat_device_type_time;
        ALTER INDEX IF EXISTS idx_events_device_time RENAME TO events_flat_device_time;
        ALTER INDEX IF EXISTS idx_events_time RENAME TO events_flat_time;
        ALTER INDEX IF EXISTS idx_events_seq RENAME TO events_flat_seq;
        CREATE TABLE events (
          event_id   TEXT NOT NULL,
          device_id  TEXT NOT NULL,
          schema     INT  NOT NULL,
          event_type TEXT NOT NULL,
          value_num  DOUBLE PRECISION,
          value_text TEXT,
          unit       TEXT,
          ts_device  TIMESTAMPTZ,
          ts_server  TIMESTAMPTZ DEFAULT NOW(),
          meta       JSONB DEFAULT '{}',
          seq        BIGINT NOT NULL DEFAULT nextval('telehub_log_seq')
        ) PARTITION BY RANGE ((COALESCE(ts_device, ts_server)));
        CREATE TABLE events_default PARTITION OF events DEFAULT;
        INSERT INTO events_default (event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta, seq)
          SELECT event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta, seq
          FROM events_flat WHERE COALESCE(ts_device, ts_server) >= cutoff;
        DELETE FROM events_flat WHERE COALESCE(ts_device, ts_server) >= cutoff;
        ALTER TABLE events_flat ALTER COLUMN event_id SET NOT NULL, ALTER COLUMN device_id SET NOT NULL,
          ALTER COLUMN schema SET NOT NULL, ALTER COLUMN event_type SET NOT NULL, ALTER COLUMN seq SET NOT NULL;
        ALTER TABLE events_flat ALTER COLUMN seq DROP DEFAULT;
        EXECUTE format('ALTER TABLE events ATTACH PARTITION events_flat FOR VALUES FROM (MINVALUE) TO (%L)', cutoff);
        -- The seed's three index names and the query API's stay, now on the
        -- parent; matching indexes of events_flat are adopted, not rebuilt.
        CREATE INDEX idx_events_ts_device ON events (ts_device DESC);
        CREATE INDEX idx_events_type_ts ON events (event_type, ts_device DESC);
        CREATE INDEX idx_events_device_ts ON events (device_id, ts_device DESC);
        CREATE INDEX idx_events_device_type_time ON events (device_id, event_type, COALESCE(ts_device, ts_server), event_id)
          INCLUDE (value_num, ts_device, ts_server);
        CREATE INDEX idx_events_device_time ON events (device_id, COALESCE(ts_device, ts_server), event_id);
        CREATE INDEX idx_events_time ON events (COALESCE(ts_device, ts_server), event_id);
        CREATE INDEX idx_events_seq ON events (seq);
        CREATE INDEX idx_events_event_id ON events (event_id);
        -- events_flat's unique indexes matched nothing on the parent (a
        -- partitioned index cannot be unique without the key): event_ids
        -- takes over, so they go.
        ALTER TABLE events_flat DROP CONSTRAINT IF EXISTS events_flat_pkey;
        DROP INDEX IF EXISTS events_flat_seq;
        CREATE TABLE event_ids (
          event_id    TEXT PRIMARY KEY,
          received_at TIMESTAMPTZ NOT NULL
        );
        CREATE INDEX idx_event_ids_received ON event_ids (received_at);
        INSERT INTO event_ids (event_id, received_at) SELECT event_id, COALESCE(ts_server, now()) FROM events;
        CREATE OR REPLACE VIEW events_readable AS
          SELECT event_id, device_id, schema, event_type, value_num, value_text, unit,
            to_char(ts_device AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts_device,
            to_char(ts_server AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts_server,
            meta::text AS meta
          FROM events;
      END
      $m13$;
    `,
  },
  {
    version: 14,
    name: 'presence transitions',
    // Presence transitions (src/devices/monitor.ts) get their own table and
    // their own kind of commit-log entry instead of being rows of events
    // (event_type 'presence'), which every query of events saw. Their seq
    // comes from the same source as events' and dead letters' (SQLite:
    // telehub_log_head on the one writer; PostgreSQL: telehub_log_seq under
    // the log lock, src/storage/presence-log.ts), so the log keeps one order
    // across the three. (device_id, at, state) is the identity of a
    // transition: written twice (a retry after a lost reply), it is stored once.
    //
    // Rows the presence monitor wrote into events before this version move
    // here keeping their seq, so processors past them see nothing new and
    // those before them read them as presence entries. They are told from a
    // device's own `presence` readings (a PIR sensor may well send some) by
    // the monitor's event_id, `{device}:presence:{ms}:{state}`, and its meta.
    // The counts they added go with them: devices.event_count, and
    // device_counters.events where the device-counters processor had
    // applied them (seq at or below its checkpoint); its last value of type
    // presence, when it came from one of them, is dropped.
    sqlite: `
      CREATE TABLE IF NOT EXISTS presence_transitions (
        seq        INTEGER NOT NULL,
        device_id  TEXT NOT NULL,
        state      TEXT NOT NULL,
        cause      TEXT NOT NULL,
        from_state TEXT NOT NULL,
        at         INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS idx_presence_transitions_seq ON presence_transitions (seq);
      CREATE UNIQUE INDEX IF NOT EXISTS idx_presence_transitions_key ON presence_transitions (device_id, at, state);
      CREATE INDEX IF NOT EXISTS idx_presence_transitions_device ON presence_transitions (device_id, seq);
      INSERT INTO presence_transitions (seq, device_id, state, cause, from_state, at)
        SELECT seq, device_id, value_text, COALESCE(json_extract(meta, '$.cause'), 'data'), COALESCE(json_extract(meta, '$.from'), 'unknown'), ts_server
          FROM events
         WHERE event_type = 'presence' AND value_text IN ('online', 'silent', 'offline', 'unknown')
           AND substr(event_id, 1, length(device_id) + 10) = device_id || ':presence:'
           AND json_valid(meta) AND json_type(meta, '$.cause') = 'text'
        ON CONFLICT DO NOTHING;
      DELETE FROM events WHERE event_type = 'presence' AND seq IN (SELECT seq FROM presence_transitions);
      UPDATE devices SET event_count = event_count - (SELECT COUNT(*) FROM presence_transitions p WHERE p.device_id = devices.device_id)
        WHERE device_id IN (SELECT device_id FROM presence_transitions);
      UPDATE device_counters SET events = events - (SELECT COUNT(*) FROM presence_transitions p WHERE p.device_id = device_counters.device_id
          AND p.seq <= COALESCE((SELECT seq FROM processor_checkpoints WHERE name = 'device-counters'), 0))
        WHERE device_id IN (SELECT device_id FROM presence_transitions);
      DELETE FROM device_last_values WHERE event_type = 'presence' AND seq IN (SELECT seq FROM presence_transitions);
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS presence_transitions (
        seq        BIGINT NOT NULL DEFAULT nextval('telehub_log_seq'),
        device_id  TEXT NOT NULL,
        state      TEXT NOT NULL,
        cause      TEXT NOT NULL,
        from_state TEXT NOT NULL,
        at         TIMESTAMPTZ NOT NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS idx_presence_transitions_seq ON presence_transitions (seq);
      CREATE UNIQUE INDEX IF NOT EXISTS idx_presence_transitions_key ON presence_transitions (device_id, at, state);
      CREATE INDEX IF NOT EXISTS idx_presence_transitions_device ON presence_transitions (device_id, seq);
      INSERT INTO presence_transitions (seq, device_id, state, cause, from_state, at)
        SELECT seq, device_id, value_text, COALESCE(meta->>'cause', 'data'), COALESCE(meta->>'from', 'unknown'), COALESCE(ts_server, now())
          FROM events
         WHERE event_type = 'presence' AND value_text IN ('online', 'silent', 'offline', 'unknown')
           AND left(event_id, length(device_id) + 10) = device_id || ':presence:'
           AND jsonb_typeof(meta) = 'object' AND jsonb_typeof(meta->'cause') = 'string'
        ON CONFLICT DO NOTHING;
      DELETE FROM events WHERE event_type = 'presence' AND seq IN (SELECT seq FROM presence_transitions);
      UPDATE devices SET event_count = devices.event_count - p.n
        FROM (SELECT device_id, count(*) AS n FROM presence_transitions GROUP BY device_id) p WHERE p.device_id = devices.device_id;
      UPDATE device_counters SET events = device_counters.events - p.n
        FROM (SELECT device_id, count(*) AS n FROM presence_transitions
               WHERE seq <= COALESCE((SELECT seq FROM processor_checkpoints WHERE name = 'device-counters'), 0) GROUP BY device_id) p
       WHERE p.device_id = device_counters.device_id;
      DELETE FROM device_last_values WHERE event_type = 'presence' AND seq IN (SELECT seq FROM presence_transitions);
    `,
  },
  {
    version: 15,
    name: 'trip engine state',
    // The trips processor's per-vehicle snapshot of the incremental engine
    // (src/trips/stream.ts): written in the transaction that moves its
    // checkpoint, so in-order data resumes from it instead of re-reading the
    // trip's events. Derived state: a missing or stale row only means the
    // next batch recomputes from the stored events. settings is the
    // thresholds it was computed with; written_at the clock (epoch ms) the
    // trip rows were last written with; trip_id the row of the trip the data
    // has not ended yet; state the engine's JSON. (13 and 14 are taken by
    // other changes of the same round.)
    sqlite: `
      CREATE TABLE IF NOT EXISTS trip_engine_state (
        device_id  TEXT PRIMARY KEY,
        settings   TEXT NOT NULL,
        written_at INTEGER NOT NULL,
        trip_id    TEXT,
        state      TEXT NOT NULL
      );
    `,
    postgres: `
      CREATE TABLE IF NOT EXISTS trip_engine_state (
        device_id  TEXT PRIMARY KEY,
        settings   TEXT NOT NULL,
        written_at BIGINT NOT NULL,
        trip_id    TEXT,
        state      TEXT NOT NULL
      );
    `,
  },
];

/**
 * PostgreSQL store (node-postgres pool).
 *
 * A batch is written with ONE statement (events as one json parameter
 * through `json_to_recordset`, dead letters as arrays through `unnest` in a
 * data-modifying CTE), so it is atomic
 * without BEGIN/COMMIT and costs one round trip. Durability is the server's
 * `synchronous_commit`: with the default (`on`) the statement returns only
 * after the WAL is flushed.
 */
import pg from 'pg';
import type { DeadLetter, StoreStatus, TelemetryEvent } from '../../core/event.js';
import { differingFields, type EventContent } from '../event-content.js';
import { MIGRATIONS } from '../migrations/index.js';
import { rowToDeadLetter, rowToEvent, type DeadLetterRow, type EventRow } from '../rows.js';
import type { DeadLetterQuery, EventConflict, Store, StoredDeadLetter, StoredEvent, TokenRepository, QueryRepository, WriteBatch, WriteResult } from '../store.js';
import { postgresTokens } from './tokens.js';
import { postgresCommands } from './commands.js';
import type { CommandRepository } from '../commands.js';
import { postgresQueries } from './queries.js';
import { isRetriablePgError } from './errors.js';
import { postgresLog } from './log.js';
import { inTransaction } from './transaction.js';
import { ensurePartitions, PARTITIONS_AHEAD_DAYS } from './partitions.js';
import type { CommitLog, ProcessorStore } from '../log.js';

export { isRetriablePgError } from './errors.js';

export interface PostgresStoreOptions {
  connectionString?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  poolSize: number;
}

/** Arbitrary but fixed: every telehub process migrating a database contends on it. */
const MIGRATION_LOCK_KEY = 7_310_452_001;

/**
 * The commit-log lock (design §4: a sequence column is not a commit order).
 * Every write statement takes this transaction-level advisory lock before
 * its first nextval('telehub_log_seq') and holds it until COMMIT, so log
 * numbers are handed out and committed by one transaction at a time, across
 * all telehub processes on the database: when a reader sees number n, every
 * smaller number is committed, rolled back or was never used, and no later
 * commit can take one below it. docs/architecture.md weighs this against
 * reading below pg_snapshot_xmin.
 */
export const LOG_LOCK_KEY = 7_310_452_002;
const LOCK_CTE = `lk AS MATERIALIZED (SELECT pg_advisory_xact_lock(${LOG_LOCK_KEY}))`;

// Epoch ms (bigint) to timestamptz without float rounding: whole seconds via
// to_timestamp (exact for integral seconds up to about year 20000), the
// millisecond remainder as a pure-time interval (no day part, so the session
// TimeZone and DST cannot shift it).
const toTs = (col: string) => `(to_timestamp((${col} / 1000)::float8) + (${col} % 1000) * interval '1 millisecond')`;
// extract(epoch) is numeric (exact) since PostgreSQL 14; round() also covers older float results.
const toMs = (col: string) => `round(extract(epoch FROM ${col}) * 1000)::float8`;

const EVENT_COLUMNS = 'event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta';
const SELECT_EVENT = `SELECT event_id, device_id, schema, event_type, value_num, value_text, unit,
  ${toMs('ts_device')} AS ts_device, ${toMs('ts_server')} AS ts_server, COALESCE(meta::text, '{}') AS meta FROM events`;
const SELECT_DEADLETTER = `SELECT id::float8 AS id, ${toMs('received_at')} AS received_at, reason, message, topic, device_id, source, payload
  FROM deadletters`;

// Events cross as ONE json parameter (JSON.stringify of the event objects,
// a single native call) instead of ten arrays that node-postgres would
// escape element by element. The statement answers with one row: how many
// were inserted and, only when that is fewer than sent, which ids.
//
// events is partitioned (migration 13), so event_id cannot be unique there:
// the ids go first into event_ids, whose primary key decides stored or
// duplicate exactly as the events key did (ON CONFLICT waits for a
// concurrent writer of the same id, then skips it), and only the events
// whose id was new are inserted, in batch order (the order of their log
// numbers). docs/data-lifecycle.md says how long event_ids keeps an id.
const EVENT_RECORD = `"eventId" text, "deviceId" text, schema int4, "eventType" text, "valueNum" float8, "valueText" text, unit text, "tsDevice" int8, "tsServer" int8, meta text`;
const SRC = `src AS MATERIALIZED (SELECT * FROM ROWS FROM (json_to_recordset($1::json) AS (${EVENT_RECORD})) WITH ORDINALITY
  AS e("eventId", "deviceId", schema, "eventType", "valueNum", "valueText", unit, "tsDevice", "tsServer", meta, ord))`;
const INSERT_IDS = `INSERT INTO event_ids (event_id, received_at)
  SELECT e."eventId", ${toTs('e."tsServer"')} FROM src AS e CROSS JOIN lk ORDER BY e.ord
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id`;
const INSERT_EVENTS = `INSERT INTO events (${EVENT_COLUMNS})
  SELECT e."eventId", e."deviceId", e.schema, e."eventType", e."valueNum", e."valueText", e.unit, ${toTs('e."tsDevice"')}, ${toTs('e."tsServer"')}, e.meta::jsonb
  FROM src AS e JOIN ids ON ids.event_id = e."eventId" ORDER BY e.ord
  RETURNING event_id, device_id, ts_server`;
// The devices rows of the newly stored events (duplicates are not returned by
// ins), in the same statement. Rows are upserted in device_id order, so two
// writers touching the same devices lock them in the same order and cannot
// deadlock; and PostgreSQL runs this unreferenced CTE after the main query has
// read all of ins, so every event insert of the batch precedes the row locks.
const UPSERT_DEVICES = `INSERT INTO devices (device_id, first_seen, last_seen, event_count)
  SELECT device_id, min(ts_server), max(ts_server), count(*) FROM ins GROUP BY device_id ORDER BY device_id
  ON CONFLICT (device_id) DO UPDATE SET first_seen = LEAST(devices.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(devices.last_seen, EXCLUDED.last_seen), event_count = devices.event_count + EXCLUDED.event_count`;
// The content of a stored row, to tell a redelivery (duplicate) from another
// event reusing its id (conflict); see event-content.ts.
const STORED_CONTENT = `event_id, device_id, schema, event_type, value_num, value_text, unit, ${toMs('ts_device')} AS ts_device, COALESCE(meta::text, '{}') AS meta`;
// The rows already holding ids of the batch, as the statement's snapshot sees
// them (the rows ins adds are not in it: a data-modifying CTE's changes are
// invisible to the rest of its statement). The uncorrelated count is a
// one-time filter: when every event was inserted nothing of this runs, so a
// batch without a collision pays nothing; otherwise one index probe per id.
const OLD_ROWS = `SELECT ${STORED_CONTENT} FROM events
  WHERE (SELECT count(*) FROM ins) < $2::int4
    AND event_id = ANY(ARRAY(SELECT e."eventId" FROM json_to_recordset($1::json) AS e("eventId" text)))`;
const EVENTS_RESULT = `SELECT count(*)::int4 AS n, CASE WHEN count(*) = $2::int4 THEN NULL ELSE COALESCE(array_agg(event_id), '{}'::text[]) END AS ids,
  (SELECT json_agg(old) FROM old) AS old FROM ins`;
// Read after the write statement for ids it neither inserted nor saw: a
// concurrent writer committed them after this statement's snapshot was taken
// (ON CONFLICT waited for that commit). A new statement has a new snapshot.
const SELECT_STORED = `SELECT ${STORED_CONTENT} FROM events WHERE event_id = ANY($1::text[])`;

/** A stored row as STORED_CONTENT reads it. */
interface StoredContentRow {
  event_id: string;
  device_id: string;
  schema: number;
  event_type: string;
  value_num: number | null;
  value_text: string | null;
  unit: string | null;
  ts_device: number | null;
  meta: string;
}

function contentOf(r: StoredContentRow): EventContent {
  return { deviceId: r.device_id, schema: r.schema, eventType: r.event_type, valueNum: r.value_num, valueText: r.value_text, unit: r.unit, tsDevice: r.ts_device, meta: r.meta };
}
const insertDeadLetters = (p: number) => `INSERT INTO deadletters (received_at, reason, message, topic, device_id, source, payload)
  SELECT ${toTs('d.at')}, d.reason, d.message, d.topic, d.dev, d.source, d.payload
  FROM unnest($${p}::int8[], $${p + 1}::text[], $${p + 2}::text[], $${p + 3}::text[], $${p + 4}::text[], $${p + 5}::text[], $${p + 6}::bytea[])
    AS d(at, reason, message, topic, dev, source, payload) CROSS JOIN lk`;

// Named (prepared once per connection) variants of the single write statement.
// The joins with lk take the log lock before any row (and so any seq
// default) is produced; rows are inserted in batch order, so one batch's
// entries keep their order in the log.
const WRITE_EVENTS = { name: 'telehub_write_e6', text: `WITH ${LOCK_CTE}, ${SRC}, ids AS (${INSERT_IDS}), ins AS (${INSERT_EVENTS}), dev AS (${UPSERT_DEVICES}), old AS (${OLD_ROWS}) ${EVENTS_RESULT}` };
const WRITE_DEADLETTERS = { name: 'telehub_write_d5', text: `WITH ${LOCK_CTE} ${insertDeadLetters(1)}` };
const WRITE_BOTH = {
  name: 'telehub_write_ed6',
  text: `WITH ${LOCK_CTE}, dl AS (${insertDeadLetters(3)}), ${SRC}, ids AS (${INSERT_IDS}), ins AS (${INSERT_EVENTS}), dev AS (${UPSERT_DEVICES}), old AS (${OLD_ROWS}) ${EVENTS_RESULT}`,
};



/** The events as the json parameter of INSERT_EVENTS, and how many there are. */
function eventParams(events: readonly TelemetryEvent[]): unknown[] {
  return [JSON.stringify(events), events.length];
}

function deadLetterParams(dls: readonly DeadLetter[]): unknown[] {
  return [
    dls.map((d) => d.receivedAt),
    dls.map((d) => d.reason),
    dls.map((d) => d.message),
    dls.map((d) => d.topic),
    dls.map((d) => d.deviceId),
    dls.map((d) => d.source),
    dls.map((d) => d.payload),
  ];
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  readonly tokens: TokenRepository;
  readonly commands: CommandRepository;
  readonly queries: QueryRepository;
  readonly log: CommitLog;
  readonly processors: ProcessorStore;
  private closed = false;

  constructor(opts: PostgresStoreOptions) {
    // pg lets fields parsed from a connection string override explicit ones
    // (even with undefined), so use one source or the other, never both.
    const target = opts.connectionString
      ? { connectionString: opts.connectionString }
      : { host: opts.host, port: opts.port, database: opts.database, user: opts.user, password: opts.password };
    this.pool = new pg.Pool({
      ...target,
      max: opts.poolSize,
      // Without a bound a black-holed server makes checkouts wait for the OS TCP timeout (minutes).
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    // An idle client whose server went away emits 'error'; the pool already
    // drops it and the next checkout connects afresh. Unhandled, it would kill the process.
    this.pool.on('error', () => {});
    // A checked-out client can still emit 'error' where no listener holds it
    // (a server restart's termination message arriving between the queries
    // of a connection that pg-pool has already handed back or not yet handed
    // out): unhandled, that kills the process (seen once on Node 24 in the
    // PostgreSQL-restart chaos test; brianc/node-postgres#2499). Every client
    // keeps a listener for its whole life: the queries it had are failed by
    // pg itself, the pool drops the connection, and writes retry.
    this.pool.on('connect', (client) => client.on('error', () => {}));
    this.tokens = postgresTokens(this.pool);
    this.commands = postgresCommands(this.pool);
    this.queries = postgresQueries(this.pool);
    const { log, processors } = postgresLog(this.pool);
    this.log = log;
    this.processors = processors;
  }

  async migrate(upTo?: number): Promise<void> {
    // Every step takes the advisory lock first: concurrent CREATE TABLE IF NOT
    // EXISTS can otherwise fail with a unique violation on pg_type.
    await inTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await c.query(
        'CREATE TABLE IF NOT EXISTS telehub_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
      );
    });
    for (const m of MIGRATIONS) {
      if (upTo !== undefined && m.version > upTo) break;
      await inTransaction(this.pool, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        // Read under the lock: another process may have applied it while we waited.
        const { rows } = await c.query<{ v: number }>('SELECT COALESCE(MAX(version), 0) AS v FROM telehub_migrations');
        if (m.version <= rows[0].v) return;
        await c.query(m.postgres);
        await c.query('INSERT INTO telehub_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      });
    }
    // The day partitions of today and the next few (the retention job keeps
    // them created from then on), so the first events of a fresh database
    // do not wait in events_default.
    const now = Date.now();
    await ensurePartitions(this.processors, now, now + PARTITIONS_AHEAD_DAYS * 86_400_000);
  }

  async writeBatch(batch: WriteBatch): Promise<WriteResult> {
    const { events, deadLetters } = batch;
    // First occurrence of each id is the candidate; later ones are compared with what the id then holds.
    const firstIndex = new Map<string, number>();
    for (let i = 0; i < events.length; i++) {
      if (!firstIndex.has(events[i].eventId)) firstIndex.set(events[i].eventId, i);
    }
    // Insert in batch order, which is the order of their log numbers. (Two
    // writers with overlapping ids cannot deadlock on the unique index: the
    // log lock lets one write statement run at a time.)
    const unique = [...firstIndex.values()].map((i) => events[i]);

    // undefined: every unique event was inserted; else the ids that were.
    let inserted: Set<string> | undefined;
    // The rows that already held ids of this batch (only when some were not inserted).
    // null: the id is held in event_ids but its row is gone (dropped by
    // retention): a redelivery of an event stored long ago, answered duplicate.
    const storedRows = new Map<string, EventContent | null>();
    if (unique.length === 0 && deadLetters.length === 0) {
      inserted = new Set();
    } else if (unique.length === 0) {
      await this.pool.query({ ...WRITE_DEADLETTERS, values: deadLetterParams(deadLetters) });
      inserted = new Set();
    } else {
      type Row = { n: number; ids: string[] | null; old: StoredContentRow[] | null };
      const res =
        deadLetters.length === 0
          ? await this.pool.query<Row>({ ...WRITE_EVENTS, values: eventParams(unique) })
          : await this.pool.query<Row>({ ...WRITE_BOTH, values: [...eventParams(unique), ...deadLetterParams(deadLetters)] });
      const { ids, old } = res.rows[0];
      inserted = ids === null ? undefined : new Set(ids);
      if (inserted !== undefined) {
        for (const r of old ?? []) storedRows.set(r.event_id, contentOf(r));
        const unseen = unique.filter((e) => !inserted!.has(e.eventId) && !storedRows.has(e.eventId)).map((e) => e.eventId);
        if (unseen.length > 0) await this.readStored(unseen, storedRows);
      }
    }
    const statuses: StoreStatus[] = new Array(events.length);
    let conflicts: Map<number, EventConflict> | undefined;
    for (let i = 0; i < events.length; i++) {
      const id = events[i].eventId;
      const first = firstIndex.get(id)!;
      if (first === i && (inserted === undefined || inserted.has(id))) {
        statuses[i] = 'stored';
        continue;
      }
      // What the id holds now: the row that was there, else this batch's first copy (just inserted).
      const stored = storedRows.get(id);
      if (stored === null) {
        statuses[i] = 'duplicate';
        continue;
      }
      const holder = stored ?? events[first];
      const differs = differingFields(holder, events[i]);
      statuses[i] = differs.length > 0 ? 'conflict' : 'duplicate';
      if (differs.length > 0) (conflicts ??= new Map()).set(i, { storedDeviceId: holder.deviceId, differs });
    }
    return conflicts === undefined ? { statuses } : { statuses, conflicts };
  }

  /**
   * Reads the rows holding ids that the write statement neither inserted nor
   * saw (a concurrent writer won them after its snapshot). Rows of `events`
   * are never updated, so reading them now is reading what won. An id that
   * event_ids still holds after retention dropped its row is a redelivery of
   * an event stored long ago: its content is gone, so it is answered
   * duplicate (null). Should an id be in neither (deleted by hand in
   * between), the batch is retried as a whole: its events then come back
   * `duplicate`, as after any lost acknowledgement.
   */
  private async readStored(ids: string[], into: Map<string, EventContent | null>): Promise<void> {
    const { rows } = await this.pool.query<StoredContentRow>(SELECT_STORED, [ids]);
    for (const r of rows) into.set(r.event_id, contentOf(r));
    const missing = ids.filter((id) => !into.has(id));
    if (missing.length === 0) return;
    const held = await this.pool.query<{ event_id: string }>('SELECT event_id FROM event_ids WHERE event_id = ANY($1::text[])', [missing]);
    for (const r of held.rows) into.set(r.event_id, null);
    if (held.rows.length < missing.length) {
      throw Object.assign(new Error('an event id was taken by a row that was gone when read back; retrying the batch'), { code: '40001' });
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  isRetriable(err: unknown): boolean {
    return isRetriablePgError(err);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async countEvents(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT count(*)::float8 AS n FROM events');
    return rows[0].n;
  }

  async getEvent(eventId: string): Promise<StoredEvent | undefined> {
    const { rows } = await this.pool.query<EventRow>(`${SELECT_EVENT} WHERE event_id = $1`, [eventId]);
    return rows.length > 0 ? rowToEvent(rows[0]) : undefined;
  }

  async recentEvents(limit: number, deviceId?: string): Promise<StoredEvent[]> {
    const { rows } =
      deviceId !== undefined
        ? await this.pool.query<EventRow>(`${SELECT_EVENT} WHERE device_id = $1 ORDER BY events.ts_server DESC LIMIT $2`, [deviceId, limit])
        : await this.pool.query<EventRow>(`${SELECT_EVENT} ORDER BY events.ts_server DESC LIMIT $1`, [limit]);
    return rows.map(rowToEvent);
  }

  async countDeadLetters(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT count(*)::float8 AS n FROM deadletters');
    return rows[0].n;
  }

  async listDeadLetters(q: DeadLetterQuery = {}): Promise<StoredDeadLetter[]> {
    const limit = q.limit ?? 100;
    const { rows } =
      q.reason !== undefined
        ? await this.pool.query<DeadLetterRow>(`${SELECT_DEADLETTER} WHERE reason = $1 ORDER BY deadletters.id DESC LIMIT $2`, [q.reason, limit])
        : await this.pool.query<DeadLetterRow>(`${SELECT_DEADLETTER} ORDER BY deadletters.id DESC LIMIT $1`, [limit]);
    return rows.map(rowToDeadLetter);
  }

  async migrationVersions(): Promise<number[]> {
    const { rows } = await this.pool.query<{ version: number }>('SELECT version FROM telehub_migrations ORDER BY version');
    return rows.map((r) => r.version);
  }
}

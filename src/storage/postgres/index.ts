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

/** SQLSTATE classes where the same statement may succeed later (docs: Appendix A). */
const RETRIABLE_SQLSTATE_CLASSES = new Set(['08', '53', '57', '58']);
const RETRIABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '25006', // read_only_sql_transaction: we reached a standby during a failover
  '55000', // object_not_in_prerequisite_state: e.g. the database does not accept connections now (maintenance)
]);
const RETRIABLE_SYSCALL_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN',
  'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ECONNABORTED', 'EHOSTDOWN',
]);
/**
 * node-postgres reports a lost or unusable connection with a plain Error and
 * no code; these are its words (client.js, pg-pool) for that case.
 */
const CONNECTION_MESSAGE =
  /Connection terminated|Connection ended|timeout exceeded when trying to connect|connection timeout|Query read timeout|not queryable|socket hang up|Client was closed|server closed the connection/i;

/**
 * Tells a transient PostgreSQL failure (the connection, the server's state,
 * a lock conflict) from a permanent one (the server refused the data).
 * Unknown errors without a SQLSTATE are permanent: retrying a bug forever
 * would stall the pipeline, whereas a connection loss always shows one of the
 * codes or messages above.
 */
export function isRetriablePgError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code !== undefined && RETRIABLE_SYSCALL_CODES.has(code)) return true;
  // A SQLSTATE is five digits/upper-case letters; node's own codes (EPIPE) are caught above.
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) {
    return RETRIABLE_SQLSTATES.has(code) || RETRIABLE_SQLSTATE_CLASSES.has(code.slice(0, 2));
  }
  // Node's happy-eyeballs connect gathers one error per address in an AggregateError.
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isRetriablePgError)) return true;
  if (code === undefined && typeof e.message === 'string' && CONNECTION_MESSAGE.test(e.message)) return true;
  if (e.cause !== undefined && e.cause !== err) return isRetriablePgError(e.cause);
  return false;
}

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
const EVENT_RECORD = `"eventId" text, "deviceId" text, schema int4, "eventType" text, "valueNum" float8, "valueText" text, unit text, "tsDevice" int8, "tsServer" int8, meta text`;
const INSERT_EVENTS = `INSERT INTO events (${EVENT_COLUMNS})
  SELECT e."eventId", e."deviceId", e.schema, e."eventType", e."valueNum", e."valueText", e.unit, ${toTs('e."tsDevice"')}, ${toTs('e."tsServer"')}, e.meta::jsonb
  FROM json_to_recordset($1::json) AS e(${EVENT_RECORD})
  ON CONFLICT (event_id) DO NOTHING
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
    AS d(at, reason, message, topic, dev, source, payload)`;

// Named (prepared once per connection) variants of the single write statement.
const WRITE_EVENTS = { name: 'telehub_write_e4', text: `WITH ins AS (${INSERT_EVENTS}), dev AS (${UPSERT_DEVICES}), old AS (${OLD_ROWS}) ${EVENTS_RESULT}` };
const WRITE_DEADLETTERS = { name: 'telehub_write_d', text: insertDeadLetters(1) };
const WRITE_BOTH = {
  name: 'telehub_write_ed4',
  text: `WITH dl AS (${insertDeadLetters(3)}), ins AS (${INSERT_EVENTS}), dev AS (${UPSERT_DEVICES}), old AS (${OLD_ROWS}) ${EVENTS_RESULT}`,
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
    this.tokens = postgresTokens(this.pool);
    this.commands = postgresCommands(this.pool);
    this.queries = postgresQueries(this.pool);
  }

  async migrate(upTo?: number): Promise<void> {
    // Every step takes the advisory lock first: concurrent CREATE TABLE IF NOT
    // EXISTS can otherwise fail with a unique violation on pg_type.
    await this.inTransaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await c.query(
        'CREATE TABLE IF NOT EXISTS telehub_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
      );
    });
    for (const m of MIGRATIONS) {
      if (upTo !== undefined && m.version > upTo) break;
      await this.inTransaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        // Read under the lock: another process may have applied it while we waited.
        const { rows } = await c.query<{ v: number }>('SELECT COALESCE(MAX(version), 0) AS v FROM telehub_migrations');
        if (m.version <= rows[0].v) return;
        await c.query(m.postgres);
        await c.query('INSERT INTO telehub_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      });
    }
  }

  async writeBatch(batch: WriteBatch): Promise<WriteResult> {
    const { events, deadLetters } = batch;
    // First occurrence of each id is the candidate; later ones are compared with what the id then holds.
    const firstIndex = new Map<string, number>();
    for (let i = 0; i < events.length; i++) {
      if (!firstIndex.has(events[i].eventId)) firstIndex.set(events[i].eventId, i);
    }
    // Insert in id order: two writers with overlapping ids then take the
    // unique-index waits in the same order and cannot deadlock each other.
    const unique = [...firstIndex.values()].map((i) => events[i]);
    unique.sort((a, b) => (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0));

    // undefined: every unique event was inserted; else the ids that were.
    let inserted: Set<string> | undefined;
    // The rows that already held ids of this batch (only when some were not inserted).
    const storedRows = new Map<string, EventContent>();
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
      const holder = storedRows.get(id) ?? events[first];
      const differs = differingFields(holder, events[i]);
      statuses[i] = differs.length > 0 ? 'conflict' : 'duplicate';
      if (differs.length > 0) (conflicts ??= new Map()).set(i, { storedDeviceId: holder.deviceId, differs });
    }
    return conflicts === undefined ? { statuses } : { statuses, conflicts };
  }

  /**
   * Reads the rows holding ids that the write statement neither inserted nor
   * saw (a concurrent writer won them after its snapshot). Rows of `events`
   * are never updated, so reading them now is reading what won. Should one be
   * gone (deleted by hand in between), the batch is retried as a whole: its
   * events then come back `duplicate`, as after any lost acknowledgement.
   */
  private async readStored(ids: string[], into: Map<string, EventContent>): Promise<void> {
    const { rows } = await this.pool.query<StoredContentRow>(SELECT_STORED, [ids]);
    for (const r of rows) into.set(r.event_id, contentOf(r));
    if (rows.length < ids.length) {
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

  private async inTransaction(fn: (c: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    // A checked-out client has no pool listener; an 'error' while we hold it would be uncaught.
    let broken: unknown;
    const onError = (err: unknown) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await fn(client);
      await client.query('COMMIT');
    } catch (err) {
      broken ??= isRetriablePgError(err) ? err : undefined;
      if (broken === undefined) await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
      throw err;
    } finally {
      client.off('error', onError);
      // Passing an error makes the pool discard the connection instead of reusing it.
      client.release(broken instanceof Error ? broken : broken !== undefined ? new Error(String(broken)) : undefined);
    }
  }
}

/**
 * Embedded store on SQLite (better-sqlite3): the default, a file under
 * TELEHUB_DATA_DIR, nothing to install.
 *
 * Durability: WAL journal with `synchronous=FULL`, so the WAL is fsynced at
 * every commit and an acknowledged batch survives power loss (with NORMAL it
 * would not, see design §4). The cost is one fsync per batch, not per event.
 *
 * Batches are committed on a worker thread (its own better-sqlite3
 * connection to the same file, also `synchronous=FULL`): the insert loop and
 * the fsync no longer stop the event loop, which then keeps doing MQTT and
 * decoding. A batch crosses as one JSON string of a flat array of column
 * values (one copy, no object graph to clone) and `writeBatch` resolves only after the worker's
 * COMMIT has returned. The query API reads on a reader thread (reader.ts).
 * Migrations, tokens, the CLI's reads and `:memory:` databases stay on the
 * calling thread's connection.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { StoreStatus, TelemetryEvent } from '../../core/event.js';
import { differingFields, type EventContent } from '../event-content.js';
import { MIGRATIONS } from '../migrations/index.js';
import { rowToDeadLetter, rowToEvent, type DeadLetterRow, type EventRow } from '../rows.js';
import { sqliteTokens } from './tokens.js';
import { sqliteCommands } from './commands.js';
import type { CommandRepository } from '../commands.js';
import { sqliteQueries } from './queries.js';
import { sameThreadReader, ThreadReader, type SqlReader } from './reader.js';
import { sqliteLog } from './log.js';
import type { CommitLog, ProcessorStore } from '../log.js';
import type { DeadLetterQuery, EventConflict, Store, StoredDeadLetter, StoredEvent, TokenRepository, QueryRepository, WriteBatch, WriteResult } from '../store.js';

// seq: the commit-log number (src/storage/log.ts). The writer is single, so
// numbers are handed out from telehub_log_head inside the write transaction,
// to newly stored events and dead letters only, in batch order.
const INSERT_EVENT_SQL = `INSERT INTO events (event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`;
const LOG_HEAD_SQL = 'SELECT seq FROM telehub_log_head WHERE id = 1';
const SET_LOG_HEAD_SQL = 'UPDATE telehub_log_head SET seq = ? WHERE id = 1';
// One upsert per distinct device of a batch, counting only the events that
// were newly stored; MIN/MAX keep first/last seen right whatever the order.
const UPSERT_DEVICE_SQL = `INSERT INTO devices (device_id, first_seen, last_seen, event_count) VALUES (?, ?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET first_seen = MIN(first_seen, excluded.first_seen),
         last_seen = MAX(last_seen, excluded.last_seen), event_count = event_count + excluded.event_count`;
// Read only when an insert did nothing: the row that holds the id, to tell a
// redelivery (duplicate) from another event reusing the id (conflict). Inside
// the write transaction, so it is the row that won, whichever writer that was.
const SELECT_STORED_SQL = 'SELECT device_id, schema, event_type, value_num, value_text, unit, ts_device, meta FROM events WHERE event_id = ?';
const INSERT_DEADLETTER_SQL = 'INSERT INTO deadletters (received_at, reason, message, topic, device_id, source, payload, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
/** Values per event in the flat array sent (as JSON) to the writer thread. */
const EVENT_FIELDS = 10;

/** Per-event outcome codes in the writer thread's reply. */
const STORED = 1;
const CONFLICT = 2;

/** A stored row as SELECT_STORED_SQL reads it. */
interface StoredRow {
  device_id: string;
  schema: number;
  event_type: string;
  value_num: number | null;
  value_text: string | null;
  unit: string | null;
  ts_device: number | null;
  meta: string;
}

/**
 * After an insert that did nothing: compares the event with the row holding
 * its id. Returns the differing fields (empty: a duplicate). Self-contained,
 * like tallyDevice, so the writer thread runs it from its source text.
 */
function compareStored(row: StoredRow, incoming: EventContent, differ: typeof differingFields): string[] {
  const stored = {
    deviceId: row.device_id,
    schema: row.schema,
    eventType: row.event_type,
    valueNum: row.value_num,
    valueText: row.value_text,
    unit: row.unit,
    tsDevice: row.ts_device,
    meta: row.meta,
  };
  return differ(stored, incoming);
}

/** Per device of a batch: [first ts_server, last ts_server, newly stored events]. */
type DeviceTally = Map<string, [number, number, number]>;

/**
 * Counts one newly stored event into its device's tally. Self-contained: the
 * writer thread runs this very function from its source text, and the
 * `:memory:` path calls it directly, so both keep `devices` the same way.
 */
function tallyDevice(devices: DeviceTally, deviceId: string, tsServer: number): void {
  const d = devices.get(deviceId);
  if (d === undefined) devices.set(deviceId, [tsServer, tsServer, 1]);
  else {
    if (tsServer < d[0]) d[0] = tsServer;
    if (tsServer > d[1]) d[1] = tsServer;
    d[2]++;
  }
}

/** A statement of a processor transaction; `expect`: the row count it must change, else the transaction is undone. */
export interface ExecStatement {
  sql: string;
  params: unknown[];
  expect?: number;
}

/**
 * Runs a processor's statements (inside the caller's transaction); a
 * statement that changes other than `expect` rows throws with code
 * TELEHUB_CHECKPOINT_MOVED. Self-contained: the writer thread runs it from its source text.
 */
function runStatements(prepare: (sql: string) => { run(...args: unknown[]): { changes: number } }, list: ExecStatement[]): void {
  for (const st of list) {
    const info = prepare(st.sql).run(...st.params);
    if (st.expect !== undefined && info.changes !== st.expect) {
      const err = new Error('a processor checkpoint moved') as Error & { code?: string };
      err.code = 'TELEHUB_CHECKPOINT_MOVED';
      throw err;
    }
  }
}

/** Upserts the tallies in device_id order (the order every writer locks rows in). */
function upsertDevices(devices: DeviceTally, upsert: { run(...args: unknown[]): unknown }): void {
  for (const id of [...devices.keys()].sort()) {
    const d = devices.get(id)!;
    upsert.run(id, d[0], d[1], d[2]);
  }
}

/**
 * The writer thread (CommonJS, evaluated from this string so it runs the same
 * under tsx and from dist/ without a TypeScript loader). Messages are handled
 * one at a time, in order: one message, one transaction.
 */
const WORKER_SOURCE = `
'use strict';
// tsx (esbuild keepNames) wraps named inner functions in __name(); the
// functions below arrive as source text, so give them the identity.
const __name = (f) => f;
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
let busyTimeout = workerData.busyTimeout;
db.pragma('busy_timeout = ' + busyTimeout);
const insertEvent = db.prepare(workerData.insertEvent);
const insertDeadLetter = db.prepare(workerData.insertDeadLetter);
const upsertDevice = db.prepare(workerData.upsertDevice);
const selectStored = db.prepare(workerData.selectStored);
const logHead = db.prepare(workerData.logHead).pluck();
const setLogHead = db.prepare(workerData.setLogHead);
const F = workerData.eventFields;
const differingFields = ${differingFields.toString()};
const compareStored = ${compareStored.toString()};
const tallyDevice = ${tallyDevice.toString()};
const upsertDevices = ${upsertDevices.toString()};
const runStatements = ${runStatements.toString()};
const statements = new Map();
const prepared = (sql) => {
  let st = statements.get(sql);
  if (st === undefined) {
    if (statements.size >= 256) statements.clear();
    st = db.prepare(sql);
    statements.set(sql, st);
  }
  return st;
};
const exec = db.transaction((list) => runStatements(prepared, list));
// Numbers JSON cannot carry (-0, NaN, ±Infinity) arrive as strings.
const num = (x) => (typeof x === 'string' ? (x === '-0' ? -0 : Number(x)) : x);
const write = db.transaction((json, dl) => {
  const ev = JSON.parse(json);
  const n = ev.length / F;
  // 0 duplicate, ${STORED} stored, ${CONFLICT} conflict
  const stored = new Uint8Array(n);
  // [index, stored device_id, differing fields] per conflict
  const conflicts = [];
  // device_id -> [first ts_server, last ts_server, newly stored events]
  const devices = new Map();
  const head = logHead.get();
  let seq = head;
  for (let i = 0, o = 0; i < n; i++, o += F) {
    const tsServer = num(ev[o + 8]);
    const schema = num(ev[o + 2]), valueNum = num(ev[o + 4]), tsDevice = num(ev[o + 7]);
    const info = insertEvent.run(ev[o], ev[o + 1], schema, ev[o + 3], valueNum, ev[o + 5], ev[o + 6], tsDevice, tsServer, ev[o + 9], seq + 1);
    if (info.changes !== 1) {
      const row = selectStored.get(ev[o]);
      const differs = compareStored(row, { deviceId: ev[o + 1], schema, eventType: ev[o + 3], valueNum, valueText: ev[o + 5], unit: ev[o + 6], tsDevice, meta: ev[o + 9] }, differingFields);
      if (differs.length > 0) {
        stored[i] = ${CONFLICT};
        conflicts.push([i, row.device_id, differs]);
      }
      continue;
    }
    seq++;
    stored[i] = ${STORED};
    tallyDevice(devices, ev[o + 1], tsServer);
  }
  upsertDevices(devices, upsertDevice);
  if (dl !== undefined) for (const d of dl) insertDeadLetter.run(d[0], d[1], d[2], d[3], d[4], d[5], d[6], ++seq);
  if (seq !== head) setLogHead.run(seq);
  return { stored, conflicts };
});
parentPort.on('message', (m) => {
  if (m.close) {
    try { db.close(); } finally { parentPort.close(); }
    return;
  }
  if (m.pragmas) {
    parentPort.postMessage({ id: m.id, pragmas: { synchronous: db.pragma('synchronous', { simple: true }), journalMode: db.pragma('journal_mode', { simple: true }) } });
    return;
  }
  try {
    if (m.busyTimeout !== busyTimeout) {
      db.pragma('busy_timeout = ' + (m.busyTimeout | 0));
      busyTimeout = m.busyTimeout;
    }
    if (m.exec !== undefined) {
      // A processor's transaction: its state and checkpoint together. NORMAL:
      // not fsynced at its own commit, but WAL frames are kept in order and
      // the next batch's FULL commit syncs them, so a power loss can only
      // undo the newest processor steps, state and checkpoint alike (they
      // are then applied again); a kill -9 loses nothing.
      db.pragma('synchronous = NORMAL');
      try {
        exec.immediate(m.exec);
      } finally {
        db.pragma('synchronous = FULL');
      }
      parentPort.postMessage({ id: m.id });
      return;
    }
    // IMMEDIATE: the log head is read first, so take the write lock before
    // reading it (another process's writer may be between its read and write).
    const { stored, conflicts } = write.immediate(m.ev, m.dl);
    parentPort.postMessage({ id: m.id, stored, conflicts: conflicts.length > 0 ? conflicts : undefined }, [stored.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String(err && err.message), code: err && typeof err.code === 'string' ? err.code : undefined } });
  }
});
`;

/** The durability settings of the writer thread's own connection. */
export interface WriterPragmas {
  /** 2 is FULL: the WAL is fsynced at every commit. */
  synchronous: number;
  journalMode: string;
}

interface WorkerReply {
  id: number;
  pragmas?: WriterPragmas;
  stored?: Uint8Array;
  conflicts?: Array<[number, string, string[]]>;
  error?: { message: string; code?: string };
}

interface PendingWrite {
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
  /** Set for a pragmas probe instead of a write. */
  probe?: (p: WriterPragmas) => void;
  /** Set for a processor transaction instead of a write. */
  done?: () => void;
}

/** A number (or null) as JSON can carry it: -0, NaN and ±Infinity become strings the writer thread turns back. */
function jsonNumber(v: number | null): number | string | null {
  if (v === null) return null;
  if (v === 0) return Object.is(v, -0) ? '-0' : v;
  return v - v === 0 ? v : String(v);
}

function sqliteError(message: string, code: string | undefined): Error {
  const err = new Error(message) as Error & { code?: string };
  if (code !== undefined) err.code = code;
  return err;
}

/** A better-sqlite3 connection on a worker thread that commits batches. */
class WriterThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, PendingWrite>();
  private nextId = 1;
  private dead: Error | undefined;
  private exited: Promise<void>;

  constructor(file: string, busyTimeout: number) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // No TypeScript loader or inspector flags: the worker is plain CommonJS.
      execArgv: [],
      workerData: {
        file,
        busyTimeout,
        betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3'),
        insertEvent: INSERT_EVENT_SQL,
        insertDeadLetter: INSERT_DEADLETTER_SQL,
        upsertDevice: UPSERT_DEVICE_SQL,
        selectStored: SELECT_STORED_SQL,
        logHead: LOG_HEAD_SQL,
        setLogHead: SET_LOG_HEAD_SQL,
        eventFields: EVENT_FIELDS,
      },
    });
    this.worker.unref();
    this.worker.on('message', (m: WorkerReply) => this.onReply(m));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.once('exit', (code) => this.fail(new Error(`the SQLite writer thread exited (${code})`)));
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  write(batch: WriteBatch, busyTimeout: number): Promise<WriteResult> {
    if (this.dead) return Promise.reject(this.dead);
    const events = batch.events;
    const n = events.length;
    // One JSON string crosses the thread boundary much faster than an array
    // of 10 values per event through the structured clone.
    const ev: unknown[] = new Array(n * EVENT_FIELDS);
    for (let i = 0, o = 0; i < n; i++, o += EVENT_FIELDS) {
      const e = events[i];
      ev[o] = e.eventId;
      ev[o + 1] = e.deviceId;
      ev[o + 2] = jsonNumber(e.schema);
      ev[o + 3] = e.eventType;
      ev[o + 4] = jsonNumber(e.valueNum);
      ev[o + 5] = e.valueText;
      ev[o + 6] = e.unit;
      ev[o + 7] = jsonNumber(e.tsDevice);
      ev[o + 8] = jsonNumber(e.tsServer);
      ev[o + 9] = e.meta;
    }
    const dl =
      batch.deadLetters.length === 0
        ? undefined
        : batch.deadLetters.map((d) => [d.receivedAt, d.reason, d.message, d.topic, d.deviceId, d.source, d.payload]);
    const id = this.nextId++;
    return new Promise<WriteResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ id, ev: JSON.stringify(ev), dl, busyTimeout });
    });
  }

  /** Runs statements in one transaction on the writer connection (processors: state and checkpoint together). */
  exec(list: ExecStatement[], busyTimeout: number): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<void>((done, reject) => {
      this.pending.set(id, { resolve: () => {}, reject, done });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ id, exec: list, busyTimeout });
    });
  }

  /** Reads the thread connection's durability pragmas (it runs messages in order, so after any write sent before). */
  pragmas(): Promise<WriterPragmas> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<WriterPragmas>((probe, reject) => {
      this.pending.set(id, { resolve: () => {}, reject, probe });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ id, pragmas: true });
    });
  }

  async close(): Promise<void> {
    if (this.dead === undefined) {
      this.worker.ref();
      this.worker.postMessage({ close: true });
    }
    const t = setTimeout(() => void this.worker.terminate(), 5000);
    await this.exited;
    clearTimeout(t);
  }

  private onReply(m: WorkerReply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker.unref();
    if (m.error) return p.reject(sqliteError(m.error.message, m.error.code));
    if (p.probe) return p.probe(m.pragmas!);
    if (p.done) return p.done();
    const stored = m.stored!;
    const statuses: StoreStatus[] = new Array(stored.length);
    for (let i = 0; i < stored.length; i++) statuses[i] = stored[i] === STORED ? 'stored' : stored[i] === CONFLICT ? 'conflict' : 'duplicate';
    if (m.conflicts === undefined) return p.resolve({ statuses });
    const conflicts = new Map<number, EventConflict>();
    for (const [i, storedDeviceId, differs] of m.conflicts) conflicts.set(i, { storedDeviceId, differs });
    p.resolve({ statuses, conflicts });
  }

  /** The thread is gone: what it held is reported as a transient I/O error, so the batch writer retries on a new thread. */
  private fail(err: Error): void {
    if (this.dead) return;
    this.dead = sqliteError(`SQLite writer thread failed: ${err.message}`, 'SQLITE_IOERR_WRITER_THREAD');
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }
}

const RETRIABLE_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_PROTOCOL', 'SQLITE_NOMEM']);



export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private db: Database.Database;
  private insertEvent!: Database.Statement;
  private insertDeadLetter!: Database.Statement;
  private writeTx!: Database.Transaction<(batch: WriteBatch) => WriteResult>;
  private execTx!: Database.Transaction<(list: ExecStatement[]) => void>;
  private writer: WriterThread | undefined;
  private closed = false;
  readonly tokens: TokenRepository = sqliteTokens(() => this.db);
  readonly commands: CommandRepository = sqliteCommands(() => this.db);
  private readonly reader: SqlReader;
  readonly queries: QueryRepository;
  readonly log: CommitLog;
  readonly processors: ProcessorStore;

  constructor(readonly file: string) {
    // Query-API reads run on a reader thread (reader.ts); :memory: cannot be shared with one.
    this.reader = file === ':memory:' ? sameThreadReader(() => this.db) : new ThreadReader(file);
    this.queries = sqliteQueries(this.reader);
    const { log, processors } = sqliteLog(this.reader, (list) => this.exec(list));
    this.log = log;
    this.processors = processors;
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
  }

  async migrate(upTo?: number): Promise<void> {
    this.db.exec('CREATE TABLE IF NOT EXISTS telehub_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    // BEGIN IMMEDIATE takes the write lock so two processes migrating at once serialise.
    const apply = this.db.transaction(() => {
      const row = this.db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM telehub_migrations').get() as { v: number };
      for (const m of MIGRATIONS) {
        if (m.version <= row.v) continue;
        if (upTo !== undefined && m.version > upTo) break;
        this.db.exec(m.sqlite);
        this.db.prepare('INSERT INTO telehub_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
      }
    });
    apply.immediate();
    // The write statements need the latest schema (the devices table).
    if (upTo === undefined || upTo >= MIGRATIONS[MIGRATIONS.length - 1].version) this.prepare();
  }

  private prepare(): void {
    this.insertEvent = this.db.prepare(INSERT_EVENT_SQL);
    this.insertDeadLetter = this.db.prepare(INSERT_DEADLETTER_SQL);
    const insertEvent = this.insertEvent;
    const insertDeadLetter = this.insertDeadLetter;
    const upsertDevice = this.db.prepare(UPSERT_DEVICE_SQL);
    const selectStored = this.db.prepare(SELECT_STORED_SQL);
    const logHead = this.db.prepare(LOG_HEAD_SQL).pluck();
    const setLogHead = this.db.prepare(SET_LOG_HEAD_SQL);
    // The same work as the writer thread's transaction, for :memory: databases.
    this.writeTx = this.db.transaction((batch: WriteBatch): WriteResult => {
      const statuses: StoreStatus[] = new Array(batch.events.length);
      let conflicts: Map<number, EventConflict> | undefined;
      const devices: DeviceTally = new Map();
      const head = logHead.get() as number;
      let seq = head;
      for (let i = 0; i < batch.events.length; i++) {
        const e: TelemetryEvent = batch.events[i];
        const info = insertEvent.run(e.eventId, e.deviceId, e.schema, e.eventType, e.valueNum, e.valueText, e.unit, e.tsDevice, e.tsServer, e.meta, seq + 1);
        if (info.changes === 1) {
          seq++;
          statuses[i] = 'stored';
          tallyDevice(devices, e.deviceId, e.tsServer);
          continue;
        }
        const row = selectStored.get(e.eventId) as StoredRow;
        const differs = compareStored(row, e, differingFields);
        statuses[i] = differs.length > 0 ? 'conflict' : 'duplicate';
        if (differs.length > 0) (conflicts ??= new Map()).set(i, { storedDeviceId: row.device_id, differs });
      }
      upsertDevices(devices, upsertDevice);
      for (const d of batch.deadLetters) {
        insertDeadLetter.run(d.receivedAt, d.reason, d.message, d.topic, d.deviceId, d.source, d.payload, ++seq);
      }
      if (seq !== head) setLogHead.run(seq);
      return conflicts === undefined ? { statuses } : { statuses, conflicts };
    });
    const prepared = (sql: string) => this.db.prepare(sql) as unknown as { run(...args: unknown[]): { changes: number } };
    this.execTx = this.db.transaction((list: ExecStatement[]) => runStatements(prepared, list));
  }

  /** Runs statements in one transaction on the writer's connection (the writer thread for a file store). */
  private async exec(list: ExecStatement[]): Promise<void> {
    if (!this.execTx) throw new Error('SqliteStore.migrate() must run before the commit log is used');
    if (this.file === ':memory:' || this.closed) return this.execTx.immediate(list);
    return this.writerThread().exec(list, this.busyTimeout());
  }

  async writeBatch(batch: WriteBatch): Promise<WriteResult> {
    if (!this.writeTx) throw new Error('SqliteStore.migrate() must run before writeBatch()');
    if (this.file === ':memory:' || this.closed) return this.writeTx.immediate(batch);
    // The writer follows this connection's busy_timeout (tests and operators set it here).
    return this.writerThread().write(batch, this.busyTimeout());
  }

  private writerThread(): WriterThread {
    if (this.writer === undefined || !this.writer.alive) {
      void this.writer?.close();
      this.writer = new WriterThread(this.file, this.busyTimeout());
    }
    return this.writer;
  }

  /**
   * The durability settings of the connection that commits batches (the
   * writer thread's, not this one's), for tests and diagnostics; a
   * `:memory:` store commits on this connection.
   */
  async writerPragmas(): Promise<WriterPragmas> {
    if (this.file === ':memory:' || this.closed) {
      return { synchronous: this.db.pragma('synchronous', { simple: true }) as number, journalMode: this.db.pragma('journal_mode', { simple: true }) as string };
    }
    return this.writerThread().pragmas();
  }

  private busyTimeout(): number {
    return this.db.pragma('busy_timeout', { simple: true }) as number;
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  isRetriable(err: unknown): boolean {
    const code = (err as { code?: string })?.code;
    if (typeof code !== 'string') return false;
    // Extended codes look like SQLITE_IOERR_WRITE; match on the primary code.
    const primary = code.split('_').slice(0, 2).join('_');
    return RETRIABLE_CODES.has(primary);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.writer;
    this.writer = undefined;
    await w?.close();
    await this.reader.close();
    if (this.db.open) this.db.close();
  }

  async countEvents(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  }

  async getEvent(eventId: string): Promise<StoredEvent | undefined> {
    const r = this.db.prepare('SELECT * FROM events WHERE event_id = ?').get(eventId) as EventRow | undefined;
    return r ? rowToEvent(r) : undefined;
  }

  async recentEvents(limit: number, deviceId?: string): Promise<StoredEvent[]> {
    const rows = deviceId
      ? this.db.prepare('SELECT * FROM events WHERE device_id = ? ORDER BY ts_server DESC LIMIT ?').all(deviceId, limit)
      : this.db.prepare('SELECT * FROM events ORDER BY ts_server DESC LIMIT ?').all(limit);
    return (rows as EventRow[]).map(rowToEvent);
  }

  async countDeadLetters(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM deadletters').get() as { n: number }).n;
  }

  async listDeadLetters(q: DeadLetterQuery = {}): Promise<StoredDeadLetter[]> {
    const limit = q.limit ?? 100;
    const rows = (
      q.reason
        ? this.db.prepare('SELECT * FROM deadletters WHERE reason = ? ORDER BY id DESC LIMIT ?').all(q.reason, limit)
        : this.db.prepare('SELECT * FROM deadletters ORDER BY id DESC LIMIT ?').all(limit)
    ) as DeadLetterRow[];
    return rows.map(rowToDeadLetter);
  }

  async migrationVersions(): Promise<number[]> {
    return (this.db.prepare('SELECT version FROM telehub_migrations ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version);
  }
}

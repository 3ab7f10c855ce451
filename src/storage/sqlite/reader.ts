/**
 * Where the query API's SQLite reads run.
 *
 * better-sqlite3 is synchronous: a read on the main thread stops the event
 * loop, and with it MQTT intake, ACKs and HTTP, for as long as the query runs
 * (a 10,000-row page over a large store takes tens of milliseconds). So reads
 * of a file store run on a reader thread with its own read-only connection;
 * WAL lets it read beside the writer thread, and each statement sees every
 * batch committed before it started. `:memory:` databases (tests) cannot be
 * shared between connections, so their reads stay on the calling thread.
 *
 * Rows come back through the structured clone, where BLOBs become plain
 * Uint8Arrays: callers that read BLOBs wrap them with `asBuffer`.
 */
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { SeriesBucket } from '../store.js';

export type SqlParams = unknown[] | Record<string, unknown>;

export interface SqlReader {
  all(sql: string, params: SqlParams): Promise<Record<string, unknown>[]>;
  /** Runs a `SELECT t, value` statement ordered by time and folds the rows into buckets of `bucketMs`. */
  series(sql: string, params: SqlParams, bucketMs: number): Promise<SeriesBucket[]>;
  close(): Promise<void>;
}

/**
 * Folds rows ordered by time into buckets (count, avg, min, max, first,
 * last) in one pass. Self-contained on purpose: the reader thread runs this
 * very function, from its source text.
 */
export function foldSeries(rows: Iterable<[number, number]>, size: number): SeriesBucket[] {
  const out: SeriesBucket[] = [];
  let cur: SeriesBucket | undefined;
  let sum = 0;
  for (const [t, v] of rows) {
    const bucket = Math.floor(t / size) * size;
    if (cur === undefined || cur.bucket !== bucket) {
      if (cur !== undefined) cur.avg = sum / cur.count;
      cur = { bucket, count: 0, avg: 0, min: v, max: v, first: v, last: v };
      sum = 0;
      out.push(cur);
    }
    cur.count++;
    sum += v;
    if (v < cur.min) cur.min = v;
    if (v > cur.max) cur.max = v;
    cur.last = v;
  }
  if (cur !== undefined) cur.avg = sum / cur.count;
  return out;
}

/** A BLOB read through a reader as a Buffer (a view, no copy). */
export function asBuffer(v: Uint8Array): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function run(st: Database.Statement, params: SqlParams): unknown[] {
  return Array.isArray(params) ? st.all(...params) : st.all(params);
}

/** Reads on the calling thread's connection (`:memory:` stores). */
export function sameThreadReader(db: () => Database.Database): SqlReader {
  return {
    async all(sql, params) {
      return run(db().prepare(sql), params) as Record<string, unknown>[];
    },
    async series(sql, params, bucketMs) {
      const st = db().prepare(sql).raw();
      return foldSeries((Array.isArray(params) ? st.iterate(...params) : st.iterate(params)) as Iterable<[number, number]>, bucketMs);
    },
    async close() {},
  };
}

const READER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const foldSeries = ${foldSeries.toString()};
const statements = new Map();
function statement(sql) {
  let st = statements.get(sql);
  if (st === undefined) {
    if (statements.size >= 256) statements.clear();
    st = db.prepare(sql);
    statements.set(sql, st);
  }
  return st;
}
parentPort.on('message', (m) => {
  if (m.close) {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const st = statement(m.sql);
    let result;
    if (m.bucketMs !== undefined) {
      const raw = st.raw(true);
      result = foldSeries(Array.isArray(m.params) ? raw.iterate(...m.params) : raw.iterate(m.params), m.bucketMs);
      st.raw(false);
    } else {
      result = Array.isArray(m.params) ? st.all(...m.params) : st.all(m.params);
    }
    parentPort.postMessage({ id: m.id, result });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: { message: String(err && err.message), code: err && err.code } });
  }
});
`;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** A read-only better-sqlite3 connection on a worker thread; queries run one at a time, in order. */
export class ThreadReader implements SqlReader {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly file: string) {}

  all(sql: string, params: SqlParams): Promise<Record<string, unknown>[]> {
    return this.ask(sql, params, undefined) as Promise<Record<string, unknown>[]>;
  }

  series(sql: string, params: SqlParams, bucketMs: number): Promise<SeriesBucket[]> {
    return this.ask(sql, params, bucketMs) as Promise<SeriesBucket[]>;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w === undefined) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.ref();
    w.postMessage({ close: true });
    const t = setTimeout(() => void w.terminate(), 5000);
    await exited;
    clearTimeout(t);
  }

  private ask(sql: string, params: SqlParams, bucketMs: number | undefined): Promise<unknown> {
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) w.ref();
      w.postMessage({ id, sql, params, bucketMs });
    });
  }

  private start(): Worker {
    const w = new Worker(READER_SOURCE, {
      eval: true,
      // Plain CommonJS: no TypeScript loader or inspector flags (as the writer thread).
      execArgv: [],
      workerData: { file: this.file, betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3') },
    });
    w.unref();
    w.on('message', (m: { id: number; result?: unknown; error?: { message: string; code?: string } }) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.error) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve(m.result);
    });
    // A reader that dies fails what it held with a retriable code (503 at the API) and is started again on the next query.
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(Object.assign(new Error(`SQLite reader thread failed: ${err.message}`), { code: 'SQLITE_IOERR_READER_THREAD' }));
      this.pending.clear();
    };
    w.on('error', fail);
    w.once('exit', (code) => fail(new Error(`exited (${code})`)));
    this.worker = w;
    return w;
  }
}

/**
 * The commit log's costs and speed, in-process (`npm run bench:log`):
 *
 * 1. Write cost: the same batches through `Store.writeBatch` of one or more
 *    checkouts of telehub (e.g. main before the commit log, and this one),
 *    alternately, with 1 and with 2 writers at once (PostgreSQL; SQLite has
 *    one writer). The commit log adds a column and an index per table and,
 *    in PostgreSQL, a lock that lets one write statement run at a time.
 * 2. Follow rate: how many entries per second a no-op processor follows from
 *    the log (read a page, commit the checkpoint), and device-counters for
 *    comparison, on this checkout.
 *
 *   git archive main | tar -x -C /tmp/telehub-main && ln -s $PWD/node_modules /tmp/telehub-main/
 *   TELEHUB_TEST_DATABASE_URL=postgres://… node --import tsx bench/log.ts /tmp/telehub-main .
 *
 * BENCH_LOG_EVENTS (200,000) events per run in batches of 1,000 (100
 * devices), BENCH_LOG_ROUNDS (3) rounds per checkout. The reference
 * processor's lag during the MQTT modes is measured by bench/run.ts
 * (`processorLag` in its report).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { ProcessorRunner } from '../src/log/runner.js';
import type { Processor } from '../src/log/processor.js';
import { deviceCounters } from '../src/processors/device-counters/index.js';
import type { Store } from '../src/storage/store.js';
import { syntheticBatch, type StoreLike } from './lib/write-batches.js';


const EVENTS = Number(process.env.BENCH_LOG_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_LOG_ROUNDS ?? 3);


/** Writes EVENTS events with `writers` batches in flight at once; events per second. */
async function timeWrites(store: StoreLike, writers: number): Promise<number> {
  await store.migrate();
  const batches = EVENTS / 1000;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let k = next++; k < batches; k = next++) await store.writeBatch({ events: syntheticBatch('lg', k, 1000), deadLetters: [] });
    }),
  );
  return EVENTS / ((performance.now() - t0) / 1000);
}

async function withSqlite<T>(root: string, fn: (s: StoreLike) => Promise<T>): Promise<T> {
  const { SqliteStore } = await import(path.resolve(root, 'src/storage/sqlite/index.ts'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-lb-'));
  const s: StoreLike = new SqliteStore(path.join(dir, 'telehub.db'));
  try {
    return await fn(s);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withPostgres<T>(root: string, admin: string, fn: (s: StoreLike) => Promise<T>): Promise<T> {
  const { PostgresStore } = await import(path.resolve(root, 'src/storage/postgres/index.ts'));
  const name = `bench_log_${Math.random().toString(16).slice(2, 10)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const s: StoreLike = new PostgresStore({ connectionString: u.toString(), poolSize: 4 });
  try {
    return await fn(s);
  } finally {
    await s.close();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  }
}

/** Loads EVENTS events, then times `processor` following the whole log from 0; entries per second. */
async function followRate(store: Store, processor: Processor, batchSize: number): Promise<number> {
  await timeWrites(store as unknown as StoreLike, 1);
  const runner = new ProcessorRunner(store, [processor], { batchSize, pollMs: 1000, retryMinMs: 10, retryMaxMs: 1000 }, pino({ level: 'silent' }));
  const t0 = performance.now();
  await runner.catchUp(processor.name);
  return EVENTS / ((performance.now() - t0) / 1000);
}

const noop: Processor = { name: 'noop', tables: [], apply: () => [] };
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main(): Promise<void> {
  const roots = process.argv.slice(2);
  if (roots.length === 0) roots.push('.');
  const admin = process.env.TELEHUB_TEST_DATABASE_URL;
  const write: Record<string, Record<string, number[]>> = {};
  for (const r of roots) write[r] = { sqlite: [], 'postgres x1': [], 'postgres x2': [] };
  const follow: Record<string, number[]> = {};
  const add = (k: string, v: number) => (follow[k] ??= []).push(Math.round(v));
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the checkouts so drifting machine load hits them alike.
    for (const r of roots) {
      write[r].sqlite.push(Math.round(await withSqlite(r, (s) => timeWrites(s, 1))));
      if (admin) {
        write[r]['postgres x1'].push(Math.round(await withPostgres(r, admin, (s) => timeWrites(s, 1))));
        write[r]['postgres x2'].push(Math.round(await withPostgres(r, admin, (s) => timeWrites(s, 2))));
      }
      process.stderr.write(`round ${round + 1} ${r}: ${Object.entries(write[r]).filter(([, v]) => v.length > 0).map(([k, v]) => `${k} ${v.at(-1)} ev/s`).join(', ')}\n`);
    }
    for (const batchSize of [1000]) {
      add(`sqlite noop (${batchSize}/tx)`, await withSqlite('.', (s) => followRate(s as unknown as Store, noop, batchSize)));
      add(`sqlite device-counters (${batchSize}/tx)`, await withSqlite('.', (s) => followRate(s as unknown as Store, deviceCounters(), batchSize)));
      if (admin) {
        add(`postgres noop (${batchSize}/tx)`, await withPostgres('.', admin, (s) => followRate(s as unknown as Store, noop, batchSize)));
        add(`postgres device-counters (${batchSize}/tx)`, await withPostgres('.', admin, (s) => followRate(s as unknown as Store, deviceCounters(), batchSize)));
      }
    }
    process.stderr.write(`round ${round + 1} follow: ${Object.entries(follow).map(([k, v]) => `${k} ${v.at(-1)}/s`).join(', ')}\n`);
  }
  process.stdout.write(`\nWrite rate through Store.writeBatch, ${EVENTS} events in 1,000-event batches (median of ${ROUNDS}, events/s):\n`);
  for (const r of roots) {
    process.stdout.write(`  ${r}: ${Object.entries(write[r]).filter(([, v]) => v.length > 0).map(([k, v]) => `${k} ${median(v)} [${v.join(', ')}]`).join('; ')}\n`);
  }
  process.stdout.write(`\nFollow rate from seq 0 over ${EVENTS} entries (median of ${ROUNDS}, entries/s):\n`);
  for (const [k, v] of Object.entries(follow)) process.stdout.write(`  ${k}: ${median(v)} [${v.join(', ')}]\n`);
}

await main();

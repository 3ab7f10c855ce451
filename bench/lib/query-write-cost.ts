/**
 * What the query indexes and the devices upkeep cost the write path: the
 * same batches written through `Store.writeBatch` of two checkouts of
 * telehub (e.g. before and after migration 3), alternately, in-process.
 *
 *   git worktree add /tmp/telehub-base <commit> && ln -s $PWD/node_modules /tmp/telehub-base/
 *   TELEHUB_TEST_DATABASE_URL=postgres://… node --import tsx bench/lib/query-write-cost.ts /tmp/telehub-base .
 *
 * BENCH_WC_EVENTS (300,000) events per run in batches of 1,000 (100
 * devices, 10 events each, 4 types), BENCH_WC_ROUNDS (3) rounds per checkout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { syntheticBatch, type StoreLike } from './write-batches.js';

const EVENTS = Number(process.env.BENCH_WC_EVENTS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_WC_ROUNDS ?? 3);


async function timeWrites(store: StoreLike): Promise<number> {
  await store.migrate();
  const t0 = performance.now();
  for (let k = 0; k < EVENTS / 1000; k++) await store.writeBatch({ events: syntheticBatch('wc', k, 1000), deadLetters: [] });
  return EVENTS / ((performance.now() - t0) / 1000);
}

async function sqliteRun(root: string): Promise<number> {
  const { SqliteStore } = await import(path.resolve(root, 'src/storage/sqlite/index.ts'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-wc-'));
  const s: StoreLike = new SqliteStore(path.join(dir, 'telehub.db'));
  try {
    return await timeWrites(s);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresRun(root: string, admin: string): Promise<number> {
  const { PostgresStore } = await import(path.resolve(root, 'src/storage/postgres/index.ts'));
  const name = `bench_wc_${Math.random().toString(16).slice(2, 10)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const s: StoreLike = new PostgresStore({ connectionString: u.toString(), poolSize: 4 });
  try {
    return await timeWrites(s);
  } finally {
    await s.close();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  }
}

async function main(): Promise<void> {
  const roots = process.argv.slice(2);
  if (roots.length === 0) roots.push('.');
  const admin = process.env.TELEHUB_TEST_DATABASE_URL;
  const results: Record<string, { sqlite: number[]; postgres: number[] }> = {};
  for (const r of roots) results[r] = { sqlite: [], postgres: [] };
  // Alternate the checkouts so drifting machine load hits them alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of roots) {
      results[r].sqlite.push(Math.round(await sqliteRun(r)));
      if (admin) results[r].postgres.push(Math.round(await postgresRun(r, admin)));
      process.stderr.write(`round ${round + 1} ${r}: sqlite ${results[r].sqlite.at(-1)} ev/s${admin ? `, postgres ${results[r].postgres.at(-1)} ev/s` : ''}\n`);
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const r of roots) {
    const { sqlite, postgres } = results[r];
    process.stdout.write(`${r}: sqlite median ${median(sqlite)} ev/s [${sqlite.join(', ')}]` + (postgres.length ? `; postgres median ${median(postgres)} ev/s [${postgres.join(', ')}]` : '') + '\n');
  }
}

await main();

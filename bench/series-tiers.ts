/**
 * Series over 90 days for 100 devices, served from the tiers
 * (`npm run bench:series`; issue 11's target: p95 ≤ 50 ms on both stores).
 *
 * For each store (BENCH_SERIES_STORES, default `sqlite,postgres`), in a fresh
 * SQLite file or a fresh `bench_series_*` PostgreSQL database migrated by
 * telehub itself: the 5-minute tier of 100 devices × 1 reading × 90 days
 * (2,592,000 aggregate rows, written directly in SQL: a tier as the rollups
 * processor leaves it after 90 days, whose raw data retention has dropped)
 * and the 1-hour tier over the same rows (216,000; their `sum_parts` hold the
 * sum as one double, not the exact expansion: nothing here reads it), then
 * `node dist/cli/main.js start` on it twice: with the seed 004 ladder (1m,
 * 5m: TELEHUB_CONFIG names it), which answers from the 5-minute rows, and
 * with telehub's default ladder (1m, 5m, 1h), which answers from the hourly
 * ones: the same store, the same requests, in one run. Over HTTP, after 10 untimed
 * warm-up requests, BENCH_SERIES_REQUESTS (200) requests
 * `GET /api/v1/series?device=<random>&type=temperature&from=<90 days ago>&to=<now>&bucket=1h`
 * (2,160 buckets, each from 12 rows of the 5-minute tier, plus the raw tail),
 * one at a time and then 4 at a time; the same with `bucket=1d`.
 *
 * Checks (exit 1 when one fails): every answer is 200, says it used the
 * ladder's coarsest tier, has 2,160 buckets of count 360 (30 readings per 5-minute row), and
 * the minimum of its first bucket is what the rows say.
 * The baseline, measured in the same run on the same store: the same window
 * over raw events is not possible (they were never loaded: 90 days × 100
 * devices at the rows' cadence is 78 million events); instead the same
 * request with `bucket=1d` (90 buckets from the same rows) is reported next
 * to it, so the cost per bucket shows.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresStore } from '../src/storage/postgres/index.js';
import { SqliteStore } from '../src/storage/sqlite/index.js';
import { get, runRequests, type Answer, type Latency } from './lib/query-http.js';
import { cleanupAll, freePort, handleInterrupts, makeTempDir, removeTempDir, startChild, waitForHttp200, type Child } from './lib/procs.js';
import { providePostgres } from './lib/services.js';
import { startNodeFlags } from './lib/start-args.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STORES = (process.env.BENCH_SERIES_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim()).filter(Boolean);
const REQUESTS = Number(process.env.BENCH_SERIES_REQUESTS ?? 200);
const DEVICES = 100;
const DAY = 86_400_000;
const W = 300_000;
const HOUR = 3_600_000;
const NOW = Math.floor(Date.now() / DAY) * DAY; // midnight UTC: 1h and 1d buckets both tile the window
const T0 = NOW - 90 * DAY;
const ROWS_PER_DEVICE = (90 * DAY) / W;

interface StoreResult {
  store: string;
  /** `seed` (1m, 5m) or `default` (1m, 5m, 1h). */
  ladder?: string;
  /** The tier the answers come from. */
  tier?: string;
  loadSeconds?: number;
  rows?: number;
  hourly1?: Latency;
  hourly4?: Latency;
  daily1?: Latency;
  daily4?: Latency;
  problems: string[];
  skipped?: string;
}

const dev = (i: number) => `dev-${String(i).padStart(3, '0')}`;
/** Value of device i's row k (so the first bucket's minimum can be checked). */
const V_SQL = (i: string, k: string) => `(20.0 + (${k} % 288) / 28.8 + ${i} * 0.01)`;

function telehubEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(TELEHUB_|MQTT_|POSTGRES_|DATABASE_URL$|ACK_TEMPLATE$)/.test(k)) env[k] = v;
  return { ...env, TELEHUB_LOG_LEVEL: 'warn', TELEHUB_MQTT_WS_PORT: '-1', TELEHUB_HTTP_HOST: '127.0.0.1', TELEHUB_MQTT_HOST: '127.0.0.1', ...extra };
}

function rowsSql(kind: 'sqlite' | 'postgres'): string {
  const v = V_SQL('i', 'k');
  const cols = `device_id, event_type, width_ms, bucket_start, count, n, sum, sum_parts, min, max, first, first_t, last, last_t`;
  if (kind === 'sqlite') {
    return `WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < ${DEVICES - 1}),
                          b(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM b WHERE k < ${ROWS_PER_DEVICE - 1})
      INSERT INTO rollups (${cols})
      SELECT printf('dev-%03d', i), 'temperature', ${W}, ${T0} + k * ${W}, 30, 30, ${v} * 30, json_array(${v} * 30),
             ${v} - 1, ${v} + 1, ${v}, ${T0} + k * ${W}, ${v}, ${T0} + k * ${W} + 290000 FROM d, b`;
  }
  return `INSERT INTO rollups (${cols})
    SELECT 'dev-' || lpad(i::text, 3, '0'), 'temperature', ${W}, ${T0} + k * ${W}::bigint, 30, 30, ${v} * 30, json_build_array(${v} * 30)::text,
           ${v} - 1, ${v} + 1, ${v}, ${T0} + k * ${W}::bigint, ${v}, ${T0} + k * ${W}::bigint + 290000
      FROM generate_series(0, ${DEVICES - 1}) AS i, generate_series(0, ${ROWS_PER_DEVICE - 1}) AS k`;
}

/**
 * The 1-hour tier over those rows: hour h holds rows k = 12h … 12h + 11 of
 * one day (288 a day), whose values rise with k, so its minimum is row
 * 12h's, its maximum and last row 12h + 11's, and its sum 30 × their values.
 */
function hourRowsSql(kind: 'sqlite' | 'postgres'): string {
  const cols = `device_id, event_type, width_ms, bucket_start, count, n, sum, sum_parts, min, max, first, first_t, last, last_t`;
  const first = V_SQL('i', '(12 * h)');
  const last = V_SQL('i', '(12 * h + 11)');
  const sum = `(30 * (12 * ${first} + 66 / 28.8))`;
  const start = kind === 'sqlite' ? `${T0} + h * ${HOUR}` : `${T0} + h * ${HOUR}::bigint`;
  const sel = `'temperature', ${HOUR}, ${start}, 360, 360, ${sum}, ${kind === 'sqlite' ? `json_array(${sum})` : `json_build_array(${sum})::text`},
             ${first} - 1, ${last} + 1, ${first}, ${start}, ${last}, ${start} + 11 * ${W} + 290000`;
  if (kind === 'sqlite') {
    return `WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < ${DEVICES - 1}),
                          b(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM b WHERE h < ${ROWS_PER_DEVICE / 12 - 1})
      INSERT INTO rollups (${cols}) SELECT printf('dev-%03d', i), ${sel} FROM d, b`;
  }
  return `INSERT INTO rollups (${cols}) SELECT 'dev-' || lpad(i::text, 3, '0'), ${sel}
      FROM generate_series(0, ${DEVICES - 1}) AS i, generate_series(0, ${ROWS_PER_DEVICE / 12 - 1}) AS h`;
}

function check(a: Answer, deviceIdx: number, buckets: number, perBucket: number, tier: string): string[] {
  if (a.status !== 200) return [`status ${a.status}: ${JSON.stringify(a.body).slice(0, 200)}`];
  const body = a.body as { tiers_used?: string[]; buckets?: Array<{ count: number; min: number }> };
  const p: string[] = [];
  if (!body.tiers_used?.includes(tier)) p.push(`tiers_used ${JSON.stringify(body.tiers_used)}, not the ${tier} tier`);
  if (body.buckets?.length !== buckets) p.push(`${body.buckets?.length} buckets, expected ${buckets}`);
  else {
    if (body.buckets.some((b) => b.count !== perBucket)) p.push(`a bucket's count is not ${perBucket}`);
    const want = 20 + deviceIdx * 0.01 - 1; // row k = 0: value 20 + i*0.01, min = value - 1
    if (Math.abs(body.buckets[0].min - want) > 1e-9) p.push(`first bucket min ${body.buckets[0].min}, expected ${want}`);
  }
  return p;
}

const LADDERS = [
  { ladder: 'seed', tier: '5m', config: 'tiers:\n  aggregates:\n    - { width: 1m, retention: 90d }\n    - { width: 5m, retention: 2y }\n' },
  { ladder: 'default', tier: '1h', config: undefined },
] as const;

async function measure(kind: 'sqlite' | 'postgres', log: (s: string) => void): Promise<StoreResult[]> {
  const results: StoreResult[] = [];
  const problems: string[] = [];
  const dir = makeTempDir(`telehub-bench-series-${kind}-`);
  let drop: (() => Promise<void>) | undefined;
  try {
    let storeEnv: Record<string, string>;
    const t0 = performance.now();
    if (kind === 'sqlite') {
      const file = path.join(dir, 'telehub.db');
      const s = new SqliteStore(file);
      await s.migrate();
      await s.close();
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.exec(rowsSql('sqlite'));
      db.exec(hourRowsSql('sqlite'));
      db.exec('ANALYZE');
      db.close();
      storeEnv = { TELEHUB_DATA_DIR: dir };
    } else {
      const pgp = await providePostgres();
      if (typeof pgp !== 'object') return [{ store: kind, problems: [], skipped: pgp }];
      const db = await pgp.create('series');
      drop = db.drop;
      const s = new PostgresStore({ connectionString: db.url, poolSize: 2 });
      await s.migrate();
      await s.close();
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(rowsSql('postgres'));
      await c.query(hourRowsSql('postgres'));
      await c.query('VACUUM (ANALYZE) rollups');
      await c.end();
      storeEnv = { DATABASE_URL: db.url, TELEHUB_DATA_DIR: dir };
    }
    const loadSeconds = (performance.now() - t0) / 1000;
    const rows = DEVICES * ROWS_PER_DEVICE;
    log(`${kind}: ${rows.toLocaleString('en-US')} rows of the 5-minute tier and ${(rows / 12).toLocaleString('en-US')} of the 1-hour tier in ${loadSeconds.toFixed(1)} s`);
    for (const l of LADDERS) results.push(await measureLadder(kind, l, { ...storeEnv }, dir, loadSeconds, rows, log));
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    await drop?.().catch(() => undefined);
    removeTempDir(dir);
  }
  if (problems.length > 0) results.push({ store: kind, problems });
  return results;
}

async function measureLadder(
  kind: 'sqlite' | 'postgres',
  l: (typeof LADDERS)[number],
  storeEnv: Record<string, string>,
  dir: string,
  loadSeconds: number,
  rows: number,
  log: (s: string) => void,
): Promise<StoreResult> {
  const r: StoreResult = { store: kind, ladder: l.ladder, tier: l.tier, loadSeconds, rows, problems: [] };
  let child: Child | undefined;
  try {
    const extra: Record<string, string> = { ...storeEnv };
    if (l.config !== undefined) {
      const file = path.join(dir, `tiers-${l.ladder}.yaml`);
      writeFileSync(file, l.config);
      extra.TELEHUB_CONFIG = file;
    }
    const httpPort = await freePort();
    const env = telehubEnv({ ...extra, TELEHUB_HTTP_PORT: String(httpPort), TELEHUB_MQTT_PORT: String(await freePort()) });
    const out = execFileSync(process.execPath, ['dist/cli/main.js', 'tokens', 'create', '--name', `series-${l.ladder}`, '--scope', 'read'], { cwd: repoRoot, env, encoding: 'utf8' });
    const token = /thk_[A-Za-z0-9_-]+/.exec(out)?.[0];
    if (token === undefined) throw new Error(`tokens create printed no token:\n${out}`);
    child = startChild(`telehub (series, ${kind}, ${l.ladder} ladder)`, process.execPath, [...startNodeFlags(), 'dist/cli/main.js', 'start'], { cwd: repoRoot, env });
    const base = `http://127.0.0.1:${httpPort}`;
    await waitForHttp200(`${base}/readyz`, 120_000, child);
    log(`${kind}, ${l.ladder} ladder: answers from the ${l.tier} tier`);
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const run = async (bucket: '1h' | '1d', concurrency: number) => {
      const n = bucket === '1h' ? 2160 : 90;
      const per = bucket === '1h' ? 360 : 8640;
      const res = await runRequests({
        base,
        token,
        total: REQUESTS,
        warmup: 10,
        concurrency,
        make: () => {
          const i = Math.floor(rand() * DEVICES);
          return { path: `/api/v1/series?device=${dev(i)}&type=temperature&from=${T0}&to=${NOW}&bucket=${bucket}`, ctx: i };
        },
        check: (a, i) => check(a, i, n, per, l.tier),
      });
      r.problems.push(...res.problems);
      return res.latency;
    };
    r.hourly1 = await run('1h', 1);
    r.hourly4 = await run('1h', 4);
    r.daily1 = await run('1d', 1);
    r.daily4 = await run('1d', 4);
    // Sanity: one answer fetched by itself.
    const one = await get(base, `/api/v1/series?device=${dev(0)}&type=temperature&from=${T0}&to=${NOW}&bucket=1h`, token);
    r.problems.push(...check(one, 0, 2160, 360, l.tier));
  } catch (err) {
    r.problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    if (child) {
      const code = await child.stop(10_000);
      if (code !== 0) r.problems.push(`telehub exited ${code}: ${child.tail()}`);
    }
  }
  return r;
}

async function main(): Promise<void> {
  handleInterrupts((line) => process.stderr.write(`${line}\n`));
  execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const results: StoreResult[] = [];
  for (const s of STORES) {
    if (s !== 'sqlite' && s !== 'postgres') {
      process.stderr.write(`BENCH_SERIES_STORES: unknown store ${s} (sqlite, postgres)\n`);
      process.exit(64);
    }
    results.push(...(await measure(s, log)));
  }
  const f = (l?: Latency) => (l === undefined ? '-' : `${l.p50Ms.toFixed(1)} / ${l.p95Ms.toFixed(1)} / ${l.p99Ms.toFixed(1)}`);
  process.stdout.write(`\nSeries over 90 days, 100 devices, from the seed ladder's 5-minute tier and the default ladder's 1-hour tier (${REQUESTS} requests each; p50 / p95 / p99 ms)\n`);
  process.stdout.write(`${'store'.padEnd(10)}${'ladder (tier)'.padEnd(16)}${'bucket=1h, 1 client'.padEnd(26)}${'bucket=1h, 4 clients'.padEnd(26)}${'bucket=1d, 1 client'.padEnd(26)}${'bucket=1d, 4 clients'.padEnd(26)}result\n`);
  for (const r of results) {
    const status = r.skipped ? `skipped: ${r.skipped}` : r.problems.length ? `FAILED: ${r.problems.slice(0, 3).join('; ')}` : 'ok';
    process.stdout.write(`${r.store.padEnd(10)}${(r.ladder === undefined ? '-' : `${r.ladder} (${r.tier})`).padEnd(16)}${f(r.hourly1).padEnd(26)}${f(r.hourly4).padEnd(26)}${f(r.daily1).padEnd(26)}${f(r.daily4).padEnd(26)}${status}\n`);
  }
  const out = path.join(repoRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'series-tiers.json'),
    `${JSON.stringify({ at: new Date().toISOString(), machine: { cpus: os.cpus().length, node: process.version }, settings: { devices: DEVICES, days: 90, requests: REQUESTS }, target: { p95Ms: 50 }, results }, null, 2)}\n`,
  );
  process.stdout.write('Report: bench/results/series-tiers.json\n');
  await cleanupAll();
  if (results.some((r) => r.problems.length > 0)) process.exit(1);
}

main().catch(async (err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await cleanupAll();
  process.exit(1);
});

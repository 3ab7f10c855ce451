/**
 * Query latency bench: BENCH_QUERY_EVENTS (10,000,000) events of 100 devices
 * over 7 days are bulk-loaded into SQLite and PostgreSQL (telehub's own
 * schema, then migration 3 on the loaded rows), telehub is started on each
 * from dist/ as a child process, and real HTTP requests are timed:
 * 24-hour 1-minute series, the devices list, and first pages of a device's
 * events. Every answer's shape is checked, and some series' counts are
 * compared with a COUNT(*) made directly in the database.
 *
 *   node --import tsx bench/query.ts        # builds, runs, prints, writes bench/results/query.json
 *
 * `runQuerySuite` runs the same from another script (it does not build).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { freePort, makeTempDir, removeTempDir, startChild, waitForHttp200, cleanupAll, killAllNow, type Child } from './lib/procs.js';
import { providePostgres, type PostgresProvider } from './lib/services.js';
import { deviceName, loadPostgres, loadSqlite, SPAN_MS, T_START, TYPES, type LoadResult } from './lib/query-load.js';
import { runRequests, type Answer, type Latency } from './lib/query-http.js';
import { startNodeFlags } from './lib/start-args.js';

export type QueryStoreKind = 'sqlite' | 'postgres';

export interface QuerySuiteOptions {
  /** Events to load per store (default BENCH_QUERY_EVENTS or 10,000,000). */
  events?: number;
  devices?: number;
  stores?: QueryStoreKind[];
  /** Timed series requests per store (after `warmup` untimed ones). */
  seriesRequests?: number;
  warmup?: number;
  /** Concurrent HTTP clients. */
  concurrency?: number;
  /** Repository root with a built dist/ (default: this file's parent folder). */
  repoRoot?: string;
  log?: (line: string) => void;
}

export interface StoreQueryResult {
  store: QueryStoreKind;
  /** Why the store was not measured (no PostgreSQL available). */
  skipped?: string;
  load?: LoadResult;
  series?: Latency;
  devices?: Latency;
  events?: Latency;
  /** Series answers whose bucket counts were compared with COUNT(*) in the database. */
  seriesCountsChecked: number;
  /** Query plans of the representative statements, as the database reports them. */
  plans: Record<string, string>;
  problems: string[];
}

export interface QuerySuiteReport {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryMB: number; node: string };
  settings: { events: number; devices: number; types: readonly string[]; spanDays: number; seriesRequests: number; warmup: number; concurrency: number; bucket: string; windowHours: number };
  targets: { seriesP95Ms: number };
  stores: StoreQueryResult[];
  ok: boolean;
}

const DAY = 86_400_000;
const TARGET_SERIES_P95_MS = 100;

/** Deterministic pseudo-random numbers (mulberry32), so runs ask the same questions. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The environment telehub gets: the bench's own, minus anything telehub reads as a setting. */
function telehubEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(TELEHUB_|MQTT_|POSTGRES_|DATABASE_URL$|ACK_TEMPLATE$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, TELEHUB_LOG_LEVEL: 'warn', TELEHUB_MQTT_WS_PORT: '-1', TELEHUB_HTTP_HOST: '127.0.0.1', TELEHUB_MQTT_HOST: '127.0.0.1', ...extra };
}

/** Counts what a series answer must add up to, directly in the database. */
type Counter = (device: string, type: string, from: number, to: number) => Promise<number>;

interface Target {
  env: Record<string, string>;
  count: Counter;
  plans: () => Promise<Record<string, string>>;
  close: () => Promise<void>;
}

const COUNT_WHERE = `device_id = $1 AND event_type = $2 AND value_num IS NOT NULL AND COALESCE(ts_device, ts_server) >= $3 AND COALESCE(ts_device, ts_server) < $4`;

function sqliteTarget(dir: string): Target {
  const db = new Database(path.join(dir, 'telehub.db'), { readonly: true });
  const where = COUNT_WHERE.replace(/\$\d/g, '?');
  const stmt = db.prepare(`SELECT COUNT(*) AS n FROM events WHERE ${where}`);
  const plan = (sql: string, ...args: unknown[]) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
  return {
    env: { TELEHUB_DATA_DIR: dir },
    count: async (d, t, from, to) => (stmt.get(d, t, from, to) as { n: number }).n,
    plans: async () => ({
      series: plan(`SELECT COALESCE(ts_device, ts_server), event_id, value_num FROM events WHERE ${where}`, 'dev-001', 'temperature', T_START, T_START + DAY),
      eventsPage: plan('SELECT * FROM events WHERE device_id = ? ORDER BY COALESCE(ts_device, ts_server), event_id LIMIT 1000', 'dev-001'),
      timeRange: plan('SELECT * FROM events WHERE COALESCE(ts_device, ts_server) >= ? ORDER BY COALESCE(ts_device, ts_server), event_id LIMIT 1000', T_START),
      devices: plan('SELECT * FROM devices ORDER BY device_id'),
    }),
    close: async () => void db.close(),
  };
}

async function postgresTarget(url: string): Promise<Target> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const ts = (p: string) => `(timestamptz 'epoch' + ${p}::int8 * interval '1 millisecond')`;
  const where = COUNT_WHERE.replace('>= $3', `>= ${ts('$3')}`).replace('< $4', `< ${ts('$4')}`);
  const plan = async (sql: string, args: unknown[]) =>
    (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, args)).rows.map((r) => r['QUERY PLAN'].trim()).join(' | ');
  return {
    env: { DATABASE_URL: url },
    count: async (d, t, from, to) => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE ${where}`, [d, t, from, to])).rows[0].n),
    plans: async () => ({
      series: await plan(`SELECT COALESCE(ts_device, ts_server), event_id, value_num FROM events WHERE ${where}`, ['dev-001', 'temperature', T_START, T_START + DAY]),
      eventsPage: await plan('SELECT * FROM events WHERE device_id = $1 ORDER BY COALESCE(ts_device, ts_server), event_id LIMIT 1000', ['dev-001']),
      timeRange: await plan(`SELECT * FROM events WHERE COALESCE(ts_device, ts_server) >= ${ts('$1')} ORDER BY COALESCE(ts_device, ts_server), event_id LIMIT 1000`, [T_START]),
      devices: await plan('SELECT * FROM devices ORDER BY device_id', []),
    }),
    close: () => c.end(),
  };
}

function createReadToken(repoRoot: string, env: NodeJS.ProcessEnv): string {
  const out = execFileSync(process.execPath, ['dist/cli/main.js', 'tokens', 'create', '--name', 'q', '--scope', 'read'], { cwd: repoRoot, env, encoding: 'utf8' });
  const m = /thk_[A-Za-z0-9_-]+/.exec(out);
  if (!m) throw new Error(`tokens create printed no token:\n${out}`);
  return m[0];
}

/** Problems with one series answer (empty when it is well formed). */
function seriesProblems(a: Answer, from: number, to: number): { problems: string[]; total: number } {
  if (a.status !== 200) return { problems: [`status ${a.status}: ${JSON.stringify(a.body).slice(0, 200)}`], total: 0 };
  const buckets = (a.body as { buckets?: Array<{ time: string; count: number; avg: number; min: number; max: number; first: number; last: number }> }).buckets;
  if (!Array.isArray(buckets)) return { problems: ['no buckets array'], total: 0 };
  const p: string[] = [];
  if (buckets.length === 0 || buckets.length > 1440) p.push(`${buckets.length} buckets (expected 1-1440)`);
  let prev = -Infinity;
  let total = 0;
  for (const b of buckets) {
    const t = Date.parse(b.time);
    if (!(t > prev && t >= from && t < to && t % 60_000 === 0)) p.push(`bucket ${b.time} out of order, window or minute`);
    if (!(b.count >= 1 && b.min <= b.avg + 1e-9 && b.avg <= b.max + 1e-9 && b.first >= b.min && b.first <= b.max && b.last >= b.min && b.last <= b.max)) {
      p.push(`bucket ${b.time} inconsistent: ${JSON.stringify(b)}`);
    }
    prev = t;
    total += b.count;
    if (p.length > 3) break;
  }
  return { problems: p, total };
}

async function measureStore(kind: QueryStoreKind, o: Required<Omit<QuerySuiteOptions, 'stores'>>, pgp: PostgresProvider | string | undefined): Promise<StoreQueryResult> {
  const result: StoreQueryResult = { store: kind, seriesCountsChecked: 0, plans: {}, problems: [] };
  const log = o.log;
  let target: Target | undefined;
  let child: Child | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  const dir = makeTempDir(`telehub-bench-query-${kind}-`);
  try {
    log(`${kind}: loading ${o.events.toLocaleString('en-US')} events of ${o.devices} devices`);
    if (kind === 'sqlite') {
      result.load = await loadSqlite(path.join(dir, 'telehub.db'), o.events, o.devices, log);
      target = sqliteTarget(dir);
    } else {
      if (typeof pgp !== 'object') return { ...result, skipped: pgp ?? 'no PostgreSQL' };
      const db = await pgp.create('query');
      dropDb = db.drop;
      result.load = await loadPostgres(db.url, o.events, o.devices, log);
      target = await postgresTarget(db.url);
    }
    const l = result.load;
    log(`${kind}: loaded in ${l.insertSeconds.toFixed(1)} s, migration 3 ${l.migrateSeconds.toFixed(1)} s, analyze ${l.analyzeSeconds.toFixed(1)} s, ${(l.bytes / 2 ** 30).toFixed(2)} GiB`);
    result.plans = await target.plans();

    const httpPort = await freePort();
    const env = telehubEnv({ ...target.env, TELEHUB_HTTP_PORT: String(httpPort), TELEHUB_MQTT_PORT: String(await freePort()) });
    const token = createReadToken(o.repoRoot, env);
    child = startChild(`telehub (query, ${kind})`, process.execPath, [...startNodeFlags(), 'dist/cli/main.js', 'start'], { cwd: o.repoRoot, env });
    const base = `http://127.0.0.1:${httpPort}`;
    await waitForHttp200(`${base}/readyz`, 120_000, child);
    const t = target;
    const common = { base, token, concurrency: o.concurrency };

    // Series: a random device, type and 24 h window (minute-aligned, so at most 1440 buckets).
    const rand = rng(42);
    const series = await runRequests({
      ...common,
      total: o.seriesRequests,
      warmup: o.warmup,
      make: () => {
        const device = deviceName(Math.floor(rand() * o.devices));
        const type = TYPES[Math.floor(rand() * TYPES.length)];
        const from = T_START + Math.floor((rand() * (SPAN_MS - DAY)) / 60_000) * 60_000;
        return { path: `/api/v1/series?device=${device}&type=${type}&from=${from}&to=${from + DAY}&bucket=1m`, ctx: { device, type, from, to: from + DAY } };
      },
      check: async (a, c, i) => {
        const { problems, total } = seriesProblems(a, c.from, c.to);
        if (problems.length === 0 && i % 20 === 0) {
          const n = await t.count(c.device, c.type, c.from, c.to);
          result.seriesCountsChecked++;
          if (n !== total) problems.push(`bucket counts sum to ${total}, COUNT(*) in the database says ${n}`);
        }
        return problems;
      },
    });
    result.series = series.latency;

    const devices = await runRequests({
      ...common,
      total: Math.max(20, Math.round(o.seriesRequests / 4)),
      warmup: 5,
      make: () => ({ path: '/api/v1/devices', ctx: undefined }),
      check: (a) => {
        const list = (a.body as { devices?: Array<{ events: number }> }).devices;
        if (a.status !== 200 || !Array.isArray(list)) return [`status ${a.status}`];
        const sum = list.reduce((s, d) => s + d.events, 0);
        return list.length === o.devices && sum === o.events ? [] : [`${list.length} devices holding ${sum} events, expected ${o.devices} and ${o.events}`];
      },
    });
    result.devices = devices.latency;

    const rand2 = rng(7);
    const events = await runRequests({
      ...common,
      total: Math.max(20, Math.round(o.seriesRequests / 2)),
      warmup: 5,
      make: () => {
        const device = deviceName(Math.floor(rand2() * o.devices));
        return { path: `/api/v1/events?device=${device}&limit=1000`, ctx: device };
      },
      check: (a, device) => {
        const body = a.body as { events?: Array<{ device_id: string; ts_device: string | null; ts_server: string }>; next_cursor?: string | null };
        if (a.status !== 200 || !Array.isArray(body.events)) return [`status ${a.status}`];
        const times = body.events.map((e) => Date.parse(e.ts_device ?? e.ts_server));
        const ok = body.events.length === 1000 && body.events.every((e) => e.device_id === device) && times.every((x, i) => i === 0 || x >= times[i - 1]) && typeof body.next_cursor === 'string';
        return ok ? [] : ['not 1000 events of the device in time order with a next_cursor'];
      },
    });
    result.events = events.latency;
    result.problems.push(...series.problems, ...devices.problems, ...events.problems);
    const code = await child.stop(35_000);
    if (code !== 0) result.problems.push(`telehub exited with ${code} on SIGTERM`);
  } catch (err) {
    result.problems.push(`${kind}: ${(err as Error).stack ?? String(err)}${child ? `\n${child.tail()}` : ''}`);
  } finally {
    await child?.stop(5_000);
    await target?.close().catch(() => {});
    removeTempDir(dir);
    await dropDb?.();
  }
  return result;
}

export async function runQuerySuite(opts: QuerySuiteOptions = {}): Promise<QuerySuiteReport> {
  const o = {
    events: opts.events ?? Number(process.env.BENCH_QUERY_EVENTS ?? 10_000_000),
    devices: opts.devices ?? 100,
    seriesRequests: opts.seriesRequests ?? 200,
    warmup: opts.warmup ?? 20,
    concurrency: opts.concurrency ?? 4,
    repoRoot: opts.repoRoot ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
    log: opts.log ?? ((s: string) => process.stderr.write(s + '\n')),
  };
  const stores = opts.stores ?? ['sqlite', 'postgres'];
  const pgp = stores.includes('postgres') ? await providePostgres() : undefined;
  const results: StoreQueryResult[] = [];
  try {
    for (const kind of stores) results.push(await measureStore(kind, o, pgp));
  } finally {
    if (typeof pgp === 'object') await pgp.shutdown();
  }
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memoryMB: Math.round(os.totalmem() / 2 ** 20), node: process.version },
    settings: { events: o.events, devices: o.devices, types: TYPES, spanDays: SPAN_MS / DAY, seriesRequests: o.seriesRequests, warmup: o.warmup, concurrency: o.concurrency, bucket: '1m', windowHours: 24 },
    targets: { seriesP95Ms: TARGET_SERIES_P95_MS },
    stores: results,
    ok: results.every((r) => r.skipped !== undefined || r.problems.length === 0),
  };
}

export function formatQueryTable(r: QuerySuiteReport): string {
  const f = (l: Latency | undefined, k: Array<keyof Latency>) => (l ? k.map((x) => l[x]).join(' / ') : '-');
  const rows = [['store', 'load s (insert + migration 3)', 'DB GiB', 'series p50/p95/p99 ms', `target p95 ≤ ${r.targets.seriesP95Ms}`, 'devices p50/p95', 'events page p50/p95', 'checks']];
  for (const s of r.stores) {
    if (s.skipped) {
      rows.push([s.store, `skipped: ${s.skipped}`, '', '', '', '', '', '']);
      continue;
    }
    const l = s.load;
    rows.push([
      s.store,
      l ? `${(l.insertSeconds + l.migrateSeconds).toFixed(0)} (${l.insertSeconds.toFixed(0)} + ${l.migrateSeconds.toFixed(0)})` : '-',
      l ? (l.bytes / 2 ** 30).toFixed(2) : '-',
      f(s.series, ['p50Ms', 'p95Ms', 'p99Ms']),
      s.series ? (s.series.p95Ms <= r.targets.seriesP95Ms ? 'met' : 'MISSED') : '-',
      f(s.devices, ['p50Ms', 'p95Ms']),
      f(s.events, ['p50Ms', 'p95Ms']),
      s.problems.length ? `FAILED (${s.problems.length})` : `ok (${s.seriesCountsChecked} counts)`,
    ]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(w[i])).join('  ')).join('\n');
}

async function main(): Promise<void> {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  if (process.env.BENCH_QUERY_BUILD !== '0') {
    process.stderr.write('building telehub (npm run build) to run it from dist/ as npm start does\n');
    execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  }
  const stores = (process.env.BENCH_QUERY_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim()).filter(Boolean) as QueryStoreKind[];
  const report = await runQuerySuite({
    stores,
    seriesRequests: process.env.BENCH_QUERY_REQUESTS ? Number(process.env.BENCH_QUERY_REQUESTS) : undefined,
    concurrency: process.env.BENCH_QUERY_CONCURRENCY ? Number(process.env.BENCH_QUERY_CONCURRENCY) : undefined,
  });
  process.stdout.write(`\n${formatQueryTable(report)}\n`);
  for (const s of report.stores) {
    for (const [k, v] of Object.entries(s.plans)) process.stdout.write(`  ${s.store} plan ${k}: ${v}\n`);
    for (const p of s.problems) process.stdout.write(`  ${s.store} PROBLEM: ${p}\n`);
  }
  const out = path.join(repoRoot, 'bench/results/query.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), out)}\n`);
  process.exitCode = report.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: cleaning up\n`);
      void cleanupAll(true).finally(() => process.exit(130));
    });
  }
  process.on('exit', () => killAllNow());
  main().catch(async (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    await cleanupAll().catch(() => {});
    process.exit(1);
  });
}

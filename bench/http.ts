/**
 * HTTP ingest benchmark: telehub (built, child process) against embedded
 * SQLite and PostgreSQL, loaded with autocannon from this process.
 *
 * Workloads, each on a fresh telehub and a fresh store:
 *   single  POST /ingest, one seed-001 event per request
 *   batch   POST /ingest, a JSON array of 500 events per request
 *   lp      POST /api/v2/write?precision=ms, 500 line-protocol lines per request
 *
 * Every answer must be 202 (/ingest, with every event `stored`) or 204 (line
 * protocol), and afterwards the store must hold exactly the events sent (warm-up
 * included) and no dead letters; otherwise the workload is FAILED and the run
 * exits 1. Targets are only reported.
 *
 *   node --import tsx bench/http.ts      # prints a table, writes bench/results/http.json
 *
 * `runHttpSuite` is the entry point for bench/run.ts. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ingestBodies, lineProtocolBodies, type BodySet, type HttpWorkload } from './lib/http-bodies.js';
import { cpuProfDirFromEnv, intEnv, listEnv, settingsFromEnv } from './lib/http-options.js';
import { formatHttpTable } from './lib/http-report.js';
import { checkIngestAnswer, runHttpLoad, type HttpLoadResult } from './lib/http-load.js';
import { splitThreadCpu, threadCpuSeconds, type ThreadCpuSplit } from './lib/http-threads.js';
import { profileFiles, startHttpTelehub, type HttpStore, type HttpTelehub } from './lib/http-telehub.js';
import { cleanupAll, handleInterrupts, machineCpuTicks, procCpuSeconds, RssSampler } from './lib/procs.js';
import { formatProfile, monotonicUs, summariseProfile, type ProfileSummary } from './lib/profile.js';
import { providePostgres, type Database as PgDatabase, type PostgresProvider } from './lib/services.js';

export type { HttpStore, HttpWorkload };
export { formatHttpTable };

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const HTTP_WORKLOAD_LABEL: Record<HttpWorkload, string> = {
  single: 'POST /ingest, 1 event per request',
  batch: 'POST /ingest, JSON array batches',
  lp: 'POST /api/v2/write, line protocol',
};

/** Targets (reported only): events/s for batches, requests/s for single events; none for line protocol. */
export const HTTP_TARGETS: Record<HttpWorkload, Partial<Record<HttpStore, { metric: 'eventsPerSecond' | 'requestsPerSecond'; min: number }>>> = {
  single: { sqlite: { metric: 'requestsPerSecond', min: 3_000 }, postgres: { metric: 'requestsPerSecond', min: 3_000 } },
  batch: { sqlite: { metric: 'eventsPerSecond', min: 40_000 }, postgres: { metric: 'eventsPerSecond', min: 25_000 } },
  lp: {},
};

export interface HttpSuiteOptions {
  /** Events for the batch workload and lines for the line-protocol one (BENCH_HTTP_EVENTS, 100,000). */
  events?: number;
  /** Requests (= events) for the single-event workload (BENCH_HTTP_SINGLE, 20,000). */
  singleEvents?: number;
  /** Events per batch request (BENCH_HTTP_BATCH_SIZE, 500). */
  batchSize?: number;
  /** Lines per line-protocol request (BENCH_HTTP_LP_LINES, 500). */
  linesPerRequest?: number;
  /** Concurrent connections per workload (BENCH_HTTP_CONNECTIONS_SINGLE/_BATCH/_LP). */
  connections?: Partial<Record<HttpWorkload, number>>;
  /** Share of the measured requests sent first as a warm-up (BENCH_HTTP_WARMUP, 0.1). */
  warmup?: number;
  /** BENCH_HTTP_STORES, default sqlite,postgres. */
  stores?: HttpStore[];
  /** BENCH_HTTP_WORKLOADS, default single,batch,lp. */
  workloads?: HttpWorkload[];
  /** A provider from the caller; undefined: the suite gets one (providePostgres); null: no PostgreSQL runs. */
  postgres?: PostgresProvider | null;
  /** Run `npm run build` first (default true, BENCH_HTTP_BUILD=0 skips it; run.ts has built already). */
  build?: boolean;
  /** TELEHUB_* overrides; default from BENCH_BATCH_MAX … as in run.ts. */
  settings?: Record<string, string>;
  /** Extra node flags for telehub (BENCH_TELEHUB_NODE_ARGS). */
  nodeArgs?: string[];
  /** Profile telehub into <dir>/http-<store>-<workload> (BENCH_CPU_PROF). */
  cpuProfDir?: string;
  log?: (line: string) => void;
}

export interface HttpWorkloadResult {
  store: HttpStore;
  workload: HttpWorkload;
  label: string;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  problems?: string[];
  /** What `events` counts: seed-001 events or line-protocol lines (one event each). */
  unit: 'events' | 'lines';
  perRequest: number;
  connections: number;
  requests?: number;
  events?: number;
  warmupEvents?: number;
  seconds?: number;
  requestsPerSecond?: number;
  /** Events/s, or lines/s for line protocol. */
  eventsPerSecond?: number;
  latencyMs?: HttpLoadResult['latencyMs'];
  non2xx?: number;
  statusCodes?: Record<string, number>;
  peakRssBytes?: number;
  peakRssMB?: number;
  rows?: { events: number; deadLetters: number; expectedEvents: number };
  /** CPU seconds during the timed run: telehub, and autocannon (the bench process). */
  cpuSeconds?: { telehub?: number; generator: number };
  generatorCpuSecondsPer50kEvents?: number;
  /** telehub's CPU during the timed run by thread: main, the busiest other (the SQLite writer with SQLite), the rest. */
  telehubThreadCpuSeconds?: ThreadCpuSplit;
  /** telehub's CPU (all its threads) per event or line: steadier than events/s on a shared machine. */
  telehubCpuUsPerEvent?: number;
  machineBusyPercent?: number;
  target?: { metric: 'eventsPerSecond' | 'requestsPerSecond'; min: number; met: boolean | null };
  profile?: ProfileSummary;
}

export interface HttpSuiteReport {
  date: string;
  durationSeconds: number;
  ok: boolean;
  machine: { cpus: number; cpuModel?: string; memoryMB: number; node: string; platform: string };
  settings: { events: number; singleEvents: number; batchSize: number; linesPerRequest: number; warmup: number; connections: Record<HttpWorkload, number> };
  telehubSettings: Record<string, { value: string; source: string }>;
  telehubNodeArgs: string[];
  postgres?: { origin: string; version?: string } | { skipped: string };
  results: HttpWorkloadResult[];
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const mb = (b: number | undefined) => (b === undefined ? undefined : round(b / 1024 / 1024, 1));

// ---------------------------------------------------------------- one workload

interface Plan {
  store: HttpStore;
  workload: HttpWorkload;
  measured: BodySet;
  warm: BodySet;
  connections: number;
  perRequest: number;
}

function plan(store: HttpStore, workload: HttpWorkload, o: Required<Pick<HttpSuiteOptions, 'events' | 'singleEvents' | 'batchSize' | 'linesPerRequest' | 'warmup'>>, connections: number): Plan {
  const tag = `h${workload[0]}${store[0]}${randomBytes(3).toString('hex')}`;
  const perRequest = workload === 'single' ? 1 : workload === 'batch' ? o.batchSize : o.linesPerRequest;
  const total = workload === 'single' ? o.singleEvents : o.events;
  const requests = Math.max(1, Math.ceil(total / perRequest));
  // At least one request per connection: autocannon refuses fewer.
  const warmRequests = Math.max(connections, Math.ceil(requests * o.warmup));
  const make = workload === 'lp' ? lineProtocolBodies : ingestBodies;
  // The warm-up's events are numbered after the measured ones: all unique, all counted in the store.
  return { store, workload, connections, perRequest, measured: make(tag, requests, perRequest, 0), warm: make(tag, warmRequests, perRequest, requests * perRequest) };
}

async function runWorkload(p: Plan, base: HttpWorkloadResult, o: { settings: Record<string, string>; nodeArgs: string[]; cpuProfDir?: string; pgp?: PostgresProvider; log: (s: string) => void }): Promise<HttpWorkloadResult> {
  let db: PgDatabase | undefined;
  let hub: HttpTelehub | undefined;
  const profDir = o.cpuProfDir ? path.join(o.cpuProfDir, `http-${p.store}-${p.workload}`) : undefined;
  try {
    if (p.store === 'postgres') db = await o.pgp!.create(`http_${p.workload}`);
    hub = await startHttpTelehub({ repoRoot, store: p.store, pg: db, settings: o.settings, nodeArgs: o.nodeArgs, cpuProfDir: profDir, name: `telehub (http ${p.store} ${p.workload})` });
    const lp = p.workload === 'lp';
    const load = (bodies: BodySet) =>
      runHttpLoad({
        url: hub!.baseUrl,
        path: lp ? '/api/v2/write?org=bench&bucket=bench&precision=ms' : '/ingest',
        headers: lp
          ? { Authorization: `Token ${hub!.token}`, 'Content-Type': 'text/plain; charset=utf-8' }
          : { Authorization: `Bearer ${hub!.token}`, 'Content-Type': 'application/json' },
        bodies,
        connections: p.connections,
        expectStatus: lp ? 204 : 202,
        checkBody: lp ? undefined : checkIngestAnswer,
      });

    const warm = await load(p.warm);
    const problems = warm.problems.map((x) => `warm-up: ${x}`);
    const rss = new RssSampler(hub.child.pid, 100);
    const cpu0 = procCpuSeconds(hub.child.pid);
    const threads0 = threadCpuSeconds(hub.child.pid);
    const mc0 = machineCpuTicks();
    const fromUs = monotonicUs();
    const m = await load(p.measured);
    const window = { fromUs, toUs: monotonicUs() };
    const mc1 = machineCpuTicks();
    const cpu1 = procCpuSeconds(hub.child.pid);
    const threads = splitThreadCpu(hub.child.pid, threads0, threadCpuSeconds(hub.child.pid));
    const peak = rss.stop();
    problems.push(...m.problems, ...(await hub.stop()));
    const counted = await hub.counts();
    const expected = p.measured.total + p.warm.total;
    if (counted.events !== expected) problems.push(`the store holds ${counted.events} events, expected ${expected}`);
    if (counted.deadLetters !== 0) problems.push(`the store holds ${counted.deadLetters} dead letters, expected none`);

    const t = HTTP_TARGETS[p.workload][p.store];
    const value = t ? (t.metric === 'eventsPerSecond' ? m.eventsPerSecond : m.requestsPerSecond) : undefined;
    let profile: ProfileSummary | undefined;
    if (profDir) {
      for (const f of profileFiles(profDir)) {
        const s = summariseProfile(f, 25, window);
        if (!profile || s.busyMs > profile.busyMs) profile = s;
      }
    }
    return {
      ...base,
      status: problems.length === 0 ? 'ok' : 'failed',
      problems: problems.length > 0 ? problems : undefined,
      requests: m.requests,
      events: m.events,
      warmupEvents: p.warm.total,
      seconds: round(m.seconds, 3),
      requestsPerSecond: Math.round(m.requestsPerSecond),
      eventsPerSecond: Math.round(m.eventsPerSecond),
      latencyMs: m.latencyMs,
      non2xx: m.non2xx,
      statusCodes: m.statusCodes,
      peakRssBytes: peak,
      peakRssMB: mb(peak),
      rows: { ...counted, expectedEvents: expected },
      cpuSeconds: { telehub: cpu0 !== undefined && cpu1 !== undefined ? round(cpu1 - cpu0, 2) : undefined, generator: round(m.generatorCpuSeconds, 2) },
      generatorCpuSecondsPer50kEvents: round((m.generatorCpuSeconds * 50_000) / m.events, 2),
      telehubThreadCpuSeconds: threads,
      telehubCpuUsPerEvent: cpu0 !== undefined && cpu1 !== undefined ? round(((cpu1 - cpu0) * 1e6) / m.events, 1) : undefined,
      machineBusyPercent: mc0 && mc1 && mc1.total > mc0.total ? Math.round((100 * (mc1.busy - mc0.busy)) / (mc1.total - mc0.total)) : undefined,
      // A failed workload's speed means nothing: its target is neither met nor missed.
      target: t ? { ...t, met: problems.length === 0 ? value! >= t.min : null } : undefined,
      profile,
    };
  } finally {
    await hub?.dispose();
    await db?.drop().catch((err) => o.log(`  (could not drop the database: ${(err as Error).message})`));
  }
}

// ---------------------------------------------------------------- suite

export async function runHttpSuite(opts: HttpSuiteOptions = {}): Promise<HttpSuiteReport> {
  const started = new Date();
  const log = opts.log ?? ((s: string) => process.stdout.write(s + '\n'));
  const o = {
    events: opts.events ?? intEnv('BENCH_HTTP_EVENTS', 100_000),
    singleEvents: opts.singleEvents ?? intEnv('BENCH_HTTP_SINGLE', 20_000),
    batchSize: opts.batchSize ?? intEnv('BENCH_HTTP_BATCH_SIZE', 500),
    linesPerRequest: opts.linesPerRequest ?? intEnv('BENCH_HTTP_LP_LINES', 500),
    warmup: opts.warmup ?? Number(process.env.BENCH_HTTP_WARMUP || 0.1),
  };
  const connections: Record<HttpWorkload, number> = {
    single: opts.connections?.single ?? intEnv('BENCH_HTTP_CONNECTIONS_SINGLE', 100),
    batch: opts.connections?.batch ?? intEnv('BENCH_HTTP_CONNECTIONS_BATCH', 8),
    lp: opts.connections?.lp ?? intEnv('BENCH_HTTP_CONNECTIONS_LP', 8),
  };
  const stores = opts.stores ?? listEnv<HttpStore>('BENCH_HTTP_STORES', ['sqlite', 'postgres']);
  const workloads = opts.workloads ?? listEnv<HttpWorkload>('BENCH_HTTP_WORKLOADS', ['single', 'batch', 'lp']);
  const telehubSettings = opts.settings ? Object.fromEntries(Object.entries(opts.settings).map(([k, v]) => [k, { value: v, source: 'caller' }])) : settingsFromEnv();
  const overrides = Object.fromEntries(Object.entries(telehubSettings).filter(([, s]) => s.source !== 'default').map(([k, s]) => [k, s.value]));
  const nodeArgs = opts.nodeArgs ?? (process.env.BENCH_TELEHUB_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const cpuProfDir = opts.cpuProfDir ?? cpuProfDirFromEnv();

  log(`HTTP ingest bench: ${workloads.join(', ')} on ${stores.join(', ')}; ${o.singleEvents.toLocaleString('en-US')} single-event requests, ${o.events.toLocaleString('en-US')} events in batches of ${o.batchSize}, ${o.events.toLocaleString('en-US')} lines in requests of ${o.linesPerRequest}; warm-up ${Math.round(o.warmup * 100)}% more`);
  log(`connections: single ${connections.single}, batch ${connections.batch}, lp ${connections.lp}`);
  log(`telehub settings: ${Object.entries(telehubSettings).map(([k, s]) => `${k}=${s.value}${s.source === 'default' ? '' : ` (${s.source})`}`).join(', ')}`);
  if (opts.build ?? process.env.BENCH_HTTP_BUILD !== '0') {
    log('building telehub (npm run build) to run it from dist/ as npm start does');
    execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  }

  let pgp: PostgresProvider | undefined;
  let pgSkip: string | undefined;
  let ownPg = false;
  if (stores.includes('postgres')) {
    if (opts.postgres === null) pgSkip = 'no PostgreSQL provider was given';
    else if (opts.postgres) pgp = opts.postgres;
    else {
      const got = await providePostgres().catch((err: Error) => `PostgreSQL is not usable: ${err.message}`);
      if (typeof got === 'string') pgSkip = got;
      else {
        pgp = got;
        ownPg = true;
      }
    }
    if (pgp) log(`PostgreSQL: ${pgp.origin}${pgp.version ? `, version ${pgp.version}` : ''}`);
    else log(`SKIPPING PostgreSQL: ${pgSkip}`);
  }

  const results: HttpWorkloadResult[] = [];
  try {
    for (const store of stores) {
      for (const workload of workloads) {
        const base: HttpWorkloadResult = {
          store,
          workload,
          label: `${store} ${HTTP_WORKLOAD_LABEL[workload]}`,
          status: 'skipped',
          unit: workload === 'lp' ? 'lines' : 'events',
          perRequest: workload === 'single' ? 1 : workload === 'batch' ? o.batchSize : o.linesPerRequest,
          connections: connections[workload],
        };
        if (store === 'postgres' && !pgp) {
          results.push({ ...base, reason: pgSkip });
          continue;
        }
        const p = plan(store, workload, o, connections[workload]);
        log(`\n== ${base.label}: ${p.measured.total.toLocaleString('en-US')} ${base.unit} in ${p.measured.bodies.length.toLocaleString('en-US')} requests, ${p.connections} connections (+ ${p.warm.total.toLocaleString('en-US')} warm-up)`);
        let r: HttpWorkloadResult;
        try {
          r = await runWorkload(p, base, { settings: overrides, nodeArgs, cpuProfDir, pgp, log });
        } catch (err) {
          r = { ...base, status: 'failed', problems: [(err as Error).stack ?? String(err)] };
        }
        results.push(r);
        if (r.status === 'ok') {
          log(`  ${r.eventsPerSecond!.toLocaleString('en-US')} ${r.unit}/s, ${r.requestsPerSecond!.toLocaleString('en-US')} requests/s over ${r.seconds} s; latency p50 ${r.latencyMs!.p50} / p95 ${r.latencyMs!.p95} / p99 ${r.latencyMs!.p99} ms; peak RSS ${r.peakRssMB} MB; CPU telehub ${r.cpuSeconds!.telehub} s (${r.telehubCpuUsPerEvent} µs per ${r.unit === 'lines' ? 'line' : 'event'}${r.telehubThreadCpuSeconds ? `; main thread ${r.telehubThreadCpuSeconds.main} s, busiest other ${r.telehubThreadCpuSeconds.busiestOther} s, rest ${r.telehubThreadCpuSeconds.rest} s` : ''}), autocannon ${r.cpuSeconds!.generator} s; machine ${r.machineBusyPercent}% busy; checks passed (${r.rows!.events} rows)`);
        } else {
          log('  FAILED:');
          for (const x of r.problems ?? []) log(`    - ${x}`);
        }
        if (r.profile) log(formatProfile(r.profile));
      }
    }
  } finally {
    if (ownPg) await pgp!.shutdown().catch((err) => log(`(could not stop PostgreSQL: ${(err as Error).message})`));
  }

  const cpus = os.cpus();
  return {
    date: started.toISOString(),
    durationSeconds: round((Date.now() - started.getTime()) / 1000, 1),
    ok: results.every((r) => r.status !== 'failed'),
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model?.trim(), memoryMB: Math.round(os.totalmem() / 1024 / 1024), node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}` },
    settings: { ...o, connections },
    telehubSettings,
    telehubNodeArgs: nodeArgs,
    postgres: pgp ? { origin: pgp.origin, version: pgp.version } : pgSkip ? { skipped: pgSkip } : undefined,
    results,
  };
}

async function main(): Promise<number> {
  const report = await runHttpSuite();
  process.stdout.write(`\n${formatHttpTable(report)}\n`);
  process.stdout.write('(targets are reported only; the run fails only on correctness)\n');
  const dir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, 'http.json');
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`wrote ${path.relative(process.cwd(), out) || out}\n`);
  if (!report.ok) process.stdout.write('\nFAILED: correctness checks failed (see above).\n');
  return report.ok ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  handleInterrupts((line) => process.stdout.write(line + '\n'));
  main().then(
    async (code) => {
      await cleanupAll();
      process.exit(code);
    },
    async (err) => {
      process.stderr.write(`bench/http: ${(err as Error)?.stack ?? err}\n`);
      await cleanupAll().catch(() => {});
      process.exit(1);
    },
  );
}

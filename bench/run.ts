/**
 * telehub end-to-end benchmark: `npm run bench`.
 *
 * Modes, measured in one run (BENCH_MODES=a,b,c chooses):
 *   a  telehub, embedded broker + SQLite (child process, embedded mode)
 *   b  telehub, Mosquitto + PostgreSQL (child process, external mode)
 *   c  baseline: bench/naive-ingester.ts on the same Mosquitto + PostgreSQL,
 *      one INSERT and one ACK per message, as the seed's Python ingester
 *
 * For each mode, 100 simulated devices publish N seed-001 events at QoS 1
 * with a bounded window of unanswered events each. The devices are raw-socket
 * MQTT clients (bench/lib/lean-device.ts) unless BENCH_CLIENT=mqttjs asks for
 * MQTT.js connections; every mode of a run uses the same generator.
 * events/s is measured from the first publish to the last ACK. Afterwards
 * every event must have exactly one `stored` ACK message (counted by the
 * devices, reported per mode as `acks`) and the store must hold exactly N
 * rows, or the mode is marked failed and the run exits 1. Targets are only
 * reported.
 *
 * Prints a table and writes bench/results/latest.json. See bench/README.md.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../src/core/settings.js';
import type { AckSummary } from './lib/fleet.js';
import { createFleet, GENERATOR_LABEL, GENERATORS, type Generator, type LoadResult } from './lib/load.js';
import {
  handleInterrupts,
  cleanupAll,
  freePort,
  makeTempDir,
  machineCpuTicks,
  procCpuSeconds,
  registerCleanup,
  removeTempDir,
  RssSampler,
  sleep,
  startChild,
  waitForHttp200,
  type Child,
} from './lib/procs.js';
import { formatProfile, monotonicUs, summariseProfile, type ProfileSummary, type ProfileWindow } from './lib/profile.js';
import { clearMqttSession, pgCounts, provideBroker, providePostgres, type Broker, type PostgresProvider } from './lib/services.js';
import { startNodeFlags } from './lib/start-args.js';
import { processorLagEntries, sampleProcessorLags, type LagReport } from './lib/processor-lag.js';
import { cleanTelehubEnv } from './lib/http-telehub.js';
import { formatHttpTable, runHttpSuite, type HttpSuiteReport } from './http.js';
import { formatQueryTable, runQuerySuite, type QuerySuiteReport } from './query.js';
import { measureTripLag, runTripLagSuite, type TripLagReport } from './trips-lag.js';
import { NODE_SENSORS, NodeFleet, type NodeLoadResult } from './lib/node-fleet.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(repoRoot, 'bench', 'results');

type Mode = 'a' | 'b' | 'c';
const MODE_LABEL: Record<Mode, string> = {
  a: 'a telehub: embedded broker + SQLite',
  b: 'b telehub: Mosquitto + PostgreSQL',
  c: 'c baseline: naive ingester, Mosquitto + PostgreSQL',
};

const TARGET_EVENTS_PER_S = 20_000;
const TARGET_VS_BASELINE = 10;
const TARGET_PEAK_RSS_MB = 300;

// ---------------------------------------------------------------- settings

function intEnv(name: string, def: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`${name}=${raw}: must be an integer ≥ ${min}\n`);
    process.exit(2);
  }
  return n;
}

const EVENTS = intEnv('BENCH_EVENTS', 100_000, 1);
const DEVICES = intEnv('BENCH_DEVICES', 100, 1);
const WINDOW = intEnv('BENCH_WINDOW', 100, 1);
const BASELINE_EVENTS = intEnv('BENCH_BASELINE_EVENTS', Math.min(EVENTS, Math.max(5_000, Math.floor(EVENTS / 10))), 1);
const STALL_TIMEOUT_S = intEnv('BENCH_STALL_TIMEOUT_S', 60, 1);
/** The load generator for every mode of the run: BENCH_CLIENT=lean (default) or mqttjs. */
const CLIENT: Generator = (() => {
  const raw = (process.env.BENCH_CLIENT ?? '').trim().toLowerCase() || 'lean';
  if (!(GENERATORS as readonly string[]).includes(raw)) {
    process.stderr.write(`BENCH_CLIENT=${process.env.BENCH_CLIENT}: use one of ${GENERATORS.join(', ')}\n`);
    process.exit(2);
  }
  return raw as Generator;
})();
/**
 * BENCH_SUITES: mqtt (modes a, b, c), nodes (seed-003 node telemetry, 8 sensors a message, in modes a and b),
 * http (HTTP ingest, bench/http.ts), query (query latency, bench/query.ts), trips (live trip lag, bench/trips-lag.ts),
 * tripload (live trip lag of 100 cars with and without the MQTT load, one telehub as mode a runs it);
 * drop (a day's drop, bench/partition-drop.ts) and tiers (ingest with tiers on vs off, bench/tiers-overhead.ts) only when named.
 */
type Suite = 'mqtt' | 'nodes' | 'http' | 'query' | 'trips' | 'tripload' | 'drop' | 'tiers';
const ALL_SUITES = ['mqtt', 'nodes', 'http', 'query', 'trips', 'tripload', 'drop', 'tiers'];
const SUITES: Suite[] = (() => {
  const raw = (process.env.BENCH_SUITES ?? 'mqtt,nodes,http,query,trips,tripload').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = raw.filter((m) => !ALL_SUITES.includes(m));
  if (bad.length > 0 || raw.length === 0) {
    process.stderr.write(`BENCH_SUITES=${process.env.BENCH_SUITES}: use a comma-separated subset of ${ALL_SUITES.join(',')}\n`);
    process.exit(2);
  }
  return [...new Set(raw)] as Suite[];
})();
const MODES: Mode[] = (() => {
  if (!SUITES.includes('mqtt') && !SUITES.includes('nodes')) return [];
  const raw = (process.env.BENCH_MODES ?? 'a,b,c').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const bad = raw.filter((m) => !['a', 'b', 'c'].includes(m));
  if (bad.length > 0 || raw.length === 0) {
    process.stderr.write(`BENCH_MODES=${process.env.BENCH_MODES}: use a comma-separated subset of a,b,c\n`);
    process.exit(2);
  }
  return [...new Set(raw)] as Mode[];
})();
/** The seed-001 modes (suite mqtt) and the node-telemetry modes (suite nodes: a and b of BENCH_MODES). */
const EVENT_MODES: Mode[] = SUITES.includes('mqtt') ? MODES : [];
const NODE_MODES: Mode[] = SUITES.includes('nodes') ? MODES.filter((m) => m !== 'c') : [];
/** BENCH_NODE_READINGS: readings per node-telemetry mode (default BENCH_EVENTS), sent as readings / 8 messages. */
const NODE_MESSAGES = Math.ceil(intEnv('BENCH_NODE_READINGS', EVENTS, 1) / NODE_SENSORS.length);
const NODE_READINGS = NODE_MESSAGES * NODE_SENSORS.length;

/**
 * BENCH_PROCESSORS: the processor sets telehub runs beside intake in modes a
 * and b, separated by `;` (each one a TELEHUB_PROCESSORS value, `default` for
 * telehub's default). With more than one, each telehub mode runs once per set,
 * one after the other, so their figures come from the same invocation.
 */
const PROCESSOR_SETS: string[] = (() => {
  const raw = (process.env.BENCH_PROCESSORS ?? '').split(';').map((s) => s.trim()).filter(Boolean);
  return raw.length === 0 ? ['default'] : raw;
})();
/** BENCH_REPEAT: how many times the telehub modes (each processor set) run, alternating. */
const REPEAT = intEnv('BENCH_REPEAT', 1, 1);

/** BENCH_CPU_PROF=1 (profiles in <tmp>/telehub-bench-profiles) or a directory: run telehub under --cpu-prof. */
const CPU_PROF_DIR = (() => {
  const v = process.env.BENCH_CPU_PROF;
  if (!v || v === '0' || v === 'false') return undefined;
  return path.resolve(v === '1' || v === 'true' ? path.join(os.tmpdir(), 'telehub-bench-profiles') : v);
})();

/** telehub settings the bench may override: BENCH_<NAME without TELEHUB_> -> TELEHUB_<NAME>. */
const TUNABLE = ['TELEHUB_BATCH_MAX', 'TELEHUB_BATCH_WAIT_MS', 'TELEHUB_BATCH_MERGE_MAX', 'TELEHUB_MAX_INFLIGHT', 'TELEHUB_WRITE_CONCURRENCY', 'TELEHUB_PG_POOL_SIZE'];
const telehubSettings: Record<string, { value: string; source: 'default' | string }> = {};
for (const name of TUNABLE) {
  const benchName = name.replace(/^TELEHUB_/, 'BENCH_');
  const given = process.env[benchName];
  const def = SETTINGS.find((s) => s.env === name)?.default ?? '';
  telehubSettings[name] = given ? { value: given, source: benchName } : { value: def, source: 'default' };
}

/** The bench's own environment without anything telehub (or the baseline) would read as a setting. */
const cleanEnv = cleanTelehubEnv;

function telehubEnv(extra: Record<string, string>, processors = 'default'): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const [k, s] of Object.entries(telehubSettings)) if (s.source !== 'default') env[k] = s.value;
  if (processors !== 'default') env.TELEHUB_PROCESSORS = processors;
  return { ...env, TELEHUB_LOG_LEVEL: 'warn', TELEHUB_MQTT_WS_PORT: '-1', TELEHUB_HTTP_HOST: '127.0.0.1', TELEHUB_MQTT_HOST: '127.0.0.1', ...extra };
}

function log(msg: string): void {
  process.stdout.write(msg + '\n');
}

// ---------------------------------------------------------------- modes

interface ModeResult {
  mode: Mode;
  /** `nodes`: seed-003 node telemetry (suite nodes); otherwise seed-001 events. */
  workload?: 'nodes';
  /** Node-telemetry runs: messages, readings, PUBACKs and readings/s end to end. */
  nodes?: NodeLoadResult;
  label: string;
  /** TELEHUB_PROCESSORS of the run (telehub modes): `default` or the list given. */
  processors?: string;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  problems?: string[];
  events?: number;
  seconds?: number;
  eventsPerSecond?: number;
  peakRssBytes?: number;
  latencyMs?: LoadResult['latencyMs'];
  ackCounts?: LoadResult['ackCounts'];
  /** The ACK messages the devices received against the events of the run (also for a failed run). */
  acks?: AckSummary;
  rows?: { events: number; deadLetters: number };
  /** The load generator (BENCH_CLIENT) that ran the devices. */
  generator: Generator;
  /** CPU seconds used during the timed run: the ingesting process, the bench's devices, and Mosquitto when the bench spawned it. */
  cpuSeconds?: { ingester?: number; devices: number; mosquitto?: number };
  /** The devices' (load generator's) CPU seconds scaled to 50,000 events, to compare generators and runs of different sizes. */
  generatorCpuSecondsPer50kEvents?: number;
  /** Share of all CPUs of the machine that was busy during the timed run (everything: ingester, devices, broker, database). */
  machineBusyPercent?: number;
  settings: Record<string, unknown>;
  profile?: ProfileSummary;
  /** device-counters' lag during the load (telehub modes), sampled from /metrics (also in processorLags). */
  processorLag?: LagReport;
  /** The lag of every processor the run has on (default: device-counters, device-registry, rollups, trips, alerts) during the load. */
  processorLags?: LagReport[];
}

interface Measured {
  nodes?: NodeLoadResult;
  load: LoadResult;
  acks: AckSummary;
  /** The timed run, on the monotonic clock (selects profile samples). */
  window: ProfileWindow;
  problems: string[];
  peakRssBytes?: number;
  cpuIngester?: number;
  cpuMosquitto?: number;
  machineBusyPercent?: number;
  processorLags?: LagReport[];
}

/** A timed run that did not complete, with the ACKs counted until then. */
class RunFailed extends Error {
  constructor(
    message: string,
    readonly acks: AckSummary,
  ) {
    super(message);
  }
}

/** Connects the devices to `url`, runs the load against the ingesting process `ingester`, and verifies the ACKs. */
async function measure(mode: Mode, url: string, events: number, ingester: Child, broker?: Broker, lagOf?: { httpPort: number; processors: string[] }): Promise<Measured> {
  const fleet = createFleet(CLIENT, {
    url,
    devices: DEVICES,
    events,
    window: WINDOW,
    tag: `b${mode}${randomBytes(3).toString('hex')}`,
    stallTimeoutMs: STALL_TIMEOUT_S * 1000,
    log,
  });
  const rss = new RssSampler(ingester.pid, 100);
  try {
    await fleet.connect();
    const cpu0 = procCpuSeconds(ingester.pid);
    const mq0 = broker?.child ? procCpuSeconds(broker.child.pid) : undefined;
    let load: LoadResult;
    const fromUs = monotonicUs();
    const mc0 = machineCpuTicks();
    const lag = lagOf && lagOf.processors.length > 0 ? sampleProcessorLags(lagOf.httpPort, lagOf.processors) : undefined;
    try {
      load = await fleet.run();
    } catch (err) {
      await Promise.race([ingester.exited, sleep(1000)]); // a crash closes the sockets just before the exit is seen
      const state = ingester.proc.exitCode === null && ingester.proc.signalCode === null ? 'is still running' : `exited with ${ingester.proc.exitCode ?? ingester.proc.signalCode}`;
      throw new RunFailed(`${(err as Error).message}\n${ingester.name} ${state}; its last output:\n${ingester.tail() || '(none)'}`, fleet.acks());
    }
    const window = { fromUs, toUs: monotonicUs() };
    const mc1 = machineCpuTicks();
    const cpu1 = procCpuSeconds(ingester.pid);
    const mq1 = broker?.child ? procCpuSeconds(broker.child.pid) : undefined;
    const problems = await fleet.verify(500);
    const processorLags = await lag?.stop();
    return {
      processorLags,
      load,
      acks: fleet.acks(),
      window,
      problems,
      peakRssBytes: rss.stop(),
      cpuIngester: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined,
      cpuMosquitto: mq0 !== undefined && mq1 !== undefined ? mq1 - mq0 : undefined,
      machineBusyPercent: mc0 && mc1 && mc1.total > mc0.total ? Math.round((100 * (mc1.busy - mc0.busy)) / (mc1.total - mc0.total)) : undefined,
    };
  } finally {
    rss.stop();
    await fleet.close();
  }
}

/**
 * The node-telemetry load: NODE_MESSAGES messages of 8 sensors from DEVICES
 * nodes at QoS 1 (≤ WINDOW without PUBACK each), until every PUBACK has come
 * and telehub has stored every reading. In the result, `load.events` and
 * `eventsPerSecond` are readings; `acks` counts PUBACKs.
 */
async function measureNodes(mode: Mode, url: string, ingester: Child, httpPort: number, broker: Broker | undefined, lag: { httpPort: number; processors: string[] }): Promise<Measured> {
  const fleet = new NodeFleet({ url, httpPort, devices: DEVICES, messages: NODE_MESSAGES, window: WINDOW, tag: `n${mode}${randomBytes(3).toString('hex')}`, stallTimeoutMs: STALL_TIMEOUT_S * 1000, log });
  const rss = new RssSampler(ingester.pid, 100);
  try {
    await fleet.connect();
    const cpu0 = procCpuSeconds(ingester.pid);
    const mq0 = broker?.child ? procCpuSeconds(broker.child.pid) : undefined;
    const fromUs = monotonicUs();
    const mc0 = machineCpuTicks();
    const sampler = lag.processors.length > 0 ? sampleProcessorLags(lag.httpPort, lag.processors) : undefined;
    let n: NodeLoadResult;
    try {
      n = await fleet.run();
    } catch (err) {
      const missing = NODE_MESSAGES - fleet.pubacks;
      throw new RunFailed(`${(err as Error).message}\n${ingester.name}'s last output:\n${ingester.tail() || '(none)'}`, { expected: NODE_MESSAGES, published: NODE_MESSAGES, received: fleet.pubacks, stored: fleet.pubacks, duplicate: 0, other: 0, unknownEventId: 0, missing });
    }
    const window = { fromUs, toUs: monotonicUs() };
    const mc1 = machineCpuTicks();
    const cpu1 = procCpuSeconds(ingester.pid);
    const mq1 = broker?.child ? procCpuSeconds(broker.child.pid) : undefined;
    const processorLags = await sampler?.stop();
    return {
      nodes: n,
      processorLags,
      load: { events: n.readings, seconds: n.seconds, eventsPerSecond: n.readings / n.seconds, latencyMs: n.pubackLatencyMs, problems: [], ackCounts: { stored: 0, duplicate: 0, other: 0, unknownEventId: 0 }, generatorCpuSeconds: n.generatorCpuSeconds },
      acks: { expected: n.messages, published: n.messages, received: n.pubacks, stored: n.pubacks, duplicate: 0, other: 0, unknownEventId: 0, missing: n.messages - n.pubacks },
      window,
      problems: fleet.verify(),
      peakRssBytes: rss.stop(),
      cpuIngester: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined,
      cpuMosquitto: mq0 !== undefined && mq1 !== undefined ? mq1 - mq0 : undefined,
      machineBusyPercent: mc0 && mc1 && mc1.total > mc0.total ? Math.round((100 * (mc1.busy - mc0.busy)) / (mc1.total - mc0.total)) : undefined,
    };
  } finally {
    rss.stop();
    await fleet.close();
  }
}

// ---------------------------------------------------------------- trip lag under load

/** BENCH_TRIPLOAD_CARS (100), _TRIPS per car (1), _RATE records/s per car (5: 25× real time), _CHUNK seed-001 events per load fleet (5000). */
const TRIPLOAD_CARS = intEnv('BENCH_TRIPLOAD_CARS', 100, 1);
const TRIPLOAD_TRIPS = intEnv('BENCH_TRIPLOAD_TRIPS', 1, 1);
const TRIPLOAD_RATE = intEnv('BENCH_TRIPLOAD_RATE', 5, 1);
const TRIPLOAD_CHUNK = intEnv('BENCH_TRIPLOAD_CHUNK', 5_000, 1);

interface TripLoadReport {
  ok: boolean;
  /** Cars alone on the telehub (the same telehub, just before). */
  idle: TripLagReport;
  /** Cars while the seed-001 MQTT load runs until the cars have sent everything. */
  underLoad: TripLagReport;
  load: { fleets: number; events: number; seconds: number; eventsPerSecond: number; problems: string[] };
  /** Every processor's lag during the loaded phase (from the cars' start until their trips are shown and the load has stopped). */
  processorLags?: LagReport[];
  /** The same during the cars-alone phase. */
  idleProcessorLags?: LagReport[];
  machineBusyPercent?: number;
}

/**
 * One telehub as mode a runs it (child process, embedded broker + SQLite,
 * default processors; a car's PUBACK follows the commit there). First the
 * cars alone, then the same number of new cars while DEVICES seed-001 devices
 * publish at QoS 1 with the MQTT bench's window, fleet after fleet of
 * TRIPLOAD_CHUNK events (each fleet verified: one 'stored' ACK per event),
 * until the cars have sent all their records. Trip rows are read from the
 * SQLite file (read-only), the trips processor's lag from /metrics.
 */
async function tripLoad(): Promise<TripLoadReport> {
  const dataDir = makeTempDir('telehub-bench-tripload-');
  let child: Child | undefined;
  let db: Database.Database | undefined;
  try {
    const mqttPort = await freePort();
    const httpPort = await freePort();
    child = startChild('telehub (tripload)', process.execPath, telehubArgs('a'), {
      cwd: repoRoot,
      env: telehubEnv({ TELEHUB_DATA_DIR: dataDir, TELEHUB_MQTT_PORT: String(mqttPort), TELEHUB_HTTP_PORT: String(httpPort) }),
    });
    await waitForHttp200(`http://127.0.0.1:${httpPort}/readyz`, 60_000, child);
    const url = `mqtt://127.0.0.1:${mqttPort}`;
    const conn = new Database(path.join(dataDir, 'telehub.db'), { readonly: true, fileMustExist: true });
    db = conn;
    const ends = conn.prepare('SELECT device_id AS deviceId, end_time AS endTs FROM trips');
    const common = {
      brokerUrl: url,
      cars: TRIPLOAD_CARS,
      tripsPerCar: TRIPLOAD_TRIPS,
      rate: TRIPLOAD_RATE,
      listEnds: async () => ends.all() as Array<{ deviceId: string; endTs: number }>,
      caughtUp: async () => (await processorLagEntries(httpPort, 'trips')) === 0,
      log,
    };
    log(`trip lag, cars alone: ${TRIPLOAD_CARS} cars × ${TRIPLOAD_TRIPS} trips, ${TRIPLOAD_RATE} records/s per car`);
    let idleLags: ReturnType<typeof sampleProcessorLags> | undefined;
    const idle = await measureTripLag({ ...common, idPrefix: 'idle', onStarted: () => (idleLags = sampleProcessorLags(httpPort, processorList())) });
    const idleProcessorLags = await idleLags?.stop();
    log(`trip lag under load: ${TRIPLOAD_CARS} new cars, and ${DEVICES} seed-001 devices (window ${WINDOW}) in fleets of ${TRIPLOAD_CHUNK.toLocaleString('en-US')} events until the cars are done`);
    const load = { fleets: 0, events: 0, seconds: 0, eventsPerSecond: 0, problems: [] as string[] };
    let loadDone: Promise<void> = Promise.resolve();
    let lags: ReturnType<typeof sampleProcessorLags> | undefined;
    let mc0: ReturnType<typeof machineCpuTicks>;
    const underLoad = await measureTripLag({
      ...common,
      idPrefix: 'load',
      onStarted: (carsDone) => {
        let carsFinished = false;
        void carsDone.then(() => (carsFinished = true));
        lags = sampleProcessorLags(httpPort, processorList());
        mc0 = machineCpuTicks();
        loadDone = (async () => {
          while (!carsFinished && !interrupt.interrupted) {
            const fleet = createFleet(CLIENT, { url, devices: DEVICES, events: TRIPLOAD_CHUNK, window: WINDOW, tag: `t${load.fleets}${randomBytes(3).toString('hex')}`, stallTimeoutMs: STALL_TIMEOUT_S * 1000, log: () => {} });
            try {
              await fleet.connect();
              const r = await fleet.run();
              load.fleets++;
              load.events += r.events;
              load.seconds += r.seconds;
              load.problems.push(...(await fleet.verify(100)));
            } catch (err) {
              load.problems.push((err as Error).message);
              break;
            } finally {
              await fleet.close();
            }
          }
          load.eventsPerSecond = load.seconds > 0 ? Math.round(load.events / load.seconds) : 0;
          log(`  load: ${load.events.toLocaleString('en-US')} seed-001 events in ${load.fleets} fleets, ${load.eventsPerSecond.toLocaleString('en-US')} events/s while running`);
        })();
      },
    });
    await loadDone;
    const mc1 = machineCpuTicks();
    const processorLags = await lags?.stop();
    const problems = [...idle.problems, ...underLoad.problems, ...load.problems];
    return {
      ok: problems.length === 0 && idle.ok && underLoad.ok,
      idle,
      underLoad,
      load,
      processorLags,
      idleProcessorLags,
      machineBusyPercent: mc0! && mc1 && mc1.total > mc0.total ? Math.round((100 * (mc1.busy - mc0.busy)) / (mc1.total - mc0.total)) : undefined,
    };
  } finally {
    db?.close();
    await child?.stop(5_000);
    removeTempDir(dataDir);
  }
}

/** Extra node flags for the telehub process (BENCH_TELEHUB_NODE_ARGS, space-separated), e.g. --max-old-space-size=256. */
const TELEHUB_NODE_ARGS = (process.env.BENCH_TELEHUB_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

/** telehub runs as `npm start` runs it: compiled, from dist/ (no TypeScript loader in the measured process). */
function telehubArgs(mode: Mode): string[] {
  const args = [...startNodeFlags(), ...TELEHUB_NODE_ARGS];
  if (CPU_PROF_DIR) {
    // One directory per mode and Node's default file names: worker threads
    // write profiles too, and a fixed name would let one overwrite another.
    const dir = path.join(CPU_PROF_DIR, `telehub-${mode}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  return [...args, 'dist/cli/main.js', 'start'];
}

async function stopTelehub(child: Child): Promise<string[]> {
  const code = await child.stop(35_000);
  return code === 0 ? [] : [`telehub exited with ${code} on SIGTERM.\n${child.tail()}`];
}

/** Summary of the main thread's profile: of the files telehub wrote, the one with the most busy time. */
function profileOf(mode: Mode, window: ProfileWindow): ProfileSummary | undefined {
  if (!CPU_PROF_DIR) return undefined;
  const dir = path.join(CPU_PROF_DIR, `telehub-${mode}`);
  let best: ProfileSummary | undefined;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const s = summariseProfile(path.join(dir, f), 25, window);
    if (!best || s.busyMs > best.busyMs) best = s;
  }
  return best;
}

function checkRows(rows: { events: number; deadLetters: number }, expected: number): string[] {
  const p: string[] = [];
  if (rows.events !== expected) p.push(`the store holds ${rows.events} events, expected ${expected}`);
  if (rows.deadLetters !== 0) p.push(`the store holds ${rows.deadLetters} dead letters, expected none`);
  return p;
}

/** The processors whose lag is sampled from /metrics during the load: every one the run has on. */
function lagOf(base: ModeResult, httpPort: number): { httpPort: number; processors: string[] } {
  return { httpPort, processors: processorList(base.processors) };
}

/** The processors a TELEHUB_PROCESSORS value (`default` or undefined: telehub's default) turns on. */
function processorList(p = 'default'): string[] {
  const list = p === 'default' ? (SETTINGS.find((s) => s.env === 'TELEHUB_PROCESSORS')?.default ?? '') : p === 'none' ? '' : p;
  return list.split(',').map((x) => x.trim()).filter(Boolean);
}

async function modeA(base: ModeResult): Promise<ModeResult> {
  const dataDir = makeTempDir('telehub-bench-a-');
  let child: Child | undefined;
  try {
    const mqttPort = await freePort();
    const httpPort = await freePort();
    child = startChild('telehub (a)', process.execPath, telehubArgs('a'), {
      cwd: repoRoot,
      env: telehubEnv({ TELEHUB_DATA_DIR: dataDir, TELEHUB_MQTT_PORT: String(mqttPort), TELEHUB_HTTP_PORT: String(httpPort) }, base.processors),
    });
    await waitForHttp200(`http://127.0.0.1:${httpPort}/readyz`, 60_000, child);
    const m =
      base.workload === 'nodes'
        ? await measureNodes('a', `mqtt://127.0.0.1:${mqttPort}`, child, httpPort, undefined, lagOf(base, httpPort))
        : await measure('a', `mqtt://127.0.0.1:${mqttPort}`, EVENTS, child, undefined, lagOf(base, httpPort));
    const problems = [...m.problems, ...(await stopTelehub(child))];
    const db = new Database(path.join(dataDir, 'telehub.db'), { readonly: true });
    let rows: { events: number; deadLetters: number };
    try {
      rows = {
        events: (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n,
        deadLetters: (db.prepare('SELECT count(*) AS n FROM deadletters').get() as { n: number }).n,
      };
    } finally {
      db.close();
    }
    problems.push(...checkRows(rows, base.workload === 'nodes' ? NODE_READINGS : EVENTS));
    return finish(base, m, rows, problems, profileOf('a', m.window));
  } finally {
    await child?.stop(5_000);
    removeTempDir(dataDir);
  }
}

async function modeB(base: ModeResult, broker: Broker, pgp: PostgresProvider): Promise<ModeResult> {
  const db = await pgp.create('b');
  const clientId = `telehub-bench-${randomBytes(4).toString('hex')}`;
  // telehub's session is persistent: remove it afterwards, or the broker would
  // queue every later event (mode c's) for it.
  const clearSession = registerCleanup(() => clearMqttSession(broker.url, clientId).catch(() => {}));
  const dataDir = makeTempDir('telehub-bench-b-');
  let child: Child | undefined;
  try {
    const httpPort = await freePort();
    child = startChild('telehub (b)', process.execPath, telehubArgs('b'), {
      cwd: repoRoot,
      env: telehubEnv({
        TELEHUB_DATA_DIR: dataDir,
        TELEHUB_HTTP_PORT: String(httpPort),
        MQTT_URL: broker.url,
        MQTT_CLIENT_ID: clientId,
        DATABASE_URL: db.url,
      }, base.processors),
    });
    await waitForHttp200(`http://127.0.0.1:${httpPort}/readyz`, 60_000, child);
    const m =
      base.workload === 'nodes'
        ? await measureNodes('b', broker.url, child, httpPort, broker, lagOf(base, httpPort))
        : await measure('b', broker.url, EVENTS, child, broker, lagOf(base, httpPort));
    const problems = [...m.problems, ...(await stopTelehub(child))];
    const rows = await pgCounts(db.url);
    problems.push(...checkRows(rows, base.workload === 'nodes' ? NODE_READINGS : EVENTS));
    return finish(base, m, rows, problems, profileOf('b', m.window));
  } finally {
    await child?.stop(5_000);
    await clearSession();
    removeTempDir(dataDir);
    await db.drop().catch((err) => log(`  (could not drop the mode b database: ${(err as Error).message})`));
  }
}

async function modeC(base: ModeResult, broker: Broker, pgp: PostgresProvider): Promise<ModeResult> {
  const db = await pgp.create('c');
  let child: Child | undefined;
  try {
    child = startChild('naive ingester (c)', process.execPath, ['--import', 'tsx', 'bench/naive-ingester.ts'], {
      cwd: repoRoot,
      env: { ...cleanEnv(), NAIVE_MQTT_URL: broker.url, NAIVE_DATABASE_URL: db.url },
    });
    await child.waitForLine(/^ready$/, 60_000);
    const m = await measure('c', broker.url, BASELINE_EVENTS, child, broker);
    const code = await child.stop(10_000);
    const problems = [...m.problems];
    if (code !== 0) problems.push(`naive ingester exited with ${code}.\n${child.tail()}`);
    const rows = await pgCounts(db.url);
    problems.push(...checkRows(rows, BASELINE_EVENTS));
    return finish(base, m, rows, problems);
  } finally {
    await child?.stop(5_000);
    await db.drop().catch((err) => log(`  (could not drop the mode c database: ${(err as Error).message})`));
  }
}

function finish(base: ModeResult, m: Measured, rows: { events: number; deadLetters: number }, problems: string[], profile?: ProfileSummary): ModeResult {
  return {
    ...base,
    nodes: m.nodes,
    status: problems.length === 0 ? 'ok' : 'failed',
    problems: problems.length > 0 ? problems : undefined,
    events: m.load.events,
    seconds: round(m.load.seconds, 3),
    eventsPerSecond: Math.round(m.load.eventsPerSecond),
    peakRssBytes: m.peakRssBytes,
    latencyMs: m.load.latencyMs,
    ackCounts: m.load.ackCounts,
    acks: m.acks,
    rows,
    cpuSeconds: { ingester: opt(m.cpuIngester), devices: round(m.load.generatorCpuSeconds, 2), mosquitto: opt(m.cpuMosquitto) },
    generatorCpuSecondsPer50kEvents: m.load.events > 0 ? round((m.load.generatorCpuSeconds * 50_000) / m.load.events, 2) : undefined,
    machineBusyPercent: m.machineBusyPercent,
    processorLag: m.processorLags?.find((l) => l.processor === 'device-counters'),
    processorLags: m.processorLags,
    profile,
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const opt = (x: number | undefined) => (x === undefined ? undefined : round(x, 2));
const mb = (b: number | undefined) => (b === undefined ? undefined : round(b / 1024 / 1024, 1));

// ---------------------------------------------------------------- report

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function printTable(results: ModeResult[]): void {
  const c = results.find((r) => r.mode === 'c' && r.status === 'ok');
  const head = ['mode', 'events', 'ACKs stored', 'seconds', 'events/s', 'peak RSS MB', `${CLIENT} CPU s`, 'vs baseline'];
  const rows = results.map((r) => {
    if (r.status === 'skipped') return [r.label + '  [skipped]', '-', '-', '-', '-', '-', '-', '-'];
    const ratio = c?.eventsPerSecond && r.eventsPerSecond ? `${(r.eventsPerSecond / c.eventsPerSecond).toFixed(1)}×` : '-';
    return [
      r.label + (r.status === 'failed' ? '  [FAILED]' : ''),
      r.events?.toLocaleString('en-US') ?? '-',
      r.acks ? `${r.acks.stored.toLocaleString('en-US')}${r.acks.missing > 0 ? ` (${r.acks.missing.toLocaleString('en-US')} missing)` : ''}` : '-',
      r.seconds?.toFixed(2) ?? '-',
      r.eventsPerSecond?.toLocaleString('en-US') ?? '-',
      mb(r.peakRssBytes)?.toFixed(1) ?? '-',
      r.cpuSeconds ? r.cpuSeconds.devices.toFixed(2) : '-',
      ratio,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((x, i) => pad(x, widths[i], i > 0 && i < 7)).join(' | ');
  log('');
  log(`load generator: ${GENERATOR_LABEL[CLIENT]} (BENCH_CLIENT=${CLIENT}); "${CLIENT} CPU s" is its CPU during the timed run`);
  log(line(head));
  log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) log(line(r));
  log('');
  for (const r of results) {
    if (r.status === 'skipped') log(`  ${r.mode}: skipped: ${r.reason}`);
    if (r.status === 'skipped' || r.events === undefined) continue;
    const cpu = r.cpuSeconds!;
    const parts = [
      `latency p50 ${r.latencyMs!.p50} ms, p95 ${r.latencyMs!.p95} ms, p99 ${r.latencyMs!.p99} ms, max ${r.latencyMs!.max} ms`,
      `CPU during run: ${r.mode === 'c' ? 'ingester' : 'telehub'} ${cpu.ingester ?? '?'} s, devices (bench, ${CLIENT}) ${cpu.devices} s = ${r.generatorCpuSecondsPer50kEvents ?? '?'} s per 50,000 events${cpu.mosquitto !== undefined ? `, mosquitto ${cpu.mosquitto} s` : ''} over ${r.seconds} s wall; machine ${r.machineBusyPercent ?? '?'}% busy`,
    ];
    log(`  ${r.mode}${r.processors !== undefined && r.label !== MODE_LABEL[r.mode] ? ` [${r.processors}]` : ''}: ${parts.join('; ')}`);
    for (const lag of r.processorLags ?? []) log(`     ${formatLag(lag)}`);
  }
}

/** The seed-001 run of the same mode and processor set in this invocation (the first, with repeats). */
function seed001Of(r: ModeResult, results: ModeResult[]): ModeResult | undefined {
  return results.find((x) => x.mode === r.mode && x.processors === r.processors && x.status === 'ok');
}

function printNodes(nodeResults: ModeResult[], results: ModeResult[]): void {
  log(`\n== Node telemetry end to end (seed 003, ${NODE_SENSORS.length} sensors a message, QoS 1, no reply: PUBACKs counted, then the store checked for messages × ${NODE_SENSORS.length} readings)`);
  for (const r of nodeResults) {
    if (r.status === 'skipped') {
      log(`  ${r.label}: skipped: ${r.reason}`);
      continue;
    }
    const n = r.nodes;
    if (r.status === 'failed' || !n) {
      log(`  ${r.label}: FAILED${r.problems ? `: ${r.problems.join('; ')}` : ''}`);
      continue;
    }
    const ev = seed001Of(r, results);
    const vs = ev ? `; ${(n.readingsPerSecond / ev.eventsPerSecond!).toFixed(2)}× the seed-001 events/s of this run (${ev.eventsPerSecond!.toLocaleString('en-US')})` : '; no seed-001 run of this mode to compare';
    log(`  ${r.label}: ${n.readingsPerSecond.toLocaleString('en-US')} readings/s = ${n.messagesPerSecond.toLocaleString('en-US')} messages/s over ${n.seconds.toFixed(2)} s (${n.readings.toLocaleString('en-US')} readings, ${n.pubacks.toLocaleString('en-US')} PUBACKs, ${r.rows?.events.toLocaleString('en-US')} rows)${vs}`);
    const cpu = r.cpuSeconds!;
    log(`     last PUBACK after ${n.pubackSeconds.toFixed(2)} s; PUBACK latency p50 ${n.pubackLatencyMs.p50} ms, p99 ${n.pubackLatencyMs.p99} ms; peak RSS ${mb(r.peakRssBytes) ?? '?'} MB; CPU telehub ${cpu.ingester ?? '?'} s, devices ${cpu.devices} s${cpu.mosquitto !== undefined ? `, mosquitto ${cpu.mosquitto} s` : ''}; machine ${r.machineBusyPercent ?? '?'}% busy`);
    for (const lag of r.processorLags ?? []) log(`     ${formatLag(lag)}`);
  }
}

export function formatLag(lag: LagReport): string {
  return `${lag.processor} lag during the load p50 ${lag.p50Seconds.toFixed(2)} s, p99 ${lag.p99Seconds.toFixed(2)} s, max ${lag.maxSeconds.toFixed(2)} s / ${lag.maxEntries} entries (${lag.samples} samples), caught up ${lag.catchUpSeconds === null ? 'not within 60 s' : `${lag.catchUpSeconds.toFixed(2)} s`} after the load`;
}

/** Per telehub mode: the mean events/s (and telehub CPU) of each processor set, against the first set's. */
function printProcessorComparison(results: ModeResult[]): void {
  log('\nprocessor sets (BENCH_PROCESSORS), mean over the runs of each; relative to the first set:');
  for (const m of ['a', 'b'] as const) {
    const base = PROCESSOR_SETS[0];
    const stat = (p: string) => {
      const rs = results.filter((r) => r.mode === m && r.processors === p && r.status === 'ok');
      if (rs.length === 0) return undefined;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      return { n: rs.length, eps: mean(rs.map((r) => r.eventsPerSecond!)), all: rs.map((r) => r.eventsPerSecond!), cpu: mean(rs.map((r) => r.cpuSeconds?.ingester ?? 0)) };
    };
    const b0 = stat(base);
    for (const p of PROCESSOR_SETS) {
      const st = stat(p);
      if (st === undefined) continue;
      const rel = b0 && p !== base ? ` (${st.eps >= b0.eps ? '+' : ''}${((100 * (st.eps - b0.eps)) / b0.eps).toFixed(1)} % vs ${base})` : '';
      log(`  ${m} [${p}]: ${Math.round(st.eps).toLocaleString('en-US')} events/s${rel}; runs ${st.all.join(', ')}; telehub CPU ${st.cpu.toFixed(2)} s`);
    }
  }
}

interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

function checkTargets(results: ModeResult[]): TargetCheck[] {
  const by = (m: Mode) => results.find((r) => r.mode === m && r.status === 'ok');
  const out: TargetCheck[] = [];
  for (const m of ['a', 'b'] as const) {
    const r = by(m);
    out.push({
      target: `(${m}) ≥ ${TARGET_EVENTS_PER_S.toLocaleString('en-US')} events/s`,
      measured: r ? `${r.eventsPerSecond!.toLocaleString('en-US')} events/s` : 'not measured',
      met: r ? r.eventsPerSecond! >= TARGET_EVENTS_PER_S : null,
    });
  }
  const b = by('b');
  const c = by('c');
  out.push({
    target: `(b) ≥ ${TARGET_VS_BASELINE}× the baseline (c)`,
    measured: b && c ? `${(b.eventsPerSecond! / c.eventsPerSecond!).toFixed(1)}× (${b.eventsPerSecond} vs ${c.eventsPerSecond} events/s)` : 'not measured',
    met: b && c ? b.eventsPerSecond! >= TARGET_VS_BASELINE * c.eventsPerSecond! : null,
  });
  for (const m of ['a', 'b'] as const) {
    const r = by(m);
    const peak = mb(r?.peakRssBytes);
    out.push({
      target: `(${m}) telehub peak RSS ≤ ${TARGET_PEAK_RSS_MB} MB`,
      measured: peak !== undefined ? `${peak} MB` : 'not measured',
      met: peak !== undefined ? peak <= TARGET_PEAK_RSS_MB : null,
    });
  }
  return out;
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model?.trim(),
    memoryBytes: os.totalmem(),
    memoryMB: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const started = new Date();
  const machine = machineInfo();
  log(`telehub benchmark — ${started.toISOString()}`);
  log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryMB} MB RAM, node ${machine.node}, ${machine.platform}`);
  log(`load: ${DEVICES} devices (${GENERATOR_LABEL[CLIENT]}), QoS 1, ≤ ${WINDOW} unanswered events per device; ${EVENTS.toLocaleString('en-US')} events for a and b, ${BASELINE_EVENTS.toLocaleString('en-US')} for c`);
  log('telehub settings:');
  for (const [k, s] of Object.entries(telehubSettings)) log(`  ${k}=${s.value}${s.source === 'default' ? ' (default)' : ` (from ${s.source})`}`);
  if (TELEHUB_NODE_ARGS.length > 0) log(`telehub node flags: ${TELEHUB_NODE_ARGS.join(' ')} (BENCH_TELEHUB_NODE_ARGS)`);
  if (CPU_PROF_DIR) log(`telehub runs under --cpu-prof; profiles in ${CPU_PROF_DIR}`);
  log('building telehub (npm run build) to run it from dist/ as npm start does');
  execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
  log(`suites: ${SUITES.join(', ')}${MODES.length > 0 ? `; mqtt modes: ${MODES.join(', ')}` : ''}`);

  const results: ModeResult[] = [];
  let httpReport: HttpSuiteReport | undefined;
  let queryReport: QuerySuiteReport | undefined;
  let dropReport: import('./partition-drop.js').PartitionDropReport | undefined;
  let tiersReport: import('./tiers-overhead.js').TiersOverheadReport[] | undefined;
  let tripsReport: TripLagReport | undefined;
  let tripLoadReport: TripLoadReport | undefined;
  const suiteErrors: string[] = [];
  const services: Record<string, unknown> = {};
  let broker: Broker | string | undefined;
  let pgp: PostgresProvider | string | undefined;
  const needExternal = MODES.some((m) => m !== 'a');
  const nodeResults: ModeResult[] = [];

  try {
    if (needExternal) {
      broker = await provideBroker(repoRoot).catch((err: Error) => `Mosquitto is not usable: ${err.message}`);
      if (typeof broker === 'string') {
        log(`\nSKIPPING modes b and c: ${broker}.`);
      } else {
        services.mosquitto = { origin: broker.origin, version: broker.version };
        log(`Mosquitto: ${broker.origin}${broker.version ? `, version ${broker.version}` : ''}`);
        pgp = await providePostgres().catch((err: Error) => `PostgreSQL is not usable: ${err.message}`);
        if (typeof pgp === 'string') log(`\nSKIPPING modes b and c: ${pgp}.`);
        else {
          services.postgres = { origin: pgp.origin, version: pgp.version };
          log(`PostgreSQL: ${pgp.origin}${pgp.version ? `, version ${pgp.version}` : ''}`);
        }
      }
    }

    // Each telehub mode once per processor set (and BENCH_REPEAT times), alternating, so drifting load hits them alike.
    const runs: { mode: Mode; processors?: string; workload?: 'nodes' }[] = [];
    for (let i = 0; i < REPEAT; i++) {
      for (const mode of EVENT_MODES) {
        if (mode === 'c') {
          if (i === 0) runs.push({ mode });
        } else for (const processors of PROCESSOR_SETS) runs.push({ mode, processors });
      }
      for (const mode of NODE_MODES) for (const processors of PROCESSOR_SETS) runs.push({ mode, processors, workload: 'nodes' });
    }
    const variants = PROCESSOR_SETS.length > 1 || REPEAT > 1;
    for (const { mode, processors, workload } of runs) {
      if (interrupt.interrupted) break;
      const label0 = workload === 'nodes' ? `${MODE_LABEL[mode]}, node telemetry ×${NODE_SENSORS.length}` : MODE_LABEL[mode];
      const base: ModeResult = {
        mode,
        workload,
        label: variants && processors !== undefined ? `${label0} [processors: ${processors}]` : label0,
        processors,
        status: 'skipped',
        generator: CLIENT,
        settings:
          mode === 'c'
            ? { events: BASELINE_EVENTS }
            : { events: workload === 'nodes' ? NODE_READINGS : EVENTS, ...(workload === 'nodes' ? { nodeMessages: NODE_MESSAGES, sensorsPerMessage: NODE_SENSORS.length } : {}), ...Object.fromEntries(Object.entries(telehubSettings).map(([k, s]) => [k, s.value])), TELEHUB_PROCESSORS: processors },
      };
      if (mode !== 'a' && (typeof broker !== 'object' || typeof pgp !== 'object')) {
        (workload === 'nodes' ? nodeResults : results).push({ ...base, reason: typeof broker === 'string' ? broker : typeof pgp === 'string' ? pgp : 'no broker or database' });
        continue;
      }
      log(`\n== ${base.label}: ${workload === 'nodes' ? `${NODE_MESSAGES.toLocaleString('en-US')} messages = ${NODE_READINGS.toLocaleString('en-US')} readings` : `${(mode === 'c' ? BASELINE_EVENTS : EVENTS).toLocaleString('en-US')} events`}`);
      let r: ModeResult;
      try {
        if (mode === 'a') r = await modeA(base);
        else if (mode === 'b') r = await modeB(base, broker as Broker, pgp as PostgresProvider);
        else r = await modeC(base, broker as Broker, pgp as PostgresProvider);
      } catch (err) {
        r = { ...base, status: 'failed', problems: [(err as Error).stack ?? String(err)], acks: err instanceof RunFailed ? err.acks : undefined };
      }
      (workload === 'nodes' ? nodeResults : results).push(r);
      if (r.status === 'ok' && r.nodes) log(`  ${r.nodes.readingsPerSecond.toLocaleString('en-US')} readings/s (${r.nodes.messagesPerSecond.toLocaleString('en-US')} messages/s) over ${r.seconds} s; peak RSS ${mb(r.peakRssBytes) ?? '?'} MB; checks passed (${r.nodes.pubacks} PUBACKs for ${r.nodes.messages} messages; ${r.rows!.events} rows = messages × ${NODE_SENSORS.length})`);
      else if (r.status === 'ok') log(`  ${r.eventsPerSecond!.toLocaleString('en-US')} events/s over ${r.seconds} s; peak RSS ${mb(r.peakRssBytes) ?? '?'} MB; checks passed (each event: exactly one 'stored' ACK, ${r.acks!.stored} ACKs; ${r.rows!.events} rows)`);
      else {
        log(`  FAILED:`);
        for (const p of r.problems ?? []) log(`    - ${p}`);
      }
      if (r.profile) log(formatProfile(r.profile));
    }

    if (SUITES.includes('http') && !interrupt.interrupted) {
      log('\n== HTTP ingest (bench/http.ts)');
      try {
        // Share this run's PostgreSQL when there is one; null when it failed: the suite then skips PostgreSQL.
        httpReport = await runHttpSuite({ postgres: typeof pgp === 'object' ? pgp : typeof pgp === 'string' ? null : undefined, build: false, log });
      } catch (err) {
        suiteErrors.push(`http: ${(err as Error).stack ?? String(err)}`);
      }
    }
    if (SUITES.includes('query') && !interrupt.interrupted) {
      log('\n== Query latency (bench/query.ts)');
      try {
        queryReport = await runQuerySuite({ log });
      } catch (err) {
        suiteErrors.push(`query: ${(err as Error).stack ?? String(err)}`);
      }
    }
    if (SUITES.includes('drop') && !interrupt.interrupted) {
      log('\n== Dropping a day of raw events (bench/partition-drop.ts)');
      try {
        const { benchPostgres, benchSqlite } = await import('./partition-drop.js');
        dropReport = { sqlite: benchSqlite(Number(process.env.BENCH_DROP_SQLITE_ROWS ?? 100_000)), postgres: await benchPostgres(Number(process.env.BENCH_DROP_PG_ROWS ?? 300_000)) };
      } catch (err) {
        suiteErrors.push(`drop: ${(err as Error).stack ?? String(err)}`);
      }
    }
    if (SUITES.includes('tiers') && !interrupt.interrupted) {
      log('\n== Ingest with tiers on vs off (bench/tiers-overhead.ts)');
      try {
        const { benchTiers } = await import('./tiers-overhead.js');
        const seconds = Number(process.env.BENCH_TIERS_SECONDS ?? 8);
        tiersReport = [await benchTiers('sqlite', seconds, 2), await benchTiers('postgres', seconds, 2)];
      } catch (err) {
        suiteErrors.push(`tiers: ${(err as Error).stack ?? String(err)}`);
      }
    }
    if (SUITES.includes('trips') && !interrupt.interrupted) {
      log('\n== Live trip lag (bench/trips-lag.ts)');
      try {
        tripsReport = await runTripLagSuite({ log });
      } catch (err) {
        suiteErrors.push(`trips: ${(err as Error).stack ?? String(err)}`);
      }
    }
    if (SUITES.includes('tripload') && !interrupt.interrupted) {
      log('\n== Live trip lag with and without the MQTT load (tripload)');
      try {
        tripLoadReport = await tripLoad();
      } catch (err) {
        suiteErrors.push(`tripload: ${(err as Error).stack ?? String(err)}`);
      }
    }
  } finally {
    if (typeof pgp === 'object') await pgp.shutdown().catch((err) => log(`(could not stop PostgreSQL: ${(err as Error).message})`));
    if (typeof broker === 'object') await broker.stop().catch((err) => log(`(could not stop Mosquitto: ${(err as Error).message})`));
    await cleanupAll();
  }

  const targets = EVENT_MODES.length > 0 ? checkTargets(results) : [];
  if (EVENT_MODES.length > 0) {
    log('\n== MQTT end to end');
    printTable(results);
    if (PROCESSOR_SETS.length > 1 || REPEAT > 1) printProcessorComparison(results);
    log('\ntargets (reported only; the bench fails only on correctness):');
    for (const t of targets) log(`  ${t.met === null ? '  n/a' : t.met ? '  met' : 'MISSED'}  ${t.target}: ${t.measured}`);
  }
  if (nodeResults.length > 0) printNodes(nodeResults, results);
  if (httpReport) log(`\n== HTTP ingest\n${formatHttpTable(httpReport)}`);
  if (queryReport) {
    log(`\n== Query latency (${queryReport.settings.events.toLocaleString('en-US')} events, ${queryReport.settings.devices} devices; 24 h series at 1 min)\n${formatQueryTable(queryReport)}`);
    for (const st of queryReport.stores) for (const p of st.problems) log(`  ${st.store} PROBLEM: ${p}`);
  }
  if (tripsReport) {
    log(`\n== Live trip lag (${tripsReport.cars} cars × ${tripsReport.tripsPerCar} trips, embedded broker + SQLite)`);
    log(`  trips shown ${tripsReport.trips.seen}/${tripsReport.trips.expected}; lag from the end record's commit to its trip row: p50 ${tripsReport.lagMs.p50} ms, p99 ${tripsReport.lagMs.p99} ms, max ${tripsReport.lagMs.max} ms; ${tripsReport.recordsPerSecond} records/s`);
    for (const p of tripsReport.problems) log(`  PROBLEM: ${p}`);
  }
  if (tripLoadReport) {
    const t = tripLoadReport;
    const f = (r: TripLagReport) => `trips shown ${r.trips.seen}/${r.trips.expected}; lag p50 ${r.lagMs.p50} ms, p99 ${r.lagMs.p99} ms, max ${r.lagMs.max} ms; cars ${r.recordsPerSecond} records/s`;
    log(`\n== Live trip lag, ${t.idle.cars} cars × ${t.idle.tripsPerCar} trips at ${t.idle.ratePerCar} records/s each (telehub as mode a runs it, default processors)`);
    log(`  cars alone:          ${f(t.idle)}`);
    const tl = (ls?: LagReport[]) => ls?.find((l) => l.processor === 'trips');
    const idleTrips = tl(t.idleProcessorLags);
    if (idleTrips) log(`     ${formatLag(idleTrips).replace('during the load', 'with the cars alone')}`);
    log(`  under the MQTT load: ${f(t.underLoad)}`);
    log(`  the load: ${DEVICES} seed-001 devices, ${t.load.events.toLocaleString('en-US')} events in ${t.load.fleets} fleets, ${t.load.eventsPerSecond.toLocaleString('en-US')} events/s while running; machine ${t.machineBusyPercent ?? '?'}% busy`);
    for (const lag of t.processorLags ?? []) log(`     ${formatLag(lag)}`);
    for (const p of [...t.idle.problems, ...t.underLoad.problems, ...t.load.problems]) log(`  PROBLEM: ${p}`);
  }
  if (tiersReport) for (const r of tiersReport) log(`\n== Tiers on vs off, ${r.store}: off ${r.offEventsPerSecond.join(' / ')} events/s, on ${r.onEventsPerSecond.join(' / ')} events/s, on/off ${(r.ratio * 100).toFixed(1)} % (target >= 90 %)`);
  if (dropReport) log(`\n== Dropping a day of raw events\n${JSON.stringify(dropReport, null, 2)}`);
  for (const e of suiteErrors) log(`\nSUITE FAILED: ${e}`);

  const ok = [...results, ...nodeResults].every((r) => r.status !== 'failed') && (httpReport?.ok ?? true) && (queryReport?.ok ?? true) && (tripsReport?.ok ?? true) && (tripLoadReport?.ok ?? true) && suiteErrors.length === 0;
  const report = {
    date: started.toISOString(),
    durationSeconds: round((Date.now() - started.getTime()) / 1000, 1),
    ok,
    machine,
    load: { generator: CLIENT, devices: DEVICES, windowPerDevice: WINDOW, events: EVENTS, baselineEvents: BASELINE_EVENTS, qos: 1 },
    telehubSettings: Object.fromEntries(Object.entries(telehubSettings).map(([k, s]) => [k, { value: Number(s.value), source: s.source }])),
    telehubNodeArgs: TELEHUB_NODE_ARGS,
    cpuProfileDir: CPU_PROF_DIR,
    services,
    // One key per mode; with several processor sets or repeats, `a`, `a#2`, … in run order.
    modes: Object.fromEntries(
      results.map((r, i) => {
        const n = results.slice(0, i).filter((x) => x.mode === r.mode).length;
        return [n === 0 ? r.mode : `${r.mode}#${n + 1}`, { ...r, peakRssMB: mb(r.peakRssBytes) }];
      }),
    ),
    targets,
    // Suite nodes: seed-003 node telemetry, one key per mode as in `modes`; readingsVsEvents is readings/s ÷ the same mode's seed-001 events/s of this run.
    nodes: Object.fromEntries(
      nodeResults.map((r, i) => {
        const n = nodeResults.slice(0, i).filter((x) => x.mode === r.mode).length;
        const ev = seed001Of(r, results);
        return [n === 0 ? r.mode : `${r.mode}#${n + 1}`, { ...r, peakRssMB: mb(r.peakRssBytes), readingsVsEvents: ev && r.nodes ? round(r.nodes.readingsPerSecond / ev.eventsPerSecond!, 2) : undefined }];
      }),
    ),
    http: httpReport,
    query: queryReport,
    trips: tripsReport,
    tripLoad: tripLoadReport,
    drop: dropReport,
    tiers: tiersReport,
    suiteErrors,
  };
  mkdirSync(resultsDir, { recursive: true });
  const out = path.join(resultsDir, 'latest.json');
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  log(`\nwrote ${path.relative(process.cwd(), out) || out}`);
  if (!ok) log('\nFAILED: correctness checks failed (see above).');
  return ok ? 0 : 1;
}

const interrupt = handleInterrupts(log);

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
    await cleanupAll().catch(() => {});
    process.exit(1);
  },
);

/**
 * What following the log costs per entry, in parts (`npx tsx bench/log-read.ts`):
 * loads BENCH_LR_EVENTS (200,000) events (100 devices, meta as an MQTT/JSON
 * codec leaves it, with position on every tenth), then, BENCH_LR_ROUNDS (3)
 * times on each store (BENCH_LR_STORES, default sqlite,postgres; PostgreSQL
 * with TELEHUB_TEST_DATABASE_URL):
 *
 * - head: intake at full speed (BENCH_LR_HEAD_BATCHES, default 200, batches
 *   of BENCH_LR_HEAD_BATCH, default 250, ringing the wake-up after each)
 *   with the default processors (or BENCH_LR_PROCS) following, against none:
 *   events/s, CPU of this process and of the database's PostgreSQL backends
 *   per event, processor transactions and log reads per 1,000 events;
 * - reading the whole log in pages of 1,000 (`CommitLog.read`), µs an entry;
 * - 1,000 checkpoint-only processor commits and 1,000 with one statement.
 *
 * BENCH_LR_PROF=path writes a .cpuprofile of the timed part (per store).
 */
import type { Store } from '../src/storage/store.js';
import pino from 'pino';
import { ProcessorRunner } from '../src/log/runner.js';
import { Wakeup } from '../src/log/wakeup.js';
import { KNOWN_PROCESSORS, makeProcessors } from '../src/processors/index.js';
import { Session } from 'node:inspector/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { stopTestPostgres } from '../test/helpers/postgres.js';
import { openTestStore } from '../test/helpers/store.js';

const EVENTS = Number(process.env.BENCH_LR_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_LR_ROUNDS ?? 3);
const PAGE = 1000;

async function load(store: Store): Promise<void> {
  const t = Date.UTC(2026, 10, 1);
  for (let k = 0; k < EVENTS / 1000; k++) {
    const events = Array.from({ length: 1000 }, (_, j) => {
      const i = k * 1000 + j;
      const meta = i % 10 === 0 ? JSON.stringify({ topic: `devices/dev-${i % 100}/telemetry`, lat: 52.1 + j / 1e5, lon: 4.3 + j / 1e5, qos: 1 }) : JSON.stringify({ topic: `devices/dev-${i % 100}/telemetry`, qos: 1 });
      return { eventId: `lr-${i}`, deviceId: `dev-${i % 100}`, schema: 1, eventType: 'temperature', valueNum: 20 + (i % 97) / 10, valueText: null, unit: 'C', tsDevice: t + i, tsServer: t + i + 30, meta };
    });
    await store.writeBatch({ events, deadLetters: [] });
  }
}

/** CPU time of the whole process (all threads), µs. */
const cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
let lastCpu = 0;
/** CPU time (µs) of this database's PostgreSQL backends (0 for SQLite): they share the machine's cores with telehub. */
async function serverCpu(store: Store): Promise<number> {
  if (store.kind !== 'postgres') return 0;
  const rows = await store.processors.select('SELECT pid FROM pg_stat_activity WHERE datname = current_database()', []);
  let t = 0;
  for (const r of rows) {
    try {
      const f = readFileSync(`/proc/${String(r.pid)}/stat`, 'utf8').split(') ')[1].split(' ');
      t += ((Number(f[11]) + Number(f[12])) * 1e6) / 100;
    } catch {
      // gone
    }
  }
  return t;
}
let lastServerCpu = 0;

async function readAll(store: Store): Promise<number> {
  const s0 = await serverCpu(store);
  const c0 = cpu();
  const t0 = performance.now();
  let after = 0;
  let n = 0;
  for (;;) {
    const page = await store.log.read(after, PAGE);
    if (page.length === 0) break;
    n += page.length;
    after = page[page.length - 1].seq;
  }
  if (n < EVENTS) throw new Error(`read ${n}`);
  lastCpu = (cpu() - c0) / n;
  lastServerCpu = ((await serverCpu(store)) - s0) / n;
  return ((performance.now() - t0) * 1000) / n;
}

async function commits(store: Store, withStatement: boolean): Promise<number> {
  const c0 = cpu();
  const s0 = await serverCpu(store);
  const name = withStatement ? 'lr-s' : 'lr-c';
  let at = await store.processors.register(name);
  const sql = store.kind === 'sqlite' ? 'UPDATE processor_checkpoints SET errors = errors WHERE name = ?' : 'UPDATE processor_checkpoints SET errors = errors WHERE name = $1';
  const N = 1000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    await store.processors.commit(name, at, at + 1, withStatement ? [{ sql, params: [name] }] : []);
    at++;
  }
  const ms = (performance.now() - t0) / N;
  lastCpu = (cpu() - c0) / N;
  lastServerCpu = ((await serverCpu(store)) - s0) / N;
  return ms;
}

const HEAD_BATCHES = Number(process.env.BENCH_LR_HEAD_BATCHES ?? 200);
const HEAD_BATCH = Number(process.env.BENCH_LR_HEAD_BATCH ?? 250);
let headN = 0;
/**
 * Intake at full speed (HEAD_BATCHES batches of HEAD_BATCH events back to
 * back, ringing the wake-up after each as the batch writer does) with the
 * default processors following the head, or none; then waits until they
 * caught up. Returns process CPU and server CPU per event, and the
 * processors' commits and log reads per 1,000 events.
 */
async function followHead(store: Store, on: boolean): Promise<string> {
  const wakeup = new Wakeup();
  let commits = 0;
  const processors = { ...store.processors, commit: (...a: Parameters<Store['processors']['commit']>) => (commits++, store.processors.commit(...a)) };
  const s2 = Object.assign(Object.create(Object.getPrototypeOf(store)), store, { processors }) as Store;
  const names = process.env.BENCH_LR_PROCS ? process.env.BENCH_LR_PROCS.split(',') : KNOWN_PROCESSORS;
  const runner = on ? new ProcessorRunner(s2, makeProcessors(names, { processors: store.processors }), { batchSize: 1000, pollMs: 500, retryMinMs: 100, retryMaxMs: 1000 }, pino({ level: 'silent' }), wakeup) : undefined;
  if (runner) {
    for (const n of names) await runner.catchUp(n);
    await runner.start();
  }
  commits = 0;
  const reads0 = runner ? runner.readerCounters.sharedReads + runner.readerCounters.ownReads : 0;
  const c0 = cpu();
  const s0 = await serverCpu(store);
  const t0 = performance.now();
  const t = Date.UTC(2026, 10, 2);
  for (let k = 0; k < HEAD_BATCHES; k++) {
    const events = Array.from({ length: HEAD_BATCH }, () => {
      const i = headN++;
      return { eventId: `hd-${i}`, deviceId: `dev-${i % 100}`, schema: 1, eventType: 'temperature', valueNum: 20 + (i % 97) / 10, valueText: null, unit: 'C', tsDevice: t + i * 10, tsServer: Date.now(), meta: JSON.stringify({ topic: `devices/dev-${i % 100}/telemetry`, qos: 1 }) };
    });
    await store.writeBatch({ events, deadLetters: [] });
    wakeup.ring();
  }
  const wall = performance.now() - t0;
  if (runner) {
    // What is left to apply counts too (stopped first: catchUp beside the loops would race them).
    await runner.stop();
    for (const n of names) await runner.catchUp(n);
  }
  const n = HEAD_BATCHES * HEAD_BATCH;
  const cpuUs = (cpu() - c0) / n;
  const srv = ((await serverCpu(store)) - s0) / n;
  const reads = runner ? runner.readerCounters.sharedReads + runner.readerCounters.ownReads - reads0 : 0;
  return `${on ? 'default processors' : 'none'}: ${Math.round(n / (wall / 1000))} events/s, CPU ${cpuUs.toFixed(1)} + server ${srv.toFixed(1)} µs/event, ${((commits * 1000) / n).toFixed(1)} commits and ${((reads * 1000) / n).toFixed(1)} reads per 1,000 events`;
}

for (const kind of [...(process.env.BENCH_LR_STORES ?? 'sqlite,postgres').split(',').filter((k) => k === 'sqlite'), ...(process.env.TELEHUB_TEST_DATABASE_URL ? ['postgres'] : [])]) {
  const { store, cleanup: close } = await openTestStore(kind as 'sqlite' | 'postgres', 'lr');
  try {
    await load(store);
    const session = process.env.BENCH_LR_PROF ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    for (let r = 0; r < ROUNDS && HEAD_BATCHES > 0; r++) {
      for (const on of r % 2 === 0 ? [false, true] : [true, false]) console.log(`${kind} head round ${r + 1}: ${await followHead(store, on)}`);
    }
    for (let r = 0; r < ROUNDS; r++) {
      const read = await readAll(store);
      const readCpu = `${lastCpu.toFixed(2)} + server ${lastServerCpu.toFixed(2)}`;
      const c = await commits(store, false);
      const cCpu = `${lastCpu.toFixed(0)} + ${lastServerCpu.toFixed(0)} µs`;
      const cs = await commits(store, true);
      const csCpu = `${lastCpu.toFixed(0)} + ${lastServerCpu.toFixed(0)} µs`;
      console.log(`${kind} round ${r + 1}: read ${read.toFixed(2)} µs/entry, process CPU ${readCpu} µs/entry (pages of ${PAGE}); commit checkpoint only ${c.toFixed(3)} ms (CPU here + server ${cCpu}), with one statement ${cs.toFixed(3)} ms (${csCpu})`);
    }
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${process.env.BENCH_LR_PROF}-${kind}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    }
  } finally {
    await close();
  }
}
await stopTestPostgres();

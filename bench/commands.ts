/**
 * Command round trip with 1,000 simulated nodes (`npm run bench:commands`,
 * a suite of its own): telehub as a child process the way `npm start` runs
 * it (built `dist/`, embedded broker, SQLite), the fleet simulator
 * (src/simulator, what `telehub simulate` runs) in this process, every node
 * its own MQTT.js connection sending sensor telemetry at BENCH_CMD_RATE
 * readings/s, carrying out commands once per `command_id` and answering them.
 *
 * Two phases, commands through `POST /api/v1/devices/{id}/commands`:
 * - idle: BENCH_CMD_SEQUENTIAL (100) commands one after another, each to the
 *   next node, the next only once the previous has ended;
 * - burst: one command to every node at once (BENCH_CMD_CONCURRENCY requests
 *   in flight), BENCH_CMD_ROUNDS (3) times.
 *
 * Round trip = `finished_at − queued_at` as telehub stores them: from the
 * command being stored to the node's `succeeded` reaching telehub's intake
 * (the publish, the node's work, its answer through the broker). The answer
 * then reaches the command's state through the commit log (the `commands`
 * consumer); that extra is reported as the consumer's lag during the burst.
 *
 * Checks (the run exits 1 when one fails): every command `succeeded`, each
 * executed exactly once by its node, and the simulator lost no telemetry.
 * Attempts above 1 (a resend after TELEHUB_COMMAND_ACK_TIMEOUT_S) are counted.
 */
import { execFile, execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startSimulation } from '../src/simulator/run.js';
import { percentile } from '../src/simulator/stats.js';
import { cleanTelehubEnv } from './lib/http-telehub.js';
import { sampleProcessorLag, type LagReport } from './lib/processor-lag.js';
import { cleanupAll, freePort, handleInterrupts, makeTempDir, removeTempDir, startChild, waitForHttp200 } from './lib/procs.js';
import { startNodeFlags } from './lib/start-args.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODES = Number(process.env.BENCH_CMD_NODES ?? 1000);
const RATE = Number(process.env.BENCH_CMD_RATE ?? 0.2);
const SEQUENTIAL = Number(process.env.BENCH_CMD_SEQUENTIAL ?? 100);
const ROUNDS = Number(process.env.BENCH_CMD_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CMD_CONCURRENCY ?? 100);

interface Cmd {
  command_id: string;
  device_id: string;
  state: string;
  attempts: number;
  queued_at: string;
  finished_at: string | null;
}

interface PhaseReport {
  commands: number;
  /** Wall time from the first POST to the last command ended (ms). */
  wallMs: number;
  roundTripMs: { p50: number | null; p99: number | null; max: number | null };
  notSucceeded: number;
  resent: number;
}

const say = (line: string) => process.stderr.write(`${line}\n`);

async function pool<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

async function main(): Promise<void> {
  const interrupts = handleInterrupts(say);
  say('Building telehub (npm run build)…');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  const dataDir = makeTempDir('telehub-bench-commands-');
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...cleanTelehubEnv(),
    TELEHUB_LOG_LEVEL: 'warn',
    TELEHUB_DATA_DIR: dataDir,
    TELEHUB_HTTP_HOST: '127.0.0.1',
    TELEHUB_MQTT_HOST: '127.0.0.1',
    TELEHUB_HTTP_PORT: String(httpPort),
    TELEHUB_MQTT_PORT: String(mqttPort),
    TELEHUB_MQTT_WS_PORT: '-1',
  };
  const { stdout } = await promisify(execFile)(process.execPath, ['dist/cli/main.js', 'tokens', 'create', '--name', 'bench', '--scope', 'admin'], { cwd: repoRoot, env });
  const token = stdout.trim();
  const child = startChild('telehub', process.execPath, [...startNodeFlags(), 'dist/cli/main.js', 'start'], { cwd: repoRoot, env });
  const base = `http://127.0.0.1:${httpPort}`;
  await waitForHttp200(`${base}/readyz`, 60_000, child);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const problems: string[] = [];

  say(`Connecting ${NODES} simulated nodes…`);
  const sim = await startSimulation({ devices: NODES, rate: RATE, profile: 'sensor', brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, idPrefix: 'bench', statusEveryMs: 60_000 });
  const nodes = sim.devices.map((d) => d.id);

  const post = async (dev: string, command: string, params: unknown): Promise<string> => {
    const r = await fetch(`${base}/api/v1/devices/${dev}/commands`, { method: 'POST', headers, body: JSON.stringify({ command, params }) });
    if (r.status !== 201) throw new Error(`POST commands for ${dev}: ${r.status} ${await r.text()}`);
    return ((await r.json()) as Cmd).command_id;
  };
  const get = async (id: string): Promise<Cmd> => (await (await fetch(`${base}/api/v1/commands/${id}`, { headers })).json()) as Cmd;
  const OPEN = ['queued', 'sent', 'delivered'];
  /** Polls the open ones (server times make the figures; polling only tells when to stop). */
  const awaitEnded = async (ids: string[], timeoutMs = 120_000): Promise<Cmd[]> => {
    const ended = new Map<string, Cmd>();
    const end = Date.now() + timeoutMs;
    while (ended.size < ids.length) {
      if (Date.now() > end || interrupts.interrupted) throw new Error(`${ids.length - ended.size} commands still open after ${timeoutMs} ms`);
      const open = ids.filter((id) => !ended.has(id));
      for (const c of await pool(open, 20, get)) if (!OPEN.includes(c.state)) ended.set(c.command_id, c);
      if (ended.size < ids.length) await new Promise((r) => setTimeout(r, 100));
    }
    return ids.map((id) => ended.get(id)!);
  };
  const summarise = (cmds: Cmd[], wallMs: number): PhaseReport => {
    const rt = Float64Array.from(cmds.filter((c) => c.state === 'succeeded').map((c) => Date.parse(c.finished_at!) - Date.parse(c.queued_at))).sort();
    for (const c of cmds) {
      const runs = sim.stats.executions.get(`${c.device_id}/${c.command_id}`) ?? 0;
      if (c.state !== 'succeeded') problems.push(`${c.command_id} (${c.device_id}) ended ${c.state}`);
      else if (runs !== 1) problems.push(`${c.command_id} (${c.device_id}) executed ${runs} times`);
    }
    return {
      commands: cmds.length,
      wallMs: Math.round(wallMs),
      roundTripMs: { p50: percentile(rt, 0.5), p99: percentile(rt, 0.99), max: rt.length ? rt[rt.length - 1] : null },
      notSucceeded: cmds.filter((c) => c.state !== 'succeeded').length,
      resent: cmds.filter((c) => c.attempts > 1).length,
    };
  };

  let idle: PhaseReport | undefined;
  const bursts: PhaseReport[] = [];
  let lag: LagReport | undefined;
  try {
    say(`Idle: ${SEQUENTIAL} commands one after another…`);
    const t0 = performance.now();
    const seq: Cmd[] = [];
    for (let i = 0; i < SEQUENTIAL && !interrupts.interrupted; i++) {
      const id = await post(nodes[i % nodes.length], 'ping', {});
      seq.push(...(await awaitEnded([id])));
    }
    idle = summarise(seq, performance.now() - t0);

    const sampler = sampleProcessorLag(httpPort, 'commands', 200);
    for (let round = 1; round <= ROUNDS && !interrupts.interrupted; round++) {
      say(`Burst ${round}/${ROUNDS}: one command to each of ${nodes.length} nodes…`);
      const b0 = performance.now();
      const ids = await pool(nodes, CONCURRENCY, (dev) => post(dev, 'set_interval', { seconds: 1 / RATE }));
      bursts.push(summarise(await awaitEnded(ids), performance.now() - b0));
    }
    lag = await sampler.stop(30_000);
  } finally {
    const simReport = await sim.stop();
    if (simReport.lost > 0) problems.push(`the simulator lost ${simReport.lost} telemetry messages`);
    const code = await child.stop(35_000);
    if (code !== 0) problems.push(`telehub exited with ${code} on SIGTERM`);
    removeTempDir(dataDir);
  }

  const report = {
    bench: 'commands',
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    settings: { nodes: NODES, telemetryRatePerNode: RATE, sequential: SEQUENTIAL, rounds: ROUNDS, concurrency: CONCURRENCY },
    idle,
    bursts,
    commandsConsumerLag: lag,
    problems,
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  const row = (name: string, p: PhaseReport) =>
    `${name.padEnd(9)} ${String(p.commands).padStart(6)}  p50 ${String(p.roundTripMs.p50).padStart(5)} ms  p99 ${String(p.roundTripMs.p99).padStart(5)} ms  max ${String(p.roundTripMs.max).padStart(5)} ms  wall ${(p.wallMs / 1000).toFixed(1)} s  resent ${p.resent}`;
  if (idle) say(row('idle', idle));
  bursts.forEach((b, i) => say(row(`burst ${i + 1}`, b)));
  if (lag) say(`commands consumer lag during the bursts: p50 ${lag.p50Seconds.toFixed(2)} s, p99 ${lag.p99Seconds.toFixed(2)} s, max ${lag.maxSeconds.toFixed(2)} s`);
  say(problems.length === 0 ? 'All checks passed.' : `FAILED:\n  ${problems.slice(0, 20).join('\n  ')}`);
  await cleanupAll(true);
  process.exitCode = problems.length === 0 ? 0 : 1;
}

main().catch(async (err: unknown) => {
  say(`bench:commands failed: ${err instanceof Error ? err.stack : String(err)}`);
  await cleanupAll(true);
  process.exit(1);
});

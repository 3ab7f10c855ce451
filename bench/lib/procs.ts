/**
 * Child processes and temp dirs for the benchmark, registered so that every
 * one of them is stopped / removed at the end, also when a mode fails or the
 * run is interrupted (Ctrl-C).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or signal name) when the process has exited. */
  exited: Promise<number | string>;
  /** Last lines of stdout+stderr, for error reports. */
  tail(): string;
  /** Resolves when a line matching `re` appears on stdout or stderr. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<number | string>;
}

const children = new Set<Child>();
const tempDirs = new Set<string>();
const hooks = new Set<() => Promise<void>>();

/**
 * Registers async cleanup work (drop a database, stop a server) that
 * `cleanupAll` runs after stopping the children, e.g. on Ctrl-C. Returns a
 * function that runs the hook now (once) and unregisters it.
 */
export function registerCleanup(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const run = () => {
    hooks.delete(run);
    done ??= fn();
    return done;
  };
  hooks.add(run);
  return run;
}

/** Set once cleanup has begun (Ctrl-C): nothing new may be started after it. */
let shuttingDown = false;

function refuseIfShuttingDown(what: string): void {
  if (shuttingDown) throw new Error(`not starting ${what}: the benchmark is shutting down`);
}

export function makeTempDir(prefix: string): string {
  refuseIfShuttingDown(prefix);
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function startChild(name: string, cmd: string, args: string[], opts: SpawnOptions): Child {
  refuseIfShuttingDown(name);
  const proc = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const lines: string[] = [];
  const watchers: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString('utf8').split('\n')) {
      if (line.length === 0) continue;
      lines.push(line);
      if (lines.length > 60) lines.shift();
      for (let i = watchers.length - 1; i >= 0; i--) {
        if (watchers[i].re.test(line)) {
          watchers[i].resolve(line);
          watchers.splice(i, 1);
        }
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    proc.on('error', (err) => {
      lines.push(`spawn error: ${err.message}`);
      resolve('spawn-error');
    });
  });
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    exited,
    tail: () => lines.join('\n'),
    waitForLine: (re, timeoutMs) =>
      new Promise((resolve, reject) => {
        const hit = lines.find((l) => re.test(l));
        if (hit) return resolve(hit);
        const t = setTimeout(() => reject(new Error(`${name}: no line matching ${re} within ${timeoutMs} ms.\n${child.tail()}`)), timeoutMs);
        watchers.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        void exited.then((code) => {
          clearTimeout(t);
          reject(new Error(`${name} exited (${code}) before printing ${re}.\n${child.tail()}`));
        });
      }),
    stop: async (graceMs = 35_000) => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      children.delete(child);
      return exited;
    },
  };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/**
 * Stops every child still running, runs the cleanup hooks and removes every
 * temp dir. With `final`, nothing can be started afterwards. Safe to call twice.
 */
/**
 * Ctrl-C / SIGTERM for a bench entry point: the first signal removes child
 * processes, temp dirs and databases and exits 130; a second kills the
 * children at once. Long loops read `interrupted` to stop early.
 */
export function handleInterrupts(say: (line: string) => void): { readonly interrupted: boolean } {
  const state = { interrupted: false };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (state.interrupted) {
        killAllNow();
        process.exit(130);
      }
      state.interrupted = true;
      say(`\n${sig}: stopping child processes and removing temp dirs…`);
      cleanupAll(true).finally(() => process.exit(130));
    });
  }
  process.on('exit', () => killAllNow());
  return state;
}

export async function cleanupAll(final = false): Promise<void> {
  if (final) shuttingDown = true;
  await Promise.all([...children].map((c) => c.stop(5_000).catch(() => undefined)));
  // Most recent first: a database is dropped before its server stops.
  for (const h of [...hooks].reverse()) await h().catch(() => undefined);
  for (const d of [...tempDirs]) removeTempDir(d);
}

/** Last-resort cleanup when the process is exiting without the async path. */
export function killAllNow(): void {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}

export { freePort } from '../../test/helpers/net.js';

export async function waitForPort(port: number, host: string, timeoutMs: number, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child && child.proc.exitCode !== null) throw new Error(`${child.name} exited before listening on ${port}.\n${child.tail()}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms${child ? `\n${child.tail()}` : ''}`);
    await sleep(100);
  }
}

/** Polls GET url until it answers 200. */
export async function waitForHttp200(url: string, timeoutMs: number, child?: Child): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      last = `${r.status} ${await r.text()}`;
      if (r.status === 200) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (child && child.proc.exitCode !== null) throw new Error(`${child.name} exited before ${url} answered 200.\n${child.tail()}`);
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})${child ? `\n${child.tail()}` : ''}`);
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status, in bytes; undefined when unavailable. */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user+system) a process has used so far, from /proc/<pid>/stat; undefined when unavailable. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" closing the command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Samples VmRSS every `everyMs` and keeps the maximum; `stop()` also folds in VmHWM. */
export class RssSampler {
  private max = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, everyMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    const v = procStatusBytes(this.pid, 'VmRSS');
    if (v !== undefined && v > this.max) this.max = v;
  }

  /** Peak RSS in bytes (max of the samples and of VmHWM), or undefined when /proc is unavailable. */
  stop(): number | undefined {
    clearInterval(this.timer);
    this.sample();
    const hwm = procStatusBytes(this.pid, 'VmHWM');
    const peak = Math.max(this.max, hwm ?? 0);
    return peak > 0 ? peak : undefined;
  }
}

/** Jiffies of the whole machine from /proc/stat: busy (not idle/iowait) and total; undefined when unavailable. */
export function machineCpuTicks(): { busy: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = f[3] + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

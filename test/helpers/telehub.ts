/**
 * Runs telehub as a child process, as a user would (`telehub start`), for
 * end-to-end and chaos tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './net.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');


/**
 * Runs the `telehub` command (e.g. `tokens create --name x`) with only the
 * given environment and PATH; resolves with its trimmed stdout.
 */
export async function telehubCli(env: Record<string, string>, ...args: string[]): Promise<string> {
  const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env } });
  return r.stdout.trim();
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `telehub` command with only the given environment and PATH and
 * resolves with its exit status and both streams, whatever the status.
 */
export function runTelehubCli(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('error', reject);
    proc.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export interface TelehubProcess {
  proc: ChildProcess;
  httpPort: number;
  /** Embedded broker port (when no MQTT_URL was given). */
  mqttPort: number;
  dataDir: string;
  /** stdout and stderr interleaved (the last 200 kB). */
  output: () => string;
  /** stderr alone (the last 200 kB). */
  stderr: () => string;
  /** Resolves with the exit code when the process ends by itself. */
  exited: Promise<number | null>;
  ready(timeoutMs?: number): Promise<void>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  kill9(): Promise<void>;
  cleanup(): void;
}

/**
 * Starts `telehub start` with the given environment on free ports (or on
 * TELEHUB_HTTP_PORT / TELEHUB_MQTT_PORT when given). A data
 * directory is created unless TELEHUB_DATA_DIR is given (pass the same one
 * to a restarted process to keep its SQLite store). `args` follow `start`
 * (e.g. `--demo`).
 */
export async function startTelehubProcess(env: Record<string, string> = {}, args: string[] = []): Promise<TelehubProcess> {
  // Given ports are kept (a restarted process where clients reconnect), else free ones are picked.
  const httpPort = env.TELEHUB_HTTP_PORT ? Number(env.TELEHUB_HTTP_PORT) : await freePort();
  const mqttPort = env.TELEHUB_MQTT_PORT ? Number(env.TELEHUB_MQTT_PORT) : await freePort();
  const dataDir = env.TELEHUB_DATA_DIR ?? mkdtempSync(path.join(tmpdir(), 'telehub-e2e-'));
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    TELEHUB_HTTP_HOST: '127.0.0.1',
    TELEHUB_HTTP_PORT: String(httpPort),
    TELEHUB_MQTT_HOST: '127.0.0.1',
    TELEHUB_MQTT_PORT: String(mqttPort),
    TELEHUB_MQTT_WS_PORT: '-1',
    TELEHUB_LOG_LEVEL: 'info',
    TELEHUB_DATA_DIR: dataDir,
    ...env,
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), 'start', ...args], {
    cwd: root,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out = (out + d).slice(-200_000)));
  proc.stderr!.on('data', (d) => {
    out = (out + d).slice(-200_000);
    err = (err + d).slice(-200_000);
  });
  const exited = once(proc, 'exit');
  // 'exit' can come before the last output is read; 'close' waits for the pipes.
  const closed = once(proc, 'close').then(() => proc.exitCode);

  const ready = async (timeoutMs = 30_000) => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (proc.exitCode !== null) throw new Error(`telehub exited with ${proc.exitCode}:\n${out}`);
      try {
        const r = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`telehub not ready after ${timeoutMs} ms:\n${out}`);
  };

  return {
    proc,
    httpPort,
    mqttPort,
    dataDir,
    output: () => out,
    stderr: () => err,
    exited: closed,
    ready,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 40_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`telehub did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs);
      });
      try {
        const [code] = await Promise.race([exited, timeout]);
        return code as number | null;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
    cleanup() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      if (!env.TELEHUB_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

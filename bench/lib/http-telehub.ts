/**
 * telehub as the HTTP bench runs it, the way bench/run.ts does: compiled
 * (`dist/cli/main.js`, built by the caller), a clean environment, free ports,
 * `/readyz` polled until 200. One process per store and workload, on a fresh
 * SQLite data dir or a fresh PostgreSQL database, so each workload's rows and
 * peak RSS are its own.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { SETTINGS } from '../../src/core/settings.js';
import { freePort, makeTempDir, removeTempDir, startChild, waitForHttp200, type Child } from './procs.js';
import { pgCounts, type Database as PgDatabase } from './services.js';
import { startNodeFlags } from './start-args.js';

export type HttpStore = 'sqlite' | 'postgres';

/** The bench's environment without anything telehub would read as a setting (as run.ts's cleanEnv). */
export function cleanTelehubEnv(): NodeJS.ProcessEnv {
  const known = new Set(SETTINGS.map((s) => s.env));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (known.has(k) || k.startsWith('TELEHUB_') || k.startsWith('NAIVE_')) continue;
    env[k] = v;
  }
  return env;
}

export interface HttpTelehubOptions {
  repoRoot: string;
  store: HttpStore;
  /** Fresh database for the PostgreSQL store. */
  pg?: PgDatabase;
  /** TELEHUB_* settings the bench overrides (BENCH_BATCH_MAX …); the rest stay at telehub's defaults. */
  settings: Record<string, string>;
  nodeArgs: string[];
  /** Run under --cpu-prof, writing into this directory (emptied first). */
  cpuProfDir?: string;
  name: string;
}

export interface HttpTelehub {
  child: Child;
  baseUrl: string;
  token: string;
  /** SIGTERM; returns problems (a non-zero exit). */
  stop(): Promise<string[]>;
  /** Rows in events and deadletters; for SQLite only after stop(). */
  counts(): Promise<{ events: number; deadLetters: number }>;
  /** Removes the data dir (the database is the caller's). */
  dispose(): Promise<void>;
}

export async function startHttpTelehub(o: HttpTelehubOptions): Promise<HttpTelehub> {
  const dataDir = makeTempDir(`telehub-bench-http-${o.store}-`);
  let child: Child | undefined;
  try {
    const [httpPort, mqttPort, wsPort] = [await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...cleanTelehubEnv(),
      ...o.settings,
      TELEHUB_LOG_LEVEL: 'warn',
      TELEHUB_HTTP_HOST: '127.0.0.1',
      TELEHUB_MQTT_HOST: '127.0.0.1',
      TELEHUB_DATA_DIR: dataDir,
      TELEHUB_HTTP_PORT: String(httpPort),
      TELEHUB_MQTT_PORT: String(mqttPort),
      TELEHUB_MQTT_WS_PORT: String(wsPort),
      ...(o.pg ? { DATABASE_URL: o.pg.url } : {}),
    };
    // The token first, with the same environment: the CLI migrates the store and stores the token's hash.
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/cli/main.js', 'tokens', 'create', '--name', 'bench', '--scope', 'ingest'], { cwd: o.repoRoot, env });
    const token = stdout.trim();
    if (!/^thk_/.test(token)) throw new Error(`telehub tokens create printed no token: ${stdout}`);

    const args = [...startNodeFlags(), ...o.nodeArgs];
    if (o.cpuProfDir) {
      rmSync(o.cpuProfDir, { recursive: true, force: true });
      mkdirSync(o.cpuProfDir, { recursive: true });
      args.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`);
    }
    child = startChild(o.name, process.execPath, [...args, 'dist/cli/main.js', 'start'], { cwd: o.repoRoot, env });
    const baseUrl = `http://127.0.0.1:${httpPort}`;
    await waitForHttp200(`${baseUrl}/readyz`, 60_000, child);
    const c = child;
    return {
      child: c,
      baseUrl,
      token,
      stop: async () => {
        const code = await c.stop(35_000);
        return code === 0 ? [] : [`telehub exited with ${code} on SIGTERM.\n${c.tail()}`];
      },
      counts: async () => (o.pg ? pgCounts(o.pg.url) : sqliteCounts(path.join(dataDir, 'telehub.db'))),
      dispose: async () => {
        await c.stop(5_000);
        removeTempDir(dataDir);
      },
    };
  } catch (err) {
    await child?.stop(5_000);
    removeTempDir(dataDir);
    throw err;
  }
}

function sqliteCounts(file: string): { events: number; deadLetters: number } {
  const db = new Database(file, { readonly: true });
  try {
    return {
      events: (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n,
      deadLetters: (db.prepare('SELECT count(*) AS n FROM deadletters').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

/** The .cpuprofile files telehub wrote into `dir`. */
export function profileFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.cpuprofile'))
      .map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

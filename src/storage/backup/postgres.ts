/**
 * PostgreSQL backup and restore through the server's own tools, `pg_dump`
 * (custom format: compressed, restorable selectively) and `pg_restore`.
 * pg_dump reads one snapshot (a repeatable-read transaction) while telehub
 * keeps writing, so every transaction committed before it started, every
 * event acknowledged before then, is in the dump. They are not
 * reimplemented here: no library dumps PostgreSQL as faithfully.
 */
import { spawn } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { StoreConfig } from '../../core/config.js';
import { BackupError, backupKind } from './errors.js';
import { partialPath } from './sqlite.js';
import { open } from 'node:fs/promises';

type PgConfig = Extract<StoreConfig, { kind: 'postgres' }>;

/**
 * The libpq connection for the tools: a connection string without its
 * password (command lines are visible to every user in `ps`), and the
 * password and discrete settings as PG* environment variables.
 */
export function libpqTarget(cfg: PgConfig): { dbname: string | undefined; env: Record<string, string> } {
  const env: Record<string, string> = {};
  if (cfg.connectionString) {
    const url = new URL(cfg.connectionString);
    if (url.password) {
      env.PGPASSWORD = decodeURIComponent(url.password);
      url.password = '';
    }
    return { dbname: url.toString(), env };
  }
  if (cfg.host) env.PGHOST = cfg.host;
  if (cfg.port) env.PGPORT = String(cfg.port);
  if (cfg.database) env.PGDATABASE = cfg.database;
  if (cfg.user) env.PGUSER = cfg.user;
  if (cfg.password) env.PGPASSWORD = cfg.password;
  return { dbname: undefined, env };
}

/** Runs a PostgreSQL client tool; rejects with a BackupError naming what to do when it is missing or fails. */
function runTool(tool: 'pg_dump' | 'pg_restore', args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(tool, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
    proc.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        reject(new BackupError('unavailable', `${tool} was not found on PATH: install the PostgreSQL client tools of the server's major version or newer (Debian: apt-get install postgresql-client)`));
      } else reject(new BackupError('failed', `${tool} could not run: ${err.message}`));
    });
    proc.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const line = stderr.split('\n').find((l) => /error|fatal/i.test(l)) ?? stderr.split('\n').find((l) => l.trim() !== '') ?? '';
      reject(new BackupError('failed', `${tool} failed (${signal ?? `exit ${code}`}): ${line.trim()}`));
    });
  });
}

/** Dumps the configured database into `dest` (replaced when complete). */
export async function backupPostgres(cfg: PgConfig, dest: string): Promise<{ bytes: number }> {
  const { dbname, env } = libpqTarget(cfg);
  const partial = partialPath(path.resolve(dest));
  try {
    await runTool('pg_dump', ['--format=custom', '--file', partial, ...(dbname ? ['--dbname', dbname] : [])], env);
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  const fh = await open(dest);
  const bytes = (await fh.stat()).size;
  await fh.close();
  return { bytes };
}

/** How many events the target database holds, or undefined when it has no telehub schema. */
async function existingStore(cfg: PgConfig): Promise<number | undefined> {
  const client = new pg.Client(cfg.connectionString ? { connectionString: cfg.connectionString } : { host: cfg.host, port: cfg.port, database: cfg.database, user: cfg.user, password: cfg.password });
  await client.connect();
  try {
    const { rows } = await client.query<{ m: string | null }>("SELECT to_regclass('telehub_migrations')::text AS m");
    if (rows[0].m === null) return undefined;
    const ev = await client.query<{ n: string }>("SELECT CASE WHEN to_regclass('events') IS NULL THEN 0 ELSE (SELECT COUNT(*) FROM events) END AS n");
    return Number(ev.rows[0].n);
  } finally {
    await client.end();
  }
}

/**
 * Restores the pg_dump archive `file` into the configured database, in one
 * transaction (all or nothing). Refuses when the database already holds a
 * telehub store, unless `force`: then the store's objects are dropped and
 * recreated from the archive (`pg_restore --clean --if-exists`).
 */
export async function restorePostgres(cfg: PgConfig, file: string, force: boolean): Promise<void> {
  const fh = await open(file).catch((err: NodeJS.ErrnoException) => {
    throw new BackupError('data', `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  const head = Buffer.alloc(16);
  await fh.read(head, 0, 16, 0);
  await fh.close();
  const kind = backupKind(head);
  if (kind === 'sqlite') throw new BackupError('data', `${file} is a SQLite backup: restore it with the SQLite store configured (no DATABASE_URL, TELEHUB_STORE=sqlite)`);
  if (kind !== 'postgres') throw new BackupError('data', `${file} is not a telehub backup (neither a pg_dump archive nor a SQLite database)`);
  const events = await existingStore(cfg);
  if (events !== undefined && !force) {
    throw new BackupError('data', `the database already holds a telehub store (${events} events): give --force to replace it, or restore into a new empty database`);
  }
  const { dbname, env } = libpqTarget(cfg);
  await runTool(
    'pg_restore',
    ['--dbname', dbname ?? cfg.database, '--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', ...(force ? ['--clean', '--if-exists'] : []), file],
    env,
  );
}

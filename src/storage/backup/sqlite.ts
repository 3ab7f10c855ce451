/**
 * SQLite backup and restore through SQLite's online backup API
 * (better-sqlite3 `db.backup()`), safe while telehub runs.
 *
 * The backup copies every page in ONE step after the first: one step is one
 * read transaction, so the copy is the snapshot of the database at that
 * moment (WAL mode lets telehub keep writing meanwhile), and writes by
 * telehub's connections cannot make it restart, as they restart a backup
 * copied in small steps. Every transaction committed before the backup
 * started is in it, so every event acknowledged before then is.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BackupError, backupKind } from './errors.js';

/** Pages per step after the first: everything that is left, in one snapshot. */
const ALL_PAGES = 0x7fffffff;

/** Where a file is written until complete: beside it, so the rename is atomic. */
export function partialPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
}

/** Checks a finished copy: the engine's quick check and telehub's migrations table. */
function verifyCopy(file: string): { events: number; migration: number } {
  const db = new Database(file, { fileMustExist: true });
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new BackupError('data', `${file} fails SQLite's quick_check: ${String(check)}`);
    const hasSchema = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'telehub_migrations'").get();
    if (!hasSchema) throw new BackupError('data', `${file} is a SQLite database but not a telehub store (no telehub_migrations table)`);
    const migration = (db.prepare('SELECT MAX(version) AS v FROM telehub_migrations').get() as { v: number | null }).v ?? 0;
    const events = (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    return { events, migration };
  } finally {
    db.close();
  }
}

export interface SqliteBackupResult {
  /** Events in the backup. */
  events: number;
  bytes: number;
}

/** Copies the store at `dbFile` into `dest` (replaced when complete), while telehub may be writing. */
export async function backupSqlite(dbFile: string, dest: string): Promise<SqliteBackupResult> {
  if (!existsSync(dbFile)) throw new BackupError('config', `no SQLite store at ${dbFile} (TELEHUB_DATA_DIR names its folder)`);
  const partial = partialPath(path.resolve(dest));
  const src = new Database(dbFile, { fileMustExist: true });
  try {
    src.pragma('busy_timeout = 10000');
    await src.backup(partial, { progress: () => ALL_PAGES });
  } catch (err) {
    await rm(partial, { force: true });
    throw new BackupError('failed', `the backup of ${dbFile} failed: ${(err as Error).message}`);
  } finally {
    src.close();
  }
  try {
    // The copy keeps the source's WAL flag; a backup is one self-contained file.
    const copy = new Database(partial);
    copy.pragma('journal_mode = DELETE');
    copy.close();
    const { events } = verifyCopy(partial);
    await rename(partial, dest);
    const fh = await open(dest);
    const bytes = (await fh.stat()).size;
    await fh.close();
    return { events, bytes };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await open(file).catch((err: NodeJS.ErrnoException) => {
    throw new BackupError('data', `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  try {
    const head = Buffer.alloc(16);
    await fh.read(head, 0, 16, 0);
    return head;
  } finally {
    await fh.close();
  }
}

/** Refuses a file that is not a SQLite backup, naming what it is instead. */
export async function checkSqliteBackupFile(file: string): Promise<void> {
  const kind = backupKind(await readHead(file));
  if (kind === 'postgres') throw new BackupError('data', `${file} is a PostgreSQL backup (pg_dump archive): restore it with the PostgreSQL store configured (DATABASE_URL)`);
  if (kind !== 'sqlite') throw new BackupError('data', `${file} is not a telehub backup (neither a SQLite database nor a pg_dump archive)`);
}

/**
 * Replaces the store at `dbFile` with the backup `file`. Refuses when the
 * target already holds a telehub store, unless `force`; and when telehub (or
 * anything else) has the store open: leaving WAL mode needs every other
 * connection closed, which also folds the WAL in, so replacing the file
 * cannot mix the old WAL into the restored database.
 */
export async function restoreSqlite(file: string, dbFile: string, force: boolean): Promise<{ events: number }> {
  await checkSqliteBackupFile(file);
  const { events } = verifyCopy(file);
  if (existsSync(dbFile)) {
    const target = new Database(dbFile, { fileMustExist: true });
    try {
      target.pragma('busy_timeout = 1000');
      const inUse = () => new BackupError('data', `the store ${dbFile} is in use: stop telehub before restoring`);
      let mode: unknown;
      try {
        mode = target.pragma('journal_mode = DELETE', { simple: true });
      } catch {
        throw inUse();
      }
      if (mode !== 'delete') throw inUse();
      const hasSchema = target.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'telehub_migrations'").get();
      if (hasSchema && !force) {
        const n = (target.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
        throw new BackupError('data', `${dbFile} already holds a telehub store (${n} events): give --force to replace it, or restore into an empty TELEHUB_DATA_DIR`);
      }
    } finally {
      target.close();
    }
  }
  await mkdir(path.dirname(dbFile), { recursive: true });
  const partial = partialPath(dbFile);
  const src = new Database(file, { readonly: true, fileMustExist: true });
  try {
    await src.backup(partial, { progress: () => ALL_PAGES });
  } catch (err) {
    await rm(partial, { force: true });
    throw new BackupError('failed', `restoring ${file} failed: ${(err as Error).message}`);
  } finally {
    src.close();
  }
  await rm(`${dbFile}-wal`, { force: true });
  await rm(`${dbFile}-shm`, { force: true });
  await rename(partial, dbFile);
  return { events };
}

/**
 * `telehub restore <file>`: puts a backup made by `telehub backup` back as
 * the configured store (SQLite: replaces the database file; PostgreSQL:
 * pg_restore into the configured database). telehub must be stopped.
 */
import type { Command } from '../command.js';
import { EXIT } from '../errors.js';
import { asCliErrors } from './backup-errors.js';

export const restore: Command = {
  name: 'restore',
  summary: 'Restore a backup made by `telehub backup` into the configured store (telehub stopped).',
  description:
    'The backup must be of the configured kind: a SQLite backup with the SQLite store, a pg_dump archive with PostgreSQL (exit 65 otherwise, naming which it is). ' +
    'Refuses (exit 65) when the target already holds a telehub store, unless --force. SQLite: refuses while the store is open (stop telehub first); the database file is replaced whole. ' +
    'PostgreSQL: pg_restore into the configured database in one transaction (pg_restore on PATH; exit 69 when missing); best into a new empty database (createdb). ' +
    'Start telehub afterwards: it applies any newer migrations.',
  options: {
    force: { type: 'boolean', description: 'Replace a store that already holds data (SQLite: the file; PostgreSQL: pg_restore --clean --if-exists).' },
  },
  arguments: [{ name: 'FILE', description: 'A backup written by telehub backup.', required: true }],
  examples: ['telehub restore /backups/telehub-2026-11-30.db', 'DATABASE_URL=postgres://telehub@db/telehub_restored telehub restore /backups/telehub.pgdump'],
  async run(ctx) {
    const [file] = ctx.positionals;
    const force = ctx.values.force === true;
    const config = ctx.loadConfig();
    const store = config.store;
    if (store.kind === 'sqlite') {
      const { restoreSqlite } = await import('../../storage/backup/sqlite.js');
      const r = await asCliErrors(() => restoreSqlite(file, store.file, force));
      ctx.err(`Restored ${file} (${r.events} events) into ${store.file}\n`);
    } else {
      const { restorePostgres } = await import('../../storage/backup/postgres.js');
      await asCliErrors(() => restorePostgres(store, file, force));
      ctx.err(`Restored ${file} into PostgreSQL database ${store.connectionString ? new URL(store.connectionString).pathname.slice(1) : store.database}\n`);
    }
    return EXIT.ok;
  },
};

/**
 * `telehub backup <file>`: a consistent copy of the store while telehub
 * runs: SQLite through its online backup API, PostgreSQL through pg_dump
 * (src/storage/backup; steps in docs/data-lifecycle.md).
 */
import type { Command } from '../command.js';
import { EXIT } from '../errors.js';
import { asCliErrors } from './backup-errors.js';

export const backup: Command = {
  name: 'backup',
  summary: 'Write a consistent backup of the store to a file, while telehub runs.',
  description:
    'SQLite: a copy of the database file through SQLite\'s online backup API, taken in one read snapshot, checked with quick_check. ' +
    'PostgreSQL: pg_dump --format=custom of the configured database (pg_dump must be on PATH, of the server\'s major version or newer; exit 69 when missing). ' +
    'The backup holds every event committed (so every event acknowledged) before the command started. The file appears only when complete. ' +
    'Restore with `telehub restore FILE` (docs/data-lifecycle.md).',
  arguments: [{ name: 'FILE', description: 'Where to write the backup (replaced when the backup completes).', required: true }],
  examples: ['telehub backup /backups/telehub-2026-11-30.db', 'DATABASE_URL=postgres://telehub@db/telehub telehub backup /backups/telehub.pgdump'],
  async run(ctx) {
    const [file] = ctx.positionals;
    const config = ctx.loadConfig();
    const store = config.store;
    if (store.kind === 'sqlite') {
      const { backupSqlite } = await import('../../storage/backup/sqlite.js');
      const r = await asCliErrors(() => backupSqlite(store.file, file));
      ctx.err(`Backed up ${store.file} (${r.events} events, ${r.bytes} bytes) to ${file}\n`);
    } else {
      const { backupPostgres } = await import('../../storage/backup/postgres.js');
      const r = await asCliErrors(() => backupPostgres(store, file));
      ctx.err(`Backed up PostgreSQL database ${store.connectionString ? new URL(store.connectionString).pathname.slice(1) : store.database} (${r.bytes} bytes, pg_dump custom format) to ${file}\n`);
    }
    return EXIT.ok;
  },
};

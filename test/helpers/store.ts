/**
 * A fresh, migrated store for tests that run against both stores: SQLite in
 * a temporary folder, or a throw-away PostgreSQL database (test/helpers/postgres.ts).
 * `cleanup` closes it and removes the folder or drops the database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresStore } from '../../src/storage/postgres/index.js';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import type { Store } from '../../src/storage/store.js';
import { testDatabase } from './postgres.js';

export async function openTestStore(kind: 'sqlite' | 'postgres', name: string, poolSize = 4): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), `telehub-${name}-`));
    const store = new SqliteStore(path.join(dir, 'telehub.db'));
    await store.migrate();
    return { store, cleanup: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
  }
  const db = await testDatabase();
  const store = new PostgresStore({ connectionString: db.url, poolSize });
  await store.migrate();
  return { store, cleanup: async () => (await store.close(), await db.drop()) };
}

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { storeConformance } from '../conformance.js';
import type { Store } from '../store.js';
import { SqliteStore } from './index.js';

function tempStore(): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-sqlite-'));
  return { dir, file: path.join(dir, 'telehub.db') };
}

storeConformance('sqlite', async () => {
  const { dir, file } = tempStore();
  const opened: Store[] = [];
  const open = () => {
    const s = new SqliteStore(file);
    opened.push(s);
    return s;
  };
  return {
    store: open(),
    // A second SqliteStore on the same file is a second connection, as a second process would have.
    reopen: async () => open(),
    sql: async (text) => {
      const db = new Database(file);
      try {
        db.exec(text);
      } finally {
        db.close();
      }
    },
    query: async (text) => {
      const db = new Database(file, { readonly: true });
      try {
        return db.prepare(text).all() as Array<Record<string, unknown>>;
      } finally {
        db.close();
      }
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}, { hasServer: false });

// The connection is private; tests reach it to check what the store configured.
const dbOf = (s: SqliteStore) => (s as unknown as { db: Database.Database }).db;

describe('sqlite store specifics', () => {
  it('fsyncs every commit: synchronous=FULL with a WAL journal, on the connection that commits', async () => {
    const { dir, file } = tempStore();
    const s = new SqliteStore(file);
    try {
      await s.migrate();
      // Batches commit on the writer thread's own connection: ask that one, after it has committed.
      assert.deepEqual((await s.writeBatch({ events: [event('x')], deadLetters: [] })).statuses, ['stored']);
      assert.deepEqual(await s.writerPragmas(), { synchronous: 2, journalMode: 'wal' });
      // Migrations, tokens and the CLI write on the main connection.
      assert.equal(dbOf(s).pragma('synchronous', { simple: true }), 2);
      assert.equal(dbOf(s).pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('classifies SQLITE_BUSY as retriable and SQLITE_CONSTRAINT as permanent', async () => {
    const { dir, file } = tempStore();
    const s = new SqliteStore(file);
    const other = new SqliteStore(file);
    try {
      await s.migrate();
      await other.migrate();
      // A real SQLITE_BUSY: another connection holds the write lock and we do not wait for it.
      dbOf(other).exec('BEGIN IMMEDIATE');
      dbOf(s).pragma('busy_timeout = 0');
      const busy = await s.writeBatch({ events: [event('x')], deadLetters: [] }).then(
        () => assert.fail('write should have been refused while locked'),
        (err: unknown) => err,
      );
      assert.match(String((busy as { code?: string }).code), /^SQLITE_BUSY/);
      assert.equal(s.isRetriable(busy), true);
      dbOf(other).exec('ROLLBACK');

      const constraint = await s.writeBatch({ events: [event('y', null as unknown as string)], deadLetters: [] }).then(
        () => assert.fail('NULL event_type should have been refused'),
        (err: unknown) => err,
      );
      assert.match(String((constraint as { code?: string }).code), /^SQLITE_CONSTRAINT/);
      assert.equal(s.isRetriable(constraint), false);

      for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_IOERR_FSYNC', 'SQLITE_FULL']) {
        assert.equal(s.isRetriable(Object.assign(new Error(code), { code })), true, code);
      }
      for (const e of [Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }), new Error('no code'), null, 'str']) {
        assert.equal(s.isRetriable(e), false, String(e));
      }
    } finally {
      await s.close();
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function event(id: string, eventType = 'temperature') {
  return { eventId: id, deviceId: 'd', schema: 1, eventType, valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer: Date.now(), meta: '{}' };
}

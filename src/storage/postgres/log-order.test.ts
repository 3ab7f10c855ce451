/**
 * Design §4: a sequence column is not a commit order in PostgreSQL. These
 * tests reproduce the hazard (a transaction holding a lower number commits
 * after one holding a higher number) and show that telehub's write path does
 * not let a reader of the log skip an entry because of it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import type { TelemetryEvent } from '../../core/event.js';
import { stopTestPostgres, testDatabase } from '../../../test/helpers/postgres.js';
import { PostgresStore } from './index.js';

after(() => stopTestPostgres());

const ev = (id: string, deviceId: string): TelemetryEvent => ({
  eventId: id, deviceId, schema: 1, eventType: 't', valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer: Date.now(), meta: '{}',
});

/** Resolves once `n` sessions are waiting for a lock (what the test arranged), polling pg_stat_activity. */
async function lockWaiters(c: pg.Client, n: number): Promise<void> {
  for (;;) {
    const { rows } = await c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows[0].n >= n) return;
    await new Promise((r) => setImmediate(r));
  }
}

describe('commit log order in PostgreSQL', () => {
  it('the hazard exists: with a bare sequence, a reader that moves past the highest number it sees skips an entry', async () => {
    const db = await testDatabase();
    const store = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    try {
      await store.migrate();
      const a = new pg.Client({ connectionString: db.url });
      const b = new pg.Client({ connectionString: db.url });
      await a.connect();
      await b.connect();
      try {
        // Plain INSERTs take their seq from the column default, without telehub's log lock.
        const insert = (c: pg.Client, id: string) =>
          c.query<{ seq: string }>("INSERT INTO events (event_id, device_id, schema, event_type) VALUES ($1, 'd', 1, 't') RETURNING seq", [id]);
        await a.query('BEGIN');
        const seqA = Number((await insert(a, 'low')).rows[0].seq);
        await b.query('BEGIN');
        const seqB = Number((await insert(b, 'high')).rows[0].seq);
        await b.query('COMMIT');
        assert.ok(seqA < seqB);
        const first = await store.log.read(0, 100);
        assert.deepEqual(first.map((e) => e.seq), [seqB], 'the reader sees only the higher number');
        await a.query('COMMIT');
        // Moving the checkpoint to what it saw, the reader has lost seqA for ever.
        assert.deepEqual(await store.log.read(seqB, 100), []);
        assert.deepEqual((await store.log.read(0, 100)).map((e) => e.seq), [seqA, seqB]);
      } finally {
        await a.end();
        await b.end();
      }
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it('telehub writes cannot commit a lower number after a higher one: a reader polling in between skips nothing', async () => {
    const db = await testDatabase();
    const writerA = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    const writerB = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    const reader = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    try {
      await writerA.migrate();
      await writerB.migrate();
      await writerA.writeBatch({ events: [ev('seed', 'dev-a')], deadLetters: [] });
      const blocker = new pg.Client({ connectionString: db.url });
      const watcher = new pg.Client({ connectionString: db.url });
      await blocker.connect();
      await watcher.connect();
      try {
        // Hold dev-a's devices row: writer A's statement takes its log numbers,
        // then waits on this row lock before it can commit (the "slow
        // transaction with the lower number" of the hazard).
        await blocker.query('BEGIN');
        await blocker.query("SELECT * FROM devices WHERE device_id = 'dev-a' FOR UPDATE");
        const a = writerA.writeBatch({ events: [ev('a1', 'dev-a'), ev('a2', 'dev-a')], deadLetters: [] });
        await lockWaiters(watcher, 1);
        // Writer B (another "process") touches other devices only; with a bare
        // sequence it would take higher numbers and commit first.
        let bDone = false;
        const b = writerB.writeBatch({ events: [ev('b1', 'dev-b')], deadLetters: [] }).then((r) => {
          bDone = true;
          return r;
        });
        await lockWaiters(watcher, 2);
        // A reader polling now sees only what is final.
        let cursor = 0;
        const seen: string[] = [];
        const poll = async () => {
          for (const e of await reader.log.read(cursor, 100)) {
            assert.equal(e.kind, 'event');
            if (e.kind === 'event') seen.push(e.event.eventId);
            cursor = e.seq;
          }
        };
        await poll();
        assert.deepEqual(seen, ['seed']);
        assert.equal(bDone, false, 'writer B committed while A held lower numbers');
        await blocker.query('COMMIT');
        await a;
        await b;
        await poll();
        assert.deepEqual(seen, ['seed', 'a1', 'a2', 'b1']);
        const all = await reader.log.read(0, 100);
        assert.ok(all.every((e, i) => i === 0 || e.seq > all[i - 1].seq));
      } finally {
        await blocker.end();
        await watcher.end();
      }
    } finally {
      await writerA.close();
      await writerB.close();
      await reader.close();
      await db.drop();
    }
  });
});

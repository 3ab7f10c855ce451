/**
 * The SQLite reader thread: queries run off the event loop, BLOBs come back
 * as Buffers, writes committed by the writer thread are visible at once, and
 * a reader that dies fails its queries with a retriable code, then recovers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from './index.js';
import { foldSeries, sameThreadReader, ThreadReader, type SqlReader } from './reader.js';

const dir = mkdtempSync(path.join(tmpdir(), 'telehub-reader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// About a second of pure SQLite work on this machine.
const SLOW = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) SELECT count(*) AS n FROM c';

/** How many event-loop turns pass while `reader` runs the slow query. */
async function turnsDuring(reader: SqlReader): Promise<number> {
  let turns = 0;
  let done = false;
  const spin = () => {
    if (done) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const rows = await reader.all(SLOW, []);
  done = true;
  assert.deepEqual(rows, [{ n: 2_000_000 }]);
  return turns;
}

describe('SQLite reader thread', () => {
  it('runs queries off the event loop (the same query on the calling thread blocks it)', async () => {
    const store = new SqliteStore(path.join(dir, 'loop.db'));
    await store.migrate();
    const thread = new ThreadReader(store.file);
    const db = (store as unknown as { db: import('better-sqlite3').Database }).db;
    const same = sameThreadReader(() => db);
    try {
      const blocked = await turnsDuring(same);
      const free = await turnsDuring(thread);
      assert.ok(blocked <= 1, `on the calling thread the loop stalls (${blocked} turns)`);
      assert.ok(free > 20, `on the reader thread the loop keeps turning (${free} turns)`);
    } finally {
      await thread.close();
      await store.close();
    }
  });

  it('sees committed batches at once and returns BLOBs as Buffers', async () => {
    const store = new SqliteStore(path.join(dir, 'rw.db'));
    await store.migrate();
    try {
      const payload = Buffer.from([0xff, 0x00, 0x7b]);
      await store.writeBatch({
        events: [{ eventId: 'r1', deviceId: 'd1', schema: 1, eventType: 't', valueNum: 1, valueText: null, unit: null, tsDevice: 1000, tsServer: 2000, meta: '{}' }],
        deadLetters: [{ reason: 'invalid_json', message: 'm', topic: 'qs/v1/d1/events', deviceId: 'd1', payload, receivedAt: 3000, source: 'mqtt' }],
      });
      const events = await store.queries.events({ limit: 10 });
      assert.deepEqual(events.map((e) => e.eventId), ['r1']);
      const [dl] = await store.queries.deadLetters({ limit: 10 });
      assert.ok(Buffer.isBuffer(dl.payload));
      assert.ok(dl.payload.equals(payload));
      assert.deepEqual(await store.queries.devices(), [{ deviceId: 'd1', firstSeen: 2000, lastSeen: 2000, events: 1 }]);
    } finally {
      await store.close();
    }
  });

  it('a reader that dies fails its query with a retriable code and the next query starts a new one', async () => {
    const store = new SqliteStore(path.join(dir, 'die.db'));
    await store.migrate();
    const reader = new ThreadReader(store.file);
    try {
      assert.deepEqual(await reader.all('SELECT 1 AS x', []), [{ x: 1 }]);
      const worker = (reader as unknown as { worker: import('node:worker_threads').Worker }).worker;
      const pending = reader.all(SLOW, []);
      await worker.terminate();
      await assert.rejects(pending, (err: { code?: string }) => store.isRetriable(err) && err.code === 'SQLITE_IOERR_READER_THREAD');
      assert.deepEqual(await reader.all('SELECT 2 AS x', []), [{ x: 2 }]);
    } finally {
      await reader.close();
      await store.close();
    }
  });

  it('foldSeries: buckets with count, avg, min, max, first and last in one pass', () => {
    const rows: Array<[number, number]> = [[1000, 5], [1500, 1], [1999, 3], [2000, 10], [4100, -2]];
    assert.deepEqual(foldSeries(rows, 1000), [
      { bucket: 1000, count: 3, avg: 3, min: 1, max: 5, first: 5, last: 3 },
      { bucket: 2000, count: 1, avg: 10, min: 10, max: 10, first: 10, last: 10 },
      { bucket: 4000, count: 1, avg: -2, min: -2, max: -2, first: -2, last: -2 },
    ]);
    assert.deepEqual(foldSeries([], 1000), []);
  });
});

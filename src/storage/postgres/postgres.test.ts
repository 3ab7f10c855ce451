import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { stopTestPostgres, testDatabase, withPgClient } from '../../../test/helpers/postgres.js';
import { storeConformance } from '../conformance.js';
import type { Store } from '../store.js';
import { isRetriablePgError, PostgresStore } from './index.js';

after(() => stopTestPostgres());

storeConformance('postgres', async () => {
  const db = await testDatabase();
  const opened: Store[] = [];
  const open = () => {
    const s = new PostgresStore({ connectionString: db.url, poolSize: 4 });
    opened.push(s);
    return s;
  };
  return {
    store: open(),
    reopen: async () => open(),
    restart: db.restart,
    sql: (text) => withPgClient(db.url, async (c) => void (await c.query(text))),
    query: (text) => withPgClient(db.url, async (c) => (await c.query(text)).rows),
    cleanup: async () => {
      for (const s of opened) await s.close();
      await db.drop();
    },
  };
});

/** Shaped like pg's DatabaseError: a message and a SQLSTATE in `code`. */
const sqlstate = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code, severity: 'ERROR' });
const syscall = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, errno: -1, syscall: 'connect' });

describe('isRetriablePgError', () => {
  it('retries connection, resource, operator, system and lock-conflict failures', () => {
    for (const code of ['08000', '08003', '08006', '08001', '08004', '53100', '53200', '53300', '57P01', '57P02', '57P03', '57014', '58000', '58030', '40001', '40P01', '55P03', '25006', '55000']) {
      assert.equal(isRetriablePgError(sqlstate(code)), true, code);
    }
  });

  it('retries socket-level errors and the messages node-postgres uses for a lost connection', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']) {
      assert.equal(isRetriablePgError(syscall(code)), true, code);
    }
    for (const message of [
      'Connection terminated unexpectedly',
      'Connection terminated',
      'Connection terminated due to connection timeout',
      'timeout exceeded when trying to connect',
      'Client has encountered a connection error and is not queryable',
    ]) {
      assert.equal(isRetriablePgError(new Error(message)), true, message);
    }
    // Happy-eyeballs connect failures arrive as an AggregateError of per-address errors.
    const agg = new AggregateError([syscall('ECONNREFUSED'), syscall('ECONNREFUSED')], 'connect failed');
    assert.equal(isRetriablePgError(agg), true);
    assert.equal(isRetriablePgError(new Error('wrapped', { cause: syscall('ECONNRESET') })), true);
  });

  it('does not retry data, syntax, constraint and unknown errors', () => {
    for (const code of ['22001', '22P02', '22021', '23502', '23505', '23514', '42P01', '42703', '42601', '25P02', '0A000', 'XX000', '40002']) {
      assert.equal(isRetriablePgError(sqlstate(code)), false, code);
    }
    // A SQLSTATE wins over a connection-sounding message.
    assert.equal(isRetriablePgError(Object.assign(new Error('Connection terminated'), { code: '23505' })), false);
    for (const e of [new Error('boom'), new TypeError('x is not a function'), new Error('Cannot use a pool after calling end on the pool'), null, undefined, 'ECONNRESET', 42, {}]) {
      assert.equal(isRetriablePgError(e), false, String(e));
    }
  });
});

describe('postgres store specifics', () => {
  it('turns a refused connection into a retriable error', async () => {
    const s = new PostgresStore({ host: '127.0.0.1', port: 1, database: 'x', user: 'x', password: 'x', poolSize: 1 });
    try {
      const err = await s.ping().then(() => assert.fail('ping should fail'), (e: unknown) => e);
      assert.equal(s.isRetriable(err), true, String(err));
    } finally {
      await s.close();
    }
  });
});

describe('postgres store: a reused event_id racing with another writer', () => {
  const ev = (id: string, deviceId: string) => ({ eventId: id, deviceId, schema: 1, eventType: 't', valueNum: 1, valueText: null, unit: null, tsDevice: 1_707_523_200_000, tsServer: Date.now(), meta: '{}' });

  /**
   * Another transaction inserts the id and has not committed when our
   * statement starts: ON CONFLICT (on event_ids) waits for it, and the row it commits is not
   * in our statement's snapshot. The comparison must still see that row.
   */
  async function raceAgainst(winnerDevice: string, loserDevice: string) {
    const db = await testDatabase();
    const store = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    const winner = new pg.Client({ connectionString: db.url });
    try {
      await store.migrate();
      await winner.connect();
      const { rows } = await winner.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await winner.query('BEGIN');
      // As a telehub writer does (migration 13): the id into event_ids, whose
      // key decides, then the row into the partitioned events table.
      await winner.query("INSERT INTO event_ids (event_id, received_at) VALUES ('race-1', now())");
      await winner.query(
        `INSERT INTO events (event_id, device_id, schema, event_type, value_num, unit, ts_device, ts_server, meta)
         VALUES ('race-1', $1, 1, 't', 1, NULL, to_timestamp(1707523200), now(), '{}')`,
        [winnerDevice],
      );
      const writing = store.writeBatch({ events: [ev('race-1', loserDevice), ev('race-2', loserDevice)], deadLetters: [] });
      // Wait until our statement is blocked on the winner's uncommitted row.
      await withPgClient(db.url, async (c) => {
        for (;;) {
          const blocked = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [rows[0].pid]);
          if (blocked.rows[0].n > 0) return;
        }
      });
      await winner.query('COMMIT');
      return await writing;
    } finally {
      await winner.end().catch(() => {});
      await store.close();
      await db.drop();
    }
  }

  it('reports conflict, naming the winner, when the winner was another device', async () => {
    const res = await raceAgainst('esp32-01', 'esp32-02');
    assert.deepEqual(res.statuses, ['conflict', 'stored']);
    assert.deepEqual(res.conflicts?.get(0), { storedDeviceId: 'esp32-01', differs: ['device_id'] });
  });

  it('reports duplicate when the winner had the same content', async () => {
    const res = await raceAgainst('esp32-01', 'esp32-01');
    assert.deepEqual(res.statuses, ['duplicate', 'stored']);
    assert.equal(res.conflicts, undefined);
  });
});

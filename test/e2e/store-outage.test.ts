/**
 * The store goes away and comes back: nothing is acknowledged while it is
 * down, intake pauses at TELEHUB_MAX_INFLIGHT, /readyz says so, and
 * everything resumes by itself. Also: SIGTERM mid-stream commits and
 * acknowledges what was taken, and exits 0.
 *
 * The outage is real PostgreSQL behaviour: the database stops accepting
 * connections (ALLOW_CONNECTIONS false) and telehub's sessions are terminated.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import { stopTestPostgres, testDatabase } from '../helpers/postgres.js';
import { startTelehubProcess } from '../helpers/telehub.js';
import { connectFleet, makeWorkload } from '../helpers/workload.js';

after(() => stopTestPostgres());

async function admin(url: string, sql: string): Promise<void> {
  const u = new URL(url);
  const dbName = u.pathname.slice(1);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(sql.replaceAll('$DB', `"${dbName}"`).replaceAll('$NAME', `'${dbName}'`));
  } finally {
    await c.end();
  }
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('store outage and shutdown', () => {
  it('store down: nothing acknowledged, intake capped, /readyz 503; resumes by itself', async () => {
    const db = await testDatabase();
    const hub = await startTelehubProcess({ DATABASE_URL: db.url, TELEHUB_MAX_INFLIGHT: '300', TELEHUB_BATCH_MAX: '100', TELEHUB_RETRY_MIN_MS: '50', TELEHUB_RETRY_MAX_MS: '300' });
    await hub.ready();
    const fleet = await connectFleet(`mqtt://127.0.0.1:${hub.mqttPort}`, 10);
    try {
      await admin(db.url, 'ALTER DATABASE $DB ALLOW_CONNECTIONS false');
      await admin(db.url, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $NAME');

      const lists = makeWorkload({ devices: 10, total: 2000, dupRate: 0, badRate: 0 });
      const publishing = fleet.publishAll(lists, 100, 120_000);

      // Intake fills up to the cap and stops there; readiness reports the store.
      const end = Date.now() + 30_000;
      let inflight = 0;
      while (Date.now() < end) {
        inflight = await metric(hub.httpPort, 'telehub_inflight_events');
        if (inflight >= 300) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(inflight, 300, 'intake paused exactly at TELEHUB_MAX_INFLIGHT');
      const ready = await fetch(`http://127.0.0.1:${hub.httpPort}/readyz`);
      assert.equal(ready.status, 503);
      assert.match(JSON.stringify(await ready.json()), /store/);
      assert.equal(fleet.collected.ackCount(), 0, 'nothing acknowledged while the store is down');
      // With the embedded broker the device's own PUBACK waits for the commit too.
      assert.equal(fleet.collected.pubacked.size, 0, 'no device PUBACK while the store is down');
      assert.ok((await metric(hub.httpPort, 'telehub_store_write_retries_total')) > 0, 'writes are retried');

      await admin(db.url, 'ALTER DATABASE $DB ALLOW_CONNECTIONS true');
      const { failed } = await publishing;
      assert.equal(failed, 0);
      await fleet.waitFor(() => fleet.collected.ackCount() >= 2000, 'every ACK after the store returned');
      assert.equal(fleet.collected.ackCount(), 2000);
      assert.equal((await fetch(`http://127.0.0.1:${hub.httpPort}/readyz`)).status, 200);
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      assert.equal((await c.query('SELECT count(*)::int AS n FROM events')).rows[0].n, 2000);
      await c.end();
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      await fleet.close();
      hub.cleanup();
      await admin(db.url, 'ALTER DATABASE $DB ALLOW_CONNECTIONS true').catch(() => {});
      await db.drop();
    }
  });

  it('SIGTERM mid-stream: exits 0 and every event a device got a PUBACK for is stored', async () => {
    const hub = await startTelehubProcess();
    await hub.ready();
    const fleet = await connectFleet(`mqtt://127.0.0.1:${hub.mqttPort}`, 20);
    try {
      const lists = makeWorkload({ devices: 20, total: 20_000, dupRate: 0, badRate: 0 });
      const publishing = fleet.publishAll(lists, 50, 20_000).catch(() => undefined); // the broker goes away mid-stream
      await fleet.waitFor(() => fleet.collected.ackCount() >= 2000, 'some ACKs');
      assert.equal(await hub.stop('SIGTERM'), 0, 'clean exit');
      const pubacked = new Set(fleet.collected.pubacked);
      const store = new SqliteStore(path.join(hub.dataDir, 'telehub.db'));
      await store.migrate();
      try {
        for (const id of pubacked) assert.ok(await store.getEvent(id), `PUBACKed event ${id} is stored`);
        assert.ok(pubacked.size >= 2000);
        // Every ACK message seen corresponds to a stored row.
        for (const id of fleet.collected.acks.keys()) assert.ok(await store.getEvent(id), `ACKed event ${id} is stored`);
      } finally {
        await store.close();
      }
      await fleet.close();
      void publishing;
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      hub.cleanup();
    }
  });
});

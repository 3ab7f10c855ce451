/**
 * End to end through the public interfaces: telehub runs as a child process,
 * 100 devices publish 10,000 events at QoS 1 (5% redelivered ids, 5%
 * malformed of every reason code), and every outcome is counted:
 * exact rows, one ACK per good or duplicate publish with the right status,
 * every malformed one dead-lettered (topic and table) with its code.
 *
 * Runs embedded (Aedes + SQLite) always, and Mosquitto + PostgreSQL when
 * TELEHUB_TEST_MQTT_URL is set (PostgreSQL comes from test/helpers/postgres.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import { PostgresStore } from '../../src/storage/postgres/index.js';
import type { Store } from '../../src/storage/store.js';
import { clearSession, mosquittoUrl, needsMosquitto, ownDefaultRoutes } from '../helpers/mqtt.js';
import { stopTestPostgres, testDatabase } from '../helpers/postgres.js';
import { startTelehubProcess } from '../helpers/telehub.js';
import { connectFleet, expectations, INPUT_REASON_CODES, makeWorkload } from '../helpers/workload.js';

after(() => stopTestPostgres());


async function runScenario(brokerUrl: string, store: Store, stopTelehub: () => Promise<number | null>, protocolVersion: 4 | 5) {
  const lists = makeWorkload({ devices: 100, total: 10_000, dupRate: 0.05, badRate: 0.05 });
  const exp = expectations(lists);
  assert.ok(exp.dups >= 400 && exp.bad >= 400, `workload has ~5% of each (${exp.dups} dups, ${exp.bad} bad)`);
  for (const code of INPUT_REASON_CODES) assert.ok(exp.badByReason.get(code)! > 0, `workload covers ${code}`);

  const fleet = await connectFleet(brokerUrl, 100, { protocolVersion });
  try {
    const { pubacked, failed } = await fleet.publishAll(lists);
    assert.equal(failed, 0);
    assert.equal(pubacked, 10_000);
    const expectedAcks = exp.goodIds.size + exp.dups;
    await fleet.waitFor(() => fleet.collected.ackCount() >= expectedAcks && fleet.collected.deadLetters.length >= exp.bad, 'all ACKs and dead letters');

    // Exact rows, each good id once.
    assert.equal(await store.countEvents(), exp.goodIds.size);
    // Exactly one ACK per publish of a good or duplicate event; exactly one of them 'stored'.
    for (const [id, n] of exp.publishesPerId) {
      const statuses = fleet.collected.acks.get(id) ?? [];
      assert.equal(statuses.length, n, `ACKs for ${id}: ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 'stored').length, 1, `one stored ACK for ${id}`);
    }
    assert.equal(fleet.collected.ackCount(), expectedAcks, 'no ACK beyond one per publish');
    // Every malformed one dead-lettered with its code, on the topic and in the table.
    const byReason = new Map<string, number>();
    for (const d of fleet.collected.deadLetters) byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries([...byReason].sort()), Object.fromEntries([...exp.badByReason].sort()));
    assert.equal(await store.countDeadLetters(), exp.bad);
    const utf8Dl = fleet.collected.deadLetters.find((d) => d.reason === 'invalid_utf8')!;
    assert.equal(utf8Dl.payload_encoding, 'base64');
    assert.deepEqual(Buffer.from(utf8Dl.payload, 'base64'), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    const stored = await store.listDeadLetters({ reason: 'invalid_utf8', limit: 1 });
    assert.deepEqual(stored[0].payload, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
  } finally {
    await fleet.close();
  }
  assert.equal(await stopTelehub(), 0, 'SIGTERM exits 0');
}

describe('end to end: 100 devices, 10,000 events', () => {
  it('embedded broker + SQLite', async () => {
    const hub = await startTelehubProcess();
    try {
      await hub.ready();
      const store = new SqliteStore(path.join(hub.dataDir, 'telehub.db'));
      await store.migrate();
      try {
        await runScenario(`mqtt://127.0.0.1:${hub.mqttPort}`, store, () => hub.stop(), 4);
      } finally {
        await store.close();
      }
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      hub.cleanup();
    }
  });

  it('Mosquitto + PostgreSQL', { skip: needsMosquitto }, async () => {
    const db = await testDatabase();
    const clientId = `telehub-e2e-${randomBytes(4).toString('hex')}`;
    const hub = await startTelehubProcess({ MQTT_URL: mosquittoUrl!, MQTT_CLIENT_ID: clientId, DATABASE_URL: db.url, ...ownDefaultRoutes(clientId) });
    const store = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    try {
      await hub.ready();
      await runScenario(mosquittoUrl!, store, () => hub.stop(), 5);
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      hub.cleanup();
      await store.close();
      await clearSession(mosquittoUrl!, clientId);
      await db.drop();
    }
  });
});

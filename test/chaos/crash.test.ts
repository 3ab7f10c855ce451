/**
 * Chaos: a 50,000-event QoS 1 stream from 100 devices through Mosquitto into
 * PostgreSQL, while telehub is killed with SIGKILL (and started again), or
 * while PostgreSQL restarts. Every event must end stored exactly once and
 * acknowledged at least once; none lost.
 *
 * An event committed just before the kill but not yet PUBACKed is redelivered
 * by Mosquitto to the restarted telehub and answered `duplicate`: so "at
 * least one ACK" per event, and exactly one row. event_id is the primary key,
 * so "one row" cannot be broken by the store; what a crash and its
 * redeliveries can break is checked instead: each row holds what its device
 * published, and the per-device counts (kept in the same transaction as the
 * rows) count every event once, redeliveries not at all.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { clearSession, mosquittoUrl, needsMosquitto } from '../helpers/mqtt.js';
import { skipTest } from '../helpers/skip.js';
import { stopTestPostgres, testDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startTelehubProcess, type TelehubProcess } from '../helpers/telehub.js';
import { connectFleet, expectations, makeWorkload } from '../helpers/workload.js';

after(() => stopTestPostgres());

const TOTAL = 50_000;

interface StoredState {
  /** event_id -> what the row holds. */
  rows: Map<string, { device: string; value: number | null; meta: unknown }>;
  /** device_id -> event_count of the devices table. */
  deviceCounts: Map<string, number>;
  /** device_id -> rows in events (all of them: the shared Mosquitto may carry other tests' devices too). */
  rowsPerDevice: Map<string, number>;
}

async function readStored(url: string, runPrefix: string): Promise<StoredState> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ event_id: string; device_id: string; value_num: number | null; meta: unknown }>('SELECT event_id, device_id, value_num, meta FROM events WHERE event_id LIKE $1', [`${runPrefix}-%`]);
    const d = await c.query<{ device_id: string; n: number }>('SELECT device_id, event_count::int AS n FROM devices ORDER BY device_id');
    const e = await c.query<{ device_id: string; n: number }>('SELECT device_id, count(*)::int AS n FROM events GROUP BY device_id ORDER BY device_id');
    return {
      rows: new Map(r.rows.map((x) => [x.event_id, { device: x.device_id, value: x.value_num, meta: x.meta }])),
      deviceCounts: new Map(d.rows.map((x) => [x.device_id, x.n])),
      rowsPerDevice: new Map(e.rows.map((x) => [x.device_id, x.n])),
    };
  } finally {
    await c.end();
  }
}

async function streamWithFault(db: TestDatabase, fault: (hub: { current: TelehubProcess; env: Record<string, string> }) => Promise<void>) {
  const runId = `chaos${randomBytes(3).toString('hex')}`;
  const clientId = `telehub-chaos-${runId}`;
  const env = { MQTT_URL: mosquittoUrl!, MQTT_CLIENT_ID: clientId, DATABASE_URL: db.url, TELEHUB_RETRY_MIN_MS: '50', TELEHUB_RETRY_MAX_MS: '500' };
  const hub = { current: await startTelehubProcess(env), env };
  const fleet = await connectFleet(mosquittoUrl!, 100, { protocolVersion: 5 });
  try {
    await hub.current.ready();
    const lists = makeWorkload({ devices: 100, total: TOTAL, dupRate: 0, badRate: 0, runId });
    const exp = expectations(lists);
    assert.equal(exp.goodIds.size, TOTAL);
    const publishing = fleet.publishAll(lists, 20, 300_000);

    // Mid-stream: once a fifth of the events are acknowledged, inject the fault.
    await fleet.waitFor(() => fleet.collected.ackCount() >= TOTAL / 5, 'a fifth of the ACKs', 120_000);
    const ackedAtFault = fleet.collected.ackCount();
    await fault(hub);
    assert.ok(ackedAtFault < TOTAL * 0.9, `the fault hit mid-stream (${ackedAtFault} of ${TOTAL} acknowledged)`);

    const { failed } = await publishing;
    assert.equal(failed, 0);
    await fleet.waitFor(() => [...exp.goodIds].every((id) => fleet.collected.acks.has(id)), 'an ACK for every event', 240_000);

    const { rows, deviceCounts, rowsPerDevice } = await readStored(db.url, runId);
    assert.equal(rows.size, TOTAL, 'every event stored');
    // Each row is the event its device published (not a half-written or mixed-up one).
    for (const list of lists) {
      for (const p of list) {
        const sent = JSON.parse(p.payload.toString()) as { event_id: string; device_id: string; value: number; meta: unknown };
        assert.deepEqual(rows.get(sent.event_id), { device: sent.device_id, value: sent.value, meta: sent.meta }, `row of ${sent.event_id}`);
      }
    }
    // Counted once per stored event whatever was redelivered after the kill (duplicates never count).
    assert.deepEqual(Object.fromEntries(deviceCounts), Object.fromEntries(rowsPerDevice), 'devices.event_count equals the rows of each device');
    for (const id of exp.goodIds) {
      const statuses = fleet.collected.acks.get(id)!;
      assert.ok(statuses.filter((s) => s === 'stored').length <= 1, `at most one stored ACK for ${id}`);
    }
    assert.equal(await hub.current.stop(), 0);
  } catch (err) {
    process.stderr.write(hub.current.output().slice(-5000));
    throw err;
  } finally {
    await fleet.close();
    hub.current.cleanup();
    await clearSession(mosquittoUrl!, clientId);
  }
}

describe('chaos: 50,000 QoS 1 events through Mosquitto + PostgreSQL', { skip: needsMosquitto }, () => {
  it('kill -9 telehub mid-stream and start it again: every event stored exactly once', async () => {
    const db = await testDatabase();
    try {
      await streamWithFault(db, async (hub) => {
        await hub.current.kill9();
        // Devices keep publishing; Mosquitto queues them for the persistent session.
        hub.current.cleanup();
        hub.current = await startTelehubProcess(hub.env);
        await hub.current.ready();
      });
    } finally {
      await db.drop();
    }
  });

  it('PostgreSQL restarted mid-stream: writes retry, nothing lost or doubled', async (t) => {
    const db = await testDatabase();
    try {
      if (!db.restart) {
        skipTest(t, 'restarting PostgreSQL needs TELEHUB_TEST_PG_RESTART_CMD when TELEHUB_TEST_DATABASE_URL is set');
        return;
      }
      await streamWithFault(db, async () => {
        await db.restart!();
      });
    } finally {
      await db.drop();
    }
  });
});

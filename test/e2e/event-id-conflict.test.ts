/**
 * A reused event_id end to end over MQTT: two ESP32s that build ids from
 * millis() (as seed 001's example does) send the same id. The first is
 * stored; a redelivery of it is `duplicate`; the other device's event, and
 * the first device's next event after a reboot (same id, other reading), are
 * answered `conflict` on their ACK topics and dead-lettered as
 * `event_id_conflict` with their raw payloads, never silently dropped.
 *
 * telehub runs as a child process; embedded broker + SQLite always, and
 * Mosquitto + PostgreSQL when TELEHUB_TEST_MQTT_URL is set.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { PostgresStore } from '../../src/storage/postgres/index.js';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import type { Store } from '../../src/storage/store.js';
import { clearSession, mosquittoUrl, needsMosquitto } from '../helpers/mqtt.js';
import { stopTestPostgres, testDatabase } from '../helpers/postgres.js';
import { startTelehubProcess } from '../helpers/telehub.js';

after(() => stopTestPostgres());

interface Ack {
  event_id: string;
  device_id: string;
  status: string;
}
interface DeadLetterMsg {
  reason: string;
  message: string;
  topic: string;
  device_id: string | null;
  payload: string;
}

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Topics under `prefix` (qs/v1 by default; a run of its own on the shared Mosquitto, so no other telehub answers). */
async function scenario(brokerUrl: string, store: Store, run: string, prefix = 'qs/v1'): Promise<void> {
  const dev1 = `esp32-a-${run}`;
  const dev2 = `esp32-b-${run}`;
  // What seed 001's sketch sends: String(device_id) + "-" + String(millis()) would differ per device;
  // a bare counter or millis() does not. Both boards send "boot-5000" five seconds after power-on.
  const id = `boot-5000-${run}`;
  const payload = (device: string, value: number) => JSON.stringify({ schema: 1, event_id: id, device_id: device, event_type: 'temperature', value, unit: 'C', ts_device: 1707523200 });

  const watcher = await mqtt.connectAsync(brokerUrl, { clientId: `watch-${run}`, reconnectPeriod: 0 });
  const acks: Ack[] = [];
  const deadLetters: DeadLetterMsg[] = [];
  watcher.on('message', (topic, buf) => {
    const m = JSON.parse(buf.toString());
    if (topic === `${prefix}/deadletter`) {
      if (m.device_id === dev1 || m.device_id === dev2) deadLetters.push(m);
    } else acks.push({ ...m, topic });
  });
  await watcher.subscribeAsync([`${prefix}/${dev1}/acks`, `${prefix}/${dev2}/acks`, `${prefix}/deadletter`], { qos: 1 });
  const board1 = await mqtt.connectAsync(brokerUrl, { clientId: `${dev1}`, reconnectPeriod: 0 });
  const board2 = await mqtt.connectAsync(brokerUrl, { clientId: `${dev2}`, reconnectPeriod: 0 });
  try {
    const acksFor = (device: string) => acks.filter((a) => a.device_id === device).map((a) => a.status);

    // Board 1: stored. The same message again (a lost PUBACK): duplicate.
    await board1.publishAsync(`${prefix}/${dev1}/events`, payload(dev1, 21.5), { qos: 1 });
    await until(() => acksFor(dev1).length === 1, 'the first ACK');
    await board1.publishAsync(`${prefix}/${dev1}/events`, payload(dev1, 21.5), { qos: 1 });
    await until(() => acksFor(dev1).length === 2, 'the redelivery ACK');
    assert.deepEqual(acksFor(dev1), ['stored', 'duplicate']);

    // Board 2, same id: conflict, dead-lettered with its raw payload.
    const fromBoard2 = payload(dev2, 19.0);
    await board2.publishAsync(`${prefix}/${dev2}/events`, fromBoard2, { qos: 1 });
    // Board 1 after a reboot: millis() is 5000 again, another reading.
    const afterReboot = payload(dev1, 22.25);
    await board1.publishAsync(`${prefix}/${dev1}/events`, afterReboot, { qos: 1 });
    await until(() => acksFor(dev2).length === 1 && acksFor(dev1).length === 3 && deadLetters.length === 2, 'the conflict ACKs and dead letters');
    assert.deepEqual(acksFor(dev2), ['conflict']);
    assert.deepEqual(acksFor(dev1), ['stored', 'duplicate', 'conflict']);
    for (const a of acks) assert.equal(a.event_id, id);

    const byDevice = new Map(deadLetters.map((d) => [d.device_id, d]));
    const dl2 = byDevice.get(dev2)!;
    assert.equal(dl2.reason, 'event_id_conflict');
    assert.equal(dl2.payload, fromBoard2);
    assert.equal(dl2.topic, `${prefix}/${dev2}/events`);
    assert.match(dl2.message, new RegExp(`already taken by an event of device "${dev1}" \\(differs in device_id, value\\)`));
    const dl1 = byDevice.get(dev1)!;
    assert.equal(dl1.payload, afterReboot);
    assert.match(dl1.message, /already taken by another event of this device \(differs in value\)/);

    // The store holds board 1's first event only, and both refused events with their bytes.
    const row = await store.getEvent(id);
    assert.equal(row?.deviceId, dev1);
    assert.equal(row?.valueNum, 21.5);
    assert.equal(row?.tsDevice, 1_707_523_200_000, 'ts_device sent as epoch seconds');
    const kept = (await store.listDeadLetters({ reason: 'event_id_conflict', limit: 1000 })).filter((d) => d.deviceId === dev1 || d.deviceId === dev2);
    assert.deepEqual(kept.map((d) => d.payload.toString()).sort(), [fromBoard2, afterReboot].sort());
  } finally {
    await Promise.all([board1.endAsync(), board2.endAsync(), watcher.endAsync()]);
  }
}

describe('end to end: two devices reuse one event_id', () => {
  it('embedded broker + SQLite', async () => {
    const hub = await startTelehubProcess();
    try {
      await hub.ready();
      const store = new SqliteStore(path.join(hub.dataDir, 'telehub.db'));
      await store.migrate();
      try {
        await scenario(`mqtt://127.0.0.1:${hub.mqttPort}`, store, randomBytes(3).toString('hex'));
      } finally {
        await store.close();
      }
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      hub.cleanup();
    }
  });

  it('Mosquitto + PostgreSQL', { skip: needsMosquitto }, async () => {
    const db = await testDatabase();
    const run = randomBytes(3).toString('hex');
    const prefix = `conflict-e2e-${run}`;
    const clientId = `telehub-e2e-${run}`;
    const hub = await startTelehubProcess({
      MQTT_URL: mosquittoUrl!,
      MQTT_CLIENT_ID: clientId,
      DATABASE_URL: db.url,
      MQTT_EVENTS_TOPIC: `${prefix}/+/events`,
      ACK_TEMPLATE: `${prefix}/{device_id}/acks`,
      MQTT_DEADLETTER_TOPIC: `${prefix}/deadletter`,
    });
    const store = new PostgresStore({ connectionString: db.url, poolSize: 2 });
    try {
      await hub.ready();
      await scenario(mosquittoUrl!, store, run, prefix);
      assert.equal(await hub.stop(), 0);
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

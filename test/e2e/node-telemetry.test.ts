/**
 * Seed 003 sensor nodes end to end with a real MQTT client: telemetry on the
 * default route becomes one reading per sensor, a resend stores nothing new,
 * a sensor that is not a number is dead-lettered alone, status messages
 * become `status` entries (not readings), and a config-file pattern
 * (`home/+/sensor`) takes node telemetry without code. Against the embedded
 * broker (PUBACK after commit) and, when TELEHUB_TEST_MQTT_URL is set,
 * Mosquitto (the store is polled: Mosquitto's PUBACK is its own).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import type { StoredEvent } from '../../src/storage/store.js';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';
import { mosquittoUrl, needsMosquitto } from '../helpers/mqtt.js';

const dir = mkdtempSync(path.join(tmpdir(), 'telehub-nodes-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Resolves once `pred` holds for the node's stored events (the store is the truth; no fixed sleeps). */
async function until(hub: InProcessTelehub, node: string, pred: (events: StoredEvent[]) => boolean): Promise<StoredEvent[]> {
  const end = Date.now() + 20_000;
  for (;;) {
    const events = await hub.hub.store.recentEvents(1000, node);
    if (pred(events)) return events;
    if (Date.now() > end) throw new Error(`timed out; stored for ${node}: ${JSON.stringify(events.map((e) => e.eventId))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

for (const broker of ['embedded', 'mosquitto'] as const) {
  describe(`seed 003 nodes via the ${broker} broker`, { skip: broker === 'mosquitto' ? needsMosquitto : false }, () => {
    it('telemetry, resend, a bad sensor, status, and a config-file pattern', async () => {
      // Topics under a prefix of their own: the shared Mosquitto serves parallel tests.
      const p = broker === 'mosquitto' ? `t${randomBytes(3).toString('hex')}/` : '';
      const file = path.join(dir, `nodes-${randomBytes(3).toString('hex')}.yaml`);
      writeFileSync(file, `routes:\n  - filter: ${p}home/+/sensor\n    codec: node-telemetry\n`);
      const env: Record<string, string> = {
        TELEHUB_CONFIG: file,
        TELEHUB_NODE_TELEMETRY_TOPIC: `${p}iot/node/+/telemetry`,
        TELEHUB_NODE_STATUS_TOPIC: `${p}iot/node/+/status`,
        MQTT_EVENTS_TOPIC: `${p}qs/v1/+/events`,
        MQTT_DEADLETTER_TOPIC: `${p}qs/v1/deadletter`,
      };
      if (broker === 'mosquitto') Object.assign(env, { MQTT_URL: mosquittoUrl!, MQTT_CLIENT_ID: `telehub-nodes-${randomBytes(3).toString('hex')}` });
      const hub = await startInProcess('sqlite', env);
      const url = broker === 'mosquitto' ? mosquittoUrl! : `mqtt://127.0.0.1:${hub.hub.mqttPort}`;
      const node = `node_${randomBytes(3).toString('hex')}`;
      const client = await mqtt.connectAsync(url, { clientId: `${node}-client`, protocolVersion: 4 });
      try {
        const msg = { node_id: node, timestamp: 1704844800, sensors: { temperature: 22.5, humidity: 45.2 }, wifi_rssi: -65, uptime: 3600 };
        await client.publishAsync(`${p}iot/node/${node}/telemetry`, JSON.stringify(msg), { qos: 1 });
        await client.publishAsync(`${p}iot/node/${node}/telemetry`, JSON.stringify(msg), { qos: 1 }); // the node resends
        await client.publishAsync(`${p}iot/node/${node}/telemetry`, JSON.stringify({ ...msg, timestamp: 1704844860, sensors: { temperature: 22.7, door: 'open' } }), { qos: 1 });
        await client.publishAsync(`${p}iot/node/${node}/status`, JSON.stringify({ status: 'online', firmware: '1.4.2', wifi_rssi: -70 }), { qos: 1 });
        await client.publishAsync(`${p}home/${node}/sensor`, JSON.stringify({ ...msg, timestamp: 1704844920, sensors: { lux: 310 } }), { qos: 1 });

        // Presence transitions are log entries of their own, not rows of events: every row counts.
        const events = await until(hub, node, (es) => es.length >= 5);
        const readings = events.filter((e) => e.eventType !== 'status').map((e) => [e.eventId, e.eventType, e.valueNum]).sort();
        assert.deepEqual(readings, [
          [`${node}:1704844800:humidity`, 'humidity', 45.2],
          [`${node}:1704844800:temperature`, 'temperature', 22.5],
          [`${node}:1704844860:temperature`, 'temperature', 22.7],
          [`${node}:1704844920:lux`, 'lux', 310],
        ]);
        const first = events.find((e) => e.eventId === `${node}:1704844800:temperature`)!;
        assert.deepEqual(JSON.parse(first.meta), { wifi_rssi: -65, uptime: 3600 });
        assert.equal(first.tsDevice, 1704844800_000);
        const status = events.filter((e) => e.eventType === 'status');
        assert.equal(status.length, 1);
        assert.equal(status[0].valueText, 'online');
        assert.equal(JSON.parse(status[0].meta).firmware, '1.4.2');
        const dls = (await hub.hub.store.listDeadLetters()).filter((d) => d.deviceId === node);
        assert.deepEqual(dls.map((d) => d.reason), ['wrong_type']);
        assert.match(dls[0].message, /door/);
        // Nothing else arrives later: the resend stayed a duplicate.
        assert.equal((await hub.hub.store.recentEvents(1000, node)).length, 5);
      } finally {
        await client.endAsync();
        await hub.close();
      }
    });
  });
}

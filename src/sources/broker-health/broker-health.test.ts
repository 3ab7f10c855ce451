/**
 * Broker health: the pure figures, then the embedded broker's and a real
 * Mosquitto's (relayed from $SYS) on `iot/broker/status|stats` and in /metrics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { startInProcess } from '../../../test/helpers/inprocess.js';
import { clearSession, mosquittoUrl, needsMosquitto } from '../../../test/helpers/mqtt.js';
import { applySys, emptyTotals, statsMessage, type BrokerStatsMessage } from './stats.js';

describe('broker stats figures', () => {
  it('rates are the change of a total over the interval; none on the first reading or a reset', () => {
    const t = (i: number, o: number) => ({ clientsConnected: 2, messagesIn: i, messagesOut: o, dropped: 0, uptimeS: 5 });
    const first = statsMessage('embedded', { atMs: 10_000, totals: t(100, 50) });
    assert.equal(first.messages_in_per_s, null);
    const next = statsMessage('embedded', { atMs: 12_000, totals: t(140, 70) }, { atMs: 10_000, totals: t(100, 50) });
    assert.equal(next.messages_in_per_s, 20);
    assert.equal(next.messages_out_per_s, 10);
    assert.equal(next.messages_in_total, 140);
    assert.equal(next.timestamp, 12);
    const reset = statsMessage('$SYS', { atMs: 14_000, totals: t(3, 3) }, { atMs: 12_000, totals: t(140, 70) });
    assert.equal(reset.messages_in_per_s, null);
  });

  it('maps Mosquitto $SYS topics', () => {
    const totals = emptyTotals();
    assert.equal(applySys(totals, '$SYS/broker/uptime', '3344 seconds'), true);
    assert.equal(applySys(totals, '$SYS/broker/clients/connected', '7'), true);
    assert.equal(applySys(totals, '$SYS/broker/publish/messages/received', '1200512'), true);
    assert.equal(applySys(totals, '$SYS/broker/publish/messages/sent', '1219434'), true);
    assert.equal(applySys(totals, '$SYS/broker/publish/messages/dropped', '4'), true);
    assert.equal(applySys(totals, '$SYS/broker/version', 'mosquitto version 2.0.11'), false);
    assert.deepEqual(totals, { uptimeS: 3344, clientsConnected: 7, messagesIn: 1200512, messagesOut: 1219434, dropped: 4 });
  });
});

/** Collects `iot/broker/status` payloads and resolves stats messages matching `want`. */
async function watch(url: string) {
  const c = await mqtt.connectAsync(url, { clientId: `health-watch-${randomBytes(3).toString('hex')}` });
  const status: string[] = [];
  const waiters: { want: (m: BrokerStatsMessage) => boolean; resolve: (m: BrokerStatsMessage) => void }[] = [];
  c.on('message', (topic, payload) => {
    if (topic === 'iot/broker/status') status.push(payload.toString());
    else for (const w of waiters.splice(0)) {
      const m = JSON.parse(payload.toString()) as BrokerStatsMessage;
      if (w.want(m)) w.resolve(m);
      else waiters.push(w);
    }
  });
  await c.subscribeAsync(['iot/broker/status', 'iot/broker/stats'], { qos: 1 });
  return {
    client: c as MqttClient,
    status,
    stats: (want: (m: BrokerStatsMessage) => boolean) => new Promise<BrokerStatsMessage>((resolve) => waiters.push({ want, resolve })),
  };
}

describe('broker health of the embedded broker', () => {
  it('says online (retained), publishes stats every interval, and shows them in /metrics', async () => {
    const t = await startInProcess('sqlite', { TELEHUB_BROKER_STATS_INTERVAL_S: '1' });
    const url = `mqtt://127.0.0.1:${t.hub.mqttPort}`;
    try {
      const w = await watch(url);
      // Traffic to count: a device publishing ten events.
      const device = await mqtt.connectAsync(url);
      for (let i = 0; i < 10; i++) {
        await device.publishAsync('qs/v1/hb-1/events', JSON.stringify({ schema: 1, event_id: `hb-1-${i}`, device_id: 'hb-1', event_type: 't', value: i }), { qos: 1 });
      }
      const m = await w.stats((s) => (s.messages_in_total ?? 0) >= 10 && s.messages_in_per_s !== null);
      assert.equal(w.status[0], 'online');
      assert.equal(m.source, 'embedded');
      assert.ok(m.clients_connected! >= 2, 'the watcher and the device');
      assert.ok(m.messages_out_total! >= 1, 'at least the stats and status delivered to the watcher');
      assert.ok(m.uptime_s! >= 0);
      await device.endAsync();
      const metrics = await (await fetch(`${t.base}/metrics`)).text();
      assert.match(metrics, /^telehub_broker_clients_connected \d+$/m);
      assert.match(metrics, /^telehub_broker_messages_in_per_second [\d.]+$/m);
      assert.match(metrics, /^telehub_broker_uptime_seconds \d+$/m);
      await w.client.endAsync();
    } finally {
      await t.close();
    }
  });

  it('is off with TELEHUB_BROKER_STATS_INTERVAL_S=0', async () => {
    const t = await startInProcess('sqlite', { TELEHUB_BROKER_STATS_INTERVAL_S: '0' });
    try {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${t.hub.mqttPort}`);
      const seen: string[] = [];
      // A retained status would arrive on SUBSCRIBE, before the marker published after it.
      const marker = new Promise<void>((resolve) =>
        c.on('message', (topic) => {
          seen.push(topic);
          if (topic === 'marker/health') resolve();
        }),
      );
      await c.subscribeAsync(['iot/broker/#', 'marker/health'], { qos: 1 });
      await c.publishAsync('marker/health', 'x', { qos: 1 });
      await marker;
      assert.deepEqual(seen, ['marker/health']);
      await c.endAsync();
    } finally {
      await t.close();
    }
  });
});

describe('broker health with Mosquitto', { skip: needsMosquitto }, () => {
  it('announces online, relays $SYS as stats, and leaves a retained offline on a clean stop', async () => {
    const clientId = `telehub-health-${randomBytes(3).toString('hex')}`;
    const w = await watch(mosquittoUrl!);
    const t = await startInProcess('sqlite', { MQTT_URL: mosquittoUrl!, MQTT_CLIENT_ID: clientId, TELEHUB_BROKER_STATS_INTERVAL_S: '1' });
    try {
      const m = await w.stats((s) => s.source === '$SYS' && s.uptime_s !== null && s.messages_in_total !== null);
      assert.ok(m.uptime_s! > 0);
      assert.ok(w.status.includes('online'));
      const metrics = await (await fetch(`${t.base}/metrics`)).text();
      assert.match(metrics, /^telehub_broker_uptime_seconds \d+$/m);
    } finally {
      await t.close();
      await clearSession(mosquittoUrl!, clientId);
    }
    // A subscriber arriving now gets the retained status: telehub said offline before its DISCONNECT.
    const late = await mqtt.connectAsync(mosquittoUrl!);
    const retained = new Promise<string>((resolve) => late.on('message', (_t, p) => resolve(p.toString())));
    await late.subscribeAsync('iot/broker/status', { qos: 1 });
    assert.equal(await retained, 'offline');
    await late.endAsync();
    await w.client.endAsync();
  });
});

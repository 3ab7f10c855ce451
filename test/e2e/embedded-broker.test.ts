/**
 * The embedded broker with real MQTT.js clients (TCP and WebSocket) and
 * telehub started as `telehub start` does (in this process, SQLite):
 *
 * - the ACK of an event reaches every subscriber whose filter matches the
 *   ACK topic, whatever the event's QoS and however the filter overlaps the
 *   events topic (Aedes' dedupe used to drop it at QoS 0, see
 *   src/sources/mqtt-broker/aedes-lanes.ts);
 * - a packet over TELEHUB_MQTT_MAX_PACKET_BYTES closes its connection as soon
 *   as its header arrives, is counted in /metrics, and the broker keeps
 *   serving the other clients.
 *
 * Everything is awaited; a deadline only turns a hang into a failure.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';

function deadline<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

/** Resolves with the first message on `topic` whose payload satisfies `match`. */
function nextMessage(c: MqttClient, topic: string, match: (payload: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const on = (t: string, p: Buffer) => {
      if (t !== topic || !match(p.toString())) return;
      c.off('message', on);
      resolve(p.toString());
    };
    c.on('message', on);
  });
}

let seq = 0;
function event(device: string, payloadExtra: Record<string, unknown> = {}) {
  const id = `${device}-${process.pid}-${++seq}`;
  return { id, body: JSON.stringify({ schema: 1, event_id: id, device_id: device, event_type: 'temperature', value: 21.5, ...payloadExtra }) };
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} is exported`);
  return Number(line.split(' ')[1]);
}

describe('embedded broker: ACKs reach overlapping subscribers', () => {
  let t: InProcessTelehub;
  let url: string;
  before(async () => {
    t = await startInProcess('sqlite');
    url = `mqtt://127.0.0.1:${t.hub.mqttPort}`;
  });
  after(() => t.close());

  for (const filter of ['#', 'qs/#', 'qs/v1/esp32-01/+', 'qs/v1/+/acks']) {
    for (const qos of [0, 1] as const) {
      it(`subscriber on ${filter} gets the ACK of a QoS ${qos} event`, async () => {
        const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
        const dev = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
        try {
          await sub.subscribeAsync(filter, { qos: 0 });
          const e = event('esp32-01');
          const ack = nextMessage(sub, 'qs/v1/esp32-01/acks', (p) => JSON.parse(p).event_id === e.id);
          await dev.publishAsync('qs/v1/esp32-01/events', e.body, { qos });
          assert.deepEqual(JSON.parse(await deadline(ack, `ACK on ${filter}`)), { schema: 1, event_id: e.id, device_id: 'esp32-01', status: 'stored' });
        } finally {
          await sub.endAsync();
          await dev.endAsync();
        }
      });
    }
  }

  it('a subscriber on # gets every ACK of a mixed QoS 0 / QoS 1 stream from several devices', async () => {
    const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    const devs = await Promise.all([1, 2, 3].map(() => mqtt.connectAsync(url, { reconnectPeriod: 0 })));
    try {
      await sub.subscribeAsync('#', { qos: 1 });
      const expected = new Set<string>();
      const acked = new Set<string>();
      let allIn: () => void;
      const done = new Promise<void>((r) => (allIn = r));
      sub.on('message', (topic, p) => {
        if (!topic.endsWith('/acks')) return;
        acked.add(JSON.parse(p.toString()).event_id);
        if (expected.size === 300 && [...expected].every((id) => acked.has(id))) allIn();
      });
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < 100; i++) {
        devs.forEach((d, k) => {
          const device = `mix-${k}`;
          const e = event(device);
          expected.add(e.id);
          sends.push(d.publishAsync(`qs/v1/${device}/events`, e.body, { qos: (i + k) % 2 === 0 ? 0 : 1 }));
        });
      }
      await Promise.all(sends);
      await deadline(done, `all 300 ACKs (got ${acked.size})`, 30_000);
    } finally {
      await sub.endAsync();
      await Promise.all(devs.map((d) => d.endAsync()));
    }
  });
});

describe('embedded broker: packet size cap', () => {
  let t: InProcessTelehub;
  before(async () => {
    t = await startInProcess('sqlite', {
      TELEHUB_MAX_PAYLOAD_BYTES: '1024',
      TELEHUB_MQTT_MAX_PACKET_BYTES: '4096',
      TELEHUB_MQTT_WS_PORT: '0',
    });
  });
  after(() => t.close());

  it('closes a connection whose packet header announces more than the cap, before the body arrives', async () => {
    const before = await metric(t.base, 'telehub_mqtt_oversized_packets_total');
    const sock = net.connect(t.hub.mqttPort, '127.0.0.1');
    await once(sock, 'connect');
    sock.on('error', () => {}); // a reset after the close is fine
    sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'big-talker', clean: true, keepalive: 30 }));
    const [connack] = await deadline(once(sock, 'data'), 'CONNACK');
    assert.equal(connack[0] >> 4, 2, 'CONNACK');
    // A PUBLISH header announcing 200 MB, then only a few bytes of it.
    const remaining = 200 * 1024 * 1024;
    const header = [0x30];
    for (let n = remaining; ; ) {
      const b = n % 128;
      n = Math.floor(n / 128);
      header.push(n > 0 ? b | 0x80 : b);
      if (n === 0) break;
    }
    sock.write(Buffer.concat([Buffer.from(header), Buffer.from([0, 5]), Buffer.from('qs/v1')]));
    await deadline(once(sock, 'close'), 'connection closed');
    assert.equal(await metric(t.base, 'telehub_mqtt_oversized_packets_total'), before + 1);
  });

  it('an MQTT.js client publishing over the cap is disconnected and counted; others are served', async () => {
    const url = `mqtt://127.0.0.1:${t.hub.mqttPort}`;
    const before = await metric(t.base, 'telehub_mqtt_oversized_packets_total');
    const big = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    const closed = new Promise<void>((r) => big.once('close', () => r()));
    big.publish('qs/v1/big/events', Buffer.alloc(8000, 'x'), { qos: 1 });
    await deadline(closed, 'oversized publisher disconnected');
    big.end(true);
    assert.equal(await metric(t.base, 'telehub_mqtt_oversized_packets_total'), before + 1);

    // The broker still serves: a good event is stored and ACKed, and a
    // payload between the payload limit and the packet cap is dead-lettered.
    const sub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    const dev = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    try {
      await sub.subscribeAsync(['qs/v1/+/acks', 'qs/v1/deadletter'], { qos: 1 });
      const e = event('small');
      const ack = nextMessage(sub, 'qs/v1/small/acks', (p) => JSON.parse(p).event_id === e.id);
      await dev.publishAsync('qs/v1/small/events', e.body, { qos: 1 });
      assert.equal(JSON.parse(await deadline(ack, 'ACK after the oversized client')).status, 'stored');

      const tooBig = event('small', { meta: { pad: 'y'.repeat(2000) } });
      assert.ok(tooBig.body.length > 1024 && tooBig.body.length < 4096);
      const dl = nextMessage(sub, 'qs/v1/deadletter', (p) => JSON.parse(p).topic === 'qs/v1/small/events');
      await dev.publishAsync('qs/v1/small/events', tooBig.body, { qos: 1 });
      assert.equal(JSON.parse(await deadline(dl, 'dead letter')).reason, 'payload_too_large');
      assert.ok(dev.connected, 'a payload under the packet cap does not cost the connection');
    } finally {
      await sub.endAsync();
      await dev.endAsync();
    }
  });

  it('applies over WebSocket too', async () => {
    const url = `ws://127.0.0.1:${t.hub.mqttWsPort}`;
    const before = await metric(t.base, 'telehub_mqtt_oversized_packets_total');
    const big = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    const closed = new Promise<void>((r) => big.once('close', () => r()));
    big.publish('qs/v1/big/events', Buffer.alloc(8000, 'x'), { qos: 1 });
    await deadline(closed, 'oversized WebSocket publisher disconnected');
    big.end(true);
    assert.equal(await metric(t.base, 'telehub_mqtt_oversized_packets_total'), before + 1);

    const ok = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    try {
      const e = event('ws-small');
      const ack = nextMessage(ok, 'qs/v1/ws-small/acks', (p) => JSON.parse(p).event_id === e.id);
      await ok.subscribeAsync('qs/v1/ws-small/acks', { qos: 1 });
      await ok.publishAsync('qs/v1/ws-small/events', e.body, { qos: 1 });
      assert.equal(JSON.parse(await deadline(ack, 'ACK over WebSocket')).status, 'stored');
    } finally {
      await ok.endAsync();
    }
  });
});

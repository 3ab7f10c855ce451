/**
 * Nothing after a commit can complete an item twice: with a processor that
 * throws on every attempt and a stream client whose socket throws on every
 * send, each MQTT message gets exactly one ACK message and one PUBACK, the
 * in-flight count returns to 0 (never below), the processor's errors are
 * counted and the healthy processor and a healthy stream client still get
 * everything. telehub runs in-process (embedded broker, SQLite and PostgreSQL).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { Processor } from '../../src/log/processor.js';
import { startInProcess } from '../helpers/inprocess.js';
import { stopTestPostgres } from '../helpers/postgres.js';

after(() => stopTestPostgres());

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`after a commit (${kind})`, () => {
    it('a throwing processor and a throwing stream client change no ACK', async () => {
      let attempts = 0;
      const broken: Processor = {
        name: 'always-throws',
        tables: [],
        apply() {
          attempts++;
          throw new Error('processor bug');
        },
      };
      const app = await startInProcess(kind, { TELEHUB_RETRY_MIN_MS: '5', TELEHUB_RETRY_MAX_MS: '20', TELEHUB_LOG_POLL_MS: '20' }, { extraProcessors: [broken] });
      let device: mqtt.MqttClient | undefined;
      let ws: WebSocket | undefined;
      try {
        // A stream client whose socket throws on every send, and a real one.
        let sendAttempts = 0;
        app.hub.liveHub.add({ bufferedAmount: 0, send: () => { sendAttempts++; throw new Error('socket bug'); }, close: () => { throw new Error('close bug'); } }, { devices: [], types: [] }, 0);
        ws = new WebSocket(`ws://127.0.0.1:${app.hub.httpPort}/api/v1/stream?token=${await app.token('read')}&since=0`);
        const streamed: string[] = [];
        // Events only: presence transitions (kind presence) of the devices come on the stream too.
        ws.on('message', (d) => {
          const m = JSON.parse(d.toString()) as { event_id?: string; kind?: string };
          if (m.kind !== 'presence') streamed.push(m.event_id!);
        });
        await once(ws, 'open');

        device = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.hub.mqttPort}`, { clientId: `pc-${kind}` });
        const acks: string[] = [];
        device.on('message', (_t, p) => acks.push(JSON.parse(p.toString()).event_id));
        await device.subscribeAsync('qs/v1/+/acks', { qos: 1 });
        const n = 300;
        const pubacks = await Promise.all(
          Array.from({ length: n }, (_, i) => device!.publishAsync(`qs/v1/dev-${i % 5}/events`, JSON.stringify({ schema: 1, event_id: `pc-${i}`, device_id: `dev-${i % 5}`, event_type: 't', value: i }), { qos: 1 })),
        );
        assert.equal(pubacks.length, n);
        await until(() => acks.length >= n, 'the ACKs');
        await until(() => streamed.length >= n && attempts >= 3, 'the stream and the processor attempts');
        // Give a second ACK every chance to show up: a full commit-listener round and processor retry.
        await until(async () => (await app.hub.processors.status()).find((s) => s.name === 'always-throws')!.errors >= attempts - 1, 'errors recorded');
        await app.hub.writer.drain();
        assert.equal(acks.length, n, 'one ACK per message');
        assert.equal(new Set(acks).size, n);
        assert.deepEqual([...streamed].sort(), Array.from({ length: n }, (_, i) => `pc-${i}`).sort());
        assert.equal(app.hub.writer.inflight, 0);
        assert.equal(sendAttempts, 1, 'the throwing client was dropped after its first send');
        const status = await app.hub.processors.status();
        const bad = status.find((s) => s.name === 'always-throws')!;
        assert.equal(bad.checkpoint, 0);
        assert.equal(bad.state, 'retrying');
        assert.match(bad.lastError?.message ?? '', /processor bug/);
        assert.ok(bad.lagEntries >= n);
        const good = status.find((s) => s.name === 'device-counters')!;
        await until(async () => (await app.hub.processors.status()).find((s) => s.name === 'device-counters')!.lagEntries === 0, 'device-counters to catch up');
        assert.ok(good);
        const metrics = await (await fetch(`${app.base}/metrics`)).text();
        const errors = Number(/telehub_processor_errors_total\{name="always-throws"\} (\d+)/.exec(metrics)?.[1]);
        assert.ok(errors >= 3, metrics);
        assert.equal(Number(/telehub_acks_published_total (\d+)/.exec(metrics)?.[1]), n);
      } finally {
        ws?.terminate();
        await device?.endAsync();
        await app.close();
      }
    });
  });
}

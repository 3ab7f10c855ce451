/**
 * The one ingest path against a real SQLite store: a message carrying
 * several events completes once, after every part committed and its replies
 * and dead letters were handed to the publisher; HTTP-style messages keep
 * their parts and outcomes; a message with no parts completes at once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { seed001Codec } from '../codecs/seed001-json/index.js';
import { DEFAULT_CODEC_DEFAULTS, DEFAULT_LIMITS, defaultRoute } from '../core/config.js';
import { SqliteStore } from '../storage/sqlite/index.js';
import { BatchWriter } from './batch-writer.js';
import { Ingest, type IngestMessage } from './ingest.js';
import { RouteTable } from './routes.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(path.join(tmpdir(), 'telehub-ingest-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const topics = { events: 'qs/v1/+/events', deadLetter: 'qs/v1/deadletter', ackTemplate: 'qs/v1/{device_id}/acks', ackQos: 1 as const };

async function setup(name: string) {
  const store = new SqliteStore(path.join(dir, `${name}.db`));
  await store.migrate();
  const writer = new BatchWriter(store, { batchMax: 2, batchWaitMs: 1, maxInflight: 1000, writeConcurrency: 1, retryMinMs: 1, retryMaxMs: 10 }, log);
  const routes = new RouteTable(
    [defaultRoute(topics.events, topics.ackTemplate), { origin: 'test', filter: 'lp/+/metrics', codec: 'line-protocol', deviceLevel: 2, reply: 'none', ackTemplate: topics.ackTemplate, options: { precision: 's' } }],
    DEFAULT_CODEC_DEFAULTS,
  );
  const ingest = new Ingest(writer, routes, { topics, limits: DEFAULT_LIMITS }, log);
  const published: Array<{ topic: string; payload: string }> = [];
  const out = { publish: (topic: string, payload: Buffer | string) => void published.push({ topic, payload: payload.toString() }) };
  return { store, writer, ingest, published, out, close: async () => (await writer.close(), await store.close()) };
}

describe('ingest path', () => {
  it('a multi-event message completes once, after all its parts and their dead letters', async () => {
    const t = await setup('multi');
    const m = t.ingest.route('lp/boiler/metrics')!;
    const body = Buffer.from('heat temp=61.5,flow=3i 1700000000\nheat temp=\nheat,host=h2 temp=1 1700000000\n');
    const done = await new Promise<{ msg: IngestMessage; stored: number; dlsPublished: number }>((resolve) => {
      // batchMax 2: the four parts span two commits, and the message still completes once.
      t.ingest.take(m, 'lp/boiler/metrics', body, 'mqtt', t.out, (msg) => {
        void t.store.countEvents().then((stored) => resolve({ msg, stored, dlsPublished: t.published.length }));
      });
    });
    assert.equal(done.msg.stored, 3);
    assert.equal(done.msg.rejected, 1);
    assert.equal(done.stored, 3, 'every event committed before the message completed');
    assert.equal(done.dlsPublished, 1, 'the dead letter was published before the message completed');
    assert.equal(JSON.parse(t.published[0].payload).reason, 'invalid_line_protocol');
    assert.equal(t.published[0].topic, 'qs/v1/deadletter');
    assert.equal(await t.store.countDeadLetters(), 1);
    assert.deepEqual((await t.store.recentEvents(10, 'boiler')).map((e) => e.eventType).sort(), ['heat.flow', 'heat.temp']);
    await t.close();
  });

  it('a seed-001 route publishes the ACK before it completes the message; a redelivery is duplicate', async () => {
    const t = await setup('ack');
    const payload = Buffer.from('{"schema":1,"event_id":"e1","device_id":"d1","event_type":"t","value":1}');
    for (const status of ['stored', 'duplicate']) {
      const acksBefore = await new Promise<number>((resolve) => t.ingest.take(t.ingest.route('qs/v1/d1/events')!, 'qs/v1/d1/events', payload, 'mqtt', t.out, () => resolve(t.published.length)));
      const ack = t.published.at(-1)!;
      assert.equal(acksBefore, t.published.length, 'the ACK went out before completion');
      assert.equal(ack.topic, 'qs/v1/d1/acks');
      assert.deepEqual(JSON.parse(ack.payload), { schema: 1, event_id: 'e1', device_id: 'd1', status });
    }
    assert.equal(t.ingest.route('qs/v1/d1/acks'), undefined, 'an ACK topic is on no route');
    await t.close();
  });

  it('decode keeps the parts for the caller; submit resolves once all committed, an empty message at once', async () => {
    const t = await setup('keep');
    const body = Buffer.from('[{"schema":1,"event_id":"h1","device_id":"d1","event_type":"t"},{"schema":1,"event_id":"h2","device_id":"d2"}]');
    const msg = t.ingest.decode(seed001Codec, body, { topic: 'POST /ingest', source: 'http', contentType: 'application/json' });
    assert.equal(msg.parts!.length, 2);
    assert.equal(t.writer.inflight, 0, 'nothing submitted before submit');
    await t.ingest.submit(msg);
    assert.deepEqual(msg.parts!.map((p) => [p.part, p.kind, p.outcome?.status]), [[0, 'event', 'stored'], [1, 'dead', 'rejected']]);
    assert.equal(await t.store.countDeadLetters(), 1);
    const whole = t.ingest.decode(seed001Codec, Buffer.from('{"schema":'), { topic: 'POST /ingest', source: 'http', contentType: 'application/json' });
    assert.equal(whole.whole?.reason, 'invalid_json');
    const empty = t.ingest.decode(seed001Codec, Buffer.from('[]'), { topic: 'POST /ingest', source: 'http', contentType: 'application/json' });
    assert.equal((await t.ingest.submit(empty)).parts!.length, 0);
    await t.close();
  });
});

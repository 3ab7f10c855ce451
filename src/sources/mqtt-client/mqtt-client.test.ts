/**
 * The external-broker source against a real broker (Aedes, in-process, as a
 * stand-in for any external broker; the Mosquitto runs are in test/e2e).
 *
 * Aedes speaks MQTT 3.1.1, so these run v3.1.1; test/e2e runs MQTT 5 against Mosquitto.
 *
 * They fail if a PUBACK ever leaves before its commit, if PUBACKs leave out
 * of order, or if intake becomes serialised on commits. The order is checked
 * on the wire with the scripted broker of test/helpers/mqtt-peer.ts (a real
 * broker does not tell in which order PUBACKs arrived), also when batches
 * commit out of order on PostgreSQL with write concurrency 2.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createWebSocketStream, WebSocketServer } from 'ws';
import pino from 'pino';
import { DEFAULT_CODEC_DEFAULTS, DEFAULT_LIMITS, defaultRoute } from '../../core/config.js';
import { BatchWriter } from '../../pipeline/batch-writer.js';
import { Ingest } from '../../pipeline/ingest.js';
import { RouteTable } from '../../pipeline/routes.js';
import { SqliteStore } from '../../storage/sqlite/index.js';
import type { Store, WriteBatch, WriteResult } from '../../storage/store.js';
import { MqttClientSource } from './index.js';
import type { SubscriberConnection } from './connection.js';
import { acksOn, assertPubacksFollowAcks, BrokerPeer, type PeerMessage } from '../../../test/helpers/mqtt-peer.js';
import { stopTestPostgres, testDatabase } from '../../../test/helpers/postgres.js';
import { PostgresStore } from '../../storage/postgres/index.js';

const log = pino({ level: 'silent' });
const topics = { events: 'qs/v1/+/events', deadLetter: 'qs/v1/deadletter', ackTemplate: 'qs/v1/{device_id}/acks', ackQos: 1 as const };

/** A real SQLite store whose commits wait for `open()`. */
class GatedStore {
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  batches: number[] = [];
  constructor(readonly inner: SqliteStore) {}
  close(): void {
    this.gate = new Promise((r) => (this.openGate = r));
  }
  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }
  asStore(): Store {
    const inner = this.inner;
    return new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'writeBatch') {
          return async (b: WriteBatch): Promise<WriteResult> => {
            this.batches.push(b.events.length + b.deadLetters.length);
            if (this.gate) await this.gate;
            return inner.writeBatch(b);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Store;
  }
}

function event(i: number, device = 'dev-1') {
  return JSON.stringify({ schema: 1, event_id: `${device}-${i}`, device_id: device, event_type: 'temperature', value: i });
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Waits until the broker has processed every packet telehub's connection sent
 * so far: two QoS 1 round trips in a row on that connection. Aedes reads the
 * next chunk of a socket only when every packet of the previous one is done,
 * so the second probe's PUBACK proves all earlier packets were handled.
 */
async function brokerBarrier(source: MqttClientSource): Promise<void> {
  const conn = (source as unknown as { conn: SubscriberConnection }).conn;
  await new Promise<void>((resolve) => conn.publish('probe/barrier', Buffer.from('a'), 1, resolve));
  await new Promise<void>((resolve) => conn.publish('probe/barrier', Buffer.from('b'), 1, resolve));
}

describe('external MQTT source (PUBACKs after commit)', () => {
  let broker: Aedes;
  let server: Server;
  let url: string;
  let wsUrl: string;
  let wss: WebSocketServer;
  let dir: string;
  const acksFromTelehub: number[] = [];

  before(async () => {
    broker = await Aedes.createBroker();
    broker.on('ack', (packet, client) => {
      if (client?.id?.startsWith('telehub-test') && packet && 'messageId' in packet) acksFromTelehub.push(packet.messageId as number);
    });
    server = createServer((s) => broker.handle(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The same broker behind a WebSocket listener, as EMQX/HiveMQ/Mosquitto offer on /mqtt.
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/mqtt' });
    wss.on('connection', (ws) => broker.handle(createWebSocketStream(ws)));
    await once(wss, 'listening');
    wsUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/mqtt`;
    dir = mkdtempSync(path.join(tmpdir(), 'telehub-mqttc-'));
  });

  after(async () => {
    await stopTestPostgres();
    wss.close();
    server.close();
    await new Promise<void>((r) => broker.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function setup(clientId: string, maxInflight = 10_000, sourceUrl = url) {
    const sqlite = new SqliteStore(path.join(dir, `${clientId}.db`));
    await sqlite.migrate();
    const gated = new GatedStore(sqlite);
    const writer = new BatchWriter(gated.asStore(), { batchMax: 1000, batchWaitMs: 5, maxInflight, writeConcurrency: 1, retryMinMs: 10, retryMaxMs: 50 }, log);
    const ingest = new Ingest(writer, new RouteTable([defaultRoute(topics.events, topics.ackTemplate)], DEFAULT_CODEC_DEFAULTS), { topics, limits: DEFAULT_LIMITS }, log);
    const source = new MqttClientSource(
      ingest,
      writer,
      { url: sourceUrl, clientId, protocolVersion: 4, sessionExpirySeconds: 3600, keepaliveSeconds: 30 },
      [topics.events],
      maxInflight,
      log,
    );
    await source.start();
    const device = await mqtt.connectAsync(url, { clientId: `${clientId}-device`, protocolVersion: 4 });
    const acks: string[] = [];
    await device.subscribeAsync('qs/v1/+/acks', { qos: 1 });
    device.on('message', (_t, p) => acks.push(p.toString()));
    const close = async () => {
      await device.endAsync();
      await source.close();
      await writer.close();
      await sqlite.close();
    };
    return { sqlite, gated, writer, source, device, acks, close };
  }

  it('holds every PUBACK until its batch commits, while intake goes on', async () => {
    acksFromTelehub.length = 0;
    const { sqlite, gated, writer, source, device, acks, close } = await setup('telehub-test-hold');
    gated.close();
    const n = 50;
    for (let i = 0; i < n; i++) device.publish('qs/v1/dev-1/events', event(i), { qos: 1 });
    // All 50 reach the pipeline while the first commit is blocked: intake is not serialised.
    await until(() => writer.inflight === n, 'all events in flight');
    await brokerBarrier(source);
    assert.equal(acksFromTelehub.length, 0, 'no PUBACK may leave before the commit');
    assert.equal(acks.length, 0, 'no ACK message before the commit');
    assert.equal(await sqlite.countEvents(), 0);

    gated.open();
    await until(() => acksFromTelehub.length === n && acks.length === n, 'PUBACKs and ACKs after commit');
    assert.equal(await sqlite.countEvents(), n);
    // PUBACKs leave in the order the PUBLISHes arrived (MQTT §4.6).
    const sorted = [...acksFromTelehub].sort((a, b) => a - b);
    assert.deepEqual(acksFromTelehub, sorted);
    assert.ok(gated.batches.some((b) => b > 1), `events were batched (${gated.batches.join(',')})`);
    await close();
  });

  it('a malformed message does not block the ones behind it, and PUBACKs stay in order', async () => {
    // On the wire: the scripted broker records the PUBACKs in the order they arrive.
    const peer = await BrokerPeer.start();
    const sqlite = new SqliteStore(path.join(dir, 'order.db'));
    await sqlite.migrate();
    const writer = new BatchWriter(sqlite, { batchMax: 1000, batchWaitMs: 5, maxInflight: 1000, writeConcurrency: 1, retryMinMs: 10, retryMaxMs: 50 }, log);
    const source = new MqttClientSource(new Ingest(writer, new RouteTable([defaultRoute(topics.events, topics.ackTemplate)], DEFAULT_CODEC_DEFAULTS), { topics, limits: DEFAULT_LIMITS }, log), writer, { url: peer.url, clientId: 'telehub-test-order', protocolVersion: 4, sessionExpirySeconds: 60, keepaliveSeconds: 60 }, [topics.events], 1000, log);
    try {
      await source.start();
      const c = await peer.connection(0);
      // Packet ids out of numeric order, so the arrival order is not the sorted order.
      const ev = (i: number, packetId: number): PeerMessage => ({ topic: 'qs/v1/dev-1/events', payload: event(i), packetId, eventId: `dev-1-${i}` });
      const delivered: PeerMessage[] = [
        ev(0, 900),
        { topic: 'qs/v1/dev-1/events', payload: '{"schema":1', packetId: 17 }, // malformed: dead-lettered
        ev(1, 512),
        ev(2, 3),
        { topic: 'other/topic', payload: 'not ours', packetId: 64_000 }, // not an events topic: acknowledged, ignored
        ...Array.from({ length: 7 }, (_, i) => ev(3 + i, 40 + ((i * 37) % 11))),
      ];
      c.deliverMany(delivered);
      await c.waitFor(() => c.pubackCount === delivered.length, 'every PUBACK');
      assertPubacksFollowAcks(c, delivered, 'stored');
      assert.equal(acksOn(c).length, 10);
      const dead = c.publishes().filter((p) => p.topic === 'qs/v1/deadletter');
      assert.equal(dead.length, 1);
      assert.equal(JSON.parse(dead[0].payload).reason, 'invalid_json');
      const deadAt = c.seen.findIndex((s) => s.type === 'publish' && s.topic === 'qs/v1/deadletter');
      const deadPubackAt = c.seen.findIndex((s) => s.type === 'puback' && s.packetId === 17);
      assert.ok(deadAt < deadPubackAt, 'the dead letter is published before the malformed message is PUBACKed');
      assert.equal(await sqlite.countDeadLetters(), 1);
      assert.equal(await sqlite.countEvents(), 10);
    } finally {
      await source.close();
      await writer.close();
      await sqlite.close();
      await peer.close();
    }
  });

  it('PUBACKs leave in arrival order when a later batch commits first (PostgreSQL, write concurrency 2)', async () => {
    const db = await testDatabase();
    const pgStore = new PostgresStore({ connectionString: db.url, poolSize: 4 });
    await pgStore.migrate();
    // Each commit waits for its own gate, so the test decides the order in which batches commit.
    const gates: Array<{ size: number; open: () => void }> = [];
    const store = new Proxy(pgStore, {
      get: (target, prop) => {
        if (prop === 'writeBatch') {
          return async (b: WriteBatch): Promise<WriteResult> => {
            await new Promise<void>((open) => gates.push({ size: b.events.length, open }));
            return pgStore.writeBatch(b);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Store;
    const writer = new BatchWriter(store, { batchMax: 5, batchWaitMs: 5, mergeMax: 5, maxInflight: 100, writeConcurrency: 2, retryMinMs: 10, retryMaxMs: 50 }, log);
    const peer = await BrokerPeer.start();
    const source = new MqttClientSource(new Ingest(writer, new RouteTable([defaultRoute(topics.events, topics.ackTemplate)], DEFAULT_CODEC_DEFAULTS), { topics, limits: DEFAULT_LIMITS }, log), writer, { url: peer.url, clientId: 'telehub-test-concurrent', protocolVersion: 5, sessionExpirySeconds: 60, keepaliveSeconds: 60 }, [topics.events], 100, log);
    try {
      await source.start();
      const c = await peer.connection(0);
      const delivered: PeerMessage[] = Array.from({ length: 10 }, (_, i) => ({ topic: 'qs/v1/dev-1/events', payload: event(i), packetId: 1000 - i * 17, eventId: `dev-1-${i}` }));
      c.deliverMany(delivered);
      await until(() => gates.length === 2, 'two batches committing at once');
      assert.deepEqual(gates.map((g) => g.size), [5, 5]);

      // The second batch commits first: its ACKs may go out, its PUBACKs must wait for the first batch's.
      gates[1].open();
      await c.waitFor(() => acksOn(c).length === 5, 'the second batch ACKed');
      assert.deepEqual(acksOn(c).map((a) => a.eventId), delivered.slice(5).map((m) => m.eventId));
      // Barrier: a probe queued now reaches the broker after everything queued before it.
      const conn = (source as unknown as { conn: SubscriberConnection }).conn;
      conn.publish('probe/barrier', 'x', 1);
      await c.waitFor(() => c.publishes().some((p) => p.topic === 'probe/barrier'), 'the probe');
      assert.equal(c.pubackCount, 0, 'no PUBACK while the first batch is uncommitted');

      gates[0].open();
      await c.waitFor(() => c.pubackCount === 10, 'every PUBACK');
      assertPubacksFollowAcks(c, delivered, 'stored');
      assert.equal(await pgStore.countEvents(), 10);
    } finally {
      for (const g of gates) g.open();
      await source.close();
      await writer.close();
      await pgStore.close();
      await peer.close();
      await db.drop();
    }
  });

  it('pauses intake at TELEHUB_MAX_INFLIGHT and resumes after commits', async () => {
    acksFromTelehub.length = 0;
    const { sqlite, gated, writer, source, device, close } = await setup('telehub-test-cap', 20);
    gated.close();
    for (let i = 0; i < 100; i++) device.publish('qs/v1/dev-1/events', event(i), { qos: 1 });
    await until(() => writer.inflight === 20, 'the cap');
    // Nothing to await for "no more arrives": give the broker time to push more; the cap must hold.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(writer.inflight, 20, 'intake paused at the cap');
    assert.equal(acksFromTelehub.length, 0);
    gated.open();
    await until(() => writer.inflight === 0, 'drain');
    await until(() => acksFromTelehub.length >= 100, 'all PUBACKs');
    assert.equal(await sqlite.countEvents(), 100);
    await close();
  });

  it('a dropped connection voids parked PUBACKs; redelivery is answered duplicate', async () => {
    const { sqlite, gated, writer, source, device, acks, close } = await setup('telehub-test-drop');
    gated.close();
    for (let i = 0; i < 5; i++) device.publish('qs/v1/dev-1/events', event(i), { qos: 1 });
    await until(() => writer.inflight === 5, 'in flight');
    // Cut telehub's connection at the broker while the batch is uncommitted.
    const conn = (broker as unknown as { clients: Record<string, { conn: { destroy(): void } }> }).clients['telehub-test-drop'];
    conn.conn.destroy();
    gated.open();
    // The broker redelivers all 5 on the resumed session: each is acknowledged again as duplicate.
    await until(() => acks.filter((a) => a.includes('"duplicate"')).length === 5, 'duplicate ACKs after redelivery', 15_000);
    assert.equal(acks.filter((a) => a.includes('"stored"')).length, 5);
    assert.equal(await sqlite.countEvents(), 5);
    await close();
  });

  it('works over WebSocket (ws://…/mqtt): events stored, ACKed and PUBACKed after commit', async () => {
    acksFromTelehub.length = 0;
    const { sqlite, gated, writer, source, device, acks, close } = await setup('telehub-test-ws', 10_000, wsUrl);
    gated.close();
    for (let i = 0; i < 20; i++) device.publish('qs/v1/dev-1/events', event(i), { qos: 1 });
    await until(() => writer.inflight === 20, 'all events in flight');
    await brokerBarrier(source);
    assert.equal(acksFromTelehub.length, 0, 'no PUBACK before the commit');
    gated.open();
    await until(() => acksFromTelehub.length === 20 && acks.length === 20, 'PUBACKs and ACKs');
    assert.equal(await sqlite.countEvents(), 20);
    assert.ok(acks.every((a) => JSON.parse(a).status === 'stored'));
    await close();
  });

  it('keeps an idle connection alive with PINGREQs (keepalive 1 s)', async () => {
    const sqlite = new SqliteStore(path.join(dir, 'ka.db'));
    await sqlite.migrate();
    const writer = new BatchWriter(sqlite, { batchMax: 10, batchWaitMs: 5, maxInflight: 100, writeConcurrency: 1, retryMinMs: 10, retryMaxMs: 50 }, log);
    const source = new MqttClientSource(new Ingest(writer, new RouteTable([defaultRoute(topics.events, topics.ackTemplate)], DEFAULT_CODEC_DEFAULTS), { topics, limits: DEFAULT_LIMITS }, log), writer, { url, clientId: 'telehub-test-ka', protocolVersion: 4, sessionExpirySeconds: 60, keepaliveSeconds: 1 }, [topics.events], 100, log);
    await source.start();
    const conn = (source as unknown as { conn: SubscriberConnection }).conn;
    const generation = conn.generation;
    let pings = 0;
    const onPing = (_p: unknown, client: { id?: string }) => client?.id === 'telehub-test-ka' && pings++;
    broker.on('ping', onPing);
    // Aedes drops a client silent for 1.5 × keepalive; three pings prove the timer runs and the link stays up.
    await until(() => pings >= 3, 'three PINGREQs', 10_000);
    broker.off('ping', onPing);
    assert.equal(conn.generation, generation, 'never reconnected');
    assert.ok(source.ready);
    await source.close();
    await writer.close();
    await sqlite.close();
  });
});

/**
 * The embedded MQTT broker (Aedes) on TCP and WebSocket, with telehub's
 * intake hooked into `authorizePublish`.
 *
 * Aedes sends a QoS 1 PUBACK (or QoS 2 PUBREC) only after `authorizePublish`
 * calls back, so holding that callback until the batch has committed makes
 * the publishing device's own PUBACK mean "stored". Aedes handles all packets
 * of one socket read concurrently, so this does not serialise a device to one
 * message per commit (design §4). A publish is routed as the external
 * source routes it (the route table, pipeline/routes.ts); publishes on a
 * topic no route takes pass straight on, untouched.
 *
 * Every connection's packets are capped at `maxPacketBytes` before Aedes
 * buffers them (packet-size-guard.ts), and publications are numbered per QoS
 * lane so Aedes' dedupe cannot drop an ACK (aedes-lanes.ts).
 *
 * Takes: a BatchWriter-backed Ingest. Gives: TCP and WS listeners, ACK and
 * dead-letter publications to subscribers of the embedded broker.
 */
import type { Client, PublishPacket } from 'aedes';
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { listen } from '../../core/listen.js';
import { LanedAedes } from './aedes-lanes.js';
import { guardPacketSize } from './packet-size-guard.js';
import type { Ingest, MessagePublisher } from '../../pipeline/ingest.js';
import type { RouteMatch } from '../../pipeline/routes.js';
import { Corker } from '../corker.js';
import type { BatchWriter } from '../../pipeline/batch-writer.js';
import type { Metrics } from '../../core/metrics.js';
import type { ConnectionObserver } from '../../devices/monitor.js';
import type { BrokerTotals } from '../broker-health/stats.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  /** -1 disables the WebSocket listener. */
  wsPort: number;
  /** Largest MQTT packet a client may send (fixed header included); a larger one closes its connection. */
  maxPacketBytes: number;
}

export class EmbeddedBrokerSource {
  private broker!: LanedAedes;
  private tcp?: Server;
  private http?: HttpServer;
  private wss?: WebSocketServer;
  private accepting = true;
  /** Publishes on this source's broker (ACKs, dead letters). */
  readonly publisher: MessagePublisher;
  private readonly corker = new Corker();
  private readonly oversizedConns = new WeakSet<Duplex>();
  port = 0;
  wsPort = -1;
  /** For broker health (iot/broker/stats): PUBLISHes in from clients, out to subscribers, dropped. */
  private readonly counts = { in: 0, out: 0, dropped: 0 };
  private readonly startedAt = Date.now();

  constructor(
    private readonly ingest: Ingest,
    private readonly writer: BatchWriter,
    private readonly opts: EmbeddedBrokerOptions & { maxInflight: number },
    private readonly log: Logger,
    private readonly metrics?: Metrics,
    /** Told of connects, disconnects and which device a client publishes for (device presence). */
    private readonly presence?: ConnectionObserver,
  ) {
    this.publisher = {
      publish: (topic, payload, qos) => {
        const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
        this.broker.publish({ cmd: 'publish', topic, payload: bytes, qos, retain: false, dup: false }, (err) => {
          if (err) this.log.warn({ err, topic }, 'Embedded broker could not publish an ACK or dead letter.');
        });
      },
    };
  }

  /**
   * Starts the broker and binds its listeners. A listener that cannot bind
   * rejects with a ListenError (`listener` 'mqtt' or 'ws') and leaves
   * nothing running.
   */
  async start(): Promise<void> {
    try {
      await this.startListening();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async startListening(): Promise<void> {
    this.broker = await LanedAedes.start({
      // mqemitter queues deliveries beyond `concurrency`, and a queued message
      // with no subscriber (every device event here) completes synchronously
      // and starts the next: a long queue recursed until the stack overflowed
      // under load (found by the benchmark). Our own in-flight cap bounds
      // this instead.
      concurrency: Math.max(1000, this.opts.maxInflight),
      authorizePublish: (client, packet, callback) => {
        // Publications from telehub itself (client null) and topics no route takes pass.
        if (!client) return callback(null);
        const match = this.ingest.route(packet.topic);
        if (match === undefined) return callback(null);
        if (match.deviceId !== undefined) this.presence?.published(client.id, match.deviceId);
        if (!this.accepting) {
          // Shutting down: refuse by closing the connection so the device
          // keeps the message and resends it to the next telehub.
          this.counts.dropped++;
          return callback(new Error('telehub is shutting down'));
        }
        if (this.writer.hasCapacity) this.take(client, match, packet, callback);
        else {
          this.metrics?.intakePaused.inc();
          this.writer.waitForCapacity().then(
            () => this.take(client, match, packet, callback),
            (err) => callback(err),
          );
        }
      },
    });
    if (this.presence) this.observeConnections(this.presence);
    this.broker.on('clientError', (client, err) => this.log.debug({ clientId: client?.id, err: err.message }, 'MQTT client error.'));
    this.broker.on('publish', (_packet, client) => {
      if (client) this.counts.in++;
    });
    this.broker.on('client', (client) => this.countDeliveries(client));
    this.metrics?.mqttConnected.set(1);

    this.tcp = createServer((socket) => this.accept(socket));
    await listen(this.tcp, this.opts.port, this.opts.host, 'mqtt');
    this.port = (this.tcp.address() as AddressInfo).port;

    if (this.opts.wsPort >= 0) {
      this.http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect with the mqtt subprotocol\n');
      });
      // Bound first: a WebSocketServer re-emits its HTTP server's errors, and
      // one attached before a failed bind turned EADDRINUSE into an
      // unhandled 'error' event.
      await listen(this.http, this.opts.wsPort, this.opts.host, 'ws');
      this.wsPort = (this.http.address() as AddressInfo).port;
      // ws buffers a whole WebSocket message before passing it on, so cap it
      // too (MQTT clients send a packet as one or several messages).
      this.wss = new WebSocketServer({ server: this.http, maxPayload: this.opts.maxPacketBytes });
      this.wss.on('error', (err) => this.log.error({ err: err.message }, 'MQTT WebSocket listener failed.'));
      this.wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', (err: Error & { code?: string }) => {
          if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.oversized(stream, { remote: req.socket.remoteAddress, transport: 'websocket message' });
          stream.destroy();
        });
        this.accept(stream, req);
      });
    }
    this.log.info({ port: this.port, wsPort: this.wsPort, maxPacketBytes: this.opts.maxPacketBytes }, 'Embedded MQTT broker listening.');
  }

  /**
   * Tells presence about connects and disconnects. Aedes clears a client's
   * will before 'clientDisconnect', so whether it had one is noted at
   * connect; `_disconnected` (set by a DISCONNECT packet) tells a clean
   * disconnect, after which Aedes does not publish the will, from a drop.
   */
  private observeConnections(observer: ConnectionObserver): void {
    const hadWill = new WeakSet<Client>();
    this.broker.on('client', (client) => {
      if ((client as Client & { will?: unknown }).will) hadWill.add(client);
      observer.connected(client.id, Date.now());
    });
    this.broker.on('clientDisconnect', (client) => {
      const clean = (client as Client & { _disconnected?: boolean })._disconnected === true;
      observer.disconnected(client.id, Date.now(), !clean && hadWill.has(client));
    });
  }

  /** Hands a connection to Aedes behind the packet-size cap. */
  private accept(conn: Duplex, req?: IncomingMessage): void {
    let client: Client | undefined;
    guardPacketSize(conn, this.opts.maxPacketBytes, (bytes) => {
      this.oversized(conn, { remote: req?.socket.remoteAddress ?? (conn as { remoteAddress?: string }).remoteAddress, clientId: client?.id, bytes, transport: req ? 'websocket' : 'tcp' });
      conn.destroy();
    });
    client = this.broker.handle(conn, req);
  }

  /** Counts and logs a connection closed for an oversized packet, once per connection. */
  private oversized(conn: Duplex, what: { remote?: string; clientId?: string; bytes?: number; transport: string }): void {
    // Over WebSocket both the packet guard and ws' message cap can fire for one packet.
    if (this.oversizedConns.has(conn)) return;
    this.oversizedConns.add(conn);
    this.metrics?.mqttOversizedPackets.inc();
    this.counts.dropped++;
    this.log.warn(
      { ...what, maxBytes: this.opts.maxPacketBytes },
      'MQTT packet larger than TELEHUB_MQTT_MAX_PACKET_BYTES; connection closed.',
    );
  }

  private take(client: Client, match: RouteMatch, packet: PublishPacket, callback: (err?: Error | null) => void): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    this.ingest.take(match, packet.topic, payload, 'mqtt-embedded', this.publisher, () => {
      this.corker.cork(client.conn);
      callback(null);
    });
  }

  /**
   * Counts PUBLISHes handed to a client. Aedes has no delivery event; its
   * per-client `deliver0`/`deliverQoS` are the one place every delivery
   * passes (`deliverQoS` hands QoS 0 on to `deliver0`, counted there).
   */
  private countDeliveries(client: Client): void {
    const c = client as Client & { deliver0: (p: PublishPacket, cb: () => void) => void; deliverQoS: (p: PublishPacket, cb: () => void) => void };
    const { deliver0, deliverQoS } = c;
    if (typeof deliver0 !== 'function' || typeof deliverQoS !== 'function') return;
    c.deliver0 = (p, cb) => {
      this.counts.out++;
      deliver0(p, cb);
    };
    c.deliverQoS = (p, cb) => {
      if (p.qos !== 0) this.counts.out++;
      deliverQoS(p, cb);
    };
  }

  /** Running totals for broker health. */
  totals(): BrokerTotals {
    return {
      clientsConnected: this.broker?.connectedClients ?? 0,
      messagesIn: this.counts.in,
      messagesOut: this.counts.out,
      dropped: this.counts.dropped,
      uptimeS: Math.floor((Date.now() - this.startedAt) / 1000),
    };
  }

  /** Publishes telehub's own health messages (QoS 1, retained when asked). */
  publishHealth(topic: string, payload: string, retain: boolean): void {
    this.broker?.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain, dup: false }, (err) => {
      if (err) this.log.warn({ err, topic }, 'Embedded broker could not publish broker health.');
    });
  }

  /** Stops taking new events; publishes already taken still commit and are acknowledged. */
  stopIntake(): void {
    this.accepting = false;
    this.tcp?.close();
    this.http?.close();
  }

  async close(): Promise<void> {
    this.stopIntake();
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    this.corker.flush();
    const broker = this.broker;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
}

/**
 * One MQTT subscriber connection to an external broker, built on mqtt-packet
 * (the codec MQTT.js and Aedes use) and speaking only what telehub needs:
 * CONNECT on a persistent session (MQTT 3.1.1 or 5), one SUBSCRIBE at QoS 1 (every routed filter),
 * QoS 0/1 publishes of ACKs and dead letters, keepalive and reconnect, over
 * TCP, TLS, WebSocket or secure WebSocket.
 *
 * Why not MQTT.js (design §4): MQTT.js sends a QoS 1 PUBACK when its
 * `handleMessage` callback returns and reads nothing more until then, so it
 * cannot hold PUBACKs until a batch commits without serialising intake. An
 * earlier version intercepted a private method of a pinned MQTT.js; this one
 * owns the acknowledgement step outright, and also drops MQTT.js's per-packet
 * costs (a packet object, a store entry, debug calls and a socket write per
 * ACK), which were a quarter of telehub's CPU in the Mosquitto benchmark.
 *
 * Acknowledgements: the source calls `ack(type, packetId, generation)` in the
 * order the PUBLISHes arrived, once each event has committed and its ACK has
 * been handed to `publish`. Outgoing bytes go out in that exact order (one
 * FIFO), coalesced into one socket write per loop turn.
 *
 * Flow control of our own QoS 1 publishes (ACKs, dead letters): one may be
 * on the wire only while the broker's Receive Maximum (MQTT 5 CONNACK;
 * 65,535 when absent and for MQTT 3.1.1) is not reached and a packet id is
 * free (65,535 ids, one kept for a SUBSCRIBE after a reconnect). Otherwise
 * it waits in the FIFO and goes out as the broker's PUBACKs free slots;
 * `publish` never fails for want of an id. Everything behind a waiting item
 * waits too, PUBACKs included, so the wire order stays "ACK, then the PUBACK
 * of the message it answers" (design §4) even when the ACK had to wait.
 * See `publish` for why that is safe across a crash, and `waiting` for why
 * the FIFO's memory is bounded.
 *
 * A lost connection bumps `generation`: PUBACKs owed on it are dropped (the
 * broker redelivers those messages on the session's next connection, and a
 * packet id of the old connection may name another message on the new one).
 * Our own unacknowledged QoS 1 publishes are resent with DUP set after
 * reconnecting, as MQTT requires for a persistent session, again within the
 * new connection's Receive Maximum.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { generate, parser as packetParser, type Packet, type Parser } from 'mqtt-packet';
import WebSocket, { createWebSocketStream } from 'ws';
import { decodePublish, frameAt, publishSize, PUBACK, PUBCOMP, PUBLISH, PUBREL, writeAck, writePublish, type PublishFrame } from './frames.js';

export interface SubscriberOptions {
  url: string;
  clientId: string;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  /** MQTT 5 Session Expiry Interval; MQTT 3.1.1 sessions last as the broker decides. */
  sessionExpirySeconds: number;
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** The filters subscribed to at QoS 1, in one SUBSCRIBE (may be `$share/…` filters). */
  subscriptions: readonly string[];
  /** MQTT 5 Receive Maximum: how many unacknowledged PUBLISHes the broker may send us. */
  receiveMaximum: number;
  reconnectMs: number;
  connectTimeoutMs: number;
  /** Last will, sent retained at QoS 1 by the broker if this connection dies without a DISCONNECT (broker health). */
  will?: { topic: string; payload: string };
}

export interface SubscriberEvents {
  /** A PUBLISH arrived; `frame.payload` is a view of the received bytes. */
  publish(frame: PublishFrame): void;
  connect(sessionPresent: boolean): void;
  /** Every filter was granted (QoS per filter, in order); null when the resumed session kept them. */
  subscribed(granted: readonly number[] | null): void;
  /** The connection is gone (PUBACKs owed on it are void). */
  close(): void;
  error(err: Error): void;
}

type OutItem =
  | { kind: 'pub'; topic: string; payload: Buffer | string; qos: 0 | 1; onAcked?: () => void }
  | { kind: 'ack'; type: number; packetId: number; generation: number };

const OUT_CHUNK = 64 * 1024;
/** MQTT packet ids are 1…65535. */
const PACKET_IDS = 65_535;
/**
 * Ids our publishes may hold at once: one fewer than there are, so that a
 * SUBSCRIBE after a reconnect always finds a free id while every resent
 * publish keeps its own.
 */
const MAX_PUBLISH_IDS = PACKET_IDS - 1;

const V3_CONNACK: Record<number, string> = {
  1: 'Unacceptable protocol version',
  2: 'Identifier rejected',
  3: 'Server unavailable',
  4: 'Bad User Name or Password',
  5: 'Not authorized',
};
const V5_REASON: Record<number, string> = {
  0x80: 'Unspecified error', 0x81: 'Malformed Packet', 0x82: 'Protocol Error', 0x83: 'Implementation specific error',
  0x84: 'Unsupported Protocol Version', 0x85: 'Client Identifier not valid', 0x86: 'Bad User Name or Password',
  0x87: 'Not authorized', 0x88: 'Server unavailable', 0x89: 'Server busy', 0x8a: 'Banned', 0x8b: 'Server shutting down',
  0x8c: 'Bad authentication method', 0x8d: 'Keep Alive timeout', 0x8e: 'Session taken over', 0x8f: 'Topic Filter invalid',
  0x90: 'Topic Name invalid', 0x93: 'Receive Maximum exceeded', 0x95: 'Packet too large', 0x97: 'Quota exceeded',
  0x98: 'Administrative action', 0x99: 'Payload format invalid', 0x9a: 'Retain not supported', 0x9b: 'QoS not supported',
  0x9c: 'Use another server', 0x9d: 'Server moved', 0x9e: 'Shared Subscriptions not supported', 0x9f: 'Connection rate exceeded',
  0xa2: 'Wildcard Subscriptions not supported',
};

/** The broker answered the SUBSCRIBE with a failure (0x80 or above) for one or more filters. */
export class SubscriptionRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubscriptionRefused';
  }
}

export class SubscriberConnection {
  private stream: Duplex | undefined;
  private parser!: Parser;
  private readonly v5: boolean;
  /** Bumped on every connection loss; acks of an older generation are void. */
  generation = 0;
  connected = false;
  private everSubscribed = false;
  private closing = false;

  // Incoming.
  private rest: Buffer | undefined;
  private intakePaused = false;

  // Outgoing: bytes not yet handed to the socket are out[outStart, outLen).
  private out = Buffer.allocUnsafe(OUT_CHUNK);
  private outStart = 0;
  private outLen = 0;
  private flushScheduled = false;
  /**
   * Items held back (flow control, or no connection), in order:
   * waiting[waitHead…]. Bounded without a cap of its own: it holds at most
   * an ACK or dead letter and a PUBACK for each message the broker has sent
   * and telehub has not yet PUBACKed (a message's PUBACK always waits behind
   * its ACK), and the broker sends no more unPUBACKed messages than its
   * in-flight window toward telehub: with MQTT 5 the Receive Maximum telehub
   * asks for in CONNECT, min(65535, TELEHUB_MAX_INFLIGHT); with MQTT 3.1.1
   * the broker's own setting (Mosquitto's `max_inflight_messages`).
   */
  private waiting: OutItem[] = [];
  private waitHead = 0;
  /** Our QoS 1 publishes not yet acknowledged, by packet id, in send order (views of the sent bytes). */
  private readonly unacked = new Map<number, Buffer>();
  /** Ids of `unacked` still to be resent on this connection (its Receive Maximum was reached), in send order. */
  private readonly resend = new Set<number>();
  /** Callbacks of those that asked for one (rare: probes, tests). */
  private readonly ackCallbacks = new Map<number, () => void>();
  private nextId = 1;
  /** The broker's Receive Maximum: our QoS 1 publishes it takes unacknowledged. */
  private sendQuota = PACKET_IDS;
  /** The packet id of our SUBSCRIBE until its SUBACK (0: none outstanding). */
  private subscribeId = 0;

  private keepaliveTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastOut = 0;
  private pingSentAt = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly opts: SubscriberOptions,
    private readonly on: SubscriberEvents,
  ) {
    this.v5 = opts.protocolVersion === 5;
  }

  /** Connects, and keeps reconnecting after every loss until `close`. */
  start(): void {
    this.connect();
  }

  /** QoS 1 publishes sent and not yet acknowledged by the broker, plus held ones (and PUBACKs held behind them). */
  get pendingPublishes(): number {
    return this.unacked.size + this.waitingCount;
  }

  /** Items (publishes and PUBACKs) waiting for flow control or a connection. */
  get waitingCount(): number {
    return this.waiting.length - this.waitHead;
  }

  /** Our publishes on the wire of this connection and not yet acknowledged (what the broker's Receive Maximum counts). */
  private get inFlight(): number {
    return this.unacked.size - this.resend.size;
  }

  /** True when a new QoS 1 publish may be written now (see the file comment). */
  private canSendQos1(): boolean {
    return this.inFlight < this.sendQuota && this.unacked.size < MAX_PUBLISH_IDS;
  }

  /** True while something older waits: anything new must queue behind it, in order. */
  private get blocked(): boolean {
    return !this.connected || this.waitHead < this.waiting.length || this.resend.size > 0;
  }

  /**
   * Queues a PUBLISH (a string payload is written as UTF-8 straight into the
   * output buffer). `onAcked` runs when the broker acknowledges it (QoS 1)
   * or it is written (QoS 0). Never throws for flow control: when no packet
   * id is free or the broker's Receive Maximum is reached, the publish waits
   * (and so does everything queued after it) until the broker's PUBACKs
   * free a slot.
   *
   * Queued counts as handed over: the source releases the device message's
   * PUBACK right after this call, but that PUBACK is queued behind this
   * publish and reaches the wire only after it. If telehub crashes with the
   * ACK still queued (or written but not yet received by the broker), the
   * device's message was not PUBACKed either: the broker redelivers it to
   * the session and telehub answers `duplicate` — an ACK is never lost. A
   * lost connection keeps queued publishes (they are sent on the next one)
   * and drops the PUBACKs queued behind them (see `onStreamClose`).
   */
  publish(topic: string, payload: Buffer | string, qos: 0 | 1, onAcked?: () => void): void {
    if (this.blocked || (qos === 1 && !this.canSendQos1())) {
      this.waiting.push({ kind: 'pub', topic, payload, qos, onAcked });
      return;
    }
    this.writePublishNow(topic, payload, qos, onAcked);
  }

  /**
   * Publishes a retained QoS 0 message (broker health's `online`/`offline`)
   * when connected; otherwise drops it: the next connect announces again.
   * QoS 0 needs no packet id, so it stays out of the ACK flow control.
   */
  publishRetained(topic: string, payload: string): void {
    if (!this.connected) return;
    this.writePacket({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false });
  }

  /**
   * Queues a PUBACK/PUBREC for a PUBLISH received on connection `generation`;
   * dropped if that connection is gone. It goes out after everything queued
   * before it, in particular after the ACK published for that message.
   */
  ack(type: number, packetId: number, generation: number): void {
    if (generation !== this.generation) return;
    if (this.blocked) {
      this.waiting.push({ kind: 'ack', type, packetId, generation });
      return;
    }
    this.ensure(4);
    this.outLen = writeAck(this.out, this.outLen, type, packetId);
    this.scheduleFlush();
  }

  /** Stops reading PUBLISHes (the broker keeps the rest); bytes already read wait in memory. */
  pauseIntake(): void {
    if (this.intakePaused) return;
    this.intakePaused = true;
    this.stream?.pause();
  }

  resumeIntake(): void {
    if (!this.intakePaused) return;
    this.intakePaused = false;
    const rest = this.rest;
    this.rest = undefined;
    if (rest !== undefined && this.stream !== undefined) this.process(rest);
    if (!this.intakePaused) this.stream?.resume();
  }

  /**
   * Waits (up to `timeoutMs`) until every publish has been acknowledged,
   * then disconnects cleanly (the persistent session stays on the broker).
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    if (this.connected && this.pendingPublishes > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
    }
    const stream = this.stream;
    if (stream && !stream.destroyed) {
      if (this.connected) this.writePacket({ cmd: 'disconnect' });
      this.flush();
      await new Promise<void>((resolve) => {
        stream.once('close', () => resolve());
        stream.end();
        setTimeout(() => stream.destroy(), 1000).unref();
      });
    }
    this.teardown();
  }

  /**
   * Drops the connection now (and reconnects): PUBACKs owed on it are void
   * from this call on, so the broker redelivers those messages. For a
   * failure after which no PUBACK of this connection may go out.
   */
  abort(err: Error): void {
    this.flush(); // what is queued is in order (each ACK before its PUBACK) and may still go
    this.fail(err);
  }

  // ------------------------------------------------------------ connection

  private connect(): void {
    if (this.closing) return;
    let stream: Duplex;
    try {
      stream = this.openTransport();
    } catch (err) {
      this.on.error(err as Error);
      this.scheduleReconnect();
      return;
    }
    this.stream = stream;
    this.rest = undefined;
    this.intakePaused = false;
    this.parser = packetParser({ protocolVersion: this.opts.protocolVersion });
    this.parser.on('packet', (p: Packet) => this.onPacket(p));
    this.parser.on('error', (err: Error) => this.fail(new Error(`Malformed packet from the broker: ${err.message}`)));
    stream.on('data', (chunk: Buffer) => {
      if (stream !== this.stream) return;
      this.process(this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]));
    });
    stream.on('error', (err: Error) => this.on.error(err));
    stream.on('close', () => this.onStreamClose(stream));

    this.out = Buffer.allocUnsafe(OUT_CHUNK);
    this.outStart = this.outLen = 0;
    this.writePacket({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: this.opts.protocolVersion,
      clientId: this.opts.clientId,
      clean: false,
      keepalive: this.opts.keepaliveSeconds,
      username: this.opts.username,
      password: this.opts.password === undefined ? undefined : Buffer.from(this.opts.password),
      properties: this.v5 ? { sessionExpiryInterval: this.opts.sessionExpirySeconds, receiveMaximum: this.opts.receiveMaximum } : undefined,
      will: this.opts.will ? { topic: this.opts.will.topic, payload: Buffer.from(this.opts.will.payload), qos: 1, retain: true } : undefined,
    });
    this.connectTimer = setTimeout(() => this.fail(new Error(`No CONNACK within ${this.opts.connectTimeoutMs} ms.`)), this.opts.connectTimeoutMs);
  }

  private openTransport(): Duplex {
    const u = new URL(this.opts.url);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const proto = u.protocol;
    const tlsOpts = { ca: this.opts.ca, cert: this.opts.cert, key: this.opts.key };
    if (proto === 'mqtt:' || proto === 'tcp:') {
      const s = net.connect({ host, port: Number(u.port || 1883) });
      s.setNoDelay(true);
      return s;
    }
    if (proto === 'mqtts:' || proto === 'ssl:') {
      const s = tls.connect({ host, port: Number(u.port || 8883), servername: net.isIP(host) ? undefined : host, ...tlsOpts });
      s.setNoDelay(true);
      return s;
    }
    if (proto === 'ws:' || proto === 'wss:') {
      const ws = new WebSocket(u.toString(), 'mqtt', { ...tlsOpts, perMessageDeflate: false });
      return createWebSocketStream(ws);
    }
    throw new Error(`Unsupported MQTT URL scheme ${proto}`);
  }

  /**
   * Ends this connection with an error and reconnects. The connection counts
   * as lost at once (not when the socket's close event comes): nothing owed
   * on it is written from here on.
   */
  private fail(err: Error): void {
    this.on.error(err);
    const stream = this.stream;
    if (stream === undefined) return;
    this.onStreamClose(stream);
    stream.destroy();
  }

  private onStreamClose(stream: Duplex): void {
    if (stream !== this.stream) return; // an older stream, or already handled by `fail`
    const wasConnected = this.connected;
    this.connected = false;
    this.generation++;
    this.stream = undefined;
    this.rest = undefined;
    clearTimeout(this.connectTimer);
    clearInterval(this.keepaliveTimer);
    // Bytes not yet written are PUBACKs of this connection (void) and
    // publishes whose copies wait in `unacked` for the resend.
    this.outStart = this.outLen;
    this.waiting = this.waiting.slice(this.waitHead).filter((item) => item.kind === 'pub');
    this.waitHead = 0;
    this.resend.clear();
    this.subscribeId = 0;
    if (wasConnected) this.on.close();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closing) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), this.opts.reconnectMs);
  }

  private teardown(): void {
    clearTimeout(this.connectTimer);
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    this.stream?.destroy();
    this.stream = undefined;
    this.connected = false;
  }

  // ------------------------------------------------------------ incoming

  /** Splits `buf` into frames; PUBLISH and PUBACK are decoded here, the rest by mqtt-packet. */
  private process(buf: Buffer): void {
    let pos = 0;
    try {
      while (pos < buf.length && !this.intakePaused) {
        const f = frameAt(buf, pos);
        if (f === undefined) break;
        const type = buf[pos] >> 4;
        if (type === PUBLISH) {
          if (!this.connected) throw new Error('PUBLISH before CONNACK.');
          this.on.publish(decodePublish(buf, pos, f.body, f.end, this.v5));
        } else if (type === PUBACK) {
          if (f.end - f.body < 2) throw new Error('Malformed PUBACK.');
          this.onPuback(buf.readUInt16BE(f.body), f.end - f.body > 2 ? buf[f.body + 2] : 0);
        } else {
          this.parser.parse(buf.subarray(pos, f.end));
        }
        pos = f.end;
        if (this.stream === undefined) return; // failed while handling
      }
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.rest = pos < buf.length ? buf.subarray(pos) : undefined;
  }

  private onPacket(p: Packet): void {
    switch (p.cmd) {
      case 'connack':
        return this.onConnack(p);
      case 'suback': {
        const granted = this.opts.subscriptions.map((_, i) => (p.granted as number[])[i] ?? 0x80);
        const refused: string[] = [];
        granted.forEach((g, i) => {
          if (g >= 0x80) refused.push(`${this.opts.subscriptions[i]} (${(this.v5 && V5_REASON[g]) || 'Failure'})`);
        });
        if (refused.length > 0) {
          this.fail(new SubscriptionRefused(`The broker refused the subscription to ${refused.join(', ')}; check its ACL for this client and the route filters.`));
          return;
        }
        this.subscribeId = 0;
        this.everSubscribed = true;
        this.on.subscribed(granted);
        return;
      }
      case 'pingresp':
        this.pingSentAt = 0;
        return;
      case 'pubrel':
        // QoS 2 (never granted on our QoS 1 subscription): the PUBREC went after the commit.
        this.ack(PUBCOMP, p.messageId ?? 0, this.generation);
        return;
      case 'pubrec':
      case 'pubcomp':
        return; // we never publish at QoS 2
      case 'disconnect': {
        const code = p.reasonCode ?? 0;
        this.on.error(new Error(`The broker disconnected telehub: ${V5_REASON[code] ?? `reason ${code}`}.`));
        return;
      }
      default:
        this.fail(new Error(`Unexpected ${p.cmd} packet from the broker.`));
    }
  }

  private onConnack(p: Extract<Packet, { cmd: 'connack' }>): void {
    clearTimeout(this.connectTimer);
    const code = (this.v5 ? p.reasonCode : p.returnCode) ?? 0;
    if (code !== 0) {
      const why = (this.v5 ? V5_REASON[code] : V3_CONNACK[code]) ?? `code ${code}`;
      this.fail(new Error(`Connection refused: ${why}`));
      return;
    }
    this.connected = true;
    this.sendQuota = (this.v5 && p.properties?.receiveMaximum) || PACKET_IDS;
    this.lastOut = Date.now();
    this.pingSentAt = 0;
    const ka = this.opts.keepaliveSeconds * 1000;
    if (ka > 0) {
      this.keepaliveTimer = setInterval(() => this.keepalive(ka), Math.max(250, ka / 4));
      this.keepaliveTimer.unref();
    }
    this.on.connect(p.sessionPresent);
    if (!this.everSubscribed || !p.sessionPresent) {
      this.subscribeId = this.allocateId();
      this.writePacket({ cmd: 'subscribe', messageId: this.subscribeId, subscriptions: this.opts.subscriptions.map((topic) => ({ topic, qos: 1 as const })) });
    } else {
      this.on.subscribed(null);
    }
    // Our unacknowledged publishes go first, in their order, flagged DUP, as
    // many as this connection's Receive Maximum allows; the rest (and
    // everything waiting behind them) follow as the broker acknowledges.
    for (const id of this.unacked.keys()) this.resend.add(id);
    this.drainWaiting();
    this.scheduleFlush();
  }

  private onPuback(packetId: number, reason: number): void {
    if (!this.unacked.delete(packetId)) return; // a PUBACK for a publish of an earlier run: harmless
    this.resend.delete(packetId); // (a broker acknowledging a publish of the previous connection before its resend)
    if (reason >= 0x80) this.on.error(new Error(`The broker refused a publication (${V5_REASON[reason] ?? `reason ${reason}`}).`));
    if (this.ackCallbacks.size > 0) {
      const cb = this.ackCallbacks.get(packetId);
      if (cb !== undefined) {
        this.ackCallbacks.delete(packetId);
        cb();
      }
    }
    if (this.blocked) this.drainWaiting();
    if (this.unacked.size === 0 && this.waitingCount === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  private keepalive(ka: number): void {
    const now = Date.now();
    if (this.pingSentAt !== 0) {
      if (now - this.pingSentAt > ka) this.fail(new Error('Keepalive timeout: no PINGRESP from the broker.'));
      return;
    }
    if (now - this.lastOut >= ka / 2) {
      this.pingSentAt = now;
      this.writePacket({ cmd: 'pingreq' });
    }
  }

  // ------------------------------------------------------------ outgoing

  /** Writes what flow control now allows: resends first, then waiting items, strictly in order. */
  private drainWaiting(): void {
    if (!this.connected) return;
    if (!this.drainResend()) return;
    const w = this.waiting;
    let i = this.waitHead;
    while (i < w.length) {
      const item = w[i];
      if (item.kind === 'pub') {
        if (item.qos === 1 && !this.canSendQos1()) break;
        this.writePublishNow(item.topic, item.payload, item.qos, item.onAcked);
      } else if (item.generation === this.generation) {
        this.ensure(4);
        this.outLen = writeAck(this.out, this.outLen, item.type, item.packetId);
      }
      i++;
    }
    // A queue with a moving head: one PUBACK from the broker frees one slot,
    // so this runs once per PUBACK and must not copy the array each time.
    if (i === w.length) {
      this.waiting = [];
      this.waitHead = 0;
    } else if (i > 1024 && i * 2 > w.length) {
      this.waiting = w.slice(i);
      this.waitHead = 0;
    } else {
      this.waitHead = i;
    }
    this.scheduleFlush();
  }

  /** Resends unacknowledged publishes within the Receive Maximum; true when none is left to resend. */
  private drainResend(): boolean {
    if (this.resend.size === 0) return true;
    for (const id of this.resend) {
      if (this.inFlight >= this.sendQuota) break;
      const bytes = this.unacked.get(id)!;
      this.resend.delete(id); // (deleting the current entry keeps a Set's iteration going)
      this.ensure(bytes.length);
      const at = this.outLen;
      this.outLen += bytes.copy(this.out, at);
      this.out[at] |= 0x08; // DUP
    }
    this.scheduleFlush();
    return this.resend.size === 0;
  }

  private writePublishNow(topic: string, payload: Buffer | string, qos: 0 | 1, onAcked?: () => void): void {
    const topicBytes = Buffer.byteLength(topic);
    const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    const size = publishSize(topicBytes, payloadBytes, qos, this.v5);
    const id = qos === 1 ? this.allocateId() : 0;
    this.ensure(size);
    const start = this.outLen;
    this.outLen = writePublish(this.out, start, topic, topicBytes, payload, payloadBytes, qos, id, this.v5);
    if (qos === 1) {
      this.unacked.set(id, this.out.subarray(start, this.outLen));
      if (onAcked) this.ackCallbacks.set(id, onAcked);
    } else if (onAcked) queueMicrotask(onAcked);
    this.scheduleFlush();
  }

  /**
   * The next free packet id. Callers check first that one is free: a
   * publish only while `unacked` holds fewer than MAX_PUBLISH_IDS, a
   * SUBSCRIBE (at most one outstanding) finds the id kept for it.
   */
  private allocateId(): number {
    for (let tries = 0; tries < PACKET_IDS; tries++) {
      const id = this.nextId;
      this.nextId = id === PACKET_IDS ? 1 : id + 1;
      if (!this.unacked.has(id) && id !== this.subscribeId) return id;
    }
    throw new Error('No free MQTT packet id.'); // a broken invariant, see above
  }

  private writePacket(packet: Packet): void {
    const bytes = generate(packet, { protocolVersion: this.opts.protocolVersion });
    this.ensure(bytes.length);
    this.outLen += bytes.copy(this.out, this.outLen);
    this.scheduleFlush();
  }

  /**
   * Makes room for `n` more bytes. Bytes already handed to the socket (and
   * views kept in `unacked`) are never overwritten: a full chunk is flushed
   * and replaced, not reused.
   */
  private ensure(n: number): void {
    if (this.outLen + n <= this.out.length) return;
    this.flush();
    this.out = Buffer.allocUnsafe(Math.max(OUT_CHUNK, n));
    this.outStart = this.outLen = 0;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Hands what is queued to the socket in one write. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.outLen === this.outStart) return;
    const bytes = this.out.subarray(this.outStart, this.outLen);
    this.outStart = this.outLen;
    if (this.stream === undefined || this.stream.destroyed) return;
    this.stream.write(bytes);
    this.lastOut = Date.now();
  }
}

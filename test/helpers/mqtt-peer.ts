/**
 * A scripted MQTT broker for tests of telehub's own subscriber connection
 * (src/sources/mqtt-client/): a TCP server speaking MQTT 3.1.1 or 5 through
 * mqtt-packet (the codec of MQTT.js and Aedes) that records every packet
 * telehub sends, in wire order, and lets the test decide what the broker
 * sends and when it acknowledges telehub's own publishes.
 *
 * Why not only a real broker: Aedes and Mosquitto cannot be told to hold
 * their PUBACKs, to announce a given Receive Maximum per connection or to
 * drop a session's connection at a chosen moment, and neither tells in
 * which order PUBACKs arrived on the wire. The real brokers run in
 * mqtt-client.test.ts (Aedes) and test/e2e (Mosquitto).
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { generate, parser as packetParser, type Packet } from 'mqtt-packet';

/** A packet telehub sent, as recorded in wire order. */
export type Seen =
  | { type: 'publish'; packetId: number; topic: string; payload: string; qos: number; dup: boolean }
  | { type: 'puback'; packetId: number }
  | { type: 'other'; cmd: string };

/** A message the peer delivers to telehub (`eventId`: the event it carries, when it is one). */
export interface PeerMessage {
  topic: string;
  payload: string;
  packetId: number;
  eventId?: string;
  dup?: boolean;
}

export interface PeerOptions {
  /** MQTT 5 CONNACK Receive Maximum of the n-th connection (0-based); undefined: none announced (65,535). */
  receiveMaximum?: (connection: number) => number | undefined;
  /** CONNACK session present of the n-th connection; default: false for the first, true after. */
  sessionPresent?: (connection: number) => boolean;
  /** Hold the PUBACKs for telehub's QoS 1 publishes until `release` (default: acknowledge at once). */
  holdPubacks?: boolean;
}

/** One connection from telehub. Emits 'packet' (Seen) after recording each. */
export class PeerConnection extends EventEmitter {
  readonly seen: Seen[] = [];
  /** telehub's QoS 1 publishes not yet acknowledged by this peer, by packet id. */
  readonly outstanding = new Set<number>();
  /** The most of telehub's publishes ever outstanding at once on this connection. */
  maxOutstanding = 0;
  /** telehub publishes that reused a packet id still outstanding (a protocol violation). */
  readonly idReuses: number[] = [];
  /** How many PUBLISHes and PUBACKs telehub sent (kept as counts: `waitFor` conditions run per packet). */
  publishCount = 0;
  pubackCount = 0;
  /** Ids of telehub's publishes whose PUBACK is held, in arrival order. */
  private held: number[] = [];
  protocolVersion: 4 | 5 = 4;
  holdPubacks: boolean;
  closed = false;

  constructor(
    readonly socket: Socket,
    readonly index: number,
    private readonly opts: PeerOptions,
  ) {
    super();
    this.holdPubacks = opts.holdPubacks ?? false;
    const p = packetParser();
    p.on('packet', (packet: Packet) => this.onPacket(packet));
    p.on('error', (err: Error) => this.emit('error', err));
    socket.on('data', (chunk: Buffer) => p.parse(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
  }

  /** Sends a packet to telehub. */
  send(packet: Packet): void {
    if (!this.closed) this.socket.write(generate(packet, { protocolVersion: this.protocolVersion }));
  }

  /** Delivers a QoS 1 message to telehub, as a broker forwards a device's publish. */
  deliver(topic: string, payload: string | Buffer, packetId: number, dup = false): void {
    this.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId: packetId, dup, retain: false });
  }

  /** Delivers several QoS 1 messages in one socket write. */
  deliverMany(messages: PeerMessage[]): void {
    if (this.closed || messages.length === 0) return;
    const opts = { protocolVersion: this.protocolVersion };
    const frames = messages.map((m) =>
      generate({ cmd: 'publish', topic: m.topic, payload: Buffer.from(m.payload), qos: 1, messageId: m.packetId, dup: m.dup ?? false, retain: false }, opts),
    );
    this.socket.write(Buffer.concat(frames));
  }

  /** Acknowledges up to `n` held publishes of telehub, oldest first. */
  release(n = Infinity): number {
    const ids = this.held.splice(0, Math.min(n, this.held.length));
    for (const id of ids) this.acknowledge(id);
    if (ids.length > 0) this.emit('released');
    return ids.length;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Resolves when `cond` holds, checked after every packet telehub sends and every `release`; rejects after `ms`. */
  async waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
    if (cond()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('packet', check);
        this.off('released', check);
      };
      this.on('packet', check);
      this.on('released', check);
    });
  }

  /** The packets telehub sent of one type, in wire order. */
  publishes(): Array<Extract<Seen, { type: 'publish' }>> {
    return this.seen.filter((s): s is Extract<Seen, { type: 'publish' }> => s.type === 'publish');
  }

  pubacks(): number[] {
    return this.seen.flatMap((s) => (s.type === 'puback' ? [s.packetId] : []));
  }

  private acknowledge(id: number): void {
    this.outstanding.delete(id);
    this.send({ cmd: 'puback', messageId: id });
  }

  private onPacket(packet: Packet): void {
    let seen: Seen;
    switch (packet.cmd) {
      case 'connect': {
        this.protocolVersion = packet.protocolVersion === 5 ? 5 : 4;
        const receiveMaximum = this.opts.receiveMaximum?.(this.index);
        const sessionPresent = this.opts.sessionPresent?.(this.index) ?? this.index > 0;
        this.send({
          cmd: 'connack',
          sessionPresent,
          ...(this.protocolVersion === 5 ? { reasonCode: 0, properties: receiveMaximum === undefined ? {} : { receiveMaximum } } : { returnCode: 0 }),
        });
        seen = { type: 'other', cmd: 'connect' };
        break;
      }
      case 'subscribe':
        this.send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1) });
        seen = { type: 'other', cmd: 'subscribe' };
        break;
      case 'pingreq':
        this.send({ cmd: 'pingresp' });
        seen = { type: 'other', cmd: 'pingreq' };
        break;
      case 'publish': {
        const id = packet.messageId ?? 0;
        this.publishCount++;
        seen = { type: 'publish', packetId: id, topic: packet.topic, payload: packet.payload.toString(), qos: packet.qos, dup: packet.dup };
        if (packet.qos === 1) {
          if (this.outstanding.has(id) && !packet.dup) this.idReuses.push(id);
          this.outstanding.add(id);
          this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding.size);
          if (this.holdPubacks) this.held.push(id);
          else this.acknowledge(id);
        }
        break;
      }
      case 'puback':
        this.pubackCount++;
        seen = { type: 'puback', packetId: packet.messageId ?? 0 };
        break;
      default:
        seen = { type: 'other', cmd: packet.cmd };
    }
    this.seen.push(seen);
    this.emit('packet', seen);
  }
}

/** The server: one PeerConnection per connection telehub makes. */
export class BrokerPeer extends EventEmitter {
  readonly connections: PeerConnection[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly opts: PeerOptions,
  ) {
    super();
    server.on('connection', (socket) => {
      socket.setNoDelay(true);
      const c = new PeerConnection(socket, this.connections.length, this.opts);
      this.connections.push(c);
      this.emit('connection', c);
    });
  }

  static async start(opts: PeerOptions = {}): Promise<BrokerPeer> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new BrokerPeer(server, `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, opts);
  }

  /** The n-th connection (0-based) once it has subscribed or resumed its session (its CONNACK is sent). */
  async connection(n: number, ms = 20_000): Promise<PeerConnection> {
    const signal = AbortSignal.timeout(ms);
    while (this.connections.length <= n) {
      await once(this, 'connection', { signal }).catch(() => {
        throw new Error(`timed out waiting for connection ${n} (${this.connections.length} so far)`);
      });
    }
    const c = this.connections[n];
    await c.waitFor(() => c.seen.some((s) => s.type === 'other' && s.cmd === 'connect'), `connection ${n}`);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** The ACK messages telehub published on one connection (topics ending in `/acks`), parsed, with their place in `seen`. */
export function acksOn(c: PeerConnection): Array<{ index: number; eventId: string; status: string; dup: boolean; packetId: number }> {
  const out = [];
  for (let i = 0; i < c.seen.length; i++) {
    const s = c.seen[i];
    if (s.type !== 'publish' || !s.topic.endsWith('/acks')) continue;
    const a = JSON.parse(s.payload) as { event_id: string; status: string };
    out.push({ index: i, eventId: a.event_id, status: a.status, dup: s.dup, packetId: s.packetId });
  }
  return out;
}

/**
 * Asserts the wire order on one connection: telehub PUBACKed exactly
 * `delivered`, in that order, and each PUBACK came after an ACK of `status`
 * for its event (`eventId`; a message without one, e.g. a dead-lettered or
 * ignored one, is only checked for its place in the order).
 */
export function assertPubacksFollowAcks(c: PeerConnection, delivered: PeerMessage[], status: string): void {
  const ackAt = new Map<string, number>();
  for (const a of acksOn(c)) if (a.status === status && !ackAt.has(a.eventId)) ackAt.set(a.eventId, a.index);
  const pubackAt: number[] = [];
  c.seen.forEach((s, i) => s.type === 'puback' && pubackAt.push(i));
  assert.deepEqual(c.pubacks(), delivered.map((m) => m.packetId), 'PUBACKs in the order the PUBLISHes were delivered');
  for (let k = 0; k < delivered.length; k++) {
    if (delivered[k].eventId === undefined) continue;
    const a = ackAt.get(delivered[k].eventId!);
    assert.ok(a !== undefined && a < pubackAt[k], `the ${status} ACK of ${delivered[k].eventId} precedes its PUBACK (ACK at ${a}, PUBACK at ${pubackAt[k]})`);
  }
}

/**
 * The lean load generator (BENCH_CLIENT=lean, the default): the same devices,
 * topics, payloads, QoS and window as the MQTT.js one (load.ts), for a
 * fraction of the bench's CPU, so that on a small machine the devices take
 * less of the cores telehub is being measured on.
 *
 * Per device:
 *   - one raw TCP socket (node:net, no Nagle) speaking MQTT 3.1.1 with
 *     mqtt-packet: CONNECT (clean session, keepalive 0), SUBSCRIBE to its ACK
 *     topic at QoS 1 (granted QoS 1 is required);
 *   - every PUBLISH (QoS 1, packet id = 1 + local index mod 65535) is encoded
 *     before the clock starts into one contiguous buffer, so a window refill is
 *     one `write` of a slice of it (no encoding, no copy);
 *   - incoming bytes are split into packets by their fixed header; the two
 *     hot kinds, PUBLISH (the ACKs) and PUBACK, are decoded in place (topic
 *     compared as bytes, payload a slice), every other packet (CONNACK,
 *     SUBACK, ...) goes to the device's mqtt-packet parser. (Running the ACKs
 *     through mqtt-packet's parser too cost about half of this generator's
 *     CPU: BufferList copies, a packet object and debug() calls per packet.)
 *   - each incoming QoS 1 PUBLISH (an ACK) is answered with a PUBACK; the
 *     PUBACKs of one read go out in one buffer, corked together with the
 *     refill they allow;
 *   - an ACK is checked byte for byte against the exact shape
 *     {"schema":1,"event_id":"<tag>-<n>","device_id":"<device>","status":"stored"}
 *     (no JSON.parse); anything else falls back to the full JSON check the
 *     MQTT.js generator does, so both count and verify ACKs the same way;
 *   - the PUBACKs for its own PUBLISHes are counted by packet id; `verify`
 *     also reports PUBLISHes that never got one.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { generate, parser as mqttParser, type Packet, type Parser } from 'mqtt-packet';
import { eventPayload, FleetBase, type BaseDevice, type LoadOptions } from './fleet.js';

/** Above this many bytes of PUBLISH packets in all, encode per window refill instead of up front. */
const PRE_ENCODE_MAX_BYTES = 512 * 1024 * 1024;
const CONNECT_TIMEOUT_MS = 10_000;
const DISCONNECT = Buffer.from([0xe0, 0x00]);

interface LeanDevice extends BaseDevice {
  socket: net.Socket;
  parser: Parser;
  /** All of this device's PUBLISH packets back to back (undefined: encoded per refill), and where each starts. */
  wire: Buffer | undefined;
  offsets: Uint32Array | undefined;
  /** 1 while a PUBLISH with that packet id awaits its PUBACK. */
  awaitingPuback: Uint8Array;
  pubacks: number;
  unexpectedPubacks: number;
  reusedIds: number;
  /** `","device_id":"<id>","status":"stored"}`: the tail of a well-formed 'stored' ACK. */
  storedTail: Buffer;
  ackTopicBytes: Buffer;
  /** The start of a packet that the last read did not complete. */
  carry: Buffer | undefined;
  /** Packet ids of the ACKs received in the current read, to PUBACK. */
  toPuback: number[];
  /** Time of the current read. */
  now: number;
  /** Some event got its first answer in the current read. */
  freed: boolean;
  closing: boolean;
  onConnectPacket: ((p: Packet) => void) | undefined;
}

export class LeanFleet extends FleetBase<LeanDevice> {
  private sending = false;
  /** `{"schema":1,"event_id":"<tag>-`: the head of a well-formed ACK. */
  private readonly ackHead: Buffer;
  private readonly host: string;
  private readonly port: number;

  constructor(o: LoadOptions) {
    super(o);
    const u = new URL(o.url);
    if (u.protocol !== 'mqtt:' && u.protocol !== 'tcp:') throw new Error(`lean generator: only mqtt:// URLs are supported, not ${o.url} (use BENCH_CLIENT=mqttjs)`);
    this.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = u.port ? Number(u.port) : 1883;
    this.ackHead = Buffer.from(`{"schema":1,"event_id":"${o.tag}-`);
  }

  async connect(): Promise<void> {
    const plan = this.plan();
    let total = 0;
    for (const p of plan) total += (p.end - p.start) * (Buffer.byteLength(p.eventsTopic) + 200);
    const preEncode = total <= PRE_ENCODE_MAX_BYTES;
    for (const p of plan) {
      const d: LeanDevice = {
        ...p,
        socket: undefined as unknown as net.Socket,
        parser: mqttParser({ protocolVersion: 4 }),
        wire: undefined,
        offsets: undefined,
        awaitingPuback: new Uint8Array(65536),
        pubacks: 0,
        unexpectedPubacks: 0,
        reusedIds: 0,
        storedTail: Buffer.from(`","device_id":"${p.id}","status":"stored"}`),
        ackTopicBytes: Buffer.from(p.ackTopic),
        carry: undefined,
        toPuback: [],
        now: 0,
        freed: false,
        closing: false,
        onConnectPacket: undefined,
      };
      if (preEncode) this.encodeAll(d);
      this.devices.push(d);
    }
    await Promise.all(this.devices.map((d) => this.connectOne(d)));
  }

  async close(): Promise<void> {
    this.running = false;
    this.sending = false;
    await Promise.all(
      this.devices.map(
        (d) =>
          new Promise<void>((resolve) => {
            d.closing = true;
            const s = d.socket;
            if (!s || s.destroyed) return resolve();
            const t = setTimeout(() => s.destroy(), 2000);
            s.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            s.end(DISCONNECT);
          }),
      ),
    );
  }

  protected startSending(): void {
    this.sending = true;
    for (const d of this.devices) this.fill(d);
  }

  protected transportProblems(): string[] {
    const p: string[] = [];
    let missing = 0;
    let unexpected = 0;
    let reused = 0;
    for (const d of this.devices) {
      missing += d.next - d.start - d.pubacks;
      unexpected += d.unexpectedPubacks;
      reused += d.reusedIds;
    }
    if (missing > 0) p.push(`${missing} PUBLISHes got no PUBACK`);
    if (unexpected > 0) p.push(`${unexpected} PUBACKs named a packet id with no PUBLISH awaiting one`);
    if (reused > 0) p.push(`${reused} packet ids were reused while still awaiting a PUBACK`);
    return p;
  }

  private packetId(d: LeanDevice, gi: number): number {
    return ((gi - d.start) % 65535) + 1;
  }

  private encodeOne(d: LeanDevice, gi: number): Buffer {
    return generate({
      cmd: 'publish',
      topic: d.eventsTopic,
      payload: eventPayload(this.eventId(gi), d.id, gi),
      qos: 1,
      messageId: this.packetId(d, gi),
      dup: false,
      retain: false,
    });
  }

  private encodeAll(d: LeanDevice): void {
    const n = d.end - d.start;
    const parts: Buffer[] = new Array(n);
    const offsets = new Uint32Array(n + 1);
    let off = 0;
    for (let k = 0; k < n; k++) {
      const b = this.encodeOne(d, d.start + k);
      parts[k] = b;
      offsets[k] = off;
      off += b.length;
    }
    offsets[n] = off;
    d.wire = Buffer.concat(parts, off);
    d.offsets = offsets;
  }

  private connectOne(d: LeanDevice): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        d.onConnectPacket = undefined;
        if (err) {
          d.socket.destroy();
          reject(err);
        } else resolve();
      };
      const timer = setTimeout(() => done(new Error(`device ${d.id}: no CONNACK/SUBACK within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      const s = net.connect({ host: this.host, port: this.port });
      d.socket = s;
      s.setNoDelay(true);
      d.onConnectPacket = (p) => {
        if (p.cmd === 'connack') {
          const rc = p.returnCode ?? p.reasonCode ?? 0;
          if (rc !== 0) return done(new Error(`device ${d.id}: CONNACK return code ${rc}`));
          s.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: d.ackTopic, qos: 1 }] }));
        } else if (p.cmd === 'suback') {
          const g = p.granted[0];
          if (g !== 1) return done(new Error(`device ${d.id}: ACK subscription not granted at QoS 1 (${JSON.stringify(p.granted)})`));
          done();
        }
      };
      d.parser.on('packet', (p: Packet) => this.onPacket(d, p));
      d.parser.on('error', (err: Error) => {
        const e = new Error(`device ${d.id}: bad MQTT packet from the broker: ${err.message}`);
        if (!settled) done(e);
        else this.abort(e);
      });
      s.on('connect', () => {
        s.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: d.id, clean: true, keepalive: 0 }));
      });
      s.on('data', (chunk: Buffer) => this.onData(d, chunk));
      s.on('error', (err) => {
        const e = new Error(`device ${d.id}: ${err.message}`);
        if (!settled) done(e);
        else this.abort(e);
      });
      s.on('close', () => {
        if (!settled) done(new Error(`device ${d.id}: connection closed while connecting`));
        else if (this.running && !d.closing) this.abort(new Error(`device ${d.id}: connection closed during the run`));
      });
    });
  }

  private onData(d: LeanDevice, chunk: Buffer): void {
    d.now = performance.now();
    d.freed = false;
    let buf = chunk;
    if (d.carry) {
      buf = Buffer.concat([d.carry, chunk]);
      d.carry = undefined;
    }
    const n = buf.length;
    let i = 0;
    while (i + 2 <= n) {
      // Fixed header: type/flags byte, then the remaining length (1 to 4 bytes, 7 bits each).
      const b0 = buf[i];
      let len = 0;
      let mul = 1;
      let j = i + 1;
      let complete = false;
      while (j < n && j - i <= 4) {
        const c = buf[j++];
        len += (c & 0x7f) * mul;
        mul *= 128;
        if ((c & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (j - i > 4) return this.protocolError(d, 'remaining length longer than 4 bytes');
        break; // the header continues in the next read
      }
      const end = j + len;
      if (end > n) break;
      const type = b0 >> 4;
      if (type === 3) this.onPublish(d, buf, b0, j, end);
      else if (type === 4 && len === 2) this.onPuback(d, (buf[j] << 8) | buf[j + 1]);
      else d.parser.parse(buf.subarray(i, end));
      if (d.socket.destroyed) return;
      i = end;
    }
    if (i < n) d.carry = buf.subarray(i);
    const k = d.toPuback.length;
    if (k === 0 && !d.freed) return;
    const s = d.socket;
    s.cork();
    if (k > 0) {
      const out = Buffer.allocUnsafe(4 * k);
      for (let q = 0, o = 0; q < k; q++, o += 4) {
        const id = d.toPuback[q];
        out[o] = 0x40;
        out[o + 1] = 0x02;
        out[o + 2] = id >> 8;
        out[o + 3] = id & 0xff;
      }
      d.toPuback.length = 0;
      s.write(out);
    }
    if (d.freed) this.fill(d);
    s.uncork();
  }

  private protocolError(d: LeanDevice, what: string): void {
    this.abort(new Error(`device ${d.id}: bad MQTT packet from the broker: ${what}`));
    d.socket.destroy();
  }

  /** An incoming PUBLISH (an ACK) whose variable header starts at `j` and which ends at `end`. */
  private onPublish(d: LeanDevice, buf: Buffer, b0: number, j: number, end: number): void {
    const qos = (b0 >> 1) & 3;
    const topicEnd = j + 2 + ((buf[j] << 8) | buf[j + 1]);
    const payloadStart = qos > 0 ? topicEnd + 2 : topicEnd;
    if (payloadStart > end || qos === 3) return this.protocolError(d, 'malformed PUBLISH');
    if (qos === 1) d.toPuback.push((buf[topicEnd] << 8) | buf[topicEnd + 1]);
    else if (qos === 2) this.extraProblems.push(`device ${d.id}: got a QoS 2 PUBLISH`);
    const payload = buf.subarray(payloadStart, end);
    const t = d.ackTopicBytes;
    const onAckTopic = topicEnd - j - 2 === t.length && t.compare(buf, j + 2, topicEnd) === 0;
    const gi = onAckTopic ? this.storedAckIndex(d, payload) : -1;
    const first =
      gi >= d.start && gi < d.next
        ? this.countAck(d, gi, 'stored', d.now)
        : this.acceptAck(d, buf.toString('utf8', j + 2, topicEnd), payload, d.now);
    if (first) d.freed = true;
  }

  private onPuback(d: LeanDevice, id: number): void {
    if (d.awaitingPuback[id] === 1) {
      d.awaitingPuback[id] = 0;
      d.pubacks++;
    } else d.unexpectedPubacks++;
  }

  /** Packets other than PUBLISH and PUBACK, from the mqtt-packet parser. */
  private onPacket(d: LeanDevice, p: Packet): void {
    if (d.onConnectPacket) d.onConnectPacket(p);
    else if (p.cmd === 'publish' || p.cmd === 'puback') this.extraProblems.push(`device ${d.id}: ${p.cmd} reached the generic parser`);
  }

  /** The event index of a byte-exact 'stored' ACK for this device, or -1 (then the full JSON check decides). */
  private storedAckIndex(d: LeanDevice, payload: Buffer): number {
    const head = this.ackHead;
    const h = head.length;
    const n = payload.length;
    if (n <= h + d.storedTail.length || head.compare(payload, 0, h) !== 0) return -1;
    let i = h;
    let gi = 0;
    // Digits only, no leading zero, at most 15 of them (exact in a double).
    if (payload[i] === 0x30 && payload[i + 1] >= 0x30 && payload[i + 1] <= 0x39) return -1;
    while (i < n && i - h < 16) {
      const c = payload[i];
      if (c < 0x30 || c > 0x39) break;
      gi = gi * 10 + (c - 0x30);
      i++;
    }
    if (i === h || i - h > 15) return -1;
    return d.storedTail.compare(payload, i) === 0 ? gi : -1;
  }

  private fill(d: LeanDevice): void {
    if (!this.sending) return;
    const a = d.next;
    const b = Math.min(d.end, a + (this.o.window - d.inflight));
    if (b <= a) return;
    const now = performance.now();
    const sentAt = this.sentAt;
    const awaiting = d.awaitingPuback;
    for (let gi = a; gi < b; gi++) {
      sentAt[gi] = now;
      const id = this.packetId(d, gi);
      if (awaiting[id] === 1) d.reusedIds++;
      awaiting[id] = 1;
    }
    d.inflight += b - a;
    d.next = b;
    if (d.wire) {
      d.socket.write(d.wire.subarray(d.offsets![a - d.start], d.offsets![b - d.start]));
    } else {
      const parts: Buffer[] = [];
      for (let gi = a; gi < b; gi++) parts.push(this.encodeOne(d, gi));
      d.socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    }
  }
}

/**
 * Sensor nodes for the `nodes` suite of `npm run bench`: D devices publishing
 * seed-003 node telemetry (`iot/node/{id}/telemetry`,
 * `{"node_id","timestamp","sensors":{8 sensors},"wifi_rssi","uptime"}`) at
 * QoS 1, as the lean generator (lean-device.ts) publishes seed-001 events: one
 * raw TCP socket per device speaking MQTT 3.1.1, every PUBLISH encoded before
 * the clock starts, one write per window refill.
 *
 * Node telemetry has no telehub reply by default (seed 003's nodes wait for
 * none), so a device keeps up to `window` PUBLISHes without a PUBACK. With the
 * embedded broker a PUBACK follows the commit; Mosquitto sends it at once, so
 * there the window bounds nothing telehub does and the broker queues for
 * telehub's session. The end of the run is therefore not the last PUBACK but
 * the moment telehub's `telehub_events_total{status="stored"}` (polled from
 * /metrics) reaches messages × sensors; the caller then checks the store.
 *
 * Every message of a node has its own timestamp (whole seconds, in the past),
 * so its readings' ids `{node}:{timestamp}:{sensor}` are all distinct.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { generate } from 'mqtt-packet';

export const NODE_SENSORS = ['temperature', 'humidity', 'pressure', 'co2', 'pm25', 'voc', 'light', 'noise'] as const;

export interface NodeLoadOptions {
  url: string;
  /** telehub's HTTP port, for /metrics. */
  httpPort: number;
  devices: number;
  /** Messages in all (each one carries NODE_SENSORS.length readings). */
  messages: number;
  window: number;
  tag: string;
  stallTimeoutMs: number;
  log: (msg: string) => void;
}

export interface NodeLoadResult {
  messages: number;
  sensorsPerMessage: number;
  readings: number;
  pubacks: number;
  /** From the first publish until the store had committed every reading (telehub's stored count). */
  seconds: number;
  readingsPerSecond: number;
  messagesPerSecond: number;
  /** From the first publish to the last PUBACK. */
  pubackSeconds: number;
  /** PUBLISH to PUBACK, ms. */
  pubackLatencyMs: { p50: number; p95: number; p99: number; max: number };
  generatorCpuSeconds: number;
}

interface Node {
  id: string;
  socket: net.Socket;
  wire: Buffer;
  offsets: Uint32Array;
  count: number;
  next: number;
  inflight: number;
  /** Local index of the PUBLISH awaiting a PUBACK per packet id, or -1. */
  awaiting: Int32Array;
  sentAt: Float64Array;
  latency: Float32Array;
  pubacks: number;
  unexpected: number;
  carry: Buffer | undefined;
  closing: boolean;
}

async function storedCount(metricsUrl: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const m = /^telehub_events_total\{status="stored"\} (\S+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return undefined;
  }
}

export class NodeFleet {
  private readonly nodes: Node[] = [];
  private readonly host: string;
  private readonly port: number;
  private sending = false;
  private running = false;
  private problems: string[] = [];
  private pubacksTotal = 0;
  private lastPubackAt = 0;
  private fail: ((e: Error) => void) | undefined;

  constructor(private readonly o: NodeLoadOptions) {
    const u = new URL(o.url);
    this.host = u.hostname;
    this.port = u.port ? Number(u.port) : 1883;
  }

  get readings(): number {
    return this.o.messages * NODE_SENSORS.length;
  }

  async connect(): Promise<void> {
    const per = Math.floor(this.o.messages / this.o.devices);
    const extra = this.o.messages % this.o.devices;
    const t0 = Math.floor(Date.now() / 1000) - per - 120;
    for (let i = 0; i < this.o.devices; i++) {
      const count = per + (i < extra ? 1 : 0);
      const id = `${this.o.tag}-node${String(i).padStart(3, '0')}`;
      const topic = `iot/node/${id}/telemetry`;
      const parts: Buffer[] = [];
      const offsets = new Uint32Array(count + 1);
      let off = 0;
      for (let k = 0; k < count; k++) {
        const v = (k % 100) / 10;
        const sensors = NODE_SENSORS.map((s, j) => `"${s}":${(10 * (j + 1) + v).toFixed(1)}`).join(',');
        const payload = `{"node_id":"${id}","timestamp":${t0 + k},"sensors":{${sensors}},"wifi_rssi":-${50 + (k % 30)},"uptime":${k}}`;
        const b = generate({ cmd: 'publish', topic, payload, qos: 1, messageId: (k % 65535) + 1, dup: false, retain: false });
        parts.push(b);
        offsets[k] = off;
        off += b.length;
      }
      offsets[count] = off;
      this.nodes.push({
        id,
        socket: undefined as unknown as net.Socket,
        wire: Buffer.concat(parts, off),
        offsets,
        count,
        next: 0,
        inflight: 0,
        awaiting: new Int32Array(65536).fill(-1),
        sentAt: new Float64Array(count),
        latency: new Float32Array(count),
        pubacks: 0,
        unexpected: 0,
        carry: undefined,
        closing: false,
      });
    }
    await Promise.all(this.nodes.map((n) => this.connectOne(n)));
  }

  private connectOne(n: Node): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: this.host, port: this.port });
      n.socket = s;
      s.setNoDelay(true);
      let connected = false;
      const timer = setTimeout(() => reject(new Error(`node ${n.id}: no CONNACK within 10 s`)), 10_000);
      s.on('connect', () => s.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: n.id, clean: true, keepalive: 0 })));
      s.on('data', (chunk: Buffer) => {
        const buf = n.carry ? Buffer.concat([n.carry, chunk]) : chunk;
        n.carry = undefined;
        let i = 0;
        let freed = false;
        while (i + 2 <= buf.length) {
          const type = buf[i] >> 4;
          const len = buf[i + 1];
          if (len & 0x80) return this.abort(new Error(`node ${n.id}: unexpected long packet (type ${type})`));
          if (i + 2 + len > buf.length) break;
          if (type === 2) {
            if (buf[i + 3] !== 0) return reject(new Error(`node ${n.id}: CONNACK return code ${buf[i + 3]}`));
            connected = true;
            clearTimeout(timer);
            resolve();
          } else if (type === 4 && len === 2) {
            const id = (buf[i + 2] << 8) | buf[i + 3];
            const k = n.awaiting[id];
            if (k >= 0) {
              n.awaiting[id] = -1;
              const now = performance.now();
              n.latency[k] = now - n.sentAt[k];
              n.pubacks++;
              n.inflight--;
              this.pubacksTotal++;
              this.lastPubackAt = now;
              freed = true;
            } else n.unexpected++;
          } else this.problems.push(`node ${n.id}: unexpected packet type ${type}`);
          i += 2 + len;
        }
        if (i < buf.length) n.carry = buf.subarray(i);
        if (freed) this.fill(n);
      });
      s.on('error', (err) => (connected ? this.abort(new Error(`node ${n.id}: ${err.message}`)) : reject(err)));
      s.on('close', () => {
        if (!connected) reject(new Error(`node ${n.id}: closed while connecting`));
        else if (this.running && !n.closing) this.abort(new Error(`node ${n.id}: connection closed during the run`));
      });
    });
  }

  private fill(n: Node): void {
    if (!this.sending) return;
    const a = n.next;
    const b = Math.min(n.count, a + (this.o.window - n.inflight));
    if (b <= a) return;
    const now = performance.now();
    for (let k = a; k < b; k++) {
      n.sentAt[k] = now;
      const id = (k % 65535) + 1;
      if (n.awaiting[id] >= 0) this.problems.push(`node ${n.id}: packet id ${id} reused while awaiting its PUBACK`);
      n.awaiting[id] = k;
    }
    n.inflight += b - a;
    n.next = b;
    n.socket.write(n.wire.subarray(n.offsets[a], n.offsets[b]));
  }

  private abort(err: Error): void {
    if (this.fail) {
      const f = this.fail;
      this.fail = undefined;
      f(err);
    } else this.problems.push(err.message);
  }

  /** Publishes every message; resolves once every PUBACK has come and telehub has stored every reading. */
  async run(): Promise<NodeLoadResult> {
    const cpu0 = process.cpuUsage();
    const metricsUrl = `http://127.0.0.1:${this.o.httpPort}/metrics`;
    const expected = this.readings;
    const failed = new Promise<never>((_, reject) => (this.fail = reject));
    failed.catch(() => undefined);
    this.running = true;
    const started = performance.now();
    let stored = 0;
    let lastProgressAt = started;
    let lastStored = 0;
    let lastLog = started;
    this.sending = true;
    for (const n of this.nodes) this.fill(n);
    let storedAt = 0;
    try {
      for (;;) {
        const c = await Promise.race([storedCount(metricsUrl), failed]);
        const now = performance.now();
        if (c !== undefined) stored = c;
        if (stored !== lastStored) {
          lastProgressAt = now;
          lastStored = stored;
        }
        if (stored >= expected && this.pubacksTotal >= this.o.messages) {
          storedAt = now;
          break;
        }
        if (now - Math.max(lastProgressAt, this.lastPubackAt) > this.o.stallTimeoutMs) {
          throw new Error(`no progress for ${Math.round(this.o.stallTimeoutMs / 1000)} s: ${this.pubacksTotal}/${this.o.messages} PUBACKs, ${stored}/${expected} readings stored`);
        }
        if (now - lastLog > 5000) {
          lastLog = now;
          const s = (now - started) / 1000;
          this.o.log(`  … ${stored}/${expected} readings stored, ${this.pubacksTotal}/${this.o.messages} PUBACKs after ${s.toFixed(1)} s (${Math.round(stored / s)} readings/s)`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      this.running = false;
      this.fail = undefined;
    }
    if (stored > expected) this.problems.push(`telehub counted ${stored} readings stored, expected ${expected}`);
    const cpu = process.cpuUsage(cpu0);
    const seconds = (storedAt - started) / 1000;
    const lat: number[] = [];
    for (const n of this.nodes) for (let k = 0; k < n.count; k++) lat.push(n.latency[k]);
    lat.sort((a, b) => a - b);
    const at = (q: number) => Math.round((lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? 0) * 10) / 10;
    return {
      messages: this.o.messages,
      sensorsPerMessage: NODE_SENSORS.length,
      readings: expected,
      pubacks: this.pubacksTotal,
      seconds,
      readingsPerSecond: Math.round(expected / seconds),
      messagesPerSecond: Math.round(this.o.messages / seconds),
      pubackSeconds: (this.lastPubackAt - started) / 1000,
      pubackLatencyMs: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: Math.round((lat.at(-1) ?? 0) * 10) / 10 },
      generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  }

  /** Problems: PUBLISHes without a PUBACK, unexpected PUBACKs, other protocol surprises. */
  verify(): string[] {
    const p = [...this.problems];
    let missing = 0;
    let unexpected = 0;
    for (const n of this.nodes) {
      missing += n.count - n.pubacks;
      unexpected += n.unexpected;
    }
    if (missing > 0) p.push(`${missing} PUBLISHes got no PUBACK`);
    if (unexpected > 0) p.push(`${unexpected} PUBACKs named a packet id with no PUBLISH awaiting one`);
    return p;
  }

  get pubacks(): number {
    return this.pubacksTotal;
  }

  async close(): Promise<void> {
    this.running = false;
    this.sending = false;
    await Promise.all(
      this.nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            n.closing = true;
            const s = n.socket;
            if (!s || s.destroyed) return resolve();
            const t = setTimeout(() => s.destroy(), 2000);
            s.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            s.end(Buffer.from([0xe0, 0x00]));
          }),
      ),
    );
  }
}

/**
 * The simulated devices: D MQTT.js connections, each subscribed at QoS 1 to
 * its own ACK topic and publishing seed-001 events at QoS 1 to its events
 * topic. A device does not wait for each ACK: it keeps up to `window` events
 * published and not yet answered (by the telehub-level ACK message, not the
 * MQTT PUBACK, which a broker like Mosquitto sends at once), so the offered
 * load is high but bounded (D x window events in flight at most).
 *
 * Every ACK is counted per event_id; `verify` later checks that each event
 * got exactly one `stored` ACK and nothing else.
 */
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';

export interface LoadOptions {
  url: string;
  devices: number;
  events: number;
  window: number;
  /** Prefix of event ids and device ids, unique per run and mode. */
  tag: string;
  /** Abort when no ACK arrives for this long. */
  stallTimeoutMs: number;
  log: (msg: string) => void;
}

export interface LoadResult {
  events: number;
  /** From the first publish to the last ACK, in seconds. */
  seconds: number;
  eventsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Problems found (empty when every event got exactly one `stored` ACK). */
  problems: string[];
  ackCounts: { stored: number; duplicate: number; other: number; unknownEventId: number };
  /** CPU seconds used by the load generator (this process) during the timed run. */
  generatorCpuSeconds: number;
}

interface Device {
  index: number;
  id: string;
  client: MqttClient;
  eventsTopic: string;
  ackTopic: string;
  /** Global indexes: first event, next to publish, one past the last. */
  start: number;
  next: number;
  end: number;
  inflight: number;
}

export class DeviceFleet {
  private devices: Device[] = [];
  private storedAcks!: Uint8Array;
  private otherAcks!: Uint8Array;
  private sentAt!: Float64Array;
  private latency!: Float32Array;
  private answered = 0;
  private counts = { stored: 0, duplicate: 0, other: 0, unknownEventId: 0 };
  private extraProblems: string[] = [];
  private lastAckAt = 0;
  private startedAt = 0;
  private onAllAnswered: (() => void) | undefined;
  private fail: ((err: Error) => void) | undefined;
  private running = false;

  constructor(private readonly o: LoadOptions) {}

  deviceId(i: number): string {
    return `${this.o.tag}-dev${String(i).padStart(3, '0')}`;
  }

  eventId(globalIndex: number): string {
    return `${this.o.tag}-${globalIndex}`;
  }

  /** Connects every device and subscribes it to its ACK topic (not timed). */
  async connect(): Promise<void> {
    const { devices, events } = this.o;
    this.storedAcks = new Uint8Array(events);
    this.otherAcks = new Uint8Array(events);
    this.sentAt = new Float64Array(events);
    this.latency = new Float32Array(events);
    const per = Math.floor(events / devices);
    const extra = events % devices;
    let start = 0;
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < devices; i++) {
      const n = per + (i < extra ? 1 : 0);
      const id = this.deviceId(i);
      const client = mqtt.connect(this.o.url, { clientId: id, clean: true, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 60 });
      const d: Device = { index: i, id, client, eventsTopic: `qs/v1/${id}/events`, ackTopic: `qs/v1/${id}/acks`, start, next: start, end: start + n, inflight: 0 };
      start += n;
      this.devices.push(d);
      client.on('message', (topic, payload) => this.onAck(d, topic, payload));
      client.on('error', (err) => this.abort(new Error(`device ${id}: ${err.message}`)));
      client.on('close', () => {
        if (this.running) this.abort(new Error(`device ${id}: connection closed during the run`));
      });
      pending.push(
        new Promise<void>((resolve, reject) => {
          client.once('error', reject);
          client.once('connect', () => {
            client.subscribe(d.ackTopic, { qos: 1 }, (err, granted) => {
              if (err) return reject(err);
              if (!granted || granted[0]?.qos !== 1) return reject(new Error(`device ${id}: ACK subscription not granted at QoS 1 (${JSON.stringify(granted)})`));
              resolve();
            });
          });
        }),
      );
    }
    await Promise.all(pending);
  }

  /** Publishes every event, keeping `window` unanswered per device; resolves when all are answered. */
  async run(): Promise<LoadResult> {
    const cpu0 = process.cpuUsage();
    this.running = true;
    const done = new Promise<void>((resolve, reject) => {
      this.onAllAnswered = resolve;
      this.fail = reject;
    });
    const stall = setInterval(() => {
      const since = performance.now() - Math.max(this.lastAckAt, this.startedAt);
      if (since > this.o.stallTimeoutMs) {
        this.abort(new Error(`no ACK for ${Math.round(since / 1000)} s; ACKs so far: stored ${this.counts.stored}, duplicate ${this.counts.duplicate}, other ${this.counts.other}`));
      }
    }, 1000);
    const progress = setInterval(() => {
      const s = (performance.now() - this.startedAt) / 1000;
      this.o.log(`  … ${this.answered}/${this.o.events} answered after ${s.toFixed(1)} s (${Math.round(this.answered / s)} events/s)`);
    }, 5000);
    this.startedAt = performance.now();
    try {
      for (const d of this.devices) this.fill(d);
      if (this.o.events === 0) this.onAllAnswered!();
      await done;
    } finally {
      clearInterval(stall);
      clearInterval(progress);
      this.running = false;
    }
    const seconds = (this.lastAckAt - this.startedAt) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return {
      events: this.o.events,
      seconds,
      eventsPerSecond: this.o.events / seconds,
      latencyMs: percentiles(this.latency),
      problems: [],
      ackCounts: { ...this.counts },
      generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  }

  /** Waits `graceMs` for late (extra) ACKs, then checks every event got exactly one `stored` ACK. */
  async verify(graceMs: number): Promise<string[]> {
    this.running = true; // late ACKs are still counted; a closed connection now is a problem too
    await new Promise((r) => setTimeout(r, graceMs));
    this.running = false;
    const problems = [...this.extraProblems];
    let missing = 0;
    let multiStored = 0;
    let nonStored = 0;
    const examples: string[] = [];
    for (let i = 0; i < this.o.events; i++) {
      const s = this.storedAcks[i];
      const other = this.otherAcks[i];
      if (s === 1 && other === 0) continue;
      if (s === 0 && other === 0) missing++;
      if (s > 1) multiStored++;
      if (other > 0) nonStored++;
      if (examples.length < 5) examples.push(`${this.eventId(i)} (stored ${s}, other ${other})`);
    }
    if (missing > 0) problems.push(`${missing} events got no ACK`);
    if (multiStored > 0) problems.push(`${multiStored} events got more than one 'stored' ACK`);
    if (nonStored > 0) problems.push(`${nonStored} events got an ACK other than 'stored' (duplicate or unexpected status)`);
    if (this.counts.unknownEventId > 0) problems.push(`${this.counts.unknownEventId} ACKs named an unknown event_id`);
    if (examples.length > 0) problems.push(`examples: ${examples.join(', ')}`);
    return problems;
  }

  async close(): Promise<void> {
    this.running = false;
    await Promise.all(
      this.devices.map(
        (d) =>
          new Promise<void>((resolve) => {
            d.client.removeAllListeners('close');
            d.client.end(true, {}, () => resolve());
          }),
      ),
    );
  }

  private abort(err: Error): void {
    if (this.fail) {
      const s = (performance.now() - this.startedAt) / 1000;
      err.message += ` (${this.answered}/${this.o.events} events answered after ${s.toFixed(1)} s)`;
      const f = this.fail;
      this.fail = undefined;
      f(err);
    } else if (this.running) {
      this.extraProblems.push(err.message);
    }
  }

  private fill(d: Device): void {
    while (d.inflight < this.o.window && d.next < d.end) {
      const gi = d.next++;
      d.inflight++;
      const payload = `{"schema":1,"event_id":"${this.eventId(gi)}","device_id":"${d.id}","event_type":"temperature","value":${(20 + (gi % 100) / 10).toFixed(1)},"unit":"C"}`;
      this.sentAt[gi] = performance.now();
      d.client.publish(d.eventsTopic, payload, { qos: 1 }, (err) => {
        if (err) this.abort(new Error(`device ${d.id}: publish failed: ${err.message}`));
      });
    }
  }

  private onAck(d: Device, topic: string, payload: Buffer): void {
    const now = performance.now();
    let ack: { schema?: unknown; event_id?: unknown; device_id?: unknown; status?: unknown };
    try {
      ack = JSON.parse(payload.toString('utf8'));
    } catch {
      this.extraProblems.push(`device ${d.id}: ACK is not JSON: ${payload.toString('utf8').slice(0, 100)}`);
      return;
    }
    const id = typeof ack.event_id === 'string' ? ack.event_id : '';
    const prefix = `${this.o.tag}-`;
    const gi = id.startsWith(prefix) ? Number(id.slice(prefix.length)) : NaN;
    // The event must be one this device has published.
    if (!Number.isInteger(gi) || gi < d.start || gi >= d.next || topic !== d.ackTopic || ack.device_id !== d.id) {
      this.counts.unknownEventId++;
      return;
    }
    if (ack.schema !== 1) this.extraProblems.push(`ACK for ${id} has schema ${JSON.stringify(ack.schema)}`);
    const first = this.storedAcks[gi] === 0 && this.otherAcks[gi] === 0;
    if (ack.status === 'stored') {
      this.counts.stored++;
      if (this.storedAcks[gi] < 255) this.storedAcks[gi]++;
    } else {
      if (ack.status === 'duplicate') this.counts.duplicate++;
      else this.counts.other++;
      if (this.otherAcks[gi] < 255) this.otherAcks[gi]++;
    }
    if (!first) return;
    this.latency[gi] = now - this.sentAt[gi];
    this.lastAckAt = now;
    this.answered++;
    d.inflight--;
    this.fill(d);
    if (this.answered === this.o.events) this.onAllAnswered?.();
  }
}

function percentiles(values: Float32Array): LoadResult['latencyMs'] {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0 };
  const s = Float32Array.from(values).sort();
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 10) / 10;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: Math.round(s[s.length - 1] * 10) / 10 };
}

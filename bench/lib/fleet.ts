/**
 * What every load generator shares: the split of events over devices, the
 * seed-001 payloads, the window bookkeeping, the ACK accounting, the timing
 * and the final checks. A generator (MQTT.js in load.ts, raw sockets in
 * lean-device.ts) only supplies the transport: connecting, putting events on
 * the wire and handing each received ACK to `acceptAck` or `countAck`.
 *
 * Every ACK is counted per event_id; `verify` later checks that each event
 * got exactly one `stored` ACK and nothing else.
 */
import { performance } from 'node:perf_hooks';

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

/**
 * The ACK messages the devices received, against the events they published:
 * the bench's check that no ACK was lost (issue 7: the rows were all stored
 * while some ACKs were never published).
 */
export interface AckSummary {
  /** Events of the run (each must get exactly one `stored` ACK). */
  expected: number;
  /** Events published so far (all of them once a run completes). */
  published: number;
  /** ACK messages received, of any status, for events of this run. */
  received: number;
  stored: number;
  duplicate: number;
  other: number;
  /** ACK messages naming an event this device never published. */
  unknownEventId: number;
  /** Published events without any ACK. */
  missing: number;
}

/** What a fleet does; both generators implement it. */
export interface Fleet {
  /** Connects every device and subscribes it to its ACK topic (not timed). */
  connect(): Promise<void>;
  /** Publishes every event, keeping `window` unanswered per device; resolves when all are answered. */
  run(): Promise<LoadResult>;
  /** Waits `graceMs` for late (extra) ACKs, then checks every event got exactly one `stored` ACK. */
  verify(graceMs: number): Promise<string[]>;
  /** The ACKs counted so far (also after a failed run). */
  acks(): AckSummary;
  close(): Promise<void>;
}

export interface BaseDevice {
  index: number;
  id: string;
  eventsTopic: string;
  ackTopic: string;
  /** Global indexes: first event, next to publish, one past the last. */
  start: number;
  next: number;
  end: number;
  inflight: number;
}

/** The seed-001 event `gi` of device `deviceId`, as both generators send it. */
export function eventPayload(eventId: string, deviceId: string, gi: number): string {
  return `{"schema":1,"event_id":"${eventId}","device_id":"${deviceId}","event_type":"temperature","value":${(20 + (gi % 100) / 10).toFixed(1)},"unit":"C"}`;
}

export abstract class FleetBase<D extends BaseDevice> implements Fleet {
  protected devices: D[] = [];
  protected storedAcks!: Uint8Array;
  protected otherAcks!: Uint8Array;
  protected sentAt!: Float64Array;
  protected latency!: Float32Array;
  protected answered = 0;
  protected counts = { stored: 0, duplicate: 0, other: 0, unknownEventId: 0 };
  protected extraProblems: string[] = [];
  protected lastAckAt = 0;
  protected startedAt = 0;
  private onAllAnswered: (() => void) | undefined;
  private fail: ((err: Error) => void) | undefined;
  protected running = false;

  constructor(protected readonly o: LoadOptions) {}

  deviceId(i: number): string {
    return `${this.o.tag}-dev${String(i).padStart(3, '0')}`;
  }

  eventId(globalIndex: number): string {
    return `${this.o.tag}-${globalIndex}`;
  }

  abstract connect(): Promise<void>;
  abstract close(): Promise<void>;
  /** Puts the first window of every device on the wire (the clock is running). */
  protected abstract startSending(): void;
  /** Checks of the generator's own (e.g. MQTT PUBACKs), added to `verify`'s. */
  protected transportProblems(): string[] {
    return [];
  }

  /** Allocates the per-event arrays and splits the events over the devices. */
  protected plan(): Array<Pick<BaseDevice, 'index' | 'id' | 'eventsTopic' | 'ackTopic' | 'start' | 'next' | 'end' | 'inflight'>> {
    const { devices, events } = this.o;
    this.storedAcks = new Uint8Array(events);
    this.otherAcks = new Uint8Array(events);
    this.sentAt = new Float64Array(events);
    this.latency = new Float32Array(events);
    const per = Math.floor(events / devices);
    const extra = events % devices;
    let start = 0;
    const out = [];
    for (let i = 0; i < devices; i++) {
      const n = per + (i < extra ? 1 : 0);
      const id = this.deviceId(i);
      out.push({ index: i, id, eventsTopic: `qs/v1/${id}/events`, ackTopic: `qs/v1/${id}/acks`, start, next: start, end: start + n, inflight: 0 });
      start += n;
    }
    return out;
  }

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
        const a = this.acks();
        this.abort(
          new Error(
            `no ACK for ${Math.round(since / 1000)} s; ${a.missing} of the ${a.published} events published so far have no ACK (ACKs so far: stored ${a.stored}, duplicate ${a.duplicate}, other ${a.other})`,
          ),
        );
      }
    }, 1000);
    const progress = setInterval(() => {
      const s = (performance.now() - this.startedAt) / 1000;
      this.o.log(`  … ${this.answered}/${this.o.events} answered after ${s.toFixed(1)} s (${Math.round(this.answered / s)} events/s)`);
    }, 5000);
    this.startedAt = performance.now();
    try {
      this.startSending();
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
    problems.push(...this.transportProblems());
    return problems;
  }

  acks(): AckSummary {
    let missing = 0;
    let published = 0;
    for (const d of this.devices) {
      for (let i = d.start; i < d.next; i++) if (this.storedAcks[i] === 0 && this.otherAcks[i] === 0) missing++;
      published += d.next - d.start;
    }
    const c = this.counts;
    return { expected: this.o.events, published, received: c.stored + c.duplicate + c.other, stored: c.stored, duplicate: c.duplicate, other: c.other, unknownEventId: c.unknownEventId, missing };
  }

  protected abort(err: Error): void {
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

  /**
   * Checks one ACK message in full (JSON.parse) and counts it. Returns true
   * when it was the first answer for its event, i.e. the device's window has
   * room for one more.
   */
  protected acceptAck(d: D, topic: string, payload: Buffer, now: number): boolean {
    let ack: { schema?: unknown; event_id?: unknown; device_id?: unknown; status?: unknown };
    try {
      ack = JSON.parse(payload.toString('utf8'));
    } catch {
      this.extraProblems.push(`device ${d.id}: ACK is not JSON: ${payload.toString('utf8').slice(0, 100)}`);
      return false;
    }
    const id = typeof ack.event_id === 'string' ? ack.event_id : '';
    const prefix = `${this.o.tag}-`;
    const gi = id.startsWith(prefix) ? Number(id.slice(prefix.length)) : NaN;
    // The event must be one this device has published.
    if (!Number.isInteger(gi) || gi < d.start || gi >= d.next || topic !== d.ackTopic || ack.device_id !== d.id) {
      this.counts.unknownEventId++;
      return false;
    }
    if (ack.schema !== 1) this.extraProblems.push(`ACK for ${id} has schema ${JSON.stringify(ack.schema)}`);
    return this.countAck(d, gi, ack.status, now);
  }

  /**
   * Counts one ACK of status `status` for event `gi`, which the caller has
   * checked belongs to device `d`, was published, and came with schema 1 on
   * the device's ACK topic. Returns true when it was the event's first answer.
   */
  protected countAck(d: D, gi: number, status: unknown, now: number): boolean {
    const first = this.storedAcks[gi] === 0 && this.otherAcks[gi] === 0;
    if (status === 'stored') {
      this.counts.stored++;
      if (this.storedAcks[gi] < 255) this.storedAcks[gi]++;
    } else {
      if (status === 'duplicate') this.counts.duplicate++;
      else this.counts.other++;
      if (this.otherAcks[gi] < 255) this.otherAcks[gi]++;
    }
    if (!first) return false;
    this.latency[gi] = now - this.sentAt[gi];
    this.lastAckAt = now;
    this.answered++;
    d.inflight--;
    if (this.answered === this.o.events) this.onAllAnswered?.();
    return true;
  }
}

export function percentiles(values: Float32Array): LoadResult['latencyMs'] {
  if (values.length === 0) return { p50: 0, p95: 0, p99: 0, max: 0 };
  const s = Float32Array.from(values).sort();
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 10) / 10;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: Math.round(s[s.length - 1] * 10) / 10 };
}

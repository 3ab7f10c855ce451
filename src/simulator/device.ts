/**
 * One simulated device, behaving as docs/devices.md asks a real one to:
 * - seed-001 events with unique ids (device + boot + sequence) kept in an
 *   outbox until their ACK (`qs/v1/{id}/acks`, or the HTTP result) arrives,
 *   resent after `resendAfterMs` and after every reconnect;
 * - seed-003 telemetry (`iot/node/{id}/telemetry`) at QoS 1, the broker's
 *   PUBACK being its acknowledgement (MQTT.js resends it itself);
 * - a will (`iot/node/{id}/status` = `offline`, retained), `online` on
 *   connect, and periodic health on the same topic;
 * - commands on `iot/node/{id}/command` carried out once per `command_id`:
 *   a repeated id is answered again with its first result, never re-run.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Profile, ProfileState } from './profiles/profile.js';
import { seededRandom } from './profiles/profile.js';
import type { SimStats } from './stats.js';

export interface DeviceOptions {
  id: string;
  profile: Profile;
  /** Readings per second. */
  rate: number;
  /** MQTT broker (telemetry, status, commands, and events unless `http` is set). */
  brokerUrl?: string;
  /** Events go to `POST {url}/ingest` with this Bearer token instead of MQTT. */
  http?: { url: string; token: string };
  /** Seed-001 topics are `{eventsPrefix}/{id}/events` and `…/acks` (seed default `qs/v1`). */
  eventsPrefix: string;
  resendAfterMs: number;
  /** Health on the status topic every this many ms. */
  statusEveryMs: number;
  seed: number;
  stats: SimStats;
}

interface Pending {
  body: string;
  firstSentAt: number;
  lastSentAt: number;
}

interface CommandMessage {
  command: string;
  params?: Record<string, unknown>;
  command_id: string;
}

/** A command's outcome as answered: a failure's reason is in `result.error` (the contract's optional result, docs/devices.md). */
type Outcome = { status: 'succeeded' | 'failed'; result?: unknown };
const failure = (error: string): Outcome => ({ status: 'failed', result: { error } });

export class SimDevice {
  private client?: MqttClient;
  private readonly state: ProfileState;
  private boot = 1;
  private seq = 0;
  private readonly startedAt = Date.now();
  private lastReadAt = Date.now();
  private lastTelemetryS = -1;
  private readonly outbox = new Map<string, Pending>();
  /** PUBACKs still owed for telemetry. */
  private telemetryOwed = 0;
  /** Results of the commands already carried out, by command_id (a real node keeps these in flash). */
  private readonly done = new Map<string, Outcome>();
  private tickTimer?: NodeJS.Timeout;
  private resendTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private httpBusy = false;
  private intervalMs: number;

  constructor(private readonly o: DeviceOptions) {
    this.state = { random: seededRandom(o.seed) };
    o.profile.init(this.state);
    this.intervalMs = 1000 / o.rate;
  }

  get id(): string {
    return this.o.id;
  }

  /** Items sent and not yet acknowledged. */
  get pending(): number {
    return this.outbox.size + this.telemetryOwed;
  }

  /** Connects (when a broker is given); resolves on the first CONNACK. */
  async connect(): Promise<void> {
    if (!this.o.brokerUrl) return;
    const id = this.o.id;
    const client = mqtt.connect(this.o.brokerUrl, {
      clientId: id,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will: { topic: `iot/node/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', () => undefined); // reconnects by itself; a refused connect shows in `connect()`
    // Resolves `connect()` once the first subscriptions are granted: a command published after it reaches the node.
    let subscribed: (() => void) | undefined;
    client.on('connect', () => {
      client.subscribe([`${this.o.eventsPrefix}/${id}/acks`, `iot/node/${id}/command`], { qos: 1 }, () => subscribed?.());
      client.publish(`iot/node/${id}/status`, 'online', { qos: 1, retain: true });
      // After a reconnect the ACKs of what was in flight may be lost: send again.
      if (!this.o.http) for (const [eventId, p] of this.outbox) this.sendEvent(eventId, p, true);
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        subscribed = undefined;
        client.end(true);
        reject(err);
      };
      subscribed = () => {
        subscribed = undefined;
        client.off('error', fail);
        resolve();
      };
      client.once('error', fail);
    });
  }

  /** Starts reading and publishing, the first reading after a random fraction of the interval. */
  start(): void {
    const first = this.state.random() * this.intervalMs;
    this.tickTimer = setTimeout(() => this.scheduleTicks(), first);
    this.resendTimer = setInterval(() => this.resendDue(), Math.max(50, this.o.resendAfterMs / 2));
    if (this.client) this.statusTimer = setInterval(() => this.publishHealth(), this.o.statusEveryMs);
  }

  private scheduleTicks(): void {
    this.tick();
    this.tickTimer = setInterval(() => this.tick(), this.intervalMs);
  }

  /** Stops producing; ACKs, resends and commands go on until `close`. */
  stopProducing(): void {
    clearTimeout(this.tickTimer);
    clearInterval(this.tickTimer);
    clearInterval(this.statusTimer);
  }

  /**
   * Dies as a device losing power does: the socket is dropped without a
   * DISCONNECT (MQTT.js' forced end), so the broker publishes the will.
   */
  kill(): void {
    this.stopProducing();
    clearInterval(this.resendTimer);
    this.client?.end(true);
    this.client = undefined;
  }

  /** Says `offline` (retained, as the will would) and disconnects cleanly. */
  async close(): Promise<void> {
    this.stopProducing();
    clearInterval(this.resendTimer);
    const c = this.client;
    if (!c) return;
    this.client = undefined;
    if (c.connected) await c.publishAsync(`iot/node/${this.o.id}/status`, 'offline', { qos: 1, retain: true }).catch(() => undefined);
    await c.endAsync(!c.connected);
  }

  private tick(): void {
    const now = Date.now();
    const metrics = this.o.profile.read(this.state, (now - this.lastReadAt) / 1000);
    this.lastReadAt = now;
    const ts = new Date(now).toISOString();
    const batch: [string, Pending][] = [];
    for (const m of metrics) {
      const eventId = `${this.o.id}-b${this.boot}-${String(this.seq++).padStart(6, '0')}`;
      const body = JSON.stringify({ schema: 1, event_id: eventId, device_id: this.o.id, event_type: m.name, value: m.value, unit: m.unit, ts_device: ts });
      const p = { body, firstSentAt: now, lastSentAt: now };
      this.outbox.set(eventId, p);
      this.o.stats.eventsSent++;
      batch.push([eventId, p]);
    }
    if (this.o.http) this.postEvents(batch);
    else for (const [eventId, p] of batch) this.sendEvent(eventId, p, false);
    this.publishTelemetry(now, metrics);
  }

  /**
   * Seed-003 telemetry carries whole seconds, and its readings' ids are
   * (node, timestamp, sensor): a second message in the same second would be
   * a duplicate of the first, so at most one is sent per second.
   */
  private publishTelemetry(now: number, metrics: { name: string; value: number }[]): void {
    const c = this.client;
    const s = Math.floor(now / 1000);
    if (!c || s === this.lastTelemetryS) return;
    this.lastTelemetryS = s;
    const sensors: Record<string, number> = {};
    for (const m of metrics) sensors[m.name] = m.value;
    const body = JSON.stringify({ node_id: this.o.id, timestamp: s, sensors, wifi_rssi: this.rssi(), uptime: this.uptime() });
    this.o.stats.telemetrySent++;
    this.telemetryOwed++;
    c.publish(`iot/node/${this.o.id}/telemetry`, body, { qos: 1 }, (err) => {
      this.telemetryOwed--;
      if (err) {
        // Only when the client is ended with it unsent: it stays unacknowledged (counted lost).
        return;
      }
      this.o.stats.telemetryAcked++;
      this.o.stats.latency(Date.now() - now);
    });
  }

  private sendEvent(eventId: string, p: Pending, resend: boolean): void {
    const c = this.client;
    if (!c?.connected) return; // resent on reconnect
    if (resend) this.o.stats.resent++;
    p.lastSentAt = Date.now();
    c.publish(`${this.o.eventsPrefix}/${this.o.id}/events`, p.body, { qos: 1 });
  }

  private resendDue(): void {
    const due = Date.now() - this.o.resendAfterMs;
    if (this.o.http) {
      const batch = [...this.outbox].filter(([, p]) => p.lastSentAt <= due);
      if (batch.length > 0) {
        this.o.stats.resent += batch.length;
        this.postEvents(batch);
      }
      return;
    }
    for (const [eventId, p] of this.outbox) if (p.lastSentAt <= due) this.sendEvent(eventId, p, true);
  }

  /** One request per reading; what has no result (an error, a 5xx, no answer) stays in the outbox. */
  private postEvents(batch: [string, Pending][]): void {
    const h = this.o.http!;
    const now = Date.now();
    for (const [, p] of batch) p.lastSentAt = now;
    if (this.httpBusy) return; // the resend timer takes it up
    this.httpBusy = true;
    fetch(new URL('/ingest', h.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
      body: `[${batch.map(([, p]) => p.body).join(',')}]`,
    })
      .then(async (res) => {
        if (res.status !== 202 && res.status !== 400) return void (await res.body?.cancel());
        const body = (await res.json()) as { results: { event_id: string | null; status: string }[] };
        for (const r of body.results) if (r.event_id) this.acked(r.event_id, r.status);
      })
      .catch(() => undefined)
      .finally(() => (this.httpBusy = false));
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic.endsWith('/acks')) {
      let ack: { event_id?: unknown; status?: unknown };
      try {
        ack = JSON.parse(payload.toString());
      } catch {
        return;
      }
      if (typeof ack.event_id === 'string') this.acked(ack.event_id, String(ack.status));
    } else if (topic.endsWith('/command')) this.onCommand(payload);
  }

  private acked(eventId: string, status: string): void {
    if (status === 'duplicate') this.o.stats.duplicates++;
    const p = this.outbox.get(eventId);
    if (!p) return; // the ACK of a resend, already answered
    this.outbox.delete(eventId);
    if (status === 'stored' || status === 'duplicate') {
      this.o.stats.eventsAcked++;
      this.o.stats.latency(Date.now() - p.firstSentAt);
    } else this.o.stats.refused++;
  }

  private onCommand(payload: Buffer): void {
    let cmd: CommandMessage;
    try {
      cmd = JSON.parse(payload.toString());
    } catch {
      return; // not a command this firmware understands; nothing to answer
    }
    if (typeof cmd?.command_id !== 'string' || typeof cmd.command !== 'string') return;
    this.o.stats.commandsReceived++;
    const earlier = this.done.get(cmd.command_id);
    if (earlier) {
      // Already carried out: answer again (the first answer may be lost), never run it twice.
      this.o.stats.commandsRepeated++;
      this.answer(cmd.command_id, earlier);
      return;
    }
    this.answer(cmd.command_id, { status: 'received' });
    const outcome = this.execute(cmd);
    this.done.set(cmd.command_id, outcome);
    this.o.stats.executed(this.o.id, cmd.command_id);
    this.answer(cmd.command_id, outcome);
  }

  /** The commands a simulated node knows; anything else fails with a reason. */
  private execute(cmd: CommandMessage): Outcome {
    const params = cmd.params ?? {};
    switch (cmd.command) {
      case 'ping':
        return { status: 'succeeded', result: { pong: true, uptime: this.uptime() } };
      case 'set_interval': {
        const s = Number(params.seconds);
        if (!Number.isFinite(s) || s <= 0) return failure('params.seconds must be a positive number');
        this.intervalMs = s * 1000;
        if (this.tickTimer) {
          this.stopProducing();
          this.tickTimer = setInterval(() => this.tick(), this.intervalMs);
          if (this.client) this.statusTimer = setInterval(() => this.publishHealth(), this.o.statusEveryMs);
        }
        return { status: 'succeeded', result: { interval_s: s } };
      }
      case 'reboot':
        // A new boot: event ids continue under the next boot counter.
        this.boot++;
        this.seq = 0;
        return { status: 'succeeded', result: { boot: this.boot } };
      default:
        return failure(`unknown command ${JSON.stringify(cmd.command)}`);
    }
  }

  private answer(commandId: string, outcome: Outcome | { status: 'received' }): void {
    this.client?.publish(`iot/node/${this.o.id}/status`, JSON.stringify({ command_id: commandId, ...outcome }), { qos: 1 });
  }

  private publishHealth(): void {
    this.client?.publish(`iot/node/${this.o.id}/status`, JSON.stringify({ uptime: this.uptime(), wifi_rssi: this.rssi(), firmware: 'telehub-sim/1' }), { qos: 1 });
  }

  private uptime(): number {
    return Math.floor((Date.now() - this.startedAt) / 1000);
  }

  private rssi(): number {
    return -45 - Math.round(this.state.random() * 40);
  }
}

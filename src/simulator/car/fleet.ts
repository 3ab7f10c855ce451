/**
 * A fleet of simulated cars (the simulator's `car` profile): each drives its
 * planned trips (plan.ts) and sends them as an OBD sender does, over MQTT
 * (compact records on `{carPrefix}/{id}/telemetry`, QoS 1, the PUBACK being
 * the acknowledgement) or over HTTP (seed-001 events, `POST /ingest`, resent
 * until their result comes). It knows the true trips and can write them to a
 * file for tests to compare (`truthFile`).
 *
 * Two paces: `fast` (the drives are placed in the past, ending before the
 * run starts, and sent as fast as `rate` messages per second per car allow,
 * with at most `window` unacknowledged), or real time (device time is the
 * clock: each record is sent when its instant comes; the demo's pace).
 *
 * @example
 * const fleet = await startCarFleet({ cars: 5, trips: 3, brokerUrl: 'mqtt://127.0.0.1:1883', fast: true });
 * const report = await fleet.done; // fleet.truth: the true trips per car
 */
import { writeFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { SimStats, type SimReport } from '../stats.js';
import { CAR_KINDS, planCar, planDurationMs, type CarPlan, type CarSample, type TrueTrip } from './plan.js';
import { compactPayload, seed001Events } from './wire.js';

export interface CarFleetOptions {
  cars: number;
  /** Trips per car. */
  trips: number;
  brokerUrl?: string;
  /** Seed-001 events by HTTP instead of compact records over MQTT. */
  http?: { url: string; token: string };
  /** Ids are `{idPrefix}-car-{n}` (default `sim`). */
  idPrefix?: string;
  /** Topic prefix of the compact records (default `fleet/v1`: TELEHUB_CAR_TELEMETRY_TOPIC's default). */
  carPrefix?: string;
  /** Place the drives in the past and send them as fast as allowed (default true). */
  fast?: boolean;
  /** Fast pace: messages per second per car (default 200). */
  rate?: number;
  /** Fast pace: the drives end this long before the run starts (default 15 min: past idle_timeout + resume_window). */
  endBeforeMs?: number;
  /** First sample's device time, instead of the one derived from endBeforeMs (fast) or now (real time). */
  start?: number;
  /** Unacknowledged messages per car at most (default 50). */
  window?: number;
  /** ms between samples (default 2000). */
  sampleMs?: number;
  seed?: number;
  /** Writes the true trips here (JSON) once planned. */
  truthFile?: string;
  /** Resend an HTTP batch without a result after this long (default 5000 ms). */
  resendAfterMs?: number;
  /** Stops (done resolves) after this many seconds even if not all is sent. */
  durationS?: number;
}

export interface SimulatedCar {
  id: string;
  kind: string;
  plan: CarPlan;
  /** Messages (MQTT) or batches (HTTP) unacknowledged. */
  readonly pending: number;
  /** Everything planned has been sent and acknowledged. */
  readonly finished: boolean;
  /** When the record holding each true trip's last moving point was acknowledged (committed), by trip end ts (for the trip lag bench). */
  readonly endAckedAt: ReadonlyMap<number, number>;
  kill(): void;
  close(): Promise<void>;
}

export interface CarFleet {
  stats: SimStats;
  devices: readonly SimulatedCar[];
  /** The true trips per car id. */
  truth: Record<string, TrueTrip[]>;
  stop(): Promise<SimReport>;
  /** Resolves when every car has sent its plan and had it acknowledged (or after durationS). */
  done: Promise<SimReport>;
}

/** What each car's messages become: MQTT publishes of compact records, or HTTP batches of seed-001 events. */
class Car implements SimulatedCar {
  private client?: MqttClient;
  private next = 0;
  private inFlight = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private acked = 0;
  /** HTTP: batches waiting for their results (message indices), by a batch key. */
  private readonly outbox = new Map<number, { body: string; sentAt: number; events: number; messages: CarSample[][] }>();
  private httpBusy = false;
  readonly endAckedAt = new Map<number, number>();
  private readonly ends: Set<number>;

  constructor(
    readonly id: string,
    readonly kind: string,
    readonly plan: CarPlan,
    private readonly o: Required<Pick<CarFleetOptions, 'window' | 'resendAfterMs' | 'carPrefix'>> & CarFleetOptions,
    private readonly stats: SimStats,
    private readonly onFinished: () => void,
  ) {
    this.ends = new Set(plan.trips.map((t) => t.end));
  }

  get pending(): number {
    return this.inFlight + this.outbox.size;
  }

  get finished(): boolean {
    return this.acked === this.plan.messages.length;
  }

  async connect(): Promise<void> {
    if (this.o.http || !this.o.brokerUrl) return;
    const client = mqtt.connect(this.o.brokerUrl, { clientId: this.id, clean: true, reconnectPeriod: 1000, connectTimeout: 10_000 });
    this.client = client;
    client.on('error', () => undefined);
    // Only a failure of this first connection gives up; later errors (the broker gone for a while) leave
    // MQTT.js reconnecting, and it resends what was not acknowledged.
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        client.end(true);
        reject(err);
      };
      client.once('connect', () => {
        client.off('error', fail);
        resolve();
      });
      client.once('error', fail);
    });
  }

  start(): void {
    const fast = this.o.fast !== false;
    const every = fast ? 1000 / (this.o.rate ?? 200) : 250;
    this.timer = setInterval(() => this.pump(fast), Math.max(1, every));
    if (this.o.http) this.timer.unref?.();
  }

  private pump(fast: boolean): void {
    if (this.stopped) return;
    if (this.o.http) return this.pumpHttp(fast);
    const c = this.client;
    if (!c?.connected) return;
    // Fast: one message per tick (the rate), within the window. Real time: all that are due.
    do {
      if (this.next >= this.plan.messages.length || this.inFlight >= this.o.window) return;
      const m = this.plan.messages[this.next];
      if (!fast && m[m.length - 1].ts > Date.now()) return;
      this.next++;
      this.inFlight++;
      this.stats.telemetrySent++;
      const sentAt = Date.now();
      c.publish(`${this.o.carPrefix}/${this.id}/telemetry`, compactPayload(m), { qos: 1 }, (err) => {
        this.inFlight--;
        if (err) return; // ended with it unsent: counted lost
        this.stats.telemetryAcked++;
        this.stats.latency(Date.now() - sentAt);
        this.ack(m);
      });
    } while (!fast);
  }

  /** HTTP: up to 20 messages per request, one request at a time; what has no result is resent. */
  private pumpHttp(fast: boolean): void {
    if (this.httpBusy) return;
    const due = Date.now() - this.o.resendAfterMs;
    const resend = [...this.outbox].find(([, b]) => b.sentAt <= due);
    if (resend) {
      this.stats.resent += resend[1].events;
      return this.post(resend[0], resend[1]);
    }
    if (this.outbox.size > 0 || this.next >= this.plan.messages.length) return;
    const from = this.next;
    let to = from;
    while (to < this.plan.messages.length && to - from < 20) {
      const m = this.plan.messages[to];
      if (!fast && m[m.length - 1].ts > Date.now()) break;
      to++;
    }
    if (to === from) return;
    this.next = to;
    const events = this.plan.messages.slice(from, to).flat().flatMap((s) => seed001Events(this.id, s));
    this.stats.eventsSent += events.length;
    const batch = { body: JSON.stringify(events), sentAt: 0, events: events.length, messages: this.plan.messages.slice(from, to) };
    this.outbox.set(from, batch);
    this.post(from, batch);
  }

  private post(key: number, batch: { body: string; sentAt: number; events: number; messages: CarSample[][] }): void {
    const h = this.o.http!;
    batch.sentAt = Date.now();
    this.httpBusy = true;
    const sentAt = batch.sentAt;
    fetch(new URL('/ingest', h.url), { method: 'POST', headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' }, body: batch.body })
      .then(async (res) => {
        if (res.status !== 202 && res.status !== 400) return void (await res.body?.cancel());
        const body = (await res.json()) as { results: { status: string }[] };
        if (!this.outbox.delete(key)) return;
        for (const r of body.results) {
          if (r.status === 'stored' || r.status === 'duplicate') this.stats.eventsAcked++;
          else this.stats.refused++;
          if (r.status === 'duplicate') this.stats.duplicates++;
        }
        this.stats.latency(Date.now() - sentAt);
        for (const m of batch.messages) this.ack(m);
      })
      .catch(() => undefined)
      .finally(() => {
        this.httpBusy = false;
        if (!this.stopped) this.pumpHttp(this.o.fast !== false);
      });
  }

  private ack(m: readonly CarSample[]): void {
    for (const s of m) if (this.ends.has(s.ts) && !this.endAckedAt.has(s.ts)) this.endAckedAt.set(s.ts, Date.now());
    this.acked++;
    if (this.finished) this.onFinished();
  }

  kill(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.client?.end(true);
    this.client = undefined;
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync(!c.connected);
  }
}

/** Plans every car, connects them (rejects if one cannot connect) and starts sending. */
export async function startCarFleet(opts: CarFleetOptions): Promise<CarFleet> {
  if (!opts.brokerUrl && !opts.http) throw new Error('a broker URL or an HTTP URL is needed');
  const fast = opts.fast !== false;
  const stats = new SimStats();
  const prefix = opts.idPrefix ?? 'sim';
  const width = Math.max(3, String(opts.cars).length);
  const trips = fast ? opts.trips : Math.max(opts.trips, 1);
  const start = opts.start ?? (fast ? Date.now() - (opts.endBeforeMs ?? 15 * 60_000) - planDurationMs(trips) : Date.now());
  const o = { window: 50, resendAfterMs: 5000, carPrefix: 'fleet/v1', ...opts };
  let finishedCars = 0;
  let finish!: () => void;
  const allFinished = new Promise<void>((resolve) => (finish = resolve));
  const cars: Car[] = [];
  const truth: Record<string, TrueTrip[]> = {};
  for (let i = 0; i < opts.cars; i++) {
    const id = `${prefix}-car-${String(i + 1).padStart(width, '0')}`;
    const kind = CAR_KINDS[i % CAR_KINDS.length];
    let plan = planCar({ seed: (opts.seed ?? 1) * 100_003 + i, kind, start, trips, sampleMs: opts.sampleMs, gpsSpike: kind !== 'obd-only' });
    if (fast && opts.start === undefined) {
      // Shift the plan so it ends endBeforeMs before now, whatever its length.
      const shift = Date.now() - (opts.endBeforeMs ?? 15 * 60_000) - plan.end;
      plan = planCar({ seed: (opts.seed ?? 1) * 100_003 + i, kind, start: start + shift, trips, sampleMs: opts.sampleMs, gpsSpike: kind !== 'obd-only' });
    }
    truth[id] = plan.trips;
    cars.push(new Car(id, kind, plan, o, stats, () => ++finishedCars === opts.cars && finish()));
  }
  if (opts.truthFile) writeFileSync(opts.truthFile, JSON.stringify(truthToJson(truth), null, 1));
  const connected = await Promise.allSettled(cars.map((c) => c.connect()));
  const failed = connected.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(cars.map((c) => c.close()));
    throw new Error(`could not connect to ${opts.brokerUrl}: ${(failed.reason as Error).message}`);
  }
  for (const c of cars) c.start();
  if (opts.cars === 0) finish();

  let stopping: Promise<SimReport> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearTimeout(timer);
      await Promise.all(cars.map((c) => c.close()));
      return stats.report(cars.length);
    })();
    return stopping;
  };
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    if (opts.durationS !== undefined) timer = setTimeout(resolve, opts.durationS * 1000);
  });
  const done = Promise.race([allFinished, limit]).then(stop);
  return { stats, devices: cars, truth, stop, done };
}

/** The truth as written to `truthFile`: per car, its trips with ISO times. */
export function truthToJson(truth: Record<string, TrueTrip[]>) {
  return {
    vehicles: Object.entries(truth).map(([id, trips]) => ({
      id,
      trips: trips.map((t) => ({ start: new Date(t.start).toISOString(), end: new Date(t.end).toISOString(), distance_km: Math.round(t.distanceKm * 1e6) / 1e6, distance_source: t.source })),
    })),
  };
}

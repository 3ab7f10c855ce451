/**
 * A simulated fleet: N devices of one profile, started together, stopped
 * after a duration or on `stop()`, with one report.
 *
 * @example
 * const sim = await startSimulation({ devices: 10, rate: 2, profile: 'sensor', brokerUrl: 'mqtt://127.0.0.1:1883' });
 * const report = await sim.stop(); // { sent, acknowledged, lost, … }
 */
import { SimDevice } from './device.js';
import { startCarFleet } from './car/fleet.js';
import type { TrueTrip } from './car/plan.js';
import { PROFILES } from './profiles/index.js';
import { SimStats, type SimReport } from './stats.js';

export interface SimulationOptions {
  devices: number;
  /** Readings per second per device. */
  rate: number;
  /** A name from PROFILES. */
  profile: string;
  /** Stops by itself after this many seconds (`done` then resolves); unset: until `stop()`. */
  durationS?: number;
  brokerUrl?: string;
  /** Events by HTTP (`POST /ingest`) instead of MQTT. */
  http?: { url: string; token: string };
  /** Device ids are `{idPrefix}-{profile}-{n}`; default `sim`. */
  idPrefix?: string;
  /** Seed-001 topics are `{eventsPrefix}/{id}/events` and `…/acks` (default `qs/v1`, as MQTT_EVENTS_TOPIC and ACK_TEMPLATE default). */
  eventsPrefix?: string;
  /** Resend an unacknowledged event after this long (default 5000 ms). */
  resendAfterMs?: number;
  /** Health on the status topic this often (default 30000 ms). */
  statusEveryMs?: number;
  /** After stopping, wait this long at most for the last ACKs (default 10000 ms). */
  drainMs?: number;
  /** Seeds the devices' readings, so runs repeat (default 1). */
  seed?: number;
  /** Devices connecting at the same time (default 100); the next wave starts when these are connected. */
  connectWave?: number;
  /**
   * The `car` profile (src/simulator/car/): trips per car. Given: the drives are placed in the past and sent as
   * fast as `rate` (messages per second per car) allows, and `done` resolves once all is acknowledged.
   * Not given: the cars drive in real time (24 trips at most).
   */
  trips?: number;
  /** The `car` profile: writes the true trips (JSON) here. */
  truthFile?: string;
  /** The `car` profile: topic prefix of its compact records (default `fleet/v1`). */
  carPrefix?: string;
}

/** What a simulation's devices offer whatever their profile. */
export interface SimulatedDevice {
  readonly id: string;
  readonly pending: number;
  kill(): void;
  close(): Promise<void>;
}

export interface Simulation {
  /** Live counters (executions per command id included). */
  stats: SimStats;
  devices: readonly SimulatedDevice[];
  /** The `car` profile: the true trips per car id. */
  truth?: Record<string, TrueTrip[]>;
  /** Stops producing, waits for outstanding ACKs (up to drainMs), disconnects; resolves with the report. */
  stop(): Promise<SimReport>;
  /** Resolves with the report when `durationS` has elapsed and the fleet has stopped. */
  done: Promise<SimReport>;
}

/** Connects every device (rejects if one cannot connect, after closing the others) and starts them. */
export async function startSimulation(opts: SimulationOptions): Promise<Simulation> {
  const profile = PROFILES[opts.profile];
  if (!profile) throw new Error(`unknown profile ${JSON.stringify(opts.profile)}`);
  if (!opts.brokerUrl && !opts.http) throw new Error('a broker URL or an HTTP URL is needed');
  if (profile.name === 'car') {
    const fast = opts.trips !== undefined;
    return startCarFleet({
      cars: opts.devices,
      trips: opts.trips ?? 24,
      fast,
      rate: fast ? opts.rate : undefined,
      sampleMs: fast ? undefined : Math.max(2000, Math.round(1000 / opts.rate)),
      brokerUrl: opts.brokerUrl,
      http: opts.http,
      idPrefix: opts.idPrefix,
      carPrefix: opts.carPrefix,
      seed: opts.seed,
      truthFile: opts.truthFile,
      durationS: opts.durationS,
    });
  }
  const stats = new SimStats();
  const prefix = opts.idPrefix ?? 'sim';
  const width = String(opts.devices).length;
  const devices = Array.from(
    { length: opts.devices },
    (_, i) =>
      new SimDevice({
        id: `${prefix}-${profile.name}-${String(i + 1).padStart(Math.max(3, width), '0')}`,
        profile,
        rate: opts.rate,
        brokerUrl: opts.brokerUrl,
        http: opts.http,
        eventsPrefix: opts.eventsPrefix ?? 'qs/v1',
        resendAfterMs: opts.resendAfterMs ?? 5000,
        statusEveryMs: opts.statusEveryMs ?? 30_000,
        seed: (opts.seed ?? 1) * 100_003 + i,
        stats,
      }),
  );
  // In waves: a thousand handshakes at once time out on a busy machine (MQTT.js' connect timeout).
  const wave = Math.max(1, opts.connectWave ?? 100);
  let failed: PromiseRejectedResult | undefined;
  for (let i = 0; i < devices.length && !failed; i += wave) {
    const connected = await Promise.allSettled(devices.slice(i, i + wave).map((d) => d.connect()));
    failed = connected.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  }
  if (failed) {
    await Promise.all(devices.map((d) => d.close()));
    throw new Error(`could not connect to ${opts.brokerUrl}: ${(failed.reason as Error).message}`);
  }
  for (const d of devices) d.start();

  let stopping: Promise<SimReport> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearTimeout(timer);
      for (const d of devices) d.stopProducing();
      await drain(devices, opts.drainMs ?? 10_000);
      await Promise.all(devices.map((d) => d.close()));
      return stats.report(devices.length);
    })();
    return stopping;
  };
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<SimReport>((resolve, reject) => {
    if (opts.durationS !== undefined) timer = setTimeout(() => stop().then(resolve, reject), opts.durationS * 1000);
  });
  return { stats, devices, stop, done };
}

/** Resolves when no device waits for an ACK, or after `ms`. */
function drain(devices: readonly SimDevice[], ms: number): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve) => {
    const check = () => {
      if (devices.every((d) => d.pending === 0) || Date.now() >= until) resolve();
      else setTimeout(check, 50);
    };
    check();
  });
}

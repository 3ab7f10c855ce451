/**
 * What a simulated car does, decided ahead and known exactly: the drives of
 * one car as timed samples (device time), the messages its sender makes of
 * them (with the real-data problems of docs/trips.md), and the true trips
 * (start, end, distance) a correct segmentation must find.
 *
 * A trip: ignition on, a few still seconds, then driving along a path of
 * straight stretches at changing speeds, with traffic lights (stops shorter
 * than idle_timeout), one jam (a stop longer than idle_timeout, shorter than
 * idle_timeout + resume_window: Paused, then Driving again, still one trip),
 * a tunnel (GPS lost while driving), a dead spot (no data at all for longer
 * than idle_timeout while driving) and, for some cars, a 30 km GPS spike;
 * then a stop, ignition off and a silence longer than idle_timeout +
 * resume_window (parked). Pure and seeded: the same seed, the same drives.
 *
 * Thresholds assumed: telehub's defaults (speed 5 km/h, idle 180 s, resume
 * 300 s); the stops and silences are sized well inside or outside them.
 */
import { seededRandom } from '../profiles/profile.js';

/** What a car's sender reports (a phone app without OBD has GPS only). */
export type CarKind = 'obd-gps' | 'speed-gps' | 'gps-only' | 'obd-only';
export const CAR_KINDS: readonly CarKind[] = ['obd-gps', 'speed-gps', 'gps-only', 'obd-only'];

/** One sample: what the car knows at `ts`; absent fields are not reported. */
export interface CarSample {
  ts: number;
  speed?: number;
  rpm?: number;
  odometer?: number;
  lat?: number;
  lon?: number;
  heading?: number;
  coolant_temp?: number;
  fuel_level?: number;
  ignition?: boolean;
}

/** A trip as it really happened: first and last moving instant (speed above 5 km/h), distance covered. */
export interface TrueTrip {
  start: number;
  end: number;
  distanceKm: number;
  /** What the car's data makes available (the source telehub should choose). */
  source: 'odometer' | 'speed' | 'gps';
}

export interface CarPlanOptions {
  seed: number;
  kind: CarKind;
  /** Device time of the first sample (epoch ms). */
  start: number;
  /** Trips to drive. */
  trips: number;
  /** ms between samples (default 2000). */
  sampleMs?: number;
  /** Inject a 30 km GPS spike into each trip (cars with GPS). */
  gpsSpike?: boolean;
  /** Send some records out of order and some twice (default true). */
  disorder?: boolean;
}

export interface CarPlan {
  samples: CarSample[];
  /** What the sender sends, in order: each message one record, or several (a flush after a dead spot). */
  messages: CarSample[][];
  trips: TrueTrip[];
  /** Device time of the last sample. */
  end: number;
}

const MOVING_KMH = 5;

/** Moves `km` from (lat, lon) along `headingDeg` (flat-earth step: exact enough for metres). */
function step(lat: number, lon: number, headingDeg: number, km: number): [number, number] {
  const h = (headingDeg * Math.PI) / 180;
  return [lat + (km * Math.cos(h)) / 111.32, lon + (km * Math.sin(h)) / (111.32 * Math.cos((lat * Math.PI) / 180))];
}

const r1 = (n: number) => Math.round(n * 10) / 10;
const r6 = (n: number) => Math.round(n * 1e6) / 1e6;

type Phase =
  | { kind: 'drive'; s: number; target: number; tunnel?: boolean; deadSpot?: boolean; spike?: boolean }
  | { kind: 'stop'; s: number };

/** Plans one car's drives. */
export function planCar(o: CarPlanOptions): CarPlan {
  const rnd = seededRandom(o.seed);
  const between = (a: number, b: number) => a + rnd() * (b - a);
  const dt = o.sampleMs ?? 2000;
  const hasSpeed = o.kind !== 'gps-only';
  const hasOdo = o.kind === 'obd-gps' || o.kind === 'obd-only';
  const hasGps = o.kind !== 'obd-only';
  const samples: CarSample[] = [];
  const trips: TrueTrip[] = [];
  /** Samples never sent (a dead spot without buffering), and those sent late in one array. */
  const silent = new Set<CarSample>();
  const buffered: CarSample[][] = [];

  let t = o.start;
  let km = Math.round(between(10_000, 90_000)); // the odometer
  let lat = 48.137 + between(-0.05, 0.05);
  let lon = 11.575 + between(-0.05, 0.05);
  let heading = between(0, 360);
  let fuel = between(40, 90);
  let coolant = between(15, 25);

  const sample = (v: number, extra: Partial<CarSample> = {}, noGps = false): CarSample => {
    const s: CarSample = { ts: t };
    if (hasSpeed) {
      s.speed = r1(v);
      s.rpm = Math.round(v < 1 ? 800 : 900 + v * 28 + rnd() * 80);
      s.coolant_temp = r1(coolant);
      s.fuel_level = r1(fuel);
    }
    if (hasOdo) s.odometer = Math.round(km * 100) / 100;
    if (hasGps && !noGps) {
      s.lat = r6(lat);
      s.lon = r6(lon);
      s.heading = Math.round(((heading % 360) + 360) % 360);
    }
    Object.assign(s, extra);
    samples.push(s);
    return s;
  };

  for (let n = 0; n < o.trips; n++) {
    // Ignition on, a few seconds still.
    sample(0, { ignition: true });
    for (let i = 0; i < 4; i++) {
      t += dt;
      sample(0);
    }
    const phases: Phase[] = [];
    const legs = 8 + Math.floor(rnd() * 4);
    const jamAt = 2 + Math.floor(rnd() * (legs - 4));
    const tunnelAt = jamAt + 1;
    const deadAt = tunnelAt + 1;
    for (let i = 0; i < legs; i++) {
      phases.push({ kind: 'drive', s: between(40, 80), target: between(35, 85), tunnel: i === tunnelAt, spike: o.gpsSpike && i === 1 });
      if (i === deadAt) phases.push({ kind: 'drive', s: 220, target: 60, deadSpot: true });
      if (i === jamAt) phases.push({ kind: 'stop', s: between(200, 250) });
      else if (i < legs - 1 && rnd() < 0.5) phases.push({ kind: 'stop', s: between(15, 60) });
    }
    phases.push({ kind: 'stop', s: 20 });

    const odoAtStart = km;
    let first: number | undefined;
    let last = t;
    let v = 0;
    let nextTurnKm = km + between(0.5, 2);
    for (const p of phases) {
      let held = 0;
      let elapsed = 0;
      const deadFrom = p.kind === 'drive' && p.deadSpot ? 10_000 : Infinity;
      const deadTo = deadFrom + 200_000;
      const buffer: CarSample[] = [];
      while (p.kind === 'drive' ? elapsed < p.s * 1000 : held < p.s * 1000) {
        t += dt;
        elapsed += dt;
        const target = p.kind === 'drive' ? p.target + Math.sin(elapsed / 9000) * 4 : 0;
        const v0 = v;
        // Accelerate at ~0.8 m/s², brake at ~1.4 m/s² (per second, in km/h).
        const dv = target > v ? 2.9 * (dt / 1000) : 5 * (dt / 1000);
        v = target > v ? Math.min(target, v + dv) : Math.max(target, v - dv);
        if (p.kind === 'stop' && v === 0) held += dt;
        const d = ((v0 + v) / 2) * (dt / 3_600_000);
        km += d;
        [lat, lon] = step(lat, lon, heading, d);
        // Turns only outside tunnels and dead spots (the GPS straight line across them is the road).
        if (km >= nextTurnKm && !(p.kind === 'drive' && (p.tunnel || p.deadSpot))) {
          heading += between(-60, 60);
          nextTurnKm = km + between(0.5, 2);
        }
        coolant = Math.min(90, coolant + 0.08 * (dt / 1000));
        fuel = Math.max(5, fuel - d * 0.08);
        const inTunnel = p.kind === 'drive' && p.tunnel === true && elapsed > 5000 && elapsed < 35_000;
        const s = sample(v, {}, inTunnel);
        if (p.kind === 'drive' && p.spike && elapsed === 10 * dt && s.lat !== undefined) s.lat = r6(s.lat + 30 / 111.32); // 30 km north, for one fix
        if (elapsed >= deadFrom && elapsed < deadTo) {
          // Cars that report an odometer or GPS lose the data (the gap is judged across it);
          // a speed-only sender buffers it and flushes it after the dead spot.
          if (hasOdo || (hasGps && !hasSpeed)) silent.add(s);
          else buffer.push(s);
        }
        if (v > MOVING_KMH) {
          first ??= t;
          last = t;
        }
      }
      if (buffer.length > 0) buffered.push(buffer);
    }
    trips.push({ start: first!, end: last, distanceKm: km - odoAtStart, source: hasOdo ? 'odometer' : hasSpeed ? 'speed' : 'gps' });
    // Ignition off, then parked (silent) for 15-30 minutes.
    t += dt;
    sample(0, { ignition: false });
    if (n < o.trips - 1) t += Math.round(between(15, 30) * 60_000 / dt) * dt;
  }

  // The sender: one record per message, except buffered stretches, which go as one array a bit later.
  const messages: CarSample[][] = [];
  const lateBy = new Map<CarSample, CarSample[]>();
  for (const b of buffered) {
    const after = samples[samples.indexOf(b[b.length - 1]) + 20];
    if (after !== undefined) lateBy.set(after, b);
  }
  const sentLate = new Set([...lateBy.values()].flat());
  for (const s of samples) {
    // Nothing to report (a GPS-only sender in a tunnel) is no message; a dead spot loses what it had.
    if (Object.keys(s).length === 1) silent.add(s);
    if (silent.has(s)) continue;
    if (!sentLate.has(s)) messages.push([s]);
    const late = lateBy.get(s);
    if (late !== undefined) messages.push(late);
  }
  if (o.disorder !== false) {
    // Now and then two records arrive swapped, and one is sent twice (a resend whose PUBACK was lost).
    for (let i = 5; i + 1 < messages.length; i += 37 + Math.floor(rnd() * 20)) [messages[i], messages[i + 1]] = [messages[i + 1], messages[i]];
    for (let i = 11; i < messages.length; i += 53 + Math.floor(rnd() * 30)) messages.splice(i + 3, 0, messages[i]);
  }
  return { samples: samples.filter((s) => !silent.has(s)), messages, trips, end: t };
}

/** How long (device time) a car's plan lasts, roughly, for placing it in the past: about 50 min per trip. */
export function planDurationMs(trips: number): number {
  return trips * 50 * 60_000;
}

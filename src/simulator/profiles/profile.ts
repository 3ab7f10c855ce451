/**
 * What a simulated device measures. A profile is one file in this folder and
 * one line in `index.ts`: adding one (the trips issue's `car`, say) touches
 * nothing else. A profile is pure: given its own state and the time, it
 * returns the next reading, so it is unit-tested without sockets.
 */

/** One measured value, sent as a seed-001 event and as one sensor of a seed-003 telemetry message. */
export interface Metric {
  /** `event_type` of the seed-001 event and the sensor name in seed-003 telemetry. */
  name: string;
  value: number;
  unit: string;
}

/** The state of one device's profile, kept between readings. */
export interface ProfileState {
  /** A deterministic pseudo-random source (per device), so runs repeat. */
  random(): number;
  [key: string]: unknown;
}

export interface Profile {
  name: string;
  /** One line for `telehub simulate --help` and docs/simulator.md. */
  description: string;
  /** Sets up a device's state (its random source is made by the caller). */
  init(state: ProfileState): void;
  /** The device's next reading, `dtS` seconds after the previous one. */
  read(state: ProfileState, dtS: number): Metric[];
}

/** A small, seeded PRNG (mulberry32): deterministic per device, no dependency for a few lines. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A value that wanders around `center` within ±`spread`, moving at most `step` per reading. */
export function wander(state: ProfileState, key: string, center: number, spread: number, step: number): number {
  const prev = typeof state[key] === 'number' ? (state[key] as number) : center + (state.random() - 0.5) * spread;
  let next = prev + (state.random() - 0.5) * 2 * step;
  next = Math.min(center + spread, Math.max(center - spread, next));
  state[key] = next;
  return next;
}

/** Rounds to `digits` decimals, as a sensor would report. */
export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

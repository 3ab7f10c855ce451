/**
 * The incremental engine (stream.ts) against the batch engine: for random
 * drives (the golden cases and the car simulator's plans, every kind of
 * sender, with GPS spikes, tunnels, dead spots, jams), the in-order input
 * split at random points and fed call by call, the state going through JSON
 * between calls as the processor persists it, gives after every call exactly
 * the trips computeTrips gives over the events so far.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { carTelemetryCodec, decodeCarRecord } from '../codecs/car-telemetry/index.js';
import { collectDecode } from '../codecs/collect.js';
import { DEFAULT_LIMITS } from '../core/config.js';
import { CAR_KINDS, planCar } from '../simulator/car/plan.js';
import { compactRecord } from '../simulator/car/wire.js';
import { computeTrips, DEFAULT_TRIP_SETTINGS, type TripInputEvent, type TripSettings } from './index.js';
import { asTrips, finish, newEngine, openTs, pushEvents, type EngineState } from './stream.js';
import type { TripSummary } from './summary.js';

const TESTDATA = new URL('./testdata/', import.meta.url);
const DAY = 86_400_000;

interface Drive {
  name: string;
  events: TripInputEvent[];
  settings: TripSettings;
  now: number;
}

function golden(name: string): Drive {
  const lines = readFileSync(new URL(`${name}/input.jsonl`, TESTDATA), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const head = JSON.parse(lines[0]) as { now?: number; settings?: Partial<TripSettings> };
  const events: TripInputEvent[] = [];
  for (const line of lines.slice(1)) {
    for (const e of collectDecode(carTelemetryCodec, Buffer.from(line), { topicDeviceId: 'car-1', receivedAt: 0, limits: DEFAULT_LIMITS }).events) events.push(e.event);
  }
  const last = Math.max(...events.map((e) => e.tsDevice!));
  return { name, events, settings: { ...DEFAULT_TRIP_SETTINGS, ...head.settings }, now: head.now !== undefined ? head.now * 1000 : last + DAY };
}

const START = Date.UTC(2024, 1, 10, 7, 0, 0);

function simulated(kind: (typeof CAR_KINDS)[number], seed: number): Drive {
  const plan = planCar({ seed, kind, start: START, trips: 2, gpsSpike: kind !== 'obd-only' });
  const events: TripInputEvent[] = [];
  for (const s of plan.messages.flat()) {
    const r = decodeCarRecord(JSON.parse(JSON.stringify(compactRecord(s))), 'car-x', START, DEFAULT_LIMITS);
    if (Array.isArray(r)) events.push(...r);
  }
  // `now` inside the last trip for some seeds (a trip in progress), long after for others.
  const now = seed % 2 === 0 ? plan.trips.at(-1)!.end - 60_000 : plan.end + DAY;
  return { name: `sim-${kind}-${seed}`, events, settings: DEFAULT_TRIP_SETTINGS, now };
}

const names = readdirSync(TESTDATA).filter((n) => statSync(new URL(`${n}/`, TESTDATA)).isDirectory()).sort();
const drives = [...names.map(golden), ...CAR_KINDS.flatMap((k) => [1, 2].map((seed) => simulated(k, seed)))];

/** Events in device-time order (ties in any order), as a car sending in order gives them. */
function inOrder(events: readonly TripInputEvent[], seed: number): TripInputEvent[] {
  let r = seed;
  const keyed = events.map((e) => {
    r = (r * 1103515245 + 12345) % 2 ** 31;
    return { e, k: r };
  });
  return keyed.sort((a, b) => a.e.tsDevice! - b.e.tsDevice! || a.k - b.k).map((x) => x.e);
}

/** Feeds `events` in chunks cut at `cuts`, checking after each chunk against the batch engine over the prefix. */
function check(d: Drive, events: TripInputEvent[], cuts: number[]): void {
  let st: EngineState = newEngine();
  const closed: TripSummary[] = [];
  const bounds = [...new Set([0, ...cuts.map((c) => c % (events.length + 1)), events.length])].sort((a, b) => a - b);
  for (let k = 1; k < bounds.length; k++) {
    const chunk = events.slice(bounds[k - 1], bounds[k]);
    const from = openTs(st);
    assert.ok(from === null || chunk.every((e) => e.tsDevice! >= from), 'in order');
    assert.equal(pushEvents(st, chunk, d.settings, closed), true);
    st = JSON.parse(JSON.stringify(st)) as EngineState; // persisted between calls
    const got = asTrips([...closed, ...finish(st, d.settings)], d.settings, d.now);
    const want = computeTrips(events.slice(0, bounds[k]), d.settings, d.now).trips;
    assert.deepEqual(got, want, `${d.name}: after ${bounds[k]} of ${events.length} events`);
  }
}

describe('incremental trip engine', () => {
  it('fed in one call, equals computeTrips on every drive', () => {
    for (const d of drives) check(d, inOrder(d.events, 1), []);
  });

  it('in-order input split at random points gives the same trips as computeTrips, after every call', () => {
    fc.assert(
      fc.property(fc.constantFrom(...drives), fc.nat(), fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), (d, seed, cuts) => {
        check(d, inOrder(d.events, seed), cuts);
      }),
      { numRuns: 80 },
    );
  });

  it('one event per call (every instant split across calls) still agrees', () => {
    for (const d of drives.filter((x) => x.events.length < 3000).slice(0, 6)) {
      const events = inOrder(d.events, 7);
      let st = newEngine();
      const closed: TripSummary[] = [];
      for (const e of events) assert.equal(pushEvents(st, [e], d.settings, closed), true);
      st = JSON.parse(JSON.stringify(st)) as EngineState;
      assert.deepEqual(asTrips([...closed, ...finish(st, d.settings)], d.settings, d.now), computeTrips(events, d.settings, d.now).trips, d.name);
    }
  });

  it('refuses an event before its open instant, changing nothing', () => {
    const d = drives[0];
    const events = inOrder(d.events, 3);
    const st = newEngine();
    pushEvents(st, events.slice(0, 50), d.settings, []);
    const before = JSON.stringify(st);
    const early = events.find((e) => e.tsDevice! < openTs(st)!)!;
    assert.equal(pushEvents(st, [events[60], early], d.settings, []), false);
    assert.equal(JSON.stringify(st), before);
  });
});

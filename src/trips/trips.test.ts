/**
 * Golden cases for trip segmentation: each folder under `testdata/` holds
 * `input.jsonl` (a head line `{"about", "now"?, "settings"?}` then the car's
 * compact records, decoded through the real car-telemetry codec for vehicle
 * `car-1`) and `expected.json` (the trips and the vehicle state at `now`;
 * without `now`, a day after the last record). UPDATE_GOLDEN=1 rewrites the
 * expected files, for a reviewer to read.
 *
 * The property test: any arrival order with any duplicates gives the same
 * trips, on every golden case's data.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { carTelemetryCodec } from '../codecs/car-telemetry/index.js';
import { collectDecode } from '../codecs/collect.js';
import { DEFAULT_LIMITS } from '../core/config.js';
import type { TelemetryEvent } from '../core/event.js';
import { computeTrips, DEFAULT_TRIP_SETTINGS, type TripSettings } from './index.js';

const TESTDATA = new URL('./testdata/', import.meta.url);
const DAY = 86_400_000;

interface Case {
  name: string;
  about: string;
  events: TelemetryEvent[];
  settings: TripSettings;
  now: number;
}

function loadCase(name: string): Case {
  const lines = readFileSync(new URL(`${name}/input.jsonl`, TESTDATA), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const head = JSON.parse(lines[0]) as { about: string; now?: number; settings?: Partial<TripSettings> };
  const events: TelemetryEvent[] = [];
  let lastTs = 0;
  for (const line of lines.slice(1)) {
    const d = collectDecode(carTelemetryCodec, Buffer.from(line), { topicDeviceId: 'car-1', receivedAt: 0, limits: DEFAULT_LIMITS });
    assert.equal(d.rejections.length, 0, `${name}: ${line} was refused: ${d.rejections[0]?.message}`);
    for (const e of d.events) {
      events.push(e.event);
      lastTs = Math.max(lastTs, e.event.tsDevice!);
    }
  }
  const now = head.now !== undefined ? head.now * 1000 : lastTs + DAY;
  return { name, about: head.about, events, settings: { ...DEFAULT_TRIP_SETTINGS, ...head.settings }, now };
}

const names = readdirSync(TESTDATA).filter((n) => statSync(new URL(`${n}/`, TESTDATA)).isDirectory()).sort();
const cases = names.map(loadCase);

describe('trip segmentation (golden cases)', () => {
  it('has a case for each transition and each real-data problem', () => assert.ok(cases.length >= 15));
  for (const c of cases) {
    it(c.name, () => {
      const got = { about: c.about, ...computeTrips(c.events, c.settings, c.now) };
      const file = new URL(`${c.name}/expected.json`, TESTDATA);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, `${JSON.stringify(got, null, 2)}\n`);
      assert.deepEqual(got, JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});

describe('trip segmentation properties', () => {
  it('reordering and duplicating the events never changes the trips', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...cases),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (c, seed, dupPicks) => {
          const base = computeTrips(c.events, c.settings, c.now);
          const shuffled = [...c.events, ...dupPicks.map((k) => c.events[k % c.events.length])];
          // Fisher–Yates with a seeded LCG: fast-check shrinks the seed, the order is reproducible.
          let s = seed;
          for (let i = shuffled.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) % 2 ** 31;
            const j = s % (i + 1);
            [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
          }
          assert.deepEqual(computeTrips(shuffled, c.settings, c.now), base);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the same instant resent with another event id settles the same way whatever came first', () => {
    const c = cases.find((x) => x.name === 'idle-driving-end')!;
    const i = c.events.findIndex((e) => e.eventType === 'speed' && (e.valueNum ?? 0) > 0);
    const twin = { ...c.events[i], eventId: 'zzz-resend', valueNum: 80 };
    const a = computeTrips([...c.events, twin], c.settings, c.now);
    const b = computeTrips([twin, ...c.events], c.settings, c.now);
    assert.deepEqual(a, b);
    assert.equal(a.trips[0].maxSpeedKmh, 80);
  });
});

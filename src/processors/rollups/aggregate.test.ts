/**
 * Tier arithmetic: an aggregate built from sub-bucket aggregates equals the
 * one built from the raw values, for every statistic, bit for bit, whatever
 * the values (fast-check doubles, huge and tiny mixed), their order, and
 * whether they arrive late (shuffled).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { aggregateOf, emptyAggregate, mergeAggregate, statsOf, type RawPoint } from './aggregate.js';
import { addToExpansion, roundExpansion } from './exact-sum.js';
import { checkTiers, DEFAULT_TIERS, parseDuration } from './tiers.js';

const HOUR = 3_600_000;
const MIN = 60_000;
const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 });
const point = fc.record({ t: fc.integer({ min: 0, max: HOUR - 1 }), value: fc.option(finite, { nil: null, freq: 8 }) });

describe('exact sums', () => {
  it('are correctly rounded and order-free where plain float addition is not', () => {
    const parts: number[] = [];
    for (const x of [1e100, 1, -1e100]) addToExpansion(parts, x);
    assert.equal(roundExpansion(parts), 1);
    assert.notEqual(1e100 + 1 - 1e100, 1); // the naive sum loses the 1
    const tenths: number[] = [];
    for (let i = 0; i < 10; i++) addToExpansion(tenths, 0.1);
    assert.equal(roundExpansion(tenths), 1); // naive: 0.9999999999999999
  });
});

describe('rollup of rollups', () => {
  it('a 1-hour aggregate from 1-minute aggregates equals the one from raw, for every statistic', () => {
    fc.assert(
      fc.property(fc.array(point, { maxLength: 300 }), fc.integer({ min: 0, max: 1000 }), (pts, seed) => {
        const raw: RawPoint[] = pts.map((p, i) => ({ t: p.t, eventId: `e${String(i).padStart(4, '0')}`, value: p.value }));
        const fromRaw = statsOf(aggregateOf(raw));
        // Late data: the points arrive in another order; minutes are filled in any order.
        const shuffled = raw.map((p, i) => [((i * 7919 + seed) % 10007), p] as const).sort((a, b) => a[0] - b[0]).map(([, p]) => p);
        const minutes = new Map<number, ReturnType<typeof emptyAggregate>>();
        for (const p of shuffled) {
          const m = Math.floor(p.t / MIN);
          minutes.set(m, aggregateOf([...(minutes.has(m) ? raw.filter((q) => Math.floor(q.t / MIN) === m && shuffled.indexOf(q) < shuffled.indexOf(p)) : []), p]));
        }
        const hour = emptyAggregate();
        for (const m of [...minutes.keys()].sort((a, b) => b - a)) mergeAggregate(hour, minutes.get(m)!);
        // Five-minute rows from the minute rows, then the hour from those.
        const fives = new Map<number, ReturnType<typeof emptyAggregate>>();
        for (const [m, a] of minutes) {
          const f = fives.get(Math.floor(m / 5)) ?? emptyAggregate();
          mergeAggregate(f, a);
          fives.set(Math.floor(m / 5), f);
        }
        const hour5 = emptyAggregate();
        for (const a of fives.values()) mergeAggregate(hour5, a);
        const strip = (s: ReturnType<typeof statsOf>) => ({ ...s });
        assert.deepStrictEqual(strip(statsOf(hour)), strip(fromRaw));
        assert.deepStrictEqual(strip(statsOf(hour5)), strip(fromRaw));
      }),
      { numRuns: 300 },
    );
  });

  it('counts text values but keeps them out of the numeric statistics', () => {
    const a = aggregateOf([
      { t: 1, eventId: 'a', value: null },
      { t: 2, eventId: 'b', value: 5 },
      { t: 2, eventId: 'c', value: 7 },
    ]);
    assert.deepEqual(statsOf(a), { count: 3, n: 2, sum: 12, avg: 6, min: 5, max: 7, first: 5, firstT: 2, last: 7, lastT: 2 });
  });
});

describe('tier ladder', () => {
  it('accepts the seed 004 defaults', () => assert.deepEqual(checkTiers(DEFAULT_TIERS), []));
  it('refuses raw retention that ends before the lateness window', () => {
    const problems = checkTiers({ ...DEFAULT_TIERS, rawRetentionMs: parseDuration('3d')!, latenessMs: parseDuration('7d')! });
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^tiers\.raw_retention: 3d ends before the lateness window .* at least 7d or shorten the lateness/);
  });
  it('refuses a width that is not a multiple of the tier below', () => {
    const problems = checkTiers({ ...DEFAULT_TIERS, aggregates: [{ widthMs: 2 * MIN, retentionMs: 90 * 24 * HOUR }, { widthMs: 5 * MIN, retentionMs: 800 * 24 * HOUR }] });
    assert.match(problems.join('\n'), /aggregates\[1\]\.width: 5m must be a larger multiple of the tier below \(2m/);
  });
});

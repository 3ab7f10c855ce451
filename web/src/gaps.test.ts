/** withGaps: a null point where data is missing, judged by bucket width and the series' own cadence. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withGaps } from './gaps.js';

describe('withGaps', () => {
  it('adds a null after the last bucket before a hole, and none between neighbours', () => {
    const [xs, ys] = withGaps([0, 60_000, 120_000, 600_000, 660_000], [1, 2, 3, 4, 5], 60_000);
    assert.deepEqual(xs, [0, 60, 120, 180, 600, 660]);
    assert.deepEqual(ys, [1, 2, 3, null, 4, 5]);
  });
  it('a once-a-minute sensor in 10-second buckets is a line, until it misses readings', () => {
    const times = [0, 1, 2, 3, 4, 10, 11].map((m) => m * 60_000);
    const [, ys] = withGaps(times, times.map((_t, i) => i), 10_000);
    assert.deepEqual(ys, [0, 1, 2, 3, 4, null, 5, 6]);
  });
  it('no buckets, one bucket: no gaps', () => {
    assert.deepEqual(withGaps([], [], 1000), [[], []]);
    assert.deepEqual(withGaps([5000], [7], 1000), [[5], [7]]);
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ApiError } from './errors.js';
import { AUTO_BUCKETS_LABEL, AUTO_BUCKETS_S, chooseBucketMs, parseBucket, parseRange, parseTimeParam, resolveSeriesRange, TARGET_POINTS } from './time-range.js';

const H = 3_600_000;
const D = 24 * H;

function refused(fn: () => unknown, message: RegExp, paths?: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, 'invalid_request');
    assert.match(err.message, message);
    if (paths) assert.deepEqual((err.details as { path: string }[]).map((d) => d.path), paths);
    return true;
  });
}

describe('time parameters', () => {
  it('a date alone is UTC midnight of that day', () => {
    assert.equal(parseTimeParam('from', '2026-11-30'), Date.parse('2026-11-30T00:00:00Z'));
    assert.equal(parseTimeParam('to', '2024-02-29'), Date.parse('2024-02-29T00:00:00Z'));
    assert.equal(parseTimeParam('to', '0099-01-01'), Date.parse('0099-01-01T00:00:00Z'), 'years below 100 are not read as 19xx');
  });

  it('date-times with and without offset, and epoch milliseconds', () => {
    assert.equal(parseTimeParam('from', '2026-11-30T12:00:00+01:00'), Date.parse('2026-11-30T11:00:00Z'));
    assert.equal(parseTimeParam('from', '2026-11-30T12:00:00'), Date.parse('2026-11-30T12:00:00Z'));
    assert.equal(parseTimeParam('from', '1764460800000'), 1764460800000);
    assert.equal(parseTimeParam('from', undefined), undefined);
  });

  it('refuses what is not a time, naming the parameter', () => {
    for (const bad of ['2026-02-29', '2026-13-01', '2026-11-31', '2026-11-3', 'yesterday', '2026/11/30']) {
      refused(() => parseTimeParam('to', bad), /^to must be an ISO-8601 date-time, a date/, ['/to']);
    }
  });

  it('from after to is refused naming both; equal is an empty range unless strict', () => {
    refused(() => parseRange({ from: '2026-11-30', to: '2026-11-29' }), /^from \(2026-11-30T00:00:00\.000Z\) must be before to \(2026-11-29T00:00:00\.000Z\)$/, ['/from', '/to']);
    assert.deepEqual(parseRange({ from: '2026-11-30', to: '2026-11-30' }), { from: Date.parse('2026-11-30'), to: Date.parse('2026-11-30') });
    refused(() => parseRange({ from: '2026-11-30', to: '2026-11-30' }, true), /must be before to/);
    assert.deepEqual(parseRange({ to: '2026-11-30' }), { from: undefined, to: Date.parse('2026-11-30') });
  });
});

describe('series range and bucket', () => {
  it('chooses the smallest listed bucket giving at most 300 points', () => {
    const cases: [number, number][] = [
      [60_000, 1], // 60 points
      [300_000, 1], // 300 points exactly
      [301_000, 2], // 301 at 1s: 151 at 2s
      [H, 15], // 240
      [D, 300], // 288
      [7 * D, 3600], // 168
      [30 * D, 10800], // 240
      [300 * D, 86400], // 300
      [400 * D, 86400], // 400: nothing larger to choose
    ];
    for (const [span, bucketS] of cases) assert.equal(chooseBucketMs(1_000_000, 1_000_000 + span), bucketS * 1000, `span ${span} ms`);
  });

  it('the chosen bucket is the smallest that fits, for any span (property over many spans)', () => {
    for (let span = 1000; span < 400 * D; span = Math.ceil(span * 1.37)) {
      const b = chooseBucketMs(0, span);
      const smaller = AUTO_BUCKETS_S.filter((s) => s * 1000 < b);
      if (b < D) assert.ok(Math.ceil(span / b) <= TARGET_POINTS, `span ${span}: ${b} fits`);
      for (const s of smaller) assert.ok(Math.ceil(span / (s * 1000)) > TARGET_POINTS, `span ${span}: ${s}s would have fitted`);
    }
  });

  it('docs/http-api.md gives the list as it is, and each is a width the API takes', () => {
    const doc = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
    const widths = AUTO_BUCKETS_LABEL.split(', ');
    assert.ok(doc.includes(`\`${widths.join(' ')}\``), `docs/http-api.md lists \`${widths.join(' ')}\``);
    assert.deepEqual(widths.map(parseBucket), AUTO_BUCKETS_S.map((s) => s * 1000));
  });

  it('defaults: to is now, from 24 h before to', () => {
    const now = Date.parse('2026-11-30T10:17:00Z');
    assert.deepEqual(resolveSeriesRange({}, now), { from: now - D, to: now, bucketMs: 300_000 });
    assert.deepEqual(resolveSeriesRange({ to: '2026-11-30' }, now), { from: Date.parse('2026-11-29'), to: Date.parse('2026-11-30'), bucketMs: 300_000 });
    assert.deepEqual(resolveSeriesRange({ from: '2026-11-30T09:17:00Z' }, now), { from: now - H, to: now, bucketMs: 15_000 });
    assert.deepEqual(resolveSeriesRange({ bucket: '1h' }, now), { from: now - D, to: now, bucketMs: H });
  });

  it('a from in the future without to is after now: refused naming both', () => {
    refused(() => resolveSeriesRange({ from: '2026-12-01' }, Date.parse('2026-11-30T10:00:00Z')), /^from \(2026-12-01T00:00:00\.000Z\) must be before to \(2026-11-30T10:00:00\.000Z\)$/);
  });

  it('an explicit bucket is 1s to 1d', () => {
    assert.equal(parseBucket('1s'), 1000);
    assert.equal(parseBucket('90m'), 90 * 60_000);
    assert.equal(parseBucket('1d'), D);
    for (const bad of ['0s', '2d', '25h', '1w', 's']) refused(() => parseBucket(bad), /^bucket must be between 1s and 1d/, ['/bucket']);
  });
});

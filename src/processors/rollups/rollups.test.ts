/**
 * The tiers against both real stores: after random, late and duplicated
 * writes, the rollups processor and one refresh, every 1-minute and 5-minute
 * row and every 1-hour rollup built from them equals the aggregate of the raw
 * events, for every statistic; the tiered series answers the same before
 * any refresh (real time: dirty buckets and backlog from raw) and after it;
 * a bucket past the lateness window is sealed and not recomputed.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { TelemetryEvent } from '../../core/event.js';
import type { Store } from '../../storage/store.js';
import { stopTestPostgres } from '../../../test/helpers/postgres.js';
import { aggregateOf, emptyAggregate, mergeAggregate, statsOf } from './aggregate.js';
import { rollups, ROLLUPS } from './index.js';
import { readRaw, readRows, RollupRefresher } from './refresher.js';
import { tieredSeries } from './series.js';
import { dayBoundaries } from './day-buckets.js';
import { DEFAULT_TIERS, formatDuration, type TierConfig } from './tiers.js';
import { createMetrics } from '../../core/metrics.js';
import { openTestStore } from '../../../test/helpers/store.js';

/** Seed 004's ladder as the seed gives it: 1m for 90 days, 5m for 2 years (telehub's default adds 1h). */
const SEED_TIERS: TierConfig = { ...DEFAULT_TIERS, aggregates: DEFAULT_TIERS.aggregates.slice(0, 2) };

after(() => stopTestPostgres());

const MIN = 60_000;
const HOUR = 60 * MIN;
const NOW = Date.UTC(2025, 5, 1, 12);
const T0 = NOW - 3 * HOUR; // three hours of data, well inside the lateness window

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'rollups');

/** A deterministic pseudo-random generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function makeEvents(n: number, seed: number, prefix: string, t0: number, spanMs: number): TelemetryEvent[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const text = r() < 0.1;
    const value = (r() - 0.5) * 10 ** Math.floor(r() * 8 - 2);
    const t = t0 + Math.floor(r() * spanMs);
    return {
      eventId: `${prefix}-${i}`, deviceId: 'dev-1', schema: 1, eventType: 'temp',
      valueNum: text ? null : value, valueText: text ? 'on' : null, unit: null,
      tsDevice: r() < 0.9 ? t : null, tsServer: t, meta: '{}',
    };
  });
}

/** Applies the processor to the whole log, as its runner would. */
async function runProcessor(store: Store): Promise<void> {
  const p = rollups(DEFAULT_TIERS);
  let at = await store.processors.register(ROLLUPS);
  for (;;) {
    const entries = await store.log.read(at, 500);
    if (entries.length === 0) return;
    const to = entries[entries.length - 1].seq;
    await store.processors.commit(ROLLUPS, at, to, await p.apply(entries, store.kind));
    at = to;
  }
}

async function checkTiersAgainstRaw(store: Store): Promise<void> {
  const ps = store.processors;
  for (const w of DEFAULT_TIERS.aggregates.map((a) => a.widthMs)) {
    const rows = await readRows(ps, store.kind, 'dev-1', 'temp', w, T0 - HOUR, NOW);
    assert.ok(rows.length > 0);
    for (const [b, agg] of rows) assert.deepStrictEqual(statsOf(agg), statsOf(aggregateOf(await readRaw(ps, store.kind, 'dev-1', 'temp', b, b + w))), `${w} ms bucket at ${new Date(b).toISOString()}`);
  }
  for (let h = T0 - HOUR; h < NOW; h += HOUR) {
    const fromRaw = statsOf(aggregateOf(await readRaw(ps, store.kind, 'dev-1', 'temp', h, h + HOUR)));
    for (const w of DEFAULT_TIERS.aggregates.map((a) => a.widthMs)) {
      const hour = emptyAggregate();
      for (const [, a] of await readRows(ps, store.kind, 'dev-1', 'temp', w, h, h + HOUR)) mergeAggregate(hour, a);
      assert.deepStrictEqual(statsOf(hour), fromRaw, `hour ${new Date(h).toISOString()} from ${w} ms rows`);
    }
  }
}

async function checkSeries(store: Store, tiersUsed: string[]): Promise<void> {
  const boundaries = Array.from({ length: 5 }, (_, i) => T0 - HOUR + i * HOUR);
  const s = await tieredSeries(store.processors, store.kind, DEFAULT_TIERS, { deviceId: 'dev-1', eventType: 'temp', boundaries, from: boundaries[0], to: boundaries[4] }, NOW);
  assert.equal(s.tier, '1h');
  assert.deepEqual(s.tiersUsed, tiersUsed);
  for (const b of s.buckets) {
    const raw = aggregateOf(await readRaw(store.processors, store.kind, 'dev-1', 'temp', b.start, b.start + HOUR));
    assert.deepStrictEqual(b.stats, statsOf(raw));
    assert.equal(b.state, raw.count > 0 ? 'data' : 'empty');
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`rollup tiers on ${kind}`, () => {
    it('equal raw for every statistic, in real time and after refresh, with late and duplicated data', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const refresher = new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => NOW, maxBucketsPerRun: 100 });
        const first = makeEvents(1500, 1, 'a', T0, 3 * HOUR);
        await store.writeBatch({ events: first, deadLetters: [] });
        // Nothing rolled up yet: the series comes from raw (backlog), exactly.
        await checkSeries(store, ['raw']);
        await runProcessor(store);
        await checkSeries(store, ['raw']); // all dirty, still exact
        while ((await refresher.refreshOnce()).more);
        await checkTiersAgainstRaw(store);
        await checkSeries(store, ['1h']);
        // Late data into old buckets, and duplicates of stored events (refused by id, must not count twice).
        await store.writeBatch({ events: [...makeEvents(300, 2, 'late', T0 - HOUR, HOUR), ...first.slice(0, 200)], deadLetters: [] });
        await store.writeBatch({ events: first.slice(100, 400), deadLetters: [] });
        await checkSeries(store, ['1h', 'raw']); // late buckets not yet processed: raw for them
        await runProcessor(store);
        while ((await refresher.refreshOnce()).more);
        await checkTiersAgainstRaw(store);
        await checkSeries(store, ['1h']);
      } finally {
        await cleanup();
      }
    });

    // The seed's ladder (coarsest 5m: dirty 5-minute buckets inside hourly answers) and telehub's (coarsest 1h).
    for (const [ladder, tiers, top] of [['seed 004 ladder', SEED_TIERS, 5 * MIN], ['default ladder', DEFAULT_TIERS, HOUR]] as const) {
    it(`a series of many buckets (hourly, and local days across a DST change) equals raw and the rows merged one by one, with dirty buckets inside buckets (${ladder})`, async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        // Berlin moves to summer time on 2025-03-30: that local day is 23 hours long.
        const now = Date.UTC(2025, 2, 31, 12);
        const t0 = Date.UTC(2025, 2, 28);
        const span = now - 2 * HOUR - t0;
        // Zeros of both signs, some hours with none below zero and some with none above, so zero is a bucket's minimum or maximum.
        const signed = (v: number, t: number, i: number) => {
          const zero = i % 3 === 0 ? 0 : i % 3 === 1 ? -0 : undefined;
          const h = Math.floor(t / HOUR) % 4;
          if (h === 0) return zero ?? Math.abs(v);
          if (h === 1) return zero ?? -Math.abs(v);
          return i % 13 === 0 ? (zero ?? 0) : v;
        };
        const events = makeEvents(4000, 21, 'd', t0, span).map((e, i) => (e.valueNum === null ? e : { ...e, valueNum: signed(e.valueNum, e.tsDevice ?? e.tsServer, i) }));
        await store.writeBatch({ events, deadLetters: [] });
        await runProcessor(store);
        while ((await new RollupRefresher(store.processors, store.kind, tiers, { now: () => now }).refreshOnce()).more);
        const ps = store.processors;
        const answers: Array<[string, number[]]> = [
          ['local days, Europe/Berlin', dayBoundaries(t0 - 6 * HOUR, now, 'Europe/Berlin')],
          ['hours', Array.from({ length: (now - t0) / HOUR + 1 }, (_, i) => t0 + i * HOUR)],
        ];
        const check = async (rowsToo: boolean) => {
          for (const [name, bs] of answers) {
            const s = await tieredSeries(ps, store.kind, tiers, { deviceId: 'dev-1', eventType: 'temp', boundaries: bs, from: bs[0], to: bs[bs.length - 1] }, now);
            assert.equal(s.tier, formatDuration(top));
            assert.equal(s.buckets.length, bs.length - 1);
            for (const b of s.buckets) {
              const end = bs[bs.indexOf(b.start) + 1];
              assert.deepStrictEqual(b.stats, statsOf(aggregateOf(await readRaw(ps, store.kind, 'dev-1', 'temp', b.start, end))), `${name}: bucket ${new Date(b.start).toISOString()} from raw`);
              if (!rowsToo) continue;
              const merged = emptyAggregate();
              for (const [, a] of await readRows(ps, store.kind, 'dev-1', 'temp', top, b.start, end)) mergeAggregate(merged, a);
              assert.deepStrictEqual(b.stats, statsOf(merged), `${name}: bucket ${new Date(b.start).toISOString()} from the rows one by one`);
            }
          }
        };
        await check(true);
        // A backfill: an event in a sealed bucket never computed (no data there before) comes from raw until the refresh computes it.
        const old = Date.UTC(2025, 2, 20, 10);
        await store.writeBatch({ events: makeEvents(1, 29, 'backfill', old, MIN), deadLetters: [] });
        await runProcessor(store);
        const b = await tieredSeries(ps, store.kind, tiers, { deviceId: 'dev-1', eventType: 'temp', boundaries: [old - HOUR, old, old + HOUR], from: old - HOUR, to: old + HOUR }, now);
        assert.deepEqual(b.tiersUsed, ['raw']);
        assert.deepEqual(b.buckets.map((x) => x.stats.count), [0, 1]);
        while ((await new RollupRefresher(ps, store.kind, tiers, { now: () => now }).refreshOnce()).more);
        const c = await tieredSeries(ps, store.kind, tiers, { deviceId: 'dev-1', eventType: 'temp', boundaries: [old - HOUR, old, old + HOUR], from: old - HOUR, to: old + HOUR }, now);
        assert.deepEqual(c.tiersUsed, [formatDuration(top)]);
        assert.deepStrictEqual(c.buckets.map((x) => x.stats), b.buckets.map((x) => x.stats));
        // Late events in a few 5-minute buckets (inside answer buckets) before the processor sees them, then after it marks them dirty.
        const late = [Date.UTC(2025, 2, 29, 23, 7), Date.UTC(2025, 2, 30, 1, 3), Date.UTC(2025, 2, 30, 1, 21), Date.UTC(2025, 2, 31, 9, 58)];
        await store.writeBatch({ events: late.flatMap((t, k) => makeEvents(5, 30 + k, `late-${k}`, t, 60_000)), deadLetters: [] });
        await check(false);
        await runProcessor(store);
        await check(false);
      } finally {
        await cleanup();
      }
    });
    }

    it('a refresh over many devices and types (one chunk holds several of each) keeps every bucket to its own events', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const series = ['dev-1', 'dev-2', 'dev-3'].flatMap((d) => ['temp', 'hum'].map((y) => [d, y] as const));
        // The same times for every series, so their buckets share starts and differ only by device and type.
        const events = series.flatMap(([d, y], k) => makeEvents(300, 10 + k, `${d}-${y}`, T0, HOUR).map((e) => ({ ...e, deviceId: d, eventType: y })));
        await store.writeBatch({ events, deadLetters: [] });
        await runProcessor(store);
        while ((await new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => NOW }).refreshOnce()).more);
        const ps = store.processors;
        for (const [d, y] of series) {
          for (const w of [MIN, 5 * MIN]) {
            const rows = await readRows(ps, store.kind, d, y, w, T0, T0 + HOUR);
            const starts = new Set(events.filter((e) => e.deviceId === d && e.eventType === y).map((e) => Math.floor((e.tsDevice ?? e.tsServer) / w) * w));
            assert.deepEqual(rows.map(([b]) => b), [...starts].sort((a, b) => a - b), `${d}/${y}: one ${w} ms row per bucket with data`);
            for (const [b, agg] of rows) assert.deepStrictEqual(statsOf(agg), statsOf(aggregateOf(await readRaw(ps, store.kind, d, y, b, b + w))), `${d}/${y} ${w} ms bucket at ${new Date(b).toISOString()}`);
          }
        }
        assert.equal(Number((await ps.select('SELECT COUNT(*) AS n FROM rollup_dirty', []))[0].n), 0, 'every mark handled');
      } finally {
        await cleanup();
      }
    });

    it('seals buckets past the lateness window: later data stays in raw only', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        await store.writeBatch({ events: makeEvents(50, 3, 'a', T0, 10 * MIN), deadLetters: [] });
        await runProcessor(store);
        await new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => NOW }).refreshOnce();
        const before = await readRows(store.processors, store.kind, 'dev-1', 'temp', MIN, T0, T0 + 10 * MIN);
        // Eight days later, an event lands in one of those minutes.
        const later = NOW + 8 * 24 * HOUR;
        await store.writeBatch({ events: makeEvents(1, 4, 'too-late', T0, MIN), deadLetters: [] });
        await runProcessor(store);
        // Before the refresh drops its mark, the series keeps the sealed rows as stored, without the late event.
        const s = await tieredSeries(store.processors, store.kind, DEFAULT_TIERS, { deviceId: 'dev-1', eventType: 'temp', boundaries: [T0, T0 + 5 * MIN, T0 + 10 * MIN], from: T0, to: T0 + 10 * MIN }, later);
        assert.deepEqual(s.tiersUsed, ['5m']);
        assert.deepStrictEqual(s.buckets.map((b) => b.stats), (await readRows(store.processors, store.kind, 'dev-1', 'temp', 5 * MIN, T0, T0 + 10 * MIN)).map(([, a]) => statsOf(a)));
        let clock = later;
        const refresher = new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => clock });
        const metrics = createMetrics();
        metrics.observeTiers({ lag: () => refresher.refreshLagSeconds(), tooLate: () => refresher.tooLateTotal });
        clock = later + 30_000; // a run 30 s after the refresher was made
        const r = await refresher.refreshOnce();
        assert.equal(r.tooLate, 1);
        assert.equal(r.recomputed[MIN], 0);
        // /metrics: the too-late mark is counted, and both tiers were caught up by that run.
        clock += 5_000;
        const text = await metrics.registry.metrics();
        assert.match(text, /^telehub_rollup_too_late_total 1$/m);
        assert.match(text, /^telehub_rollup_refresh_lag_seconds\{tier="1m"\} 5$/m);
        assert.match(text, /^telehub_rollup_refresh_lag_seconds\{tier="5m"\} 5$/m);
        // Only expiry may change sealed rows; 1-minute rows are kept 90 days.
        assert.deepStrictEqual(await readRows(store.processors, store.kind, 'dev-1', 'temp', MIN, T0, T0 + 10 * MIN), before);
        const sealed = await store.processors.select('SELECT width_ms, sealed_before FROM rollup_tiers ORDER BY width_ms', []);
        assert.equal(Number(sealed[0].sealed_before), Math.floor((later - DEFAULT_TIERS.latenessMs) / MIN) * MIN);
      } finally {
        await cleanup();
      }
    });
  });
}

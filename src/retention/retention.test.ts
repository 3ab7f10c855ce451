/**
 * The retention job against both real stores, on a simulated clock: raw
 * events past their retention are deleted in chunks, never above the first
 * tier's sealed watermark, never in a bucket still dirty, never before every
 * processor read them; tier rows stay; dead letters go by age and by a size
 * ceiling; the disk guardrail warns (log and /metrics) and shortens raw
 * retention to the lateness window.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { RetentionConfig } from '../core/config.js';
import type { DeadLetter, TelemetryEvent } from '../core/event.js';
import { createMetrics } from '../core/metrics.js';
import { rollups, ROLLUPS } from '../processors/rollups/index.js';
import { readRows, RollupRefresher } from '../processors/rollups/refresher.js';
import { DEFAULT_TIERS, sealedBefore, type TierConfig } from '../processors/rollups/tiers.js';
import type { Store } from '../storage/store.js';
import { stopTestPostgres } from '../../test/helpers/postgres.js';
import { RetentionJob } from './job.js';
import { openTestStore } from '../../test/helpers/store.js';

after(() => stopTestPostgres());

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2025, 5, 20, 12, 30);
const BASE: RetentionConfig = { intervalMs: 60_000, chunk: 20, deadLetterRetentionMs: 30 * DAY, deadLetterMaxBytes: 0, diskMaxBytes: 0, diskWarnRatio: 0.9, diskShrinkRaw: false };

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'retention', 3);

/** One event every `step` ms over [from, to), half with ts_device, half only ts_server. */
function events(prefix: string, from: number, to: number, step: number): TelemetryEvent[] {
  const out: TelemetryEvent[] = [];
  for (let t = from, i = 0; t < to; t += step, i++) {
    out.push({ eventId: `${prefix}-${i}`, deviceId: 'd1', schema: 1, eventType: 'temp', valueNum: i, valueText: null, unit: null, tsDevice: i % 2 === 0 ? t : null, tsServer: t, meta: '{}' });
  }
  return out;
}

async function runRollups(store: Store, tiers: TierConfig): Promise<void> {
  const p = rollups(tiers);
  let at = await store.processors.register(ROLLUPS);
  for (;;) {
    const entries = await store.log.read(at, 1000);
    if (entries.length === 0) return;
    const to = entries[entries.length - 1].seq;
    await store.processors.commit(ROLLUPS, at, to, await p.apply(entries, store.kind));
    at = to;
  }
}

async function eventTimes(store: Store): Promise<number[]> {
  const rows = await store.queries.events({ limit: 100_000 });
  return rows.map((r) => r.time);
}

function job(store: Store, tiers: TierConfig, retention: Partial<RetentionConfig> = {}, now = NOW, log?: pino.Logger): RetentionJob {
  return new RetentionJob({ store: store.processors, dialect: store.kind, tiers, retention: { ...BASE, ...retention }, processors: [ROLLUPS], rollupsOn: true, now: () => now, log });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`retention on ${kind}`, () => {
    it('drops raw events past retention in chunks, capped at the sealed watermark, keeping tier rows', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        // Ten days of one event every 30 minutes: 480 events.
        const all = events('e', NOW - 10 * DAY, NOW, 30 * MIN);
        for (let i = 0; i < all.length; i += 500) await store.writeBatch({ events: all.slice(i, i + 500), deadLetters: [] });
        await runRollups(store, DEFAULT_TIERS);
        // Refreshed as it went: buckets computed before they were sealed (the refresher ran 9 days ago too).
        await new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => NOW, maxBucketsPerRun: 5000 }).refreshOnce();
        const before1m = await readRows(store.processors, store.kind, 'd1', 'temp', MIN, 0, NOW);

        const r = await job(store, DEFAULT_TIERS).runOnce();
        const cut = Math.min(NOW - DEFAULT_TIERS.rawRetentionMs, sealedBefore(NOW, DEFAULT_TIERS, MIN));
        assert.equal(r.rawBefore, cut);
        const expected = all.filter((e) => e.tsServer < cut).length;
        assert.ok(expected > 3 * BASE.chunk, 'several chunks');
        assert.equal(r.rawDeleted, expected);
        const left = await eventTimes(store);
        assert.equal(left.length, all.length - expected);
        assert.ok(left.every((t) => t >= cut));
        // The 1-minute rows of the dropped days stay (kept 90 days).
        assert.deepStrictEqual(await readRows(store.processors, store.kind, 'd1', 'temp', MIN, 0, NOW), before1m);
        // A second run has nothing to do.
        assert.equal((await job(store, DEFAULT_TIERS).runOnce()).rawDeleted, 0);
      } finally {
        await cleanup();
      }
    });

    it('keeps what a processor has not read and what is still dirty', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        await store.writeBatch({ events: events('a', NOW - 9 * DAY, NOW - 8 * DAY, HOUR), deadLetters: [] });
        await runRollups(store, DEFAULT_TIERS);
        await new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => NOW - 8 * DAY + HOUR }).refreshOnce();
        // A late event into those days, not yet read by the rollups processor.
        await store.writeBatch({ events: events('late', NOW - 9 * DAY + 30 * MIN, NOW - 9 * DAY + 31 * MIN, MIN), deadLetters: [] });
        let r = await job(store, DEFAULT_TIERS).runOnce();
        assert.equal(r.rawDeleted, 24, 'the 24 read events go');
        assert.equal((await eventTimes(store)).length, 1, 'the unread one stays');
        // Read now: its bucket is dirty, so raw from that bucket on stays.
        await runRollups(store, DEFAULT_TIERS);
        r = await job(store, DEFAULT_TIERS).runOnce();
        assert.equal(r.rawDeleted, 0);
        assert.equal(r.rawBefore, Math.floor((NOW - 9 * DAY + 30 * MIN) / MIN) * MIN);
        // The refresher takes the mark (that minute was never computed: it is, once); then it goes.
        await new RollupRefresher(store.processors, store.kind, DEFAULT_TIERS, { now: () => NOW }).refreshOnce();
        r = await job(store, DEFAULT_TIERS).runOnce();
        assert.equal(r.rawDeleted, 1);
        assert.equal(await store.countEvents(), 0);
      } finally {
        await cleanup();
      }
    });

    it('drops dead letters by age and by the size ceiling, oldest first', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const dl = (i: number, ageDays: number, bytes: number): DeadLetter => ({ reason: 'invalid_json', message: `m${i}`, topic: 't', deviceId: null, payload: Buffer.alloc(bytes, i), receivedAt: NOW - ageDays * DAY, source: 'mqtt' });
        // 150 older than 30 days (several chunks), 10 younger, 1 KiB each.
        await store.writeBatch({ events: [], deadLetters: Array.from({ length: 150 }, (_, i) => dl(i, 31 + i / 100, 1024)) });
        await store.writeBatch({ events: [], deadLetters: Array.from({ length: 10 }, (_, i) => dl(200 + i, 29 - i, 1024)) });
        await runRollups(store, DEFAULT_TIERS);
        let r = await job(store, DEFAULT_TIERS).runOnce();
        assert.equal(r.deadLettersExpired, 150);
        assert.equal(await store.countDeadLetters(), 10);
        // Ceiling 4 KiB... in MB units the job is given bytes: keep the newest 4.
        r = await job(store, DEFAULT_TIERS, { deadLetterMaxBytes: 4 * 1024 }).runOnce();
        assert.equal(r.deadLettersEvicted, 6);
        const left = await store.listDeadLetters({ limit: 100 });
        assert.deepEqual(left.map((d) => d.message).sort(), ['m206', 'm207', 'm208', 'm209']);
      } finally {
        await cleanup();
      }
    });

    it('disk guardrail: warns in the log and /metrics and shortens raw retention to the lateness window', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        const tiers: TierConfig = { ...DEFAULT_TIERS, rawRetentionMs: 30 * DAY };
        await store.writeBatch({ events: events('e', NOW - 12 * DAY, NOW, 6 * HOUR), deadLetters: [] });
        await runRollups(store, tiers);
        await new RollupRefresher(store.processors, store.kind, tiers, { now: () => NOW, maxBucketsPerRun: 5000 }).refreshOnce();
        const lines: Array<Record<string, unknown>> = [];
        const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
        // Far below the ceiling: nothing dropped (30 days retention), no warning.
        let r = await job(store, tiers, { diskMaxBytes: 2 ** 40, diskShrinkRaw: true }, NOW, log).runOnce();
        assert.equal(r.nearCeiling, false);
        assert.equal(r.rawDeleted, 0);
        assert.ok(r.storeBytes! > 0);
        // A ceiling the store is over: warn, shrink raw to the lateness window (7 days).
        const j = job(store, tiers, { diskMaxBytes: 1024, diskShrinkRaw: true }, NOW, log);
        const metrics = createMetrics();
        metrics.observeRetention(() => j.totals);
        r = await j.runOnce();
        assert.equal(r.nearCeiling, true);
        assert.equal(r.rawRetentionMs, DEFAULT_TIERS.latenessMs);
        const expected = events('e', NOW - 12 * DAY, NOW, 6 * HOUR).filter((e) => e.tsServer < r.rawBefore).length;
        assert.ok(expected >= 19);
        assert.equal(r.rawDeleted, expected);
        assert.ok(lines.some((l) => l.level === 40 && /near its disk ceiling/.test(String(l.msg))));
        const text = await metrics.registry.metrics();
        assert.match(text, /^telehub_disk_near_ceiling 1$/m);
        assert.match(text, /^telehub_raw_retention_seconds 604800$/m);
        assert.match(text, new RegExp(`^telehub_retention_deleted_total\\{kind="raw"\\} ${expected}$`, 'm'));
        assert.match(text, /^telehub_store_bytes \d+/m);
        // Without TELEHUB_DISK_SHRINK_RAW it only warns.
        const w = await job(store, { ...tiers }, { diskMaxBytes: 1024, diskShrinkRaw: false }, NOW, log).runOnce();
        assert.equal(w.nearCeiling, true);
        assert.equal(w.rawRetentionMs, 30 * DAY);
      } finally {
        await cleanup();
      }
    });
  });
}

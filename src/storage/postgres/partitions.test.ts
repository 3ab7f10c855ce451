/**
 * PostgreSQL's day partitions of `events` (migration 13) on a simulated
 * clock a month ahead of the real one (past the day events_flat ends):
 * rows with no partition wait in events_default and move when their day is
 * created, retention drops whole days (never above its drop point, never a
 * partition a processor has not read), event_id dedup holds across
 * partitions and after a drop while event_ids holds the id, and event_ids
 * is pruned after the dedup window.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { RetentionConfig } from '../../core/config.js';
import type { TelemetryEvent } from '../../core/event.js';
import { DEFAULT_TIERS } from '../../processors/rollups/tiers.js';
import { RetentionJob } from '../../retention/job.js';
import { stopTestPostgres, testDatabase } from '../../../test/helpers/postgres.js';
import { PostgresStore } from './index.js';
import pg from 'pg';
import { dayStart, detachedName, detachPartition, ensurePartitions, freeDetached, listDetached, listPartitions, partitionName } from './partitions.js';
import { migrationPlan } from '../migrations/plan.js';
import { MIGRATIONS } from '../migrations/index.js';

after(() => stopTestPostgres());

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = dayStart(Date.now()) + 40 * DAY + 12 * HOUR;
const RETENTION: RetentionConfig = { intervalMs: 60_000, chunk: 50, deadLetterRetentionMs: 30 * DAY, deadLetterMaxBytes: 0, diskMaxBytes: 0, diskWarnRatio: 0.9, diskShrinkRaw: false };

/** One event an hour over [from, to), odd ones with only ts_server (received at the event time). */
function hourly(prefix: string, from: number, to: number): TelemetryEvent[] {
  const out: TelemetryEvent[] = [];
  for (let t = from, i = 0; t < to; t += HOUR, i++) {
    out.push({ eventId: `${prefix}-${i}`, deviceId: 'd1', schema: 1, eventType: 'temp', valueNum: i, valueText: null, unit: null, tsDevice: i % 2 === 0 ? t : null, tsServer: t, meta: '{}' });
  }
  return out;
}

async function withStore(fn: (store: PostgresStore, sql: (q: string, p?: unknown[]) => Promise<Record<string, unknown>[]>, url: string) => Promise<void>) {
  const db = await testDatabase();
  const store = new PostgresStore({ connectionString: db.url, poolSize: 3 });
  try {
    await store.migrate();
    await fn(store, (q, p = []) => store.processors.select(q, p), db.url);
  } finally {
    await store.close();
    await db.drop();
  }
}

const job = (store: PostgresStore, now: number, processors: string[] = []) =>
  new RetentionJob({ store: store.processors, dialect: 'postgres', tiers: DEFAULT_TIERS, retention: RETENTION, processors, rollupsOn: false, now: () => now });

async function where(sql: (q: string, p?: unknown[]) => Promise<Record<string, unknown>[]>, id: string): Promise<string> {
  const rows = await sql('SELECT tableoid::regclass::text AS t FROM events WHERE event_id = $1', [id]);
  return String(rows[0]?.t);
}

describe('postgres: day partitions of events', () => {
  it('migrate leaves a partitioned events table: events_flat (before tomorrow), today and the next days, and a default partition', () =>
    withStore(async (store) => {
      const parts = await listPartitions(store.processors);
      const today = dayStart(Date.now());
      assert.ok(parts.some((p) => p.name === 'events_flat' && p.from === null && p.to === today + DAY));
      assert.ok(parts.some((p) => p.name === partitionName(today + 2 * DAY) && p.from === today + 2 * DAY));
      assert.ok(parts.at(-1)!.isDefault);
      // Running it again creates nothing new.
      assert.deepEqual(await ensurePartitions(store.processors, Date.now(), Date.now() + 3 * DAY), []);
    }));

  it('rows with no partition wait in events_default; creating their day moves them; retention then drops whole days up to its drop point', () =>
    withStore(async (store, sql) => {
      const all = hourly('e', NOW - 10 * DAY, NOW);
      for (let i = 0; i < all.length; i += 100) await store.writeBatch({ events: all.slice(i, i + 100), deadLetters: [] });
      assert.equal(await where(sql, 'e-0'), 'events_default');

      const r1 = await job(store, NOW).runOnce();
      const before1 = NOW - DEFAULT_TIERS.rawRetentionMs;
      assert.equal(r1.rawBefore, before1);
      // Days from the drop point (its day included) to three ahead were created, their rows moved there.
      assert.equal(r1.partitionsCreated[0], partitionName(dayStart(before1)));
      assert.equal(r1.partitionsCreated.at(-1), partitionName(dayStart(NOW) + 3 * DAY));
      assert.equal(await where(sql, `e-${all.length - 1}`), partitionName(dayStart(NOW)));
      // What had no partition and lies before the drop point was deleted in chunks from the default partition.
      assert.equal(r1.rawDeleted, all.filter((e) => e.tsServer < dayStart(before1)).length);
      assert.equal(Number((await sql('SELECT count(*) AS n FROM events_default'))[0].n), 0);
      let left = await store.countEvents();
      assert.equal(left, all.length - r1.rawDeleted);

      // Two days later: the two days wholly before the drop point are detached and dropped.
      const later = NOW + 2 * DAY;
      const r2 = await job(store, later).runOnce();
      const before2 = later - DEFAULT_TIERS.rawRetentionMs;
      assert.deepEqual(
        r2.partitionsDropped.map((p) => p.name),
        [partitionName(dayStart(before1)), partitionName(dayStart(before1) + DAY)],
      );
      assert.equal(r2.rawDeleted, 0);
      left = await store.countEvents();
      assert.equal(left, all.filter((e) => e.tsServer >= dayStart(before2)).length, 'everything from the day of the drop point on stays');
      assert.ok((await listPartitions(store.processors)).every((p) => p.isDefault || p.to === null || p.to > before2));
    }));

  it('keeps a partition past the drop point while a processor has not read all of it', () =>
    withStore(async (store) => {
      await job(store, NOW).runOnce(); // create the days
      const day = dayStart(NOW) - 6 * DAY;
      await store.writeBatch({ events: hourly('a', day, day + DAY), deadLetters: [] });
      const p1 = 'retention_test_reader';
      await store.processors.register(p1);
      const first = (await store.log.read(0, 1))[0].seq;
      await store.processors.commit(p1, 0, first, []);
      const r = await job(store, NOW + 2 * DAY, [p1]).runOnce();
      assert.ok(!r.partitionsDropped.some((p) => p.name === partitionName(day)));
      assert.equal(await store.countEvents(), 24);
      await store.processors.commit(p1, first, first + 1000, []);
      const r2 = await job(store, NOW + 2 * DAY, [p1]).runOnce();
      assert.ok(r2.partitionsDropped.some((p) => p.name === partitionName(day)));
      assert.equal(await store.countEvents(), 0);
    }));

  it('a late event within the lateness window lands in its day; one days ahead of every partition waits in events_default until its day is created', () =>
    withStore(async (store, sql) => {
      await job(store, NOW).runOnce();
      const late = NOW - 5 * DAY;
      const early = NOW + 20 * DAY;
      await store.writeBatch({
        events: [
          { eventId: 'late', deviceId: 'd1', schema: 1, eventType: 'temp', valueNum: 1, valueText: null, unit: null, tsDevice: late, tsServer: NOW, meta: '{}' },
          { eventId: 'early', deviceId: 'd1', schema: 1, eventType: 'temp', valueNum: 2, valueText: null, unit: null, tsDevice: early, tsServer: NOW, meta: '{}' },
        ],
        deadLetters: [],
      });
      assert.equal(await where(sql, 'late'), partitionName(dayStart(late)));
      assert.equal(await where(sql, 'early'), 'events_default');
      const r = await job(store, early).runOnce();
      assert.ok(r.partitionsCreated.includes(partitionName(dayStart(early))));
      assert.equal(await where(sql, 'early'), partitionName(dayStart(early)));
    }));

  it('event_id stays unique across partitions: duplicate or conflict as before, and duplicate after its row was dropped while event_ids holds the id', () =>
    withStore(async (store) => {
      await job(store, NOW).runOnce();
      // A late event: measured 6 days ago, received now.
      const ev = (over: Partial<TelemetryEvent>): TelemetryEvent => ({ eventId: 'x', deviceId: 'd1', schema: 1, eventType: 'temp', valueNum: 1, valueText: null, unit: null, tsDevice: NOW - 6 * DAY, tsServer: NOW, meta: '{}', ...over });
      assert.deepEqual((await store.writeBatch({ events: [ev({})], deadLetters: [] })).statuses, ['stored']);
      // Same id, a time in another partition: a conflict, not a second row.
      const other = await store.writeBatch({ events: [ev({ tsDevice: NOW }), ev({ tsServer: NOW + HOUR })], deadLetters: [] });
      assert.deepEqual(other.statuses, ['conflict', 'duplicate']);
      assert.deepEqual(other.conflicts?.get(0)?.differs, ['ts_device']);
      assert.equal(await store.countEvents(), 1);
      // Its day is dropped two days later; the id is still held (received at NOW, the window is 7 days).
      const r = await job(store, NOW + 2 * DAY).runOnce();
      assert.ok(r.partitionsDropped.some((p) => p.name === partitionName(dayStart(NOW - 6 * DAY))));
      assert.equal(await store.countEvents(), 0);
      assert.deepEqual((await store.writeBatch({ events: [ev({ tsServer: NOW + 2 * DAY })], deadLetters: [] })).statuses, ['duplicate']);
      // Past the dedup window the id is pruned from event_ids; a redelivery then is stored anew.
      const r2 = await job(store, NOW + 8 * DAY).runOnce();
      assert.equal(r2.eventIdsPruned, 1);
      assert.deepEqual((await store.writeBatch({ events: [ev({ tsServer: NOW + 8 * DAY })], deadLetters: [] })).statuses, ['stored']);
    }));

  it('a day detached but not dropped (a crash between the two steps, or after its indexes went) is dropped by the next run; until then no query sees it', () =>
    withStore(async (store, sql) => {
      await job(store, NOW).runOnce();
      const days = [dayStart(NOW) - 6 * DAY, dayStart(NOW) - 5 * DAY];
      for (const d of days) await store.writeBatch({ events: hourly(`c${d}`, d, d + DAY), deadLetters: [] });
      assert.equal(await store.countEvents(), 48);
      // Step 1 alone for both days, as if the process died right after it; step 2 only half done for the second.
      for (const d of days) assert.equal(await detachPartition(store.processors, partitionName(d)), true);
      const indexes = async (t: string) => Number((await sql('SELECT count(*)::int AS n FROM pg_index WHERE indrelid = to_regclass($1)', [t]))[0].n);
      const second = detachedName(partitionName(days[1]));
      assert.ok((await indexes(second)) > 0);
      await sql(`DROP INDEX ${String((await sql('SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = to_regclass($1) LIMIT 1', [second]))[0].i)}`);
      assert.equal(await store.countEvents(), 0, 'a detached day is gone from queries');
      assert.deepEqual(await listDetached(store.processors), days.map((d) => detachedName(partitionName(d))));
      assert.ok(!(await listPartitions(store.processors)).some((p) => days.some((d) => p.name === partitionName(d))));
      // The next run (nothing else past its drop point) finishes both.
      const r = await job(store, NOW).runOnce();
      assert.deepEqual(r.detachedFinished, days.map((d) => detachedName(partitionName(d))));
      assert.deepEqual(await listDetached(store.processors), []);
      assert.equal((await sql("SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'events\\_drop\\_%'"))[0].n, 0);
      // Freeing a table already gone is a no-op (two runs racing).
      await freeDetached(store.processors, second);
    }));

  it('a long reader of events holds the DETACH off: the day stays (held for its lock) and writers are not queued for more than the lock timeout; the next run drops it', () =>
    withStore(async (store, sql, url) => {
      await job(store, NOW).runOnce();
      const day = dayStart(NOW) - 6 * DAY;
      await store.writeBatch({ events: hourly('r', day, day + DAY), deadLetters: [] });
      const reader = new pg.Client({ connectionString: url });
      await reader.connect();
      try {
        await reader.query('BEGIN');
        await reader.query('SELECT count(*) FROM events');
        const r = await job(store, NOW + 2 * DAY).runOnce();
        assert.deepEqual(r.partitionsDropped, []);
        assert.ok((await listPartitions(store.processors)).some((p) => p.name === partitionName(day)));
        // Intake goes on meanwhile (no DETACH left waiting in the queue).
        assert.deepEqual((await store.writeBatch({ events: hourly('w', NOW, NOW + HOUR), deadLetters: [] })).statuses, ['stored']);
        await reader.query('COMMIT');
      } finally {
        await reader.end();
      }
      const r2 = await job(store, NOW + 2 * DAY).runOnce();
      assert.ok(r2.partitionsDropped.some((p) => p.name === partitionName(day)));
      assert.equal(await store.countEvents(), 1);
    }));

  it("a partition an interrupted DETACH … CONCURRENTLY left 'detach pending' (its day's inserts fail meanwhile) is completed with FINALIZE and dropped by the next run", async (t) => {
    await withStore(async (store, sql, url) => {
      if (Number((await sql('SHOW server_version_num'))[0].server_version_num) < 140000) return t.skip('DETACH … CONCURRENTLY needs PostgreSQL 14');
      await job(store, NOW).runOnce();
      const day = dayStart(NOW) - 6 * DAY;
      await store.writeBatch({ events: hourly('p', day, day + DAY), deadLetters: [] });
      const name = partitionName(day);
      // PostgreSQL refuses CONCURRENTLY while a default partition exists: take it off for the moment.
      await sql('ALTER TABLE events DETACH PARTITION events_default');
      const reader = new pg.Client({ connectionString: url });
      const detacher = new pg.Client({ connectionString: url });
      await Promise.all([reader.connect(), detacher.connect()]);
      try {
        // A reader's transaction makes the concurrent detach wait for it in its second phase (after the first
        // committed the pending state); a lock timeout interrupts it there.
        await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await reader.query('SELECT count(*) FROM events');
        await detacher.query("SET lock_timeout = '500ms'");
        await assert.rejects(detacher.query(`ALTER TABLE events DETACH PARTITION ${name} CONCURRENTLY`), /lock timeout/);
        await reader.query('COMMIT');
      } finally {
        await Promise.all([reader.end(), detacher.end()]);
      }
      await sql('ALTER TABLE events ATTACH PARTITION events_default DEFAULT');
      assert.equal((await listPartitions(store.processors)).find((p) => p.name === name)?.detachPending, true);
      await assert.rejects(store.writeBatch({ events: hourly('late', day + HOUR, day + 2 * HOUR), deadLetters: [] }), /partition constraint/);

      const r = await job(store, NOW + 2 * DAY).runOnce();
      assert.ok(r.partitionsDropped.some((p) => p.name === name));
      assert.ok(!(await listPartitions(store.processors)).some((p) => p.name === name));
      assert.deepEqual(await listDetached(store.processors), []);
      assert.equal((await sql('SELECT to_regclass($1) AS t', [name]))[0].t, null);
    });
  });

  it('a flat events table filled under migration 12: the dry run prints the plan and changes nothing; migrate keeps every row, its log number and its dedup', async () => {
    const db = await testDatabase();
    const store = new PostgresStore({ connectionString: db.url, poolSize: 3 });
    try {
      await store.migrate(12);
      const sql = (q: string, p: unknown[] = []) => store.processors.select(q, p);
      const today = dayStart(Date.now());
      // Three days of 500 events, one dated a week ahead, one with neither time.
      await sql(`INSERT INTO events (event_id, device_id, schema, event_type, value_num, ts_device, ts_server, meta)
        SELECT 'f-' || g, 'dev-' || (g % 7), 1, 'temp', g, CASE WHEN g % 2 = 0 THEN t END, t, ('{"g":' || g || '}')::jsonb
        FROM generate_series(0, 1499) AS g, LATERAL (SELECT to_timestamp(($1::int8 + g * 172800) / 1000.0) AS t) AS x`, [today - 2 * DAY]);
      await sql(`INSERT INTO events (event_id, device_id, schema, event_type, value_num, ts_device, ts_server) VALUES
        ('ahead', 'dev-a', 1, 'temp', 1, to_timestamp($1 / 1000.0), now()), ('untimed', 'dev-a', 1, 'temp', 2, NULL, NULL)`, [today + 7 * DAY]);
      const before = await sql('SELECT event_id, seq::float8 AS seq FROM events ORDER BY seq');

      const plan = (await migrationPlan(store)).join('\n');
      assert.match(plan, new RegExp(`at version 12; this telehub has ${MIGRATIONS[MIGRATIONS.length - 1].version}\\.`));
      assert.match(plan, /13 {2}partitioned raw events/);
      assert.match(plan, /rename events \(1,502 rows/);
      assert.match(plan, /move the 1 rows dated/);
      assert.match(plan, /on the 1 rows with neither time/);
      assert.match(plan, new RegExp(`${new Date(today - 2 * DAY).toISOString().slice(0, 10)} +500`));
      assert.deepEqual((await store.migrationVersions()).at(-1), 12, 'the dry run changed nothing');
      assert.equal((await sql("SELECT count(*)::int AS n FROM pg_partitioned_table WHERE partrelid = to_regclass('events')"))[0].n, 0);

      await store.migrate();
      assert.deepEqual(await sql('SELECT event_id, seq::float8 AS seq FROM events ORDER BY seq'), before, 'every row, with its log number');
      assert.equal(await where(sql, 'f-0'), 'events_flat');
      assert.equal(await where(sql, 'ahead'), 'events_default');
      assert.notEqual((await sql("SELECT ts_server FROM events WHERE event_id = 'untimed'"))[0].ts_server, null);
      const old = await store.getEvent('f-3');
      assert.equal(old?.meta, '{"g": 3}');
      // Dedup covers the ids stored before the migration; new writes follow the old log numbers.
      const res = await store.writeBatch({ events: [{ eventId: 'f-3', deviceId: 'dev-3', schema: 1, eventType: 'temp', valueNum: 3, valueText: null, unit: null, tsDevice: null, tsServer: old!.tsServer, meta: '{"g": 3}' }, { eventId: 'new', deviceId: 'dev-a', schema: 1, eventType: 'temp', valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer: Date.now(), meta: '{}' }], deadLetters: [] });
      assert.deepEqual(res.statuses, ['duplicate', 'stored']);
      const [last] = await store.log.read(Number(before.at(-1)!.seq), 10);
      assert.equal(last.kind === 'event' && last.event.eventId, 'new');
      assert.equal(await where(sql, 'new'), 'events_flat', 'today is still events_flat\'s');
    } finally {
      await store.close();
      await db.drop();
    }
  });
});

/**
 * The behaviour every Store must show (after aedes-persistence's abstract.js):
 * a store's test file calls `storeConformance(name, makeStore)` and gets the
 * whole suite. Every case reads its outcome back from the store rather than
 * trusting what writeBatch returned.
 *
 * `makeStore` gives a fresh, empty, NOT yet migrated store; `reopen` opens
 * another instance on the same database or file (used both after close and
 * as a second concurrent writer); `cleanup` closes every instance it handed
 * out and removes the data.
 */
import { newToken } from '../auth/tokens.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeadLetter, TelemetryEvent } from '../core/event.js';
import { commandConformance } from './conformance-commands.js';
import { conflictConformance } from './conformance-conflicts.js';
import { deviceConformance } from './conformance-devices.js';
import { logConformance } from './conformance-log.js';
import { presenceConformance } from './conformance-presence.js';
import { tokenConformance } from './conformance-tokens.js';
import { MIGRATIONS } from './migrations/index.js';
import type { Store } from './store.js';

export interface ConformanceFixture {
  store: Store;
  reopen: () => Promise<Store>;
  restart?: () => Promise<void>;
  cleanup: () => Promise<void>;
  /** Runs raw SQL on the database, e.g. to make it look like an older schema. */
  sql?: (text: string) => Promise<void>;
  /** Runs a raw SELECT on the database and returns its rows. */
  query?: (text: string) => Promise<Array<Record<string, unknown>>>;
}

const T0 = Date.UTC(2024, 1, 10, 8, 30, 0, 123);

function ev(id: string, over: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return {
    eventId: id,
    deviceId: 'dev-1',
    schema: 1,
    eventType: 'temperature',
    valueNum: 21.5,
    valueText: null,
    unit: 'C',
    tsDevice: T0,
    tsServer: T0 + 7,
    meta: '{}',
    ...over,
  };
}

function dl(over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    reason: 'invalid_json',
    message: 'Unexpected token',
    topic: 'telehub/dev-1/events',
    deviceId: 'dev-1',
    payload: Buffer.from('{nope'),
    receivedAt: T0 + 1,
    source: 'mqtt',
    ...over,
  };
}

function range(prefix: string, from: number, n: number, over: Partial<TelemetryEvent> = {}): TelemetryEvent[] {
  return Array.from({ length: n }, (_, i) => ev(`${prefix}${from + i}`, { tsServer: T0 + from + i, ...over }));
}

/** Field-for-field equality; meta compared as JSON values since stores may reformat it. */
function assertSameEvent(actual: TelemetryEvent | undefined, expected: TelemetryEvent): void {
  assert.ok(actual, `event ${expected.eventId} not found`);
  const { meta: am, ...a } = actual;
  const { meta: em, ...e } = expected;
  assert.deepEqual(a, e);
  assert.deepEqual(JSON.parse(am), JSON.parse(em));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function storeConformance(name: string, makeStore: () => Promise<ConformanceFixture>, opts: { hasServer: boolean } = { hasServer: true }): void {
  /** Runs a case on a fresh migrated store and always cleans up. */
  async function withStore(fn: (f: ConformanceFixture) => Promise<void>): Promise<void> {
    const f = await makeStore();
    try {
      await f.store.migrate();
      await fn(f);
    } finally {
      await f.cleanup();
    }
  }

  async function reopenMigrated(f: ConformanceFixture): Promise<Store> {
    const s = await f.reopen();
    await s.migrate();
    return s;
  }

  describe(`${name} store conformance`, () => {
    it('migrate is idempotent, records every version and is safe to run concurrently', async () => {
      const f = await makeStore();
      try {
        const other = await f.reopen();
        // Two processes starting at once on an empty database.
        await Promise.all([f.store.migrate(), other.migrate()]);
        await f.store.migrate();
        const expected = MIGRATIONS.map((m) => m.version);
        assert.ok(expected.includes(1));
        assert.deepEqual(await f.store.migrationVersions(), expected);
        assert.deepEqual(await other.migrationVersions(), expected);
        await f.store.ping();
        assert.equal(await f.store.countEvents(), 0);
        assert.equal(await f.store.countDeadLetters(), 0);
      } finally {
        await f.cleanup();
      }
    });

    it('stores a batch and reads every field back', () =>
      withStore(async ({ store }) => {
        const events = [
          ev('num-only', { valueNum: 0.30000000000000004, valueText: null, tsServer: T0 + 1 }),
          ev('text-only', { valueNum: null, valueText: 'door open — ✓', unit: null, tsServer: T0 + 2 }),
          ev('both', { valueNum: -1.5e-7, valueText: 'low', tsServer: T0 + 3, deviceId: 'dev-2' }),
          ev('neither', { valueNum: null, valueText: null, unit: null, tsDevice: null, tsServer: T0 + 4, eventType: 'heartbeat' }),
          ev('big', { valueNum: 1.7976931348623157e308, schema: 1, tsDevice: Date.UTC(9999, 11, 31, 23, 59, 59, 999), tsServer: T0 + 5 }),
          // 0001-01-01T00:00:00.001Z, and 1 ms before the epoch (negative remainders).
          ev('ancient', { valueNum: -0.1, tsDevice: -62135596799999, tsServer: T0 + 6 }),
          ev('pre-epoch', { valueNum: 0, tsDevice: -1, tsServer: -1001 }),
          ev('meta', {
            tsDevice: T0 + 999,
            tsServer: T0 + 8,
            meta: JSON.stringify({ fw: '1.2.3', nested: { a: [1, 2.5, { b: null, c: true }], 'ключ': 'ünïcødé 🚀' }, emoji: '😀' }),
          }),
        ];
        const res = await store.writeBatch({ events, deadLetters: [] });
        assert.deepEqual(res.statuses, events.map(() => 'stored'));
        assert.equal(await store.countEvents(), events.length);
        for (const e of events) assertSameEvent(await store.getEvent(e.eventId), e);
        assert.equal(await store.getEvent('missing'), undefined);

        const recent = await store.recentEvents(3);
        assert.deepEqual(recent.map((e) => e.eventId), ['meta', 'ancient', 'big']);
        const dev2 = await store.recentEvents(10, 'dev-2');
        assert.deepEqual(dev2.map((e) => e.eventId), ['both']);
        assertSameEvent(dev2[0], events[2]);
      }));

    it('re-inserting stored ids reports duplicate (same content) or conflict (other content) and changes nothing', () =>
      withStore(async ({ store }) => {
        const first = range('e', 0, 5);
        await store.writeBatch({ events: first, deadLetters: [] });
        // A redelivery: same content, received later.
        const redelivered = first.map((e) => ({ ...e, tsServer: e.tsServer + 60_000 }));
        const res = await store.writeBatch({ events: [...redelivered, ev('new-one')], deadLetters: [] });
        assert.deepEqual(res.statuses, [...redelivered.map(() => 'duplicate'), 'stored']);
        assert.equal(res.conflicts, undefined);
        const changed = first.map((e) => ({ ...e, valueNum: 99, valueText: 'changed', meta: '{"changed":true}' }));
        const res2 = await store.writeBatch({ events: changed, deadLetters: [] });
        assert.deepEqual(res2.statuses, changed.map(() => 'conflict'));
        assert.deepEqual([...res2.conflicts!.values()].map((c) => c.differs), changed.map(() => ['value', 'meta']));
        assert.equal(await store.countEvents(), 6);
        for (const e of first) assertSameEvent(await store.getEvent(e.eventId), e);
      }));

    it('stores the first of several copies inside one batch', () =>
      withStore(async ({ store }) => {
        await store.writeBatch({ events: [ev('old')], deadLetters: [] });
        const a1 = ev('a', { valueNum: 1 });
        const b1 = ev('b', { valueNum: 2 });
        const batch = [a1, b1, ev('a', { valueNum: 3 }), ev('old', { valueNum: 4 }), ev('c'), ev('b', { valueNum: 2 }), ev('a', { valueNum: 1, tsServer: T0 + 9 })];
        const res = await store.writeBatch({ events: batch, deadLetters: [] });
        assert.deepEqual(res.statuses, ['stored', 'stored', 'conflict', 'conflict', 'stored', 'duplicate', 'duplicate']);
        assert.equal(await store.countEvents(), 4);
        assertSameEvent(await store.getEvent('a'), a1);
        assertSameEvent(await store.getEvent('b'), b1);
        assertSameEvent(await store.getEvent('old'), ev('old'));
      }));

    it('keeps dead letters with binary payloads and filters them by reason', () =>
      withStore(async ({ store }) => {
        const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x5c, 0x22, 0x7b]);
        const letters = [
          dl({ reason: 'invalid_utf8', payload: binary, deviceId: null, source: 'http', topic: 'POST /v1/events', receivedAt: T0 + 11 }),
          dl({ reason: 'invalid_json', payload: Buffer.from('{"a":'), receivedAt: T0 + 12 }),
          dl({ reason: 'invalid_utf8', payload: Buffer.alloc(0), message: 'empty — “quoted”', receivedAt: T0 + 13, source: 'replay' }),
        ];
        const res = await store.writeBatch({ events: [ev('with-dl')], deadLetters: letters });
        assert.deepEqual(res.statuses, ['stored']);
        assert.equal(await store.countDeadLetters(), 3);

        const all = await store.listDeadLetters();
        assert.equal(all.length, 3);
        // Newest first; ids are numbers and strictly decreasing.
        for (const d of all) assert.equal(typeof d.id, 'number');
        assert.ok(all[0].id > all[1].id && all[1].id > all[2].id);
        const byTime = [...all].reverse();
        for (let i = 0; i < letters.length; i++) {
          const { id, ...rest } = byTime[i];
          assert.ok(Buffer.isBuffer(rest.payload));
          assert.deepEqual({ ...rest, payload: rest.payload.toString('hex') }, { ...letters[i], payload: letters[i].payload.toString('hex') });
        }
        const utf8 = await store.listDeadLetters({ reason: 'invalid_utf8' });
        assert.deepEqual(utf8.map((d) => d.receivedAt), [T0 + 13, T0 + 11]);
        assert.ok(utf8[1].payload.equals(binary));
        assert.equal((await store.listDeadLetters({ reason: 'invalid_utf8', limit: 1 })).length, 1);
        assert.deepEqual(await store.listDeadLetters({ reason: 'payload_too_large' }), []);
      }));

    it('accepts an empty batch and a dead-letter-only batch', () =>
      withStore(async ({ store }) => {
        assert.deepEqual(await store.writeBatch({ events: [], deadLetters: [] }), { statuses: [] });
        assert.deepEqual(await store.writeBatch({ events: [], deadLetters: [dl(), dl({ reason: 'missing_field' })] }), { statuses: [] });
        assert.equal(await store.countEvents(), 0);
        assert.equal(await store.countDeadLetters(), 2);
        assert.equal((await store.listDeadLetters({ reason: 'missing_field' })).length, 1);
      }));

    it('commits nothing of a batch the store refuses', () =>
      withStore(async ({ store }) => {
        await store.writeBatch({ events: [ev('before')], deadLetters: [dl()] });
        // NOT NULL violation forced past the type system.
        const bad = ev('bad', { eventType: null as unknown as string });
        const batch = { events: [ev('good-1'), bad, ev('good-2'), ev('before')], deadLetters: [dl({ reason: 'missing_field' })] };
        let caught: unknown;
        await assert.rejects(
          store.writeBatch(batch).catch((err: unknown) => {
            caught = err;
            throw err;
          }),
        );
        assert.equal(store.isRetriable(caught), false, `expected a permanent error, got ${String(caught)}`);
        assert.equal(await store.countEvents(), 1);
        assert.equal(await store.getEvent('good-1'), undefined);
        assert.equal(await store.getEvent('good-2'), undefined);
        assert.equal(await store.countDeadLetters(), 1);
        assert.deepEqual(await store.listDeadLetters({ reason: 'missing_field' }), []);
        // The store is still usable afterwards.
        const res = await store.writeBatch({ events: [ev('good-1')], deadLetters: [] });
        assert.deepEqual(res.statuses, ['stored']);
      }));

    it('stores each id exactly once when two writers race', () =>
      withStore(async (f) => {
        const other = await reopenMigrated(f);
        const batches = 20;
        const half = 100;
        // Each batch: 100 ids of its own, 100 shared with the other writer's
        // batch of the same index (in reverse order there, to cross lock orders).
        const shared = (k: number) => range(`s-${k}-`, 0, half);
        const mine = (w: string, k: number) => range(`${w}-${k}-`, 0, half);
        const run = async (s: Store, w: 'a' | 'b') => {
          const statuses = new Map<string, string>();
          for (let k = 0; k < batches; k++) {
            const events = w === 'a' ? [...mine(w, k), ...shared(k)] : [...shared(k).reverse(), ...mine(w, k)];
            const res = await s.writeBatch({ events, deadLetters: [] });
            assert.equal(res.statuses.length, events.length);
            events.forEach((e, i) => statuses.set(e.eventId, res.statuses[i]));
          }
          return statuses;
        };
        const [a, b] = await Promise.all([run(f.store, 'a'), run(other, 'b')]);
        assert.equal(await f.store.countEvents(), batches * half * 3);
        for (let k = 0; k < batches; k++) {
          for (const e of shared(k)) {
            const stored = [a.get(e.eventId), b.get(e.eventId)].filter((s) => s === 'stored').length;
            assert.equal(stored, 1, `${e.eventId} reported stored ${stored} times`);
          }
          for (const e of mine('a', k)) assert.equal(a.get(e.eventId), 'stored');
          for (const e of mine('b', k)) assert.equal(b.get(e.eventId), 'stored');
        }
      }));

    it('keeps data across close and reopen', () =>
      withStore(async (f) => {
        const events = range('p', 0, 10, { meta: '{"k":"v"}' });
        await f.store.writeBatch({ events, deadLetters: [dl({ payload: Buffer.from([0, 1, 2, 255]) })] });
        await f.store.close();
        const again = await reopenMigrated(f);
        assert.equal(await again.countEvents(), 10);
        for (const e of events) assertSameEvent(await again.getEvent(e.eventId), e);
        const [d] = await again.listDeadLetters();
        assert.ok(d.payload.equals(Buffer.from([0, 1, 2, 255])));
        assert.deepEqual(await again.migrationVersions(), MIGRATIONS.map((m) => m.version));
        const res = await again.writeBatch({ events: [events[0], ev('p-new')], deadLetters: [] });
        assert.deepEqual(res.statuses, ['duplicate', 'stored']);
      }));

    it('a store filled under migration 1 (the seed table) upgrades through every migration and keeps every row', async () => {
      const f = await makeStore();
      try {
        if (!f.sql) return;
        await f.store.migrate(1);
        const t = (ms: number) => (f.store.kind === 'sqlite' ? String(ms) : `to_timestamp(${ms} / 1000.0)`);
        await f.sql(`INSERT INTO events (event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta) VALUES
          ('old-1', 'dev-old', 1, 'temperature', 20.5, NULL, 'C', ${t(T0)}, ${t(T0 + 10)}, '{}'),
          ('old-2', 'dev-old', 1, 'temperature', 21.5, NULL, 'C', ${t(T0 + 60_000)}, ${t(T0 + 60_010)}, '{"k":"v"}'),
          ('old-3', 'dev-old', 1, 'door', NULL, 'open', NULL, NULL, ${t(T0 + 120_010)}, '{}')`);
        await f.store.close();
        const s = await reopenMigrated(f);
        assert.deepEqual(await s.migrationVersions(), MIGRATIONS.map((m) => m.version));
        assert.equal(await s.countEvents(), 3);
        assertSameEvent(await s.getEvent('old-2'), ev('old-2', { deviceId: 'dev-old', tsDevice: T0 + 60_000, tsServer: T0 + 60_010, meta: '{"k":"v"}' }));
        const [dev] = await s.queries.devices();
        assert.deepEqual([dev.deviceId, dev.events, dev.firstSeen, dev.lastSeen], ['dev-old', 3, T0 + 10, T0 + 120_010]);
        // The rows already there have log numbers, and what is written next follows them.
        const log = await s.log.read(0, 10);
        assert.deepEqual(log.map((e) => (e.kind === 'event' ? e.event.eventId : 'dl')).sort(), ['old-1', 'old-2', 'old-3']);
        const res = await s.writeBatch({ events: [ev('old-1', { deviceId: 'dev-old', tsDevice: T0, tsServer: T0 + 10, valueNum: 20.5 }), ev('new-1')], deadLetters: [] });
        assert.deepEqual(res.statuses, ['duplicate', 'stored']);
        const next = await s.log.read(log[log.length - 1].seq, 10);
        assert.deepEqual(next.map((e) => (e.kind === 'event' ? e.event.eventId : 'dl')), ['new-1']);
      } finally {
        await f.cleanup();
      }
    });

    it('writes a 5,000-event batch', () =>
      withStore(async ({ store }) => {
        const events = range('big-', 0, 5000, { valueText: 'x'.repeat(50), meta: '{"i":1}' });
        const res = await store.writeBatch({ events, deadLetters: [dl()] });
        assert.equal(res.statuses.filter((s) => s === 'stored').length, 5000);
        assert.equal(await store.countEvents(), 5000);
        assertSameEvent(await store.getEvent('big-4999'), events[4999]);
        const again = await store.writeBatch({ events, deadLetters: [] });
        assert.ok(again.statuses.every((s) => s === 'duplicate'));
      }));

    it('keeps API tokens: create, read back, list, revoke by id or name', () =>
      withStore(async ({ store }) => {
        const a = newToken({ name: 'garage', scope: 'ingest', devices: ['esp32-01', 'esp32-02'], now: 1_700_000_000_123 });
        const b = newToken({ name: 'grafana', scope: 'read', now: 1_700_000_000_456 });
        await store.tokens.create(a.record);
        await store.tokens.create(b.record);
        const got = await store.tokens.get(a.record.id);
        assert.ok(got);
        assert.deepEqual({ ...got, secretHash: got.secretHash.toString('hex') }, { ...a.record, secretHash: a.record.secretHash.toString('hex') });
        assert.equal(await store.tokens.get('0000000000000000'), undefined);
        assert.deepEqual((await store.tokens.list()).map((t) => t.name), ['garage', 'grafana']);
        assert.equal(await store.tokens.revoke('grafana', 1_700_000_001_000), 1);
        assert.equal(await store.tokens.revoke(a.record.id, 1_700_000_002_000), 1);
        assert.equal(await store.tokens.revoke('garage', 1_700_000_003_000), 0, 'already revoked');
        assert.equal((await store.tokens.get(b.record.id))!.revokedAt, 1_700_000_001_000);
        assert.equal((await store.tokens.get(a.record.id))!.revokedAt, 1_700_000_002_000);
      }));

    it('pages events by time (ts_device, else ts_server) with filters and a keyset cursor', () =>
      withStore(async ({ store }) => {
        const events: TelemetryEvent[] = [];
        for (let i = 0; i < 30; i++) {
          // Several events share a time, and some have no device time: the cursor must neither skip nor repeat them.
          const t = T0 + Math.floor(i / 3) * 1000;
          events.push(ev(`q-${String(i).padStart(2, '0')}`, { deviceId: `dev-${i % 3}`, eventType: i % 2 ? 'humidity' : 'temperature', tsDevice: i % 5 === 0 ? null : t, tsServer: t }));
        }
        await store.writeBatch({ events, deadLetters: [] });
        const all: string[] = [];
        let after: { time: number; eventId: string } | undefined;
        for (let page = 0; page < 10; page++) {
          const rows = await store.queries.events({ limit: 7, after });
          if (rows.length === 0) break;
          all.push(...rows.map((r) => r.eventId));
          const last = rows[rows.length - 1];
          after = { time: last.time, eventId: last.eventId };
        }
        assert.deepEqual(all, [...events].sort((a, b) => (a.tsDevice ?? a.tsServer) - (b.tsDevice ?? b.tsServer) || (a.eventId < b.eventId ? -1 : 1)).map((e) => e.eventId));
        const dev1 = await store.queries.events({ deviceId: 'dev-1', eventType: 'humidity', from: T0 + 2000, to: T0 + 8000, limit: 100 });
        assert.deepEqual(
          dev1.map((r) => r.eventId),
          events.filter((e) => e.deviceId === 'dev-1' && e.eventType === 'humidity' && e.tsServer >= T0 + 2000 && e.tsServer < T0 + 8000).map((e) => e.eventId),
        );
        assert.ok(dev1.every((r) => r.time === (r.tsDevice ?? r.tsServer)));
      }));

    it('pages dead letters by id, filtered by reason and time', () =>
      withStore(async ({ store }) => {
        const dls = Array.from({ length: 9 }, (_, i) => dl({ reason: i % 3 ? 'invalid_json' : 'missing_field', receivedAt: T0 + i * 1000, payload: Buffer.from([i]) }));
        await store.writeBatch({ events: [], deadLetters: dls });
        const first = await store.queries.deadLetters({ reason: 'invalid_json', limit: 4 });
        assert.equal(first.length, 4);
        const rest = await store.queries.deadLetters({ reason: 'invalid_json', limit: 4, afterId: first[3].id });
        assert.deepEqual([...first, ...rest].map((d) => d.payload[0]), [1, 2, 4, 5, 7, 8]);
        const window = await store.queries.deadLetters({ from: T0 + 3000, to: T0 + 6000, limit: 10 });
        assert.deepEqual(window.map((d) => d.receivedAt), [T0 + 3000, T0 + 4000, T0 + 5000]);
      }));

    it('aggregates a series into time buckets and summarises devices', () =>
      withStore(async ({ store }) => {
        // Bucket 0: 10, 30, 20 (first 10, last 20); bucket 1: 5; a text-only event and another type are left out.
        const B = 60_000;
        const base = Math.floor(T0 / B) * B;
        await store.writeBatch({
          events: [
            ev('s-1', { tsDevice: base + 1000, valueNum: 10 }),
            ev('s-2', { tsDevice: base + 30_000, valueNum: 30 }),
            ev('s-3', { tsDevice: null, tsServer: base + 59_999, valueNum: 20 }),
            ev('s-4', { tsDevice: base + B + 5, valueNum: 5 }),
            ev('s-5', { tsDevice: base + 2000, valueNum: null, valueText: 'on' }),
            ev('s-6', { tsDevice: base + 3000, eventType: 'humidity', valueNum: 99 }),
            ev('s-7', { tsDevice: base + 4000, deviceId: 'dev-2', valueNum: 1, tsServer: base + 9000 }),
          ],
          deadLetters: [],
        });
        const s = await store.queries.series({ deviceId: 'dev-1', eventType: 'temperature', from: base, to: base + 2 * B, bucketMs: B });
        assert.deepEqual(s, [
          { bucket: base, count: 3, avg: 20, min: 10, max: 30, first: 10, last: 20 },
          { bucket: base + B, count: 1, avg: 5, min: 5, max: 5, first: 5, last: 5 },
        ]);
        assert.deepEqual(await store.queries.series({ deviceId: 'dev-1', eventType: 'temperature', from: base + B, to: base + 2 * B, bucketMs: 1000 }), [
          { bucket: base + B, count: 1, avg: 5, min: 5, max: 5, first: 5, last: 5 },
        ]);
        const devices = await store.queries.devices();
        assert.deepEqual(devices.map((d) => [d.deviceId, d.events]), [['dev-1', 6], ['dev-2', 1]]);
        assert.equal(devices[1].firstSeen, base + 9000);
      }));

    it('events_readable shows the times as ISO-8601 UTC text with milliseconds', (t) =>
      withStore(async (f) => {
        if (!f.query) return void t.skip('this fixture cannot run raw SQL');
        const events = [
          ev('r-1', { tsDevice: Date.UTC(2024, 1, 10, 0, 0, 0, 123), tsServer: Date.UTC(2024, 1, 10, 0, 0, 1, 5), meta: '{"sensor":"dht22"}' }),
          ev('r-2', { tsDevice: null, tsServer: -1 }),
          ev('r-3', { tsDevice: -62135596799999, tsServer: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }),
        ];
        await f.store.writeBatch({ events, deadLetters: [] });
        const rows = await f.query('SELECT event_id, device_id, value_num, ts_device, ts_server, meta FROM events_readable ORDER BY event_id');
        assert.deepEqual(
          rows.map((r) => ({ ...r, meta: JSON.parse(String(r.meta)) })),
          events.map((e) => ({
            event_id: e.eventId,
            device_id: e.deviceId,
            value_num: e.valueNum,
            ts_device: e.tsDevice === null ? null : new Date(e.tsDevice).toISOString(),
            ts_server: new Date(e.tsServer).toISOString(),
            meta: JSON.parse(e.meta),
          })),
        );
      }));

    deviceConformance(withStore, reopenMigrated);
    logConformance(withStore, reopenMigrated);
    presenceConformance(withStore, reopenMigrated);
    conflictConformance(withStore, reopenMigrated);
    tokenConformance(withStore, reopenMigrated, makeStore);
    commandConformance(withStore, reopenMigrated);

    // Only stores with a server process have a restart to survive (SQLite is in-process).
    if (opts.hasServer) it('survives a server restart in the middle of writing', async (t) => {
      const f = await makeStore();
      let writer: Promise<void> | undefined;
      let stop = false;
      try {
        if (!f.restart) {
          t.skip('this store has no server to restart');
          return;
        }
        const { store } = f;
        await store.migrate();
        const perBatch = 50;
        const batchOf = (k: number) => range(`r-${k}-`, 0, perBatch);
        const failed: number[] = [];
        const failedAfterRestart: string[] = [];
        let restarted = false;
        let k = 0;
        writer = (async () => {
          // Keep writing through the restart and a little after it.
          let afterRestart = 0;
          while (!stop && afterRestart < 5 && k < 2000) {
            const mine = k++;
            const wasRestarted = restarted;
            try {
              await store.writeBatch({ events: batchOf(mine), deadLetters: [dl({ message: `batch ${mine}` })] });
            } catch (err) {
              assert.equal(store.isRetriable(err), true, `write failed with a permanent error: ${String(err)}`);
              failed.push(mine);
              if (wasRestarted) failedAfterRestart.push(String(err));
              await sleep(20); // what the pipeline's backoff would do
            }
            if (wasRestarted) afterRestart++;
          }
        })();
        await sleep(100);
        try {
          await f.restart();
        } finally {
          restarted = true;
        }
        await writer;
        assert.ok(failed.length > 0, 'no write failed; the restart happened outside the writes');
        // The pool dropped its dead connections on its own: writes begun after the restart all worked.
        assert.deepEqual(failedAfterRestart, []);

        assert.deepEqual((await store.writeBatch({ events: [ev('after-restart')], deadLetters: [] })).statuses, ['stored']);
        for (const b of failed) {
          // A failed batch may or may not have committed (lost acknowledgement): both answers are fine.
          const res = await store.writeBatch({ events: batchOf(b), deadLetters: [] });
          assert.equal(res.statuses.length, perBatch);
        }
        assert.equal(await store.countEvents(), k * perBatch + 1);
        for (let b = 0; b < k; b++) assert.ok(await store.getEvent(`r-${b}-${perBatch - 1}`), `batch ${b} missing`);
      } finally {
        // On failure, stop the write loop before cleanup closes the store under it.
        stop = true;
        await writer?.catch(() => {});
        await f.cleanup();
      }
    });
  });
}

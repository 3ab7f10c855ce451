/**
 * Conformance cases for presence transitions in the commit log (part of
 * `storeConformance`): they are log entries of their own kind, numbered
 * from the same sequence as events and dead letters, so one reader sees the
 * three kinds in one commit order; the same transition appended twice is
 * stored once; migration 14 moves the transitions older versions kept as
 * rows of `events` into their table, keeping their numbers.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { DeadLetter, TelemetryEvent } from '../core/event.js';
import type { ConformanceFixture } from './conformance.js';
import { readAll } from './conformance-log.js';
import type { LogEntry, PresenceTransitionEntry } from './log.js';
import { MIGRATIONS } from './migrations/index.js';
import { appendPresence, readPresenceHistory } from './presence-log.js';
import type { Store } from './store.js';

const T0 = Date.UTC(2024, 8, 1, 0, 0, 0, 0);

function ev(id: string, deviceId = 'dev-p', over: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return { eventId: id, deviceId, schema: 1, eventType: 'temperature', valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer: T0, meta: '{}', ...over };
}

function dl(payload: string): DeadLetter {
  return { reason: 'invalid_json', message: 'bad', topic: 'qs/v1/dev-p/events', deviceId: 'dev-p', payload: Buffer.from(payload), receivedAt: T0 + 2, source: 'mqtt' };
}

const pt = (deviceId: string, state: string, at: number, cause = 'data', from = 'unknown'): PresenceTransitionEntry => ({ deviceId, state, cause, from, at });

const label = (e: LogEntry) =>
  e.kind === 'event' ? e.event.eventId : e.kind === 'presence' ? `p:${e.presence.deviceId}:${e.presence.state}:${e.presence.at}` : `dl:${e.deadLetter.payload.toString()}`;

const append = (s: Store, entries: PresenceTransitionEntry[]) => appendPresence(s.kind, s.processors, entries);

export function presenceConformance(
  withStore: (fn: (f: ConformanceFixture) => Promise<void>) => Promise<void>,
  reopenMigrated: (f: ConformanceFixture) => Promise<Store>,
): void {
  it('presence transitions are log entries of their own, in one order with events and dead letters', () =>
    withStore(async ({ store }) => {
      await store.writeBatch({ events: [ev('a'), ev('b')], deadLetters: [] });
      await append(store, [pt('dev-p', 'online', T0 + 1, 'data', 'unknown'), pt('dev-q', 'online', T0 + 1, 'connected')]);
      await store.writeBatch({ events: [], deadLetters: [dl('x')] });
      await append(store, [pt('dev-p', 'silent', T0 + 5, 'silence', 'online')]);
      await store.writeBatch({ events: [ev('c')], deadLetters: [] });
      const log = await readAll(store);
      assert.deepEqual(log.map(label), ['a', 'b', `p:dev-p:online:${T0 + 1}`, `p:dev-q:online:${T0 + 1}`, 'dl:x', `p:dev-p:silent:${T0 + 5}`, 'c']);
      for (let i = 1; i < log.length; i++) assert.ok(log[i].seq > log[i - 1].seq, 'log numbers increase');
      assert.equal(await store.log.head(), log[log.length - 1].seq);
      const silent = log[5];
      assert.ok(silent.kind === 'presence');
      assert.deepEqual(silent.presence, pt('dev-p', 'silent', T0 + 5, 'silence', 'online'));
      // Backlog counts every kind and dates the first entry after the position by its own time.
      assert.deepEqual(await store.log.backlog(log[1].seq, 1000), { entries: 5, oldestAt: T0 + 1 });
      assert.deepEqual(await store.log.backlog(log[4].seq, 1000), { entries: 2, oldestAt: T0 + 5 });
      assert.deepEqual(await store.log.backlog(log[2].seq, 2), { entries: 2, oldestAt: T0 + 1 });
      // Paging across kinds.
      assert.deepEqual((await store.log.read(log[2].seq, 3)).map(label), log.slice(3, 6).map(label));
      // Not rows of events: counts and the events API do not see them.
      assert.equal(await store.countEvents(), 3);
      assert.ok((await store.recentEvents(100)).every((e) => e.eventType !== 'presence'));
      // A device known only by its presence has a devices row (for the registry), with no events.
      const devices = await store.queries.devices();
      assert.deepEqual(devices.find((d) => d.deviceId === 'dev-q'), { deviceId: 'dev-q', firstSeen: T0 + 1, lastSeen: T0 + 1, events: 0 });
      assert.equal(devices.find((d) => d.deviceId === 'dev-p')?.events, 3);
      // History, newest first, paged by seq.
      const history = await readPresenceHistory(store.kind, store.processors, 'dev-p', 10);
      assert.deepEqual(history.map((h) => [h.seq, h.state, h.cause, h.from, h.at]), [[log[5].seq, 'silent', 'silence', 'online', T0 + 5], [log[2].seq, 'online', 'data', 'unknown', T0 + 1]]);
      assert.deepEqual((await readPresenceHistory(store.kind, store.processors, 'dev-p', 10, log[5].seq)).map((h) => h.seq), [log[2].seq]);
    }));

  it('the same transition appended twice is stored once, and what follows keeps increasing numbers', () =>
    withStore(async ({ store }) => {
      const t = pt('dev-p', 'offline', T0 + 9, 'will', 'online');
      await append(store, [t]);
      await append(store, [t, pt('dev-p', 'online', T0 + 10)]);
      await store.writeBatch({ events: [ev('after')], deadLetters: [] });
      const log = await readAll(store);
      assert.deepEqual(log.map(label), [`p:dev-p:offline:${T0 + 9}`, `p:dev-p:online:${T0 + 10}`, 'after']);
      for (let i = 1; i < log.length; i++) assert.ok(log[i].seq > log[i - 1].seq);
      assert.equal(await store.log.head(), log[2].seq);
    }));

  it('a reader following the log while events and transitions commit from two connections sees every entry once, in increasing order', () =>
    withStore(async (f) => {
      const other = await reopenMigrated(f);
      let writing = true;
      const seen: LogEntry[] = [];
      const follow = (async () => {
        let cursor = 0;
        for (;;) {
          const done = !writing;
          const page = await f.store.log.read(cursor, 53);
          seen.push(...page);
          if (page.length > 0) cursor = page[page.length - 1].seq;
          else if (done) return;
        }
      })();
      const rounds = 40;
      await Promise.all([
        (async () => {
          for (let k = 0; k < rounds; k++) await f.store.writeBatch({ events: Array.from({ length: 20 }, (_, j) => ev(`e-${k}-${j}`, `dev-${j % 4}`)), deadLetters: k % 10 === 0 ? [dl(`d-${k}`)] : [] });
        })(),
        (async () => {
          for (let k = 0; k < rounds; k++) await append(other, [pt(`dev-${k % 4}`, k % 2 === 0 ? 'online' : 'silent', T0 + k), pt(`dev-x${k % 3}`, 'offline', T0 + k, 'will', 'online')]);
        })(),
      ]);
      writing = false;
      await follow;
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].seq > seen[i - 1].seq, `seq went back at ${i}`);
      const labels = seen.map(label);
      assert.equal(new Set(labels).size, labels.length, 'an entry was read twice');
      assert.equal(seen.filter((e) => e.kind === 'event').length, rounds * 20);
      assert.equal(seen.filter((e) => e.kind === 'presence').length, rounds * 2);
      assert.equal(seen.filter((e) => e.kind === 'deadletter').length, rounds / 10);
      assert.deepEqual(seen.map((e) => e.seq), (await readAll(f.store)).map((e) => e.seq));
      assert.equal(await f.store.log.head(), seen[seen.length - 1].seq);
    }));

  it('migration 14 moves the presence rows of events into their own table, keeping their numbers and leaving devices\' own presence readings', async () =>
    withStore(async (f) => {
      if (!f.sql || !f.query) return;
      // The rows versions up to 13 wrote: presence transitions as events (the monitor's ids and meta).
      const monitor = (d: string, state: string, at: number, cause: string, from: string) =>
        ev(`${d}:presence:${at}:${state}`, d, { eventType: 'presence', valueNum: null, valueText: state, tsServer: at, meta: JSON.stringify({ cause, from }) });
      await f.store.writeBatch({ events: [ev('r1', 'node-1', { tsServer: T0 }), monitor('node-1', 'online', T0, 'data', 'unknown')], deadLetters: [] });
      await f.store.writeBatch({
        events: [
          // A PIR sensor's own reading of type presence: data, stays.
          ev('pir-1', 'pir-1', { eventType: 'presence', valueNum: 1, valueText: null, tsServer: T0 + 1 }),
          ev('pir-2', 'pir-1', { eventType: 'presence', valueNum: null, valueText: 'online', tsServer: T0 + 2 }),
          monitor('node-1', 'silent', T0 + 3, 'silence', 'online'),
        ],
        deadLetters: [dl('old')],
      });
      const before = await readAll(f.store);
      // The device-counters processor had applied the first batch only.
      await f.store.processors.register('device-counters');
      const t = (ms: number) => (f.store.kind === 'sqlite' ? String(ms) : `to_timestamp(${ms} / 1000.0)`);
      await f.store.processors.execute([
        f.store.kind === 'sqlite'
          ? { sql: 'INSERT INTO device_counters (device_id, events, first_seen, last_seen, last_seq) VALUES (?, 2, ?, ?, ?)', params: ['node-1', T0, T0, before[1].seq] }
          : { sql: `INSERT INTO device_counters (device_id, events, first_seen, last_seen, last_seq) VALUES ($1, 2, ${t(T0)}, ${t(T0)}, $2)`, params: ['node-1', before[1].seq] },
      ]);
      await f.store.processors.commit('device-counters', 0, before[1].seq, []);
      await f.store.close();
      // Back to version 13, then migrated again.
      await f.sql(`DROP TABLE presence_transitions; DELETE FROM telehub_migrations WHERE version >= 14`);
      const s = await reopenMigrated(f);
      assert.deepEqual(await s.migrationVersions(), MIGRATIONS.map((m) => m.version));
      const after = await readAll(s);
      assert.deepEqual(after.map((e) => e.seq), before.map((e) => e.seq), 'every entry keeps its number');
      const moved = (e: LogEntry) => (e.kind === 'event' && e.event.eventId.includes(':presence:') ? `p:${e.event.deviceId}:${e.event.valueText}:${e.event.tsServer}` : label(e));
      assert.deepEqual(after.map(label), before.map(moved));
      assert.equal(after.filter((e) => e.kind === 'presence').length, 2);
      const silent = after.find((e) => e.kind === 'presence' && e.presence.state === 'silent');
      assert.ok(silent && silent.kind === 'presence');
      assert.deepEqual(silent.presence, pt('node-1', 'silent', T0 + 3, 'silence', 'online'));
      assert.equal(await s.countEvents(), 3);
      assert.equal((await s.getEvent('pir-2'))?.valueText, 'online');
      const devices = await s.queries.devices();
      assert.equal(devices.find((d) => d.deviceId === 'node-1')?.events, 1);
      assert.equal(devices.find((d) => d.deviceId === 'pir-1')?.events, 2);
      const counters = await f.query!(`SELECT events FROM device_counters WHERE device_id = 'node-1'`);
      assert.equal(Number(counters[0].events), 1, 'only the transition it had counted is taken off');
      // New entries follow the moved ones.
      await append(s, [pt('node-1', 'offline', T0 + 20, 'silence', 'silent')]);
      const last = (await s.log.read(after[after.length - 1].seq, 10)).map(label);
      assert.deepEqual(last, [`p:node-1:offline:${T0 + 20}`]);
    }));
}

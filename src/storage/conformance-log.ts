/**
 * Conformance cases for the commit log and processor checkpoints (part of
 * `storeConformance`): every committed event and dead letter appears in the
 * log exactly once, in commit order, and a reader following it while
 * several writers commit never skips an entry; a processor checkpoint moves
 * only together with its statements.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { DeadLetter, TelemetryEvent } from '../core/event.js';
import type { ConformanceFixture } from './conformance.js';
import { ALL_ENTRIES, CheckpointMovedError, wants, type LogEntry, type LogInterest, type ProcessorStatement } from './log.js';
import { appendPresence } from './presence-log.js';
import type { Store } from './store.js';

const T0 = Date.UTC(2024, 6, 1, 0, 0, 0, 0);

function ev(id: string, deviceId = 'dev-l', over: Partial<TelemetryEvent> = {}): TelemetryEvent {
  return { eventId: id, deviceId, schema: 1, eventType: 'temperature', valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer: T0, meta: '{}', ...over };
}

function dl(reason: DeadLetter['reason'] = 'invalid_json', payload = '{nope'): DeadLetter {
  return { reason, message: 'bad', topic: 'qs/v1/dev-l/events', deviceId: 'dev-l', payload: Buffer.from(payload), receivedAt: T0 + 1, source: 'mqtt' };
}

/** Columns of migration 12 (device registry), undone with the later migrations. */
const REGISTRY_COLUMNS = ['wifi_rssi', 'uptime_s', 'firmware', 'status_at', 'last_data_at', 'last_heard_at', 'interval_ms', 'interval_override_ms', 'presence', 'presence_cause', 'presence_since', 'presence_seq', 'registry_seq'];

/**
 * PostgreSQL: SQL that turns the partitioned events table of migration 13
 * back into the flat table of migrations 1-12 (same rows, physical order =
 * log order), so the undo below can go on to earlier versions. SQLite has
 * nothing to undo.
 */
export function undoPartitioning(kind: Store['kind']): string {
  if (kind === 'sqlite') return '';
  return `
  CREATE TABLE events_undo AS SELECT event_id, device_id, schema, event_type, value_num, value_text, unit, ts_device, ts_server, meta, seq FROM events ORDER BY seq;
  DROP VIEW events_readable; DROP TABLE events; DROP TABLE event_ids;
  ALTER TABLE events_undo RENAME TO events;
  ALTER TABLE events ADD PRIMARY KEY (event_id);
  ALTER TABLE events ALTER COLUMN ts_server SET DEFAULT now(), ALTER COLUMN meta SET DEFAULT '{}',
    ALTER COLUMN device_id SET NOT NULL, ALTER COLUMN schema SET NOT NULL, ALTER COLUMN event_type SET NOT NULL,
    ALTER COLUMN seq SET NOT NULL, ALTER COLUMN seq SET DEFAULT nextval('telehub_log_seq');
  CREATE INDEX idx_events_ts_device ON events (ts_device DESC);
  CREATE INDEX idx_events_type_ts ON events (event_type, ts_device DESC);
  CREATE INDEX idx_events_device_ts ON events (device_id, ts_device DESC);
  CREATE INDEX idx_events_device_type_time ON events (device_id, event_type, COALESCE(ts_device, ts_server), event_id) INCLUDE (value_num, ts_device, ts_server);
  CREATE INDEX idx_events_device_time ON events (device_id, COALESCE(ts_device, ts_server), event_id);
  CREATE INDEX idx_events_time ON events (COALESCE(ts_device, ts_server), event_id);
  CREATE UNIQUE INDEX idx_events_seq ON events (seq);
  CREATE VIEW events_readable AS SELECT event_id, device_id, schema, event_type, value_num, value_text, unit,
    to_char(ts_device AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts_device,
    to_char(ts_server AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts_server, meta::text AS meta FROM events;
  DELETE FROM telehub_migrations WHERE version >= 13;`;
}

/** SQL that turns a database back into what migration 5 left (no commit log, no registry columns). Runs on both stores. */
export const UNDO_COMMIT_LOG_MIGRATION = `
  DROP INDEX idx_events_seq; DROP INDEX idx_deadletters_seq;
  ALTER TABLE events DROP COLUMN seq; ALTER TABLE deadletters DROP COLUMN seq;
  DROP TABLE IF EXISTS telehub_log_head; DROP TABLE processor_checkpoints;
  DROP TABLE device_counters; DROP TABLE device_last_values; DROP TABLE IF EXISTS presence_transitions;
  ${REGISTRY_COLUMNS.map((c) => `ALTER TABLE devices DROP COLUMN ${c};`).join(' ')}
  DELETE FROM telehub_migrations WHERE version >= 6`;

/** The whole log from `after`, page by page. */
export async function readAll(store: Store, after = 0, page = 1000): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for (;;) {
    const entries = await store.log.read(after, page);
    out.push(...entries);
    if (entries.length < page) return out;
    after = entries[entries.length - 1].seq;
  }
}

const label = (e: LogEntry) =>
  e.kind === 'event' ? e.event.eventId : e.kind === 'presence' ? `p:${e.presence.deviceId}:${e.presence.state}` : `dl:${e.deadLetter.reason}:${e.deadLetter.payload.toString()}`;

/** One row into device_counters, in the store's dialect (a stand-in for a processor's state). */
function counterRow(store: Store, deviceId: string, n: number): ProcessorStatement {
  return store.kind === 'sqlite'
    ? { sql: 'INSERT INTO device_counters (device_id, events, first_seen, last_seen, last_seq) VALUES (?, ?, 0, 0, 0)', params: [deviceId, n] }
    : { sql: "INSERT INTO device_counters (device_id, events, first_seen, last_seen, last_seq) VALUES ($1, $2, 'epoch', 'epoch', 0)", params: [deviceId, n] };
}

export function logConformance(
  withStore: (fn: (f: ConformanceFixture) => Promise<void>) => Promise<void>,
  reopenMigrated: (f: ConformanceFixture) => Promise<Store>,
): void {
  it('gives every stored event and dead letter one log number, in batch order, and none to duplicates', () =>
    withStore(async ({ store }) => {
      assert.equal(await store.log.head(), 0);
      assert.deepEqual(await store.log.read(0, 10), []);
      await store.writeBatch({ events: [ev('c'), ev('a'), ev('c'), ev('b')], deadLetters: [dl('invalid_json', 'x')] });
      await store.writeBatch({ events: [ev('a'), ev('d', 'dev-m', { valueNum: null, valueText: 'on', tsDevice: T0 - 5 })], deadLetters: [] });
      await store.writeBatch({ events: [], deadLetters: [dl('missing_field', 'y')] });
      const log = await readAll(store);
      // Within a batch: events in batch order; dead letters are in the same commit (after or before them).
      const first = log.slice(0, 4).map(label);
      assert.deepEqual(first.filter((l) => !l.startsWith('dl:')), ['c', 'a', 'b']);
      assert.ok(first.includes('dl:invalid_json:x'));
      assert.deepEqual(log.slice(4).map(label), ['d', 'dl:missing_field:y']);
      for (let i = 1; i < log.length; i++) assert.ok(log[i].seq > log[i - 1].seq, 'log numbers increase');
      assert.equal(await store.log.head(), log[log.length - 1].seq);
      // Entries carry the stored rows.
      const d = log.find((e) => e.kind === 'event' && e.event.eventId === 'd');
      assert.ok(d && d.kind === 'event');
      assert.deepEqual(d.event, ev('d', 'dev-m', { valueNum: null, valueText: 'on', tsDevice: T0 - 5 }));
      const y = log[log.length - 1];
      assert.ok(y.kind === 'deadletter');
      assert.equal(y.deadLetter.payload.toString(), 'y');
      assert.equal(y.deadLetter.receivedAt, T0 + 1);
      // Paging from a position, and what is left behind it.
      assert.deepEqual((await store.log.read(log[1].seq, 2)).map(label), log.slice(2, 4).map(label));
      const at = (e: LogEntry) => (e.kind === 'event' ? e.event.tsServer : e.kind === 'presence' ? e.presence.at : e.deadLetter.receivedAt);
      assert.deepEqual(await store.log.backlog(log[2].seq, 1000), { entries: log.length - 3, oldestAt: at(log[3]) });
      assert.deepEqual(await store.log.backlog(log[4].seq, 1000), { entries: 1, oldestAt: T0 + 1 });
      assert.deepEqual(await store.log.backlog(log[3].seq, 1000), { entries: 2, oldestAt: T0 });
      assert.deepEqual(await store.log.backlog(log[2].seq, 2), { entries: 2, oldestAt: at(log[3]) });
      assert.deepEqual(await store.log.backlog(await store.log.head(), 1000), { entries: 0, oldestAt: null });
    }));

  it('reads a page without the entries its reader does not want, and says how far the page went', () =>
    withStore(async ({ store }) => {
      const empty = { events: ['status'], deadLetters: false, presence: true } satisfies LogInterest;
      assert.deepEqual(await store.log.readPage(0, 10, empty), { entries: [], to: 0, scanned: 0 });
      // 30 entries: telemetry, node status, dead letters and presence transitions, mixed.
      for (let b = 0; b < 5; b++) {
        const events = [ev(`t${b}a`), ev(`s${b}`, 'node-1', { eventType: 'status', valueNum: null, valueText: 'online' }), ev(`t${b}b`, 'dev-m', { eventType: 'humidity' })];
        await store.writeBatch({ events, deadLetters: b % 2 === 0 ? [dl('invalid_json', `x${b}`)] : [] });
        await appendPresence(store.kind, store.processors, [{ deviceId: 'node-1', state: b % 2 === 0 ? 'online' : 'offline', cause: 'connected', from: 'unknown', at: T0 + b }]);
      }
      const log = await readAll(store);
      assert.equal(log.length, 23);
      const interests: LogInterest[] = [
        empty,
        { events: ['status', 'humidity'], deadLetters: true, presence: false },
        { events: 'all', deadLetters: false, presence: false },
        { events: [], deadLetters: true, presence: true },
        ALL_ENTRIES,
      ];
      for (const interest of interests) {
        for (const limit of [1, 4, 7, 100]) {
          // Paging through with `to` yields exactly the wanted entries, in order, each once.
          const got: LogEntry[] = [];
          let after = 0;
          for (;;) {
            const page = await store.log.readPage(after, limit, interest);
            const window = log.filter((e) => e.seq > after).slice(0, limit);
            assert.equal(page.scanned, window.length, `scanned (limit ${limit})`);
            assert.equal(page.to, window.length === 0 ? after : window[window.length - 1].seq, `to (limit ${limit})`);
            assert.deepEqual(page.entries, window.filter((e) => wants(interest, e)), `entries after ${after} (limit ${limit}, ${JSON.stringify(interest)})`);
            got.push(...page.entries);
            if (page.scanned < limit) break;
            after = page.to;
          }
          assert.deepEqual(got.map(label), log.filter((e) => wants(interest, e)).map(label));
        }
      }
    }));

  it('a reader following the log while two writers commit sees every entry exactly once, in increasing order', () =>
    withStore(async (f) => {
      const other = await reopenMigrated(f);
      const writers = 2;
      const batches = 40;
      let writing = true;
      const seen: LogEntry[] = [];
      const follow = (async () => {
        let cursor = 0;
        // Keep reading until the writers are done and a last read is empty.
        for (;;) {
          const done = !writing;
          const page = await f.store.log.read(cursor, 97);
          seen.push(...page);
          if (page.length > 0) cursor = page[page.length - 1].seq;
          else if (done) return;
        }
      })();
      const write = async (s: Store, w: number) => {
        for (let k = 0; k < batches; k++) {
          const events = Array.from({ length: 25 }, (_, j) => ev(`w${w}-${k}-${j}`, `dev-${j % 5}`));
          // Overlapping ids across writers: duplicates must not enter the log.
          if (k % 4 === 0) events.push(ev(`shared-${k}`));
          await s.writeBatch({ events, deadLetters: k % 10 === 0 ? [dl('invalid_json', `w${w}-${k}`)] : [] });
        }
      };
      await Promise.all(Array.from({ length: writers }, (_, w) => write(w === 0 ? f.store : other, w)));
      writing = false;
      await follow;
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].seq > seen[i - 1].seq, `seq went back at ${i}`);
      const labels = seen.map(label);
      assert.equal(new Set(labels).size, labels.length, 'an entry was read twice');
      const expected = writers * batches * 25 + batches / 4 + writers * (batches / 10);
      assert.equal(labels.length, expected, 'the reader skipped entries');
      assert.equal(await f.store.countEvents(), seen.filter((e) => e.kind === 'event').length);
      assert.deepEqual(seen.map((e) => e.seq), (await readAll(f.store)).map((e) => e.seq));
    }));

  it('moves a processor checkpoint only together with its statements', () =>
    withStore(async ({ store }) => {
      assert.equal(await store.processors.register('p1'), 0);
      assert.equal(await store.processors.register('p1'), 0, 'register is idempotent');
      assert.equal(await store.processors.get('nope'), undefined);
      await store.processors.commit('p1', 0, 7, [counterRow(store, 'dev-1', 3)]);
      assert.equal(await store.processors.get('p1'), 7);
      // From a stale position: nothing happens.
      await assert.rejects(store.processors.commit('p1', 0, 9, [counterRow(store, 'dev-2', 1)]), CheckpointMovedError);
      // A failing statement undoes the checkpoint move and the statements before it.
      await assert.rejects(store.processors.commit('p1', 7, 9, [counterRow(store, 'dev-3', 1), counterRow(store, 'dev-1', 1)]));
      assert.equal(await store.processors.get('p1'), 7);
      const rows = await store.processors.list();
      assert.deepEqual(rows.map((r) => [r.name, r.seq]), [['p1', 7]]);
      assert.ok(Math.abs(rows[0].updatedAt - Date.now()) < 60_000);
      // dev-3 was undone (inserting it again succeeds); dev-1 is there (inserting it again fails).
      await store.processors.commit('p1', 7, 8, [counterRow(store, 'dev-3', 1)]);
      await assert.rejects(store.processors.commit('p1', 8, 9, [counterRow(store, 'dev-1', 1)]));
      // A reset empties the state and starts over.
      await store.processors.reset('p1', ['device_counters']);
      assert.equal(await store.processors.get('p1'), 0);
      await store.processors.commit('p1', 0, 1, [counterRow(store, 'dev-1', 1), counterRow(store, 'dev-4', 1)]);
      assert.equal(await store.processors.get('p1'), 1);
      await assert.rejects(store.processors.reset('p1', ['events; DROP TABLE events']), /invalid table name/);
    }));

  it('migration 6 numbers events and dead letters already stored, and later commits follow them', () =>
    withStore(async (f) => {
      if (!f.sql) return;
      await f.store.writeBatch({ events: [ev('o1'), ev('o2')], deadLetters: [dl('invalid_json', 'old')] });
      await f.store.close();
      await f.sql(undoPartitioning(f.store.kind) + UNDO_COMMIT_LOG_MIGRATION);
      const s = await reopenMigrated(f);
      const before = await readAll(s);
      assert.deepEqual(before.map(label).sort(), ['dl:invalid_json:old', 'o1', 'o2']);
      await s.writeBatch({ events: [ev('n1'), ev('o1')], deadLetters: [] });
      const after = await readAll(s);
      assert.deepEqual(after.map(label).slice(3), ['n1']);
      assert.ok(after[3].seq > after[2].seq);
    }));
}

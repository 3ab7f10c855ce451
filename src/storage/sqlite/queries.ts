import type Database from 'better-sqlite3';
import type { QueryRepository, SeriesBucket } from '../store.js';
import { rowToDeadLetter, rowToEvent, type DeadLetterRow, type EventRow } from '../rows.js';

/**
 * The query API's time. SQLite matches an expression index only on the same
 * text, so this must read exactly as in migration 3's indexes.
 */
const TIME = 'COALESCE(ts_device, ts_server)';

/** WHERE clauses and their parameters, built together. */
function conditions() {
  const where: string[] = [];
  const args: unknown[] = [];
  return { where, args, add: (clause: string, ...values: unknown[]) => (where.push(clause), args.push(...values)) };
}

const SERIES_SQL = `SELECT ${TIME} AS t, value_num FROM events
  WHERE device_id = :device AND event_type = :type AND value_num IS NOT NULL AND ${TIME} >= :from AND ${TIME} < :to
  ORDER BY ${TIME}, event_id`;
const seriesStatements = new WeakMap<Database.Database, Database.Statement>();
function seriesStatement(db: Database.Database): Database.Statement {
  let st = seriesStatements.get(db);
  if (st === undefined) seriesStatements.set(db, (st = db.prepare(SERIES_SQL)));
  return st;
}

/** Query-API reads on SQLite (the calling thread's connection; WAL lets them run beside the writer). */
export function sqliteQueries(db: () => Database.Database): QueryRepository {
  return {
    async events(q) {
      const { where, args, add } = conditions();
      if (q.deviceId !== undefined) add('device_id = ?', q.deviceId);
      if (q.eventType !== undefined) add('event_type = ?', q.eventType);
      if (q.from !== undefined) add(`${TIME} >= ?`, q.from);
      if (q.to !== undefined) add(`${TIME} < ?`, q.to);
      if (q.after !== undefined) {
        // The plain `time >= ?` gives the index a range to seek to; the OR alone would scan from the start.
        add(`${TIME} >= ? AND (${TIME} > ? OR event_id > ?)`, q.after.time, q.after.time, q.after.eventId);
      }
      const sql = `SELECT *, ${TIME} AS t FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY ${TIME}, event_id LIMIT ?`;
      const rows = db().prepare(sql).all(...args, q.limit) as Array<EventRow & { t: number }>;
      return rows.map((r) => ({ ...rowToEvent(r), time: r.t }));
    },
    async deadLetters(q) {
      const { where, args, add } = conditions();
      if (q.reason !== undefined) add('reason = ?', q.reason);
      if (q.from !== undefined) add('received_at >= ?', q.from);
      if (q.to !== undefined) add('received_at < ?', q.to);
      if (q.afterId !== undefined) add('id > ?', q.afterId);
      if (q.ids !== undefined) add(`id IN (${q.ids.map(() => '?').join(',') || 'NULL'})`, ...q.ids);
      const sql = `SELECT * FROM deadletters ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id LIMIT ?`;
      const rows = db().prepare(sql).all(...args, q.limit) as DeadLetterRow[];
      return rows.map(rowToDeadLetter);
    },
    async series(q) {
      // One ordered range scan of the covering series index (no sort: the
      // index is in (time, event_id) order within a device and type), folded
      // into buckets here in one pass. The same in SQL needed two window
      // functions, each sorting the day's rows: 4x slower at 10M events.
      const rows = seriesStatement(db()).raw().iterate({ device: q.deviceId, type: q.eventType, from: q.from, to: q.to }) as IterableIterator<[number, number]>;
      const out: SeriesBucket[] = [];
      const size = q.bucketMs;
      let cur: SeriesBucket | undefined;
      let sum = 0;
      for (const [t, v] of rows) {
        const bucket = Math.floor(t / size) * size;
        if (cur === undefined || cur.bucket !== bucket) {
          if (cur !== undefined) cur.avg = sum / cur.count;
          cur = { bucket, count: 0, avg: 0, min: v, max: v, first: v, last: v };
          sum = 0;
          out.push(cur);
        }
        cur.count++;
        sum += v;
        if (v < cur.min) cur.min = v;
        if (v > cur.max) cur.max = v;
        cur.last = v;
      }
      if (cur !== undefined) cur.avg = sum / cur.count;
      return out;
    },
    async devices() {
      const rows = db()
        .prepare('SELECT device_id, first_seen, last_seen, event_count AS events FROM devices ORDER BY device_id')
        .all() as Array<{ device_id: string; first_seen: number; last_seen: number; events: number }>;
      return rows.map((r) => ({ deviceId: r.device_id, firstSeen: r.first_seen, lastSeen: r.last_seen, events: r.events }));
    },
  };
}

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
      // Window functions give each bucket's earliest and latest value in one
      // pass. JS numbers bind as REAL: the CAST keeps the division integral.
      const sql = `SELECT bucket, COUNT(v) AS count, AVG(v) AS avg, MIN(v) AS min, MAX(v) AS max,
          MAX(CASE WHEN rn_first = 1 THEN v END) AS first, MAX(CASE WHEN rn_last = 1 THEN v END) AS last
        FROM (
          SELECT b AS bucket, v,
            ROW_NUMBER() OVER (PARTITION BY b ORDER BY t, id) AS rn_first,
            ROW_NUMBER() OVER (PARTITION BY b ORDER BY t DESC, id DESC) AS rn_last
          FROM (
            SELECT ${TIME} AS t, event_id AS id, value_num AS v,
              (${TIME} / CAST(:bucket AS INTEGER)) * CAST(:bucket AS INTEGER) AS b
            FROM events
            WHERE device_id = :device AND event_type = :type AND value_num IS NOT NULL
              AND ${TIME} >= :from AND ${TIME} < :to
          )
        ) GROUP BY bucket ORDER BY bucket`;
      return db().prepare(sql).all({ bucket: q.bucketMs, device: q.deviceId, type: q.eventType, from: q.from, to: q.to }) as SeriesBucket[];
    },
    async devices() {
      const rows = db()
        .prepare('SELECT device_id, first_seen, last_seen, event_count AS events FROM devices ORDER BY device_id')
        .all() as Array<{ device_id: string; first_seen: number; last_seen: number; events: number }>;
      return rows.map((r) => ({ deviceId: r.device_id, firstSeen: r.first_seen, lastSeen: r.last_seen, events: r.events }));
    },
  };
}

import type { QueryRepository, SeriesBucket } from '../store.js';
import { rowToDeadLetter, rowToEvent, type DeadLetterRow, type EventRow } from '../rows.js';
import { asBuffer, type SqlReader } from './reader.js';

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

/** Query-API reads on SQLite, through `read` (a reader thread for file stores, see reader.ts). */
export function sqliteQueries(read: SqlReader): QueryRepository {
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
      const rows = (await read.all(sql, [...args, q.limit])) as unknown as Array<EventRow & { t: number }>;
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
      const rows = (await read.all(sql, [...args, q.limit])) as unknown as DeadLetterRow[];
      return rows.map((r) => rowToDeadLetter({ ...r, payload: asBuffer(r.payload) }));
    },
    async series(q) {
      // One ordered range scan of the covering series index (no sort: the
      // index is in (time, event_id) order within a device and type), folded
      // into buckets in one pass (reader.ts foldSeries). The same in SQL
      // needed two window functions, each sorting the day's rows: 2x slower
      // at 10M events.
      return read.series(SERIES_SQL, { device: q.deviceId, type: q.eventType, from: q.from, to: q.to }, q.bucketMs);
    },
    async devices() {
      const rows = (await read.all('SELECT device_id, first_seen, last_seen, event_count AS events FROM devices ORDER BY device_id', [])) as unknown as Array<{
        device_id: string;
        first_seen: number;
        last_seen: number;
        events: number;
      }>;
      return rows.map((r) => ({ deviceId: r.device_id, firstSeen: r.first_seen, lastSeen: r.last_seen, events: r.events }));
    },
  };
}

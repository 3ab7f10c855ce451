import type pg from 'pg';
import type { QueryRepository, SeriesBucket } from '../store.js';
import { rowToDeadLetter, rowToEvent, type DeadLetterRow, type EventRow } from '../rows.js';

// Exact epoch-ms <-> timestamptz conversions (see index.ts): cursors compare
// equal to what is stored, so a page boundary never skips or repeats a row.
const toTs = (p: string) => `(to_timestamp((${p}::int8 / 1000)::float8) + (${p}::int8 % 1000) * interval '1 millisecond')`;
const toMs = (col: string) => `round(extract(epoch FROM ${col}) * 1000)::float8`;
// Written as in migration 3's expression indexes, which the planner matches against.
const TIME = 'COALESCE(ts_device, ts_server)';

export function postgresQueries(pool: pg.Pool): QueryRepository {
  return {
    async events(q) {
      const where: string[] = [];
      const args: unknown[] = [];
      const p = (v: unknown) => `$${args.push(v)}`;
      if (q.deviceId !== undefined) where.push(`device_id = ${p(q.deviceId)}`);
      if (q.eventType !== undefined) where.push(`event_type = ${p(q.eventType)}`);
      if (q.from !== undefined) where.push(`${TIME} >= ${toTs(p(q.from))}`);
      if (q.to !== undefined) where.push(`${TIME} < ${toTs(p(q.to))}`);
      if (q.after !== undefined) where.push(`(${TIME}, event_id) > (${toTs(p(q.after.time))}, ${p(q.after.eventId)}::text)`);
      const sql = `SELECT event_id, device_id, schema, event_type, value_num, value_text, unit,
          ${toMs('ts_device')} AS ts_device, ${toMs('ts_server')} AS ts_server, COALESCE(meta::text, '{}') AS meta, ${toMs(TIME)} AS t
        FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY ${TIME}, event_id LIMIT ${p(q.limit)}`;
      const { rows } = await pool.query<EventRow & { t: number }>(sql, args);
      return rows.map((r) => ({ ...rowToEvent(r), time: r.t }));
    },
    async deadLetters(q) {
      const where: string[] = [];
      const args: unknown[] = [];
      const p = (v: unknown) => `$${args.push(v)}`;
      if (q.reason !== undefined) where.push(`reason = ${p(q.reason)}`);
      if (q.from !== undefined) where.push(`received_at >= ${toTs(p(q.from))}`);
      if (q.to !== undefined) where.push(`received_at < ${toTs(p(q.to))}`);
      if (q.afterId !== undefined) where.push(`id > ${p(q.afterId)}`);
      if (q.ids !== undefined) where.push(`id = ANY(${p(q.ids)}::int8[])`);
      const sql = `SELECT id::float8 AS id, ${toMs('received_at')} AS received_at, reason, message, topic, device_id, source, payload
        FROM deadletters ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id LIMIT ${p(q.limit)}`;
      const { rows } = await pool.query<DeadLetterRow>(sql, args);
      return rows.map(rowToDeadLetter);
    },
    async series(q) {
      const sql = `SELECT (floor(${toMs('t')} / $1) * $1)::float8 AS bucket, count(v)::int4 AS count, avg(v) AS avg, min(v) AS min, max(v) AS max,
          (array_agg(v ORDER BY t, id))[1] AS first, (array_agg(v ORDER BY t DESC, id DESC))[1] AS last
        FROM (SELECT ${TIME} AS t, event_id AS id, value_num AS v FROM events
              WHERE device_id = $2 AND event_type = $3 AND value_num IS NOT NULL
                AND ${TIME} >= ${toTs('$4')} AND ${TIME} < ${toTs('$5')}) s
        GROUP BY 1 ORDER BY 1`;
      const { rows } = await pool.query<SeriesBucket>(sql, [q.bucketMs, q.deviceId, q.eventType, q.from, q.to]);
      return rows;
    },
    async devices() {
      const { rows } = await pool.query<{ device_id: string; first_seen: number; last_seen: number; events: string }>(
        `SELECT device_id, ${toMs('first_seen')} AS first_seen, ${toMs('last_seen')} AS last_seen, event_count AS events FROM devices ORDER BY device_id`,
      );
      return rows.map((r) => ({ deviceId: r.device_id, firstSeen: r.first_seen, lastSeen: r.last_seen, events: Number(r.events) }));
    },
  };
}

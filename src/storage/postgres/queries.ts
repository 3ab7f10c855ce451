import type pg from 'pg';
import type { QueryRepository, StoredDeadLetter } from '../store.js';
import { rowToEvent, type EventRow } from '../rows.js';

// Exact epoch-ms <-> timestamptz conversions (see index.ts): cursors compare
// equal to what is stored, so a page boundary never skips or repeats a row.
const toTs = (p: string) => `(to_timestamp((${p}::int8 / 1000)::float8) + (${p}::int8 % 1000) * interval '1 millisecond')`;
const toMs = (col: string) => `round(extract(epoch FROM ${col}) * 1000)::float8`;
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
      const sql = `SELECT id::float8 AS id, ${toMs('received_at')} AS received_at, reason, message, topic, device_id, source, payload
        FROM deadletters ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id LIMIT ${p(q.limit)}`;
      const { rows } = await pool.query<{ id: number; received_at: number; reason: string; message: string; topic: string; device_id: string | null; source: string; payload: Buffer }>(sql, args);
      return rows.map((r) => ({
        id: r.id,
        receivedAt: r.received_at,
        reason: r.reason as StoredDeadLetter['reason'],
        message: r.message,
        topic: r.topic,
        deviceId: r.device_id,
        source: r.source as StoredDeadLetter['source'],
        payload: r.payload,
      }));
    },
  };
}

/**
 * `device-counters`, the reference processor: per device, how many events
 * were stored, first and last seen (ts_server) and the last log number; per
 * device and event type, the last value.
 *
 * "Last" is by event time (ts_device, else ts_server), ties broken by log
 * number, not by the order entries are applied. So the state does not depend
 * on how the log's entries were grouped into transactions or, with
 * TELEHUB_WRITE_CONCURRENCY > 1, on which of two batches of a device
 * committed first: a rebuild gives the live state exactly, and a device's
 * newest reading wins. Counts and first/last seen are sums and extrema, also
 * order-free. Every apply is a pair of bulk upserts (one per table).
 *
 * The `devices` table stays in the write transaction (the query API's device
 * list is exact at every commit and costs up to one upsert per device per
 * batch); these counters are the same figures derived from the log, and the
 * tests cross-check them against it and against COUNT(*) per device.
 */
import type { Dialect, Processor } from '../../log/processor.js';
import type { LogEntry, ProcessorStatement, ProcessorStore } from '../../storage/log.js';

export const DEVICE_COUNTERS = 'device-counters';

/** Per device: events, first seen, last seen, last seq. */
type Counter = [string, number, number, number, number];
/** Per device and type: device, type, value_num, value_text, unit, time, seq. */
type LastValue = [string, string, number | null, string | null, string | null, number, number];

const ms = (x: string) => `(to_timestamp((${x} / 1000)::float8) + (${x} % 1000) * interval '1 millisecond')`;

const SQL = {
  sqlite: {
    counters: `INSERT INTO device_counters (device_id, events, first_seen, last_seen, last_seq)
      SELECT value->>0, value->>1, value->>2, value->>3, value->>4 FROM json_each(?) WHERE true
      ON CONFLICT (device_id) DO UPDATE SET events = events + excluded.events,
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen),
        last_seq = MAX(last_seq, excluded.last_seq)`,
    values: `INSERT INTO device_last_values (device_id, event_type, value_num, value_text, unit, time, seq)
      SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6 FROM json_each(?) WHERE true
      ON CONFLICT (device_id, event_type) DO UPDATE SET value_num = excluded.value_num, value_text = excluded.value_text,
        unit = excluded.unit, time = excluded.time, seq = excluded.seq
      WHERE excluded.time > device_last_values.time OR (excluded.time = device_last_values.time AND excluded.seq > device_last_values.seq)`,
    readCounters: 'SELECT device_id, events, first_seen, last_seen, last_seq FROM device_counters ORDER BY device_id',
    readValues: 'SELECT device_id, event_type, value_num, value_text, unit, time, seq FROM device_last_values ORDER BY device_id, event_type',
  },
  postgres: {
    counters: `INSERT INTO device_counters (device_id, events, first_seen, last_seen, last_seq)
      SELECT r.d, r.n, ${ms('r.f')}, ${ms('r.l')}, r.s FROM json_to_recordset($1::json) AS r(d text, n int8, f int8, l int8, s int8)
      ORDER BY r.d
      ON CONFLICT (device_id) DO UPDATE SET events = device_counters.events + EXCLUDED.events,
        first_seen = LEAST(device_counters.first_seen, EXCLUDED.first_seen), last_seen = GREATEST(device_counters.last_seen, EXCLUDED.last_seen),
        last_seq = GREATEST(device_counters.last_seq, EXCLUDED.last_seq)`,
    values: `INSERT INTO device_last_values (device_id, event_type, value_num, value_text, unit, time, seq)
      SELECT r.d, r.t, r.vn, r.vt, r.u, ${ms('r.tm')}, r.s FROM json_to_recordset($1::json) AS r(d text, t text, vn float8, vt text, u text, tm int8, s int8)
      ORDER BY r.d, r.t
      ON CONFLICT (device_id, event_type) DO UPDATE SET value_num = EXCLUDED.value_num, value_text = EXCLUDED.value_text,
        unit = EXCLUDED.unit, time = EXCLUDED.time, seq = EXCLUDED.seq
      WHERE EXCLUDED.time > device_last_values.time OR (EXCLUDED.time = device_last_values.time AND EXCLUDED.seq > device_last_values.seq)`,
    readCounters: `SELECT device_id, events::float8 AS events, round(extract(epoch FROM first_seen) * 1000)::float8 AS first_seen,
      round(extract(epoch FROM last_seen) * 1000)::float8 AS last_seen, last_seq::float8 AS last_seq FROM device_counters ORDER BY device_id`,
    readValues: `SELECT device_id, event_type, value_num, value_text, unit, round(extract(epoch FROM time) * 1000)::float8 AS time, seq::float8 AS seq
      FROM device_last_values ORDER BY device_id, event_type`,
  },
} as const;

/** Folds entries into per-device counters and per-(device, type) latest values. */
export function fold(entries: readonly LogEntry[]): { counters: Counter[]; values: LastValue[] } {
  const counters = new Map<string, Counter>();
  const values = new Map<string, LastValue>();
  for (const entry of entries) {
    if (entry.kind !== 'event') continue;
    const e = entry.event;
    const c = counters.get(e.deviceId);
    if (c === undefined) counters.set(e.deviceId, [e.deviceId, 1, e.tsServer, e.tsServer, entry.seq]);
    else {
      c[1]++;
      if (e.tsServer < c[2]) c[2] = e.tsServer;
      if (e.tsServer > c[3]) c[3] = e.tsServer;
      if (entry.seq > c[4]) c[4] = entry.seq;
    }
    const time = e.tsDevice ?? e.tsServer;
    const key = `${e.deviceId}\u0000${e.eventType}`;
    const v = values.get(key);
    if (v === undefined || time > v[5] || (time === v[5] && entry.seq > v[6])) {
      values.set(key, [e.deviceId, e.eventType, e.valueNum, e.valueText, e.unit, time, entry.seq]);
    }
  }
  return { counters: [...counters.values()], values: [...values.values()] };
}

export interface DeviceCounterRow {
  deviceId: string;
  events: number;
  firstSeen: number;
  lastSeen: number;
  lastSeq: number;
}

export interface DeviceLastValue {
  deviceId: string;
  eventType: string;
  valueNum: number | null;
  valueText: string | null;
  unit: string | null;
  time: number;
  seq: number;
}

export function deviceCounters(): Processor {
  return {
    name: DEVICE_COUNTERS,
    tables: ['device_counters', 'device_last_values'],
    apply(entries: readonly LogEntry[], dialect: Dialect): ProcessorStatement[] {
      const { counters, values } = fold(entries);
      const out: ProcessorStatement[] = [];
      const sql = SQL[dialect];
      if (dialect === 'sqlite') {
        if (counters.length > 0) out.push({ sql: sql.counters, params: [JSON.stringify(counters)] });
        if (values.length > 0) out.push({ sql: sql.values, params: [JSON.stringify(values)] });
      } else {
        if (counters.length > 0) out.push({ sql: sql.counters, params: [JSON.stringify(counters.map(([d, n, f, l, s]) => ({ d, n, f, l, s })))] });
        if (values.length > 0) out.push({ sql: sql.values, params: [JSON.stringify(values.map(([d, t, vn, vt, u, tm, s]) => ({ d, t, vn, vt, u, tm, s })))] });
      }
      return out;
    },
  };
}

/** The processor's state as stored (for the CLI, the API and tests). */
export async function readDeviceCounters(kind: Dialect, processors: ProcessorStore): Promise<{ counters: DeviceCounterRow[]; values: DeviceLastValue[] }> {
  const sql = SQL[kind];
  const c = await processors.select(sql.readCounters, []);
  const v = await processors.select(sql.readValues, []);
  return {
    counters: c.map((r) => ({ deviceId: String(r.device_id), events: Number(r.events), firstSeen: Number(r.first_seen), lastSeen: Number(r.last_seen), lastSeq: Number(r.last_seq) })),
    values: v.map((r) => ({
      deviceId: String(r.device_id),
      eventType: String(r.event_type),
      valueNum: r.value_num === null ? null : Number(r.value_num),
      valueText: r.value_text === null ? null : String(r.value_text),
      unit: r.unit === null ? null : String(r.unit),
      time: Number(r.time),
      seq: Number(r.seq),
    })),
  };
}

/**
 * `device-registry`: per device, the last status it reported (Wi-Fi RSSI,
 * uptime, firmware: from node-telemetry readings' `meta` and from `status`
 * entries), when it last sent data and was last heard of, its learned
 * reporting interval, and its presence as the last `presence` entry of the
 * log says. Kept on the `devices` rows the write path already maintains
 * (migration 12), not in a second table.
 *
 * Every update is a merge that does not depend on how entries were grouped
 * into transactions: times by maximum, presence by the highest log number,
 * status by its time. Each row remembers the last log number applied to it
 * (`registry_seq`), so entries already folded in are skipped: a rebuild from
 * 0 leaves the live state as it is. Its `tables` is empty because a rebuild
 * must not delete the write path's rows.
 * The learned interval is an exponential moving average of the gaps between
 * data times (the same rule as src/devices/presence.ts), folded per batch in
 * closed form so one UPDATE per batch applies it.
 *
 * What it reads: events whose type is not `status` are data; `status`
 * entries are health reports or the node's own online/offline word;
 * presence entries (their own kind of log entry, written by the presence
 * monitor, src/devices/monitor.ts) set the presence columns. Dead letters are ignored. The monitor hears the
 * same entries through `afterCommit`, after this processor's transaction.
 */
import { STATUS_EVENT_TYPE } from '../../codecs/node-status/index.js';
import type { Dialect, Processor } from '../../log/processor.js';
import type { LogEntry, ProcessorStatement } from '../../storage/log.js';
import type { StoredEvent } from '../../storage/store.js';

export const DEVICE_REGISTRY = 'device-registry';

/** Bounds of the learned interval (ms), as the presence settings give them. */
export interface IntervalBounds {
  minIntervalMs: number;
  maxIntervalMs: number;
}

/** One device's changes in a batch (null: nothing of that kind in the batch). */
export interface RegistryDelta {
  d: string;
  /** Highest log number of the device's entries in the batch. */
  q: number;
  /** Latest time heard of (any entry but presence) and of data, ms. */
  heard: number | null;
  data: number | null;
  /** First data time of the batch (for the gap to what the row holds). */
  firstData: number | null;
  /** EMA of the batch's own gaps: factor on the previous value, the added part, the value when none was known. */
  p: number;
  c: number;
  s: number | null;
  /** Status fields with the time of the newest report carrying them. */
  st: number | null;
  rssi: number | null;
  up: number | null;
  fw: string | null;
  /** The newest presence entry: its seq, state, cause, time. */
  pseq: number | null;
  pr: string | null;
  pc: string | null;
  pt: number | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The status fields a reading's or status entry's meta carries. */
export function statusFieldsOf(e: Pick<StoredEvent, 'meta'>): { rssi: number | null; up: number | null; fw: string | null } | null {
  if (e.meta === '{}' || e.meta === '') return null;
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(e.meta) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (m === null || typeof m !== 'object') return null;
  const rssi = num(m.wifi_rssi);
  const up = num(m.uptime);
  const fw = typeof m.firmware === 'string' ? m.firmware : typeof m.fw_version === 'string' ? m.fw_version : null;
  return rssi === null && up === null && fw === null ? null : { rssi, up, fw };
}

/** Whether an event is a reading (data) rather than a status entry (presence transitions are not events at all). */
export const isData = (eventType: string): boolean => eventType !== STATUS_EVENT_TYPE;

/** Folds a batch into one delta per device (pure; exported for tests). */
export function foldRegistry(entries: readonly LogEntry[], bounds: IntervalBounds): RegistryDelta[] {
  const out = new Map<string, RegistryDelta & { prev: number | null; gaps: number[] }>();
  const clamp = (g: number) => Math.min(bounds.maxIntervalMs, Math.max(bounds.minIntervalMs, g));
  const deltaOf = (deviceId: string, seq: number) => {
    let d = out.get(deviceId);
    if (d === undefined) {
      d = { d: deviceId, q: seq, heard: null, data: null, firstData: null, p: 1, c: 0, s: null, st: null, rssi: null, up: null, fw: null, pseq: null, pr: null, pc: null, pt: null, prev: null, gaps: [] };
      out.set(deviceId, d);
    }
    if (seq > d.q) d.q = seq;
    return d;
  };
  for (const entry of entries) {
    if (entry.kind === 'presence') {
      const p = entry.presence;
      const d = deltaOf(p.deviceId, entry.seq);
      if (d.pseq === null || entry.seq > d.pseq) Object.assign(d, { pseq: entry.seq, pr: p.state, pc: p.cause, pt: p.at });
      continue;
    }
    if (entry.kind !== 'event') continue;
    const e = entry.event;
    const d = deltaOf(e.deviceId, entry.seq);
    const t = e.tsServer;
    d.heard = Math.max(d.heard ?? t, t);
    if (isData(e.eventType)) {
      if (d.firstData === null) d.firstData = t;
      // Only positive gaps teach: the readings of one message share a time.
      if (d.prev !== null && t > d.prev) d.gaps.push(clamp(t - d.prev));
      d.prev = Math.max(d.prev ?? t, t);
      d.data = d.prev;
    }
    const f = statusFieldsOf(e);
    if (f !== null && (d.st === null || t >= d.st)) {
      d.st = t;
      if (f.rssi !== null) d.rssi = f.rssi;
      if (f.up !== null) d.up = f.up;
      if (f.fw !== null) d.fw = f.fw;
    }
  }
  const deltas: RegistryDelta[] = [];
  for (const { prev: _prev, gaps, ...d } of out.values()) {
    // x_n = x_{n-1}·0.8 + g_n·0.2 over the batch's gaps: x_final = x_0·p + c.
    let p = 1;
    let c = 0;
    let s: number | null = null;
    for (const g of gaps) {
      p *= 0.8;
      c = c * 0.8 + g * 0.2;
      s = s === null ? g : s * 0.8 + g * 0.2;
    }
    deltas.push({ ...d, p, c, s });
  }
  return deltas.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
}

const KEYS = ['d', 'q', 'heard', 'data', 'firstData', 'p', 'c', 's', 'st', 'rssi', 'up', 'fw', 'pseq', 'pr', 'pc', 'pt'] as const;

function updateSql(dialect: Dialect, b: IntervalBounds): string {
  const pg = dialect === 'postgres';
  // Times: ms in the JSON; SQLite stores ms, PostgreSQL TIMESTAMPTZ.
  const t = (x: string) => (pg ? `(CASE WHEN ${x} IS NULL THEN NULL ELSE to_timestamp((${x} / 1000)::float8) + (${x} % 1000) * interval '1 millisecond' END)` : x);
  const msOf = (col: string) => (pg ? `(extract(epoch FROM devices.${col}) * 1000)` : `devices.${col}`);
  const greatest = (a: string, bb: string) => (pg ? `GREATEST(${a}, ${bb})` : `MAX(COALESCE(${a}, ${bb}), COALESCE(${bb}, ${a}))`);
  const clamp = (x: string) => (pg ? `LEAST(${b.maxIntervalMs}, GREATEST(${b.minIntervalMs}, ${x}))` : `MIN(${b.maxIntervalMs}, MAX(${b.minIntervalMs}, ${x}))`);
  const g0 = clamp(`x."firstData" - ${msOf('last_data_at')}`);
  const base = `(CASE WHEN devices.last_data_at IS NOT NULL AND x."firstData" > ${msOf('last_data_at')}
      THEN (CASE WHEN devices.interval_ms IS NULL THEN ${g0} ELSE devices.interval_ms * 0.8 + ${g0} * 0.2 END)
      ELSE devices.interval_ms END)`;
  const newerStatus = `x.st IS NOT NULL AND (devices.status_at IS NULL OR x.st >= ${msOf('status_at')})`;
  const newerPresence = 'x.pseq IS NOT NULL AND (devices.presence_seq IS NULL OR x.pseq > devices.presence_seq)';
  const source = pg
    ? `json_to_recordset($1::json) AS x(d text, q int8, heard int8, data int8, "firstData" int8, p float8, c float8, s float8, st int8, rssi float8, up float8, fw text, pseq int8, pr text, pc text, pt int8)`
    : `(SELECT ${KEYS.map((k, i) => `value->>${i} AS "${k}"`).join(', ')} FROM json_each(?)) AS x`;
  return `UPDATE devices SET
      last_heard_at = ${greatest('devices.last_heard_at', t('x.heard'))},
      last_data_at = ${greatest('devices.last_data_at', t('x.data'))},
      interval_ms = CASE WHEN x."firstData" IS NULL THEN devices.interval_ms WHEN ${base} IS NULL THEN x.s ELSE ${base} * x.p + x.c END,
      status_at = CASE WHEN ${newerStatus} THEN ${t('x.st')} ELSE devices.status_at END,
      wifi_rssi = CASE WHEN ${newerStatus} AND x.rssi IS NOT NULL THEN x.rssi ELSE devices.wifi_rssi END,
      uptime_s = CASE WHEN ${newerStatus} AND x.up IS NOT NULL THEN x.up ELSE devices.uptime_s END,
      firmware = CASE WHEN ${newerStatus} AND x.fw IS NOT NULL THEN x.fw ELSE devices.firmware END,
      presence = CASE WHEN ${newerPresence} THEN x.pr ELSE devices.presence END,
      presence_cause = CASE WHEN ${newerPresence} THEN x.pc ELSE devices.presence_cause END,
      presence_since = CASE WHEN ${newerPresence} THEN ${t('x.pt')} ELSE devices.presence_since END,
      presence_seq = CASE WHEN ${newerPresence} THEN x.pseq ELSE devices.presence_seq END,
      registry_seq = x.q
    FROM ${source} WHERE devices.device_id = x.d AND (devices.registry_seq IS NULL OR x.q > devices.registry_seq)`;
}

/** Called after the processor's transaction committed, with the entries it applied. */
export type RegistryListener = (entries: readonly LogEntry[]) => void;

/** The device-registry processor; `listener` hears each applied page after its commit. */
export function deviceRegistry(bounds: IntervalBounds, listener?: () => RegistryListener | undefined): Processor {
  const sql = { sqlite: updateSql('sqlite', bounds), postgres: updateSql('postgres', bounds) };
  return {
    name: DEVICE_REGISTRY,
    tables: [],
    apply(entries: readonly LogEntry[], dialect: Dialect): ProcessorStatement[] {
      const deltas = foldRegistry(entries, bounds);
      if (deltas.length === 0) return [];
      const out: ProcessorStatement[] = [];
      if (dialect === 'postgres') {
        // Lock the rows in device order, as the write path's upsert does, so
        // the two never wait on each other in a cycle.
        out.push({ sql: 'SELECT 1 FROM devices WHERE device_id = ANY($1::text[]) ORDER BY device_id FOR UPDATE', params: [deltas.map((d) => d.d)] });
        out.push({ sql: sql.postgres, params: [JSON.stringify(deltas)] });
      } else {
        out.push({ sql: sql.sqlite, params: [JSON.stringify(deltas.map((d) => KEYS.map((k) => d[k])))] });
      }
      return out;
    },
    afterCommit(entries) {
      listener?.()?.(entries);
    },
  };
}

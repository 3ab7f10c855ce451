/**
 * Reads of the device registry (the `devices` rows with the columns of
 * migration 12), for the API, the CLI and the presence monitor's start-up.
 */
import type { Dialect } from '../../log/processor.js';
import type { ProcessorStore } from '../../storage/log.js';

/** One device as the registry holds it. Times are epoch ms. */
export interface RegistryRow {
  deviceId: string;
  firstSeen: number;
  lastSeen: number;
  events: number;
  wifiRssi: number | null;
  uptimeS: number | null;
  firmware: string | null;
  statusAt: number | null;
  lastDataAt: number | null;
  lastHeardAt: number | null;
  intervalMs: number | null;
  intervalOverrideMs: number | null;
  presence: string | null;
  presenceCause: string | null;
  presenceSince: number | null;
}

const TIMES = ['first_seen', 'last_seen', 'status_at', 'last_data_at', 'last_heard_at', 'presence_since'];
const OTHER = ['device_id', 'event_count', 'wifi_rssi', 'uptime_s', 'firmware', 'interval_ms', 'interval_override_ms', 'presence', 'presence_cause'];

function selectSql(dialect: Dialect, where: string): string {
  const times = TIMES.map((c) => (dialect === 'postgres' ? `round(extract(epoch FROM ${c}) * 1000)::float8 AS ${c}` : c));
  const other = OTHER.map((c) => (dialect === 'postgres' && (c === 'event_count' || c === 'interval_override_ms') ? `${c}::float8 AS ${c}` : c));
  return `SELECT ${[...other, ...times].join(', ')} FROM devices ${where} ORDER BY device_id`;
}

const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const s = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toRow(r: Record<string, unknown>): RegistryRow {
  return {
    deviceId: String(r.device_id),
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
    events: Number(r.event_count),
    wifiRssi: n(r.wifi_rssi),
    uptimeS: n(r.uptime_s),
    firmware: s(r.firmware),
    statusAt: n(r.status_at),
    lastDataAt: n(r.last_data_at),
    lastHeardAt: n(r.last_heard_at),
    intervalMs: n(r.interval_ms),
    intervalOverrideMs: n(r.interval_override_ms),
    presence: s(r.presence),
    presenceCause: s(r.presence_cause),
    presenceSince: n(r.presence_since),
  };
}

/** Every device of the registry, by id. */
export async function readRegistry(kind: Dialect, processors: ProcessorStore): Promise<RegistryRow[]> {
  return (await processors.select(selectSql(kind, ''), [])).map(toRow);
}

/** One device, or undefined when the store has never stored anything of it. */
export async function readRegistryDevice(kind: Dialect, processors: ProcessorStore, deviceId: string): Promise<RegistryRow | undefined> {
  const rows = await processors.select(selectSql(kind, kind === 'postgres' ? 'WHERE device_id = $1' : 'WHERE device_id = ?'), [deviceId]);
  return rows.length === 0 ? undefined : toRow(rows[0]);
}

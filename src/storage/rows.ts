import type { StoredEvent } from './store.js';

/** An `events` row as both stores read it back (times already epoch ms, meta as JSON text). */
export interface EventRow {
  event_id: string;
  device_id: string;
  schema: number;
  event_type: string;
  value_num: number | null;
  value_text: string | null;
  unit: string | null;
  ts_device: number | null;
  ts_server: number;
  meta: string;
}

export function rowToEvent(r: EventRow): StoredEvent {
  return {
    eventId: r.event_id,
    deviceId: r.device_id,
    schema: r.schema,
    eventType: r.event_type,
    valueNum: r.value_num,
    valueText: r.value_text,
    unit: r.unit,
    tsDevice: r.ts_device,
    tsServer: r.ts_server,
    meta: r.meta,
  };
}

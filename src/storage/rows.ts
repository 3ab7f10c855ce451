import type { StoredDeadLetter, StoredEvent } from './store.js';

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

/** A `deadletters` row as both stores read it back (received_at as epoch ms). */
export interface DeadLetterRow {
  id: number;
  received_at: number;
  reason: string;
  message: string;
  topic: string;
  device_id: string | null;
  source: string;
  payload: Buffer;
}

export function rowToDeadLetter(r: DeadLetterRow): StoredDeadLetter {
  return {
    id: r.id,
    receivedAt: r.received_at,
    reason: r.reason as StoredDeadLetter['reason'],
    message: r.message,
    topic: r.topic,
    deviceId: r.device_id,
    source: r.source as StoredDeadLetter['source'],
    payload: r.payload,
  };
}

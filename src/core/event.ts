import { isUtf8 } from 'node:buffer';
import type { ReasonCode } from './errors.js';

/**
 * The canonical event: what every codec produces and every store takes.
 * Field names follow the `events` table of seed 001. Times are epoch
 * milliseconds; `meta` is already-serialised JSON text so stores never
 * stringify it again on the hot path.
 */
export interface TelemetryEvent {
  eventId: string;
  deviceId: string;
  schema: number;
  eventType: string;
  valueNum: number | null;
  valueText: string | null;
  unit: string | null;
  /** Device clock time, epoch ms, or null when the device sent none. */
  tsDevice: number | null;
  /** When telehub received the event, epoch ms. */
  tsServer: number;
  /** JSON object text, `{}` when absent. */
  meta: string;
}

/** Where an input came from, kept with dead letters. */
export type SourceKind = 'mqtt' | 'mqtt-embedded' | 'http' | 'replay';

/** An input that could not be taken, with everything needed to explain and replay it. */
export interface DeadLetter {
  reason: ReasonCode;
  message: string;
  /** The MQTT topic or HTTP route it arrived on. */
  topic: string;
  /** Device id when it could be told (from the topic or the payload), else null. */
  deviceId: string | null;
  /** The raw bytes as received. */
  payload: Buffer;
  receivedAt: number;
  source: SourceKind;
}

/** How one event of a batch ended. `retry` never leaves the pipeline: it is retried. */
export type StoreStatus = 'stored' | 'duplicate';

export type Outcome =
  | { status: 'stored' | 'duplicate'; event: TelemetryEvent }
  | { status: 'rejected'; deadLetter: DeadLetter };

/** JSON of a dead letter as published on MQTT_DEADLETTER_TOPIC and returned by the API. */
export function deadLetterToJson(dl: DeadLetter): Record<string, unknown> {
  const utf8 = isUtf8Text(dl.payload);
  return {
    schema: 1,
    reason: dl.reason,
    message: dl.message,
    topic: dl.topic,
    device_id: dl.deviceId,
    source: dl.source,
    payload: utf8 ? dl.payload.toString('utf8') : dl.payload.toString('base64'),
    payload_encoding: utf8 ? 'utf8' : 'base64',
    received_at: new Date(dl.receivedAt).toISOString(),
  };
}

export function isUtf8Text(buf: Buffer): boolean {
  return isUtf8(buf);
}

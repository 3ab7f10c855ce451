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
export type SourceKind = 'mqtt' | 'mqtt-embedded' | 'http' | 'replay' | 'presence';

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

/**
 * How one event of a batch ended in the store. `conflict`: its `event_id` is
 * taken by an event of another device or with other content, so it was not
 * stored (the pipeline dead-letters it as `event_id_conflict`). `retry` never
 * leaves the pipeline: it is retried.
 */
export type StoreStatus = 'stored' | 'duplicate' | 'conflict';

export type Outcome =
  | { status: 'stored' | 'duplicate'; event: TelemetryEvent }
  | { status: 'rejected'; deadLetter: DeadLetter };

/**
 * Raw bytes carried in a dead letter published on MQTT. A dead letter for an
 * oversized payload must not itself exceed the broker's packet limit (the
 * broker would drop telehub's connection, the message would be redelivered,
 * and so on forever), so the published copy is cut; the table keeps it whole.
 */
export const DEAD_LETTER_PUBLISH_MAX_BYTES = 8192;

/**
 * JSON of a dead letter as published on MQTT_DEADLETTER_TOPIC (payload cut
 * to DEAD_LETTER_PUBLISH_MAX_BYTES) or, with `full`, as listed from the store.
 */
export function deadLetterToJson(dl: DeadLetter, opts: { full?: boolean } = {}): Record<string, unknown> {
  const cut = !opts.full && dl.payload.length > DEAD_LETTER_PUBLISH_MAX_BYTES;
  const bytes = cut ? dl.payload.subarray(0, DEAD_LETTER_PUBLISH_MAX_BYTES) : dl.payload;
  // A cut can split a UTF-8 sequence; judge the encoding on the whole payload.
  const utf8 = isUtf8Text(dl.payload);
  const out: Record<string, unknown> = {
    schema: 1,
    reason: dl.reason,
    message: dl.message,
    topic: dl.topic,
    device_id: dl.deviceId,
    source: dl.source,
    payload: utf8 && !cut ? bytes.toString('utf8') : utf8 ? bytes.toString('utf8').replace(/\uFFFD$/, '') : bytes.toString('base64'),
    payload_encoding: utf8 ? 'utf8' : 'base64',
    received_at: new Date(dl.receivedAt).toISOString(),
  };
  if (cut) {
    out.payload_truncated = true;
    out.payload_bytes = dl.payload.length;
  }
  return out;
}

export function isUtf8Text(buf: Buffer): boolean {
  return isUtf8(buf);
}

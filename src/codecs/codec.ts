/**
 * The codec interface: bytes plus context in, zero or more canonical events
 * and zero or more rejections out (Telegraf's parsers, `Parse([]byte) []Metric`).
 * One message may carry several events (a multi-sensor reading, a body of
 * line-protocol lines); the ingest path acknowledges it once all of them are
 * committed.
 *
 * A codec pushes what it finds into a {@link DecodeSink} rather than
 * returning arrays: the sink is the message itself (pipeline/message.ts), so
 * the common one-event message costs no array and no result object.
 * A codec never throws; every input ends as events, rejections, or both.
 *
 * A codec is one folder under `src/codecs/` (index.ts, README or doc
 * comment, golden cases in testdata/<case>/) plus one line in registry.ts.
 *
 * @example
 * const codec = CODECS['seed001-json'].create({}, defaults);
 * codec.decode(payload, { topicDeviceId: 'esp32-01', receivedAt: Date.now(), limits }, sink);
 */
import type { Limits } from '../core/config.js';
import type { ReasonCode } from '../core/errors.js';
import type { TelemetryEvent } from '../core/event.js';
import type { OptionSpec } from '../core/settings.js';

/** `part` of a rejection that concerns the whole message (it could not be read at all). */
export const WHOLE_MESSAGE = -1;

export interface CodecContext {
  /** The device the route's device level names in the topic, or undefined when it names none. */
  topicDeviceId: string | undefined;
  /** When the message was received, epoch ms (the events' `tsServer`). */
  receivedAt: number;
  limits: Limits;
  /** HTTP only: the request's Content-Type (JSON codecs read one object, an array or NDJSON). */
  contentType?: string;
  /** HTTP only: the request's `precision` (line protocol); overrides the route's. */
  precision?: string;
}

/** A part of a message that cannot become an event. */
export interface CodecRejection {
  reason: ReasonCode;
  message: string;
  /** Device id when it could be told (topic or payload), else null. */
  deviceId: string | null;
  /** The bytes a dead letter keeps: the whole payload, or the part (line, array element) as sent. */
  raw: Buffer;
  /** Which part: document index or line number, or WHOLE_MESSAGE. */
  part: number;
  /** The event id the part gave, if it gave one as a string (answered to HTTP clients). */
  eventId?: string | null;
}

export interface DecodeSink {
  /** One event; `raw` is what a dead letter keeps should the store refuse it; `part` as in CodecRejection. */
  accept(event: TelemetryEvent, raw: Buffer, part: number): void;
  reject(rejection: CodecRejection): void;
}

export interface Codec {
  decode(payload: Buffer, ctx: CodecContext, out: DecodeSink): void;
}

/** The reply a route sends after commit: seed 001's ACK message per event, or nothing. */
export type ReplyKind = 'seed001-ack' | 'none';
export const REPLY_KINDS: readonly ReplyKind[] = ['seed001-ack', 'none'];

/** Settings a codec takes its defaults from (the environment's TELEHUB_LP_* and the like). */
export interface CodecDefaults {
  lineProtocol: { deviceTag: string; fallbackDeviceTags: string[]; eventType: 'measurement.field' | 'field' };
}

/** What registry.ts lists for each codec. */
export interface CodecDefinition {
  name: string;
  /** One line for the docs. */
  description: string;
  /** The reply a route with this codec sends unless it says otherwise. */
  defaultReply: ReplyKind;
  /** Keys a route may add for this codec (config file, snake_case), validated at start-up. */
  options: readonly OptionSpec[];
  /** `options` are already validated against `options` (keys as written in the file). */
  create(options: Readonly<Record<string, unknown>>, defaults: CodecDefaults): Codec;
}

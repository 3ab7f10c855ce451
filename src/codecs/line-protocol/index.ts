/**
 * The `line-protocol` codec: InfluxDB line protocol (README.md beside this
 * file has the mapping). One message (an HTTP body, or an MQTT payload on a
 * route) gives one event per field of each valid line and one rejection per
 * bad line (`part` = the line number); the other lines still give their
 * events, as with InfluxDB's partial writes.
 *
 * Options (config-file keys of a route): `device_tag`, `fallback_device_tags`,
 * `event_type` (defaults: TELEHUB_LP_*), `precision` (default `ns`; an HTTP
 * request's `precision` overrides it). On a route whose filter names a device
 * level, that device is the one of lines with none of the device tags. Its
 * route reply is `none`. Golden cases: testdata/<case>/ (line-protocol.test.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { Codec, CodecContext, CodecDefaults, CodecDefinition, DecodeSink } from '../codec.js';
import { WHOLE_MESSAGE } from '../codec.js';
import { parseLineProtocol } from './parse.js';

export {
  lineProtocolEventId,
  parseLineProtocol,
  parsePrecision,
  type LineProtocolError,
  type LineProtocolEvent,
  type LineProtocolOptions,
  type LineProtocolReason,
  type LineProtocolResult,
  type Precision,
} from './parse.js';

export interface LineProtocolCodecOptions {
  deviceTag: string;
  fallbackDeviceTags: string[];
  eventType: 'measurement.field' | 'field';
  precision: string;
}

/** Every precision name either write API accepts (v2: ns us ms s; v1 adds n u m h). */
export const PRECISIONS = ['ns', 'us', 'ms', 's', 'n', 'u', 'm', 'h'] as const;

export class LineProtocolCodec implements Codec {
  constructor(private readonly opts: LineProtocolCodecOptions) {}

  decode(payload: Buffer, ctx: CodecContext, out: DecodeSink): void {
    const http = ctx.contentType !== undefined;
    // An HTTP body is bounded by TELEHUB_HTTP_MAX_BODY_BYTES; an MQTT payload by the payload limit.
    if (!http && payload.length > ctx.limits.maxPayloadBytes) {
      out.reject({ reason: 'payload_too_large', message: `payload is ${payload.length} bytes, the limit is ${ctx.limits.maxPayloadBytes}`, deviceId: ctx.topicDeviceId ?? null, raw: payload, part: WHOLE_MESSAGE });
      return;
    }
    if (!isUtf8(payload)) {
      out.reject({ reason: 'invalid_utf8', message: `the ${http ? 'body' : 'payload'} is not valid UTF-8`, deviceId: ctx.topicDeviceId ?? null, raw: payload, part: WHOLE_MESSAGE });
      return;
    }
    const parsed = parseLineProtocol(payload.toString('utf8'), {
      precision: ctx.precision ?? this.opts.precision,
      receivedAt: ctx.receivedAt,
      deviceTag: this.opts.deviceTag,
      fallbackDeviceTags: this.opts.fallbackDeviceTags,
      defaultDevice: ctx.topicDeviceId,
      eventTypeTemplate: this.opts.eventType,
      limits: ctx.limits,
    });
    if (parsed.events.length > 0) {
      const starts = lineStarts(payload);
      let rawLine = 0;
      let raw: Buffer = payload;
      for (const { event, line } of parsed.events) {
        // Fields of one line share its bytes (kept for a dead letter should the store refuse one).
        if (line !== rawLine) {
          rawLine = line;
          raw = lineBytes(payload, starts, line);
        }
        out.accept(event, raw, line);
      }
    }
    for (const err of parsed.errors) {
      out.reject({ reason: err.reason, message: `line ${err.line}: ${err.message}`, deviceId: null, raw: Buffer.from(err.text), part: err.line });
    }
  }
}

/** Offsets where each line of the body starts. */
function lineStarts(body: Buffer): number[] {
  const starts = [0];
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) starts.push(i + 1);
  return starts;
}

/** The bytes of 1-based line `n`, without its line break. */
function lineBytes(body: Buffer, starts: number[], n: number): Buffer {
  const start = starts[n - 1] ?? body.length;
  let end = n < starts.length ? starts[n] - 1 : body.length;
  if (end > start && body[end - 1] === 13) end--;
  return body.subarray(start, end);
}

/** The codec's options as a route gives them, over the defaults from the environment. */
export function lineProtocolOptions(o: Readonly<Record<string, unknown>>, d: CodecDefaults): LineProtocolCodecOptions {
  return {
    deviceTag: (o.device_tag as string | undefined) ?? d.lineProtocol.deviceTag,
    fallbackDeviceTags: (o.fallback_device_tags as string[] | undefined) ?? d.lineProtocol.fallbackDeviceTags,
    eventType: (o.event_type as 'measurement.field' | 'field' | undefined) ?? d.lineProtocol.eventType,
    precision: (o.precision as string | undefined) ?? 'ns',
  };
}

export const lineProtocol: CodecDefinition = {
  name: 'line-protocol',
  description: 'InfluxDB line protocol: one event per field of each line; a bad line is rejected alone.',
  defaultReply: 'none',
  options: [
    { key: 'device_tag', type: 'string', default: 'TELEHUB_LP_DEVICE_TAG', description: 'Tag whose value is the device id.' },
    { key: 'fallback_device_tags', type: 'string-list', default: 'TELEHUB_LP_FALLBACK_DEVICE_TAGS', description: 'Tags tried in turn when the device tag is absent (a list; `[]` for none).' },
    { key: 'event_type', type: 'enum', values: ['measurement.field', 'field'], default: 'TELEHUB_LP_EVENT_TYPE', description: 'event_type of each field: `cpu.usage_idle` or `usage_idle`.' },
    { key: 'precision', type: 'enum', values: PRECISIONS, default: 'ns', description: 'Unit of the timestamps in the payload.' },
  ],
  create: (o, d) => new LineProtocolCodec(lineProtocolOptions(o, d)),
};

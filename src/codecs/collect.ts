/**
 * Runs a codec into arrays, for golden tests and tools (the ingest path
 * itself decodes into the message, without arrays).
 *
 * @example
 * const { events, rejections } = collectDecode(seed001Codec, payload, { topicDeviceId: 'd1', receivedAt, limits });
 */
import type { TelemetryEvent } from '../core/event.js';
import type { Codec, CodecContext, CodecRejection } from './codec.js';

export interface Decoded {
  events: Array<{ event: TelemetryEvent; raw: Buffer; part: number }>;
  rejections: CodecRejection[];
}

export function collectDecode(codec: Codec, payload: Buffer, ctx: CodecContext): Decoded {
  const out: Decoded = { events: [], rejections: [] };
  codec.decode(payload, ctx, {
    accept: (event, raw, part) => out.events.push({ event, raw, part }),
    reject: (r) => out.rejections.push(r),
  });
  return out;
}

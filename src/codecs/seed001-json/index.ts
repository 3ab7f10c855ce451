/**
 * The `seed001-json` codec: seed 001 device events (design §2.1).
 *
 * - Over MQTT (and dead-letter replay) a message is one JSON object: one
 *   event, or one rejection. The route's device level (by default the first
 *   `+` of `qs/v1/+/events`) is the device the payload must name.
 * - Over HTTP (`POST /ingest`, the context carries a Content-Type) a body is
 *   one object, a JSON array of objects, or NDJSON (body.ts): one event or
 *   rejection per document, each keeping its own bytes for a dead letter. A
 *   body that cannot be read at all is one WHOLE_MESSAGE rejection.
 *
 * Its route reply is `seed001-ack` by default: after commit, one ACK message
 * per event on ACK_TEMPLATE (or the route's `ack_template`). No options.
 * Golden cases: testdata/<case>/{input,expected}.json (seed001.test.ts).
 */
import type { Codec, CodecContext, CodecDefinition, DecodeSink } from '../codec.js';
import { WHOLE_MESSAGE } from '../codec.js';
import { splitIngestBody } from './body.js';
import { decodeSeed001Event, validateSeed001Event } from './decode.js';

export { decodeSeed001, validateSeed001, type DecodeContext, type DecodeResult } from './decode.js';
export { splitIngestBody } from './body.js';

class Seed001Codec implements Codec {
  decode(payload: Buffer, ctx: CodecContext, out: DecodeSink): void {
    if (ctx.contentType !== undefined) return decodeBody(payload, ctx, out);
    const r = decodeSeed001Event(payload, ctx);
    if ('ok' in r) out.reject({ reason: r.reason, message: r.message, deviceId: r.deviceId, raw: payload, part: 0 });
    else out.accept(r, payload, 0);
  }
}

/** An HTTP body: each document becomes an event or a rejection, in order (`part` = its index). */
function decodeBody(body: Buffer, ctx: CodecContext, out: DecodeSink): void {
  const split = splitIngestBody(body, ctx.contentType);
  if (!split.ok) {
    out.reject({ reason: split.code, message: split.message, deviceId: null, raw: body, part: WHOLE_MESSAGE });
    return;
  }
  const docs = split.docs;
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i];
    if (d.error !== undefined) {
      out.reject({ reason: 'invalid_json', message: `line is not valid JSON: ${d.error}`, deviceId: null, raw: d.raw(), part: i, eventId: null });
      continue;
    }
    const r = validateSeed001Event(d.doc, ctx);
    if ('ok' in r) out.reject({ reason: r.reason, message: r.message, deviceId: r.deviceId, raw: d.raw(), part: i, eventId: rejectedEventId(d.doc) });
    else out.accept(r, d.raw(), i);
  }
}

/** The event_id a refused document gave, if it gave one as a string (clipped: it may be why it was refused). */
function rejectedEventId(doc: unknown): string | null {
  const id = (doc as { event_id?: unknown } | null | undefined)?.event_id;
  return typeof id === 'string' ? id.slice(0, 256) : null;
}

/** The codec (it has no options): routes get it from the registry, HTTP ingest and replay use it directly. */
export const seed001Codec: Codec = new Seed001Codec();

export const seed001Json: CodecDefinition = {
  name: 'seed001-json',
  description: 'Seed 001 events: one JSON object per MQTT message (one object, an array or NDJSON per HTTP body); replies with the seed 001 ACK message.',
  defaultReply: 'seed001-ack',
  options: [],
  create: () => seed001Codec,
};

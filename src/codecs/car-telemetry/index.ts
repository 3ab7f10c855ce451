/**
 * The `car-telemetry` codec: the compact multi-field message of an OBD sender
 * on `fleet/v1/{vehicle_id}/telemetry` (design §2.4, README.md beside this
 * file). A message is one record `{"ts","speed","rpm","lat","lon",…}` or a
 * JSON array of records (a sender flushing what it buffered in a dead spot);
 * each record becomes one event per quantity with a deterministic id
 * (decode.ts), or one rejection (`part` = its index in the array, 0 for a
 * lone record). Its route reply is `none`: a sender learns of loss through
 * MQTT QoS 1 (PUBACK after commit). No options.
 * Golden cases: testdata/<case>/{input.json, expected.json} (car-telemetry.test.ts).
 */
import type { Codec, CodecContext, CodecDefinition, DecodeSink } from '../codec.js';
import { WHOLE_MESSAGE } from '../codec.js';
import { decodeCarRecord } from './decode.js';

export { CAR_FIELDS, carEventId, decodeCarRecord } from './decode.js';

/** The default route's filter: the vehicle is the third level. */
export const CAR_TELEMETRY_DEFAULT_FILTER = 'fleet/v1/+/telemetry';

class CarTelemetryCodec implements Codec {
  decode(payload: Buffer, ctx: CodecContext, out: DecodeSink): void {
    const device = ctx.topicDeviceId ?? null;
    if (payload.length > ctx.limits.maxPayloadBytes) {
      out.reject({ reason: 'payload_too_large', message: `payload is ${payload.length} bytes, the limit is ${ctx.limits.maxPayloadBytes}`, deviceId: device, raw: payload, part: WHOLE_MESSAGE });
      return;
    }
    let doc: unknown;
    try {
      // JSON.parse reads 1e999 as Infinity; decode.ts refuses it as value_not_finite.
      doc = JSON.parse(payload.toString('utf8'));
    } catch {
      // V8's parse message changes between Node versions; the golden cases pin ours.
      out.reject({ reason: 'invalid_json', message: 'the payload is not valid JSON (one record object or an array of them)', deviceId: device, raw: payload, part: WHOLE_MESSAGE });
      return;
    }
    const records = Array.isArray(doc) ? doc : [doc];
    const many = Array.isArray(doc);
    if (many && records.length === 0) {
      out.reject({ reason: 'missing_field', message: 'the payload is an empty array: no record to store', deviceId: device, raw: payload, part: WHOLE_MESSAGE });
      return;
    }
    for (let i = 0; i < records.length; i++) {
      // A record of an array keeps its own bytes for a dead letter; a lone record keeps the payload.
      const raw = many ? Buffer.from(JSON.stringify(records[i]) ?? 'null') : payload;
      const r = decodeCarRecord(records[i], ctx.topicDeviceId, ctx.receivedAt, ctx.limits);
      if ('ok' in r) out.reject({ reason: r.reason, message: many ? `record ${i}: ${r.message}` : r.message, deviceId: r.deviceId, raw, part: i });
      else for (const e of r) out.accept(e, raw, i);
    }
  }
}

export const carTelemetryCodec: Codec = new CarTelemetryCodec();

export const carTelemetry: CodecDefinition = {
  name: 'car-telemetry',
  description: 'Compact OBD sender record {"ts","speed","rpm","lat","lon","odometer",…} (or an array of them): one event per quantity, deterministic ids.',
  defaultReply: 'none',
  options: [],
  create: () => carTelemetryCodec,
};

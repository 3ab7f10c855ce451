/**
 * The `node-telemetry` codec: seed 003 sensor nodes (design §2.2).
 *
 * `iot/node/{id}/telemetry` carries
 * `{"node_id","timestamp"(unix s),"sensors":{name:number,…},"wifi_rssi","uptime"}`.
 * Each sensor becomes one reading (`event_type` = the sensor's name) with the
 * deterministic `event_id` `{node_id}:{timestamp}:{sensor}`, so a node that
 * resends a message gets `duplicate`, not a second row. `wifi_rssi` and
 * `uptime` travel in every reading's `meta`, where the device registry reads
 * them as the node's last status.
 *
 * The whole message is refused when it cannot be read, lacks `node_id`,
 * `timestamp` or `sensors`, has a field of the wrong type, or names another
 * node than its topic. A sensor whose value is not a finite number (or whose
 * name cannot be stored) is refused alone (`part` = its index in `sensors`):
 * the node's other readings are still good. Its dead letter keeps the whole
 * payload, so a replay stores the fixed sensor and finds the others duplicate.
 *
 * Its route reply is `none` by default (seed 003's nodes wait for no ACK);
 * a route may set `reply: seed001-ack` (TELEHUB_NODE_TELEMETRY_REPLY for the
 * default route). Golden cases: testdata/<case>/{input,expected}.json.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { reject, type Rejection } from '../../core/errors.js';
import type { TelemetryEvent } from '../../core/event.js';
import type { Codec, CodecContext, CodecDefinition, DecodeSink } from '../codec.js';
import { WHOLE_MESSAGE } from '../codec.js';
import { epochNumberToMs } from '../seed001-json/timestamp.js';

/** Fields of the node's status a reading carries in `meta` (numbers, when the node sent them). */
export const NODE_STATUS_FIELDS = ['wifi_rssi', 'uptime'] as const;

/**
 * The event id of one reading. Longer than the id limit (a long node id and
 * sensor name together), it becomes a SHA-256 of the same text: still
 * deterministic, so a resend is still a duplicate.
 */
export function nodeReadingId(nodeId: string, timestamp: number, sensor: string, maxIdLength: number): string {
  const id = `${nodeId}:${timestamp}:${sensor}`;
  if (id.length <= maxIdLength) return id;
  return `sha256:${createHash('sha256').update(id).digest('hex')}`.slice(0, maxIdLength);
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function clean(s: string): boolean {
  return s.indexOf('\u0000') === -1 && s.isWellFormed();
}

class NodeTelemetryCodec implements Codec {
  decode(payload: Buffer, ctx: CodecContext, out: DecodeSink): void {
    const topicNode = ctx.topicDeviceId ?? null;
    const whole = (r: Rejection, deviceId: string | null) =>
      out.reject({ reason: r.reason, message: r.message, deviceId, raw: payload, part: WHOLE_MESSAGE });
    const { limits } = ctx;
    if (payload.length > limits.maxPayloadBytes) return whole(reject('payload_too_large', `payload is ${payload.length} bytes, the limit is ${limits.maxPayloadBytes}`), topicNode);
    if (!isUtf8(payload)) return whole(reject('invalid_utf8', 'payload is not valid UTF-8'), topicNode);
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return whole(reject('invalid_json', `payload is not valid JSON: ${(err as Error).message}`), topicNode);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return whole(reject('not_an_object', `payload must be a JSON object, got ${jsonType(doc)}`), topicNode);
    const obj = doc as Record<string, unknown>;

    const nodeId = obj.node_id;
    if (nodeId === undefined || nodeId === null || nodeId === '') return whole(reject('missing_field', 'node_id is required'), topicNode);
    if (typeof nodeId !== 'string') return whole(reject('wrong_type', `node_id must be a string, got ${jsonType(nodeId)}`), topicNode);
    if (nodeId.length > limits.maxIdLength) return whole(reject('field_too_long', `node_id is ${nodeId.length} characters, the limit is ${limits.maxIdLength}`), topicNode);
    if (!clean(nodeId)) return whole(reject('invalid_string', 'node_id contains a NUL character or an unpaired surrogate'), topicNode);
    if (topicNode !== null && nodeId !== topicNode) {
      return whole(reject('topic_device_mismatch', `node_id "${nodeId}" does not match the topic's node "${topicNode}"`), topicNode);
    }
    const device = nodeId;

    const ts = obj.timestamp;
    if (ts === undefined || ts === null) return whole(reject('missing_field', 'timestamp is required (unix seconds)'), device);
    if (typeof ts !== 'number') return whole(reject('wrong_type', `timestamp must be a number (unix seconds), got ${jsonType(ts)}`), device);
    const when = epochNumberToMs(ts);
    if (!when.ok) return whole(reject('invalid_timestamp', when.message.replace(/^ts_device/, 'timestamp')), device);

    const sensors = obj.sensors;
    if (sensors === undefined || sensors === null) return whole(reject('missing_field', 'sensors is required'), device);
    if (typeof sensors !== 'object' || Array.isArray(sensors)) return whole(reject('wrong_type', `sensors must be an object of name: number, got ${jsonType(sensors)}`), device);
    const names = Object.keys(sensors);
    if (names.length === 0) return whole(reject('missing_field', 'sensors must name at least one sensor'), device);

    const status: Record<string, number> = {};
    for (const f of NODE_STATUS_FIELDS) {
      const v = obj[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number') return whole(reject('wrong_type', `${f} must be a number, got ${jsonType(v)}`), device);
      if (!Number.isFinite(v)) return whole(reject('value_not_finite', `${f} is a number outside the range of a double`), device);
      status[f] = v;
    }
    const meta = JSON.stringify(status);

    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const value = (sensors as Record<string, unknown>)[name];
      const part = (r: Rejection) => out.reject({ reason: r.reason, message: r.message, deviceId: device, raw: payload, part: i });
      if (name.length === 0) {
        part(reject('missing_field', 'a sensor has an empty name'));
        continue;
      }
      if (name.length > limits.maxIdLength) {
        part(reject('field_too_long', `sensor name is ${name.length} characters, the limit is ${limits.maxIdLength}`));
        continue;
      }
      if (!clean(name)) {
        part(reject('invalid_string', 'a sensor name contains a NUL character or an unpaired surrogate'));
        continue;
      }
      if (typeof value !== 'number') {
        part(reject('wrong_type', `sensor ${JSON.stringify(name)} must be a number, got ${jsonType(value)}`));
        continue;
      }
      if (!Number.isFinite(value)) {
        part(reject('value_not_finite', `sensor ${JSON.stringify(name)} is a number outside the range of a double`));
        continue;
      }
      const event: TelemetryEvent = {
        eventId: nodeReadingId(nodeId, ts, name, limits.maxIdLength),
        deviceId: device,
        schema: 1,
        eventType: name,
        valueNum: value,
        valueText: null,
        unit: null,
        tsDevice: when.ms,
        tsServer: ctx.receivedAt,
        meta,
      };
      out.accept(event, payload, i);
    }
  }
}

export const nodeTelemetryCodec: Codec = new NodeTelemetryCodec();

export const nodeTelemetry: CodecDefinition = {
  name: 'node-telemetry',
  description: 'Seed 003 sensor-node telemetry: one reading per sensor (event_type = its name, event_id = node:timestamp:sensor); wifi_rssi and uptime in meta. No reply by default.',
  defaultReply: 'none',
  options: [],
  create: () => nodeTelemetryCodec,
};

/**
 * The `node-status` codec: seed 003's `iot/node/{id}/status` (design §2.2),
 * node health and command results. A status message is not a reading: it
 * becomes one commit-log entry with `event_type` `status` for the device
 * registry (last RSSI, uptime, firmware; the node's own word on presence)
 * and for commands.
 *
 * Accepted forms:
 * - plain text or a JSON string: `online`, `offline` (retained messages and
 *   last wills are usually this) → `value_text` = the text, `meta` = `{}`;
 * - a JSON object: `value_text` = its `status` (or `state`) when that is a
 *   string, `meta` = the object as sent (`wifi_rssi`, `uptime`, `firmware`,
 *   `command_id`, `result`, …). A `node_id` in it must match the topic.
 *
 * The `event_id` is deterministic where the message can be told apart from
 * its resend: `{node}:status:{command_id}:{status}` for a command result (a
 * redelivered result is a duplicate, never a second result), else
 * `{node}:status:{received ms}:{payload hash}`.
 *
 * Command results: a commands component receives them by following the
 * commit log (src/log/) for entries with `eventType === STATUS_EVENT_TYPE`
 * and reading them with {@link commandResultOf}; the log is durable and
 * ordered, so no result is missed across a restart (an in-memory listener
 * would be).
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { reject, type Rejection } from '../../core/errors.js';
import type { TelemetryEvent } from '../../core/event.js';
import type { Codec, CodecContext, CodecDefinition, DecodeSink } from '../codec.js';
import { WHOLE_MESSAGE } from '../codec.js';

/** The event_type of a status entry in the commit log. */
export const STATUS_EVENT_TYPE = 'status';

/** A command result as a node reports it on its status topic. */
export interface CommandResult {
  deviceId: string;
  commandId: string;
  /** `received`, `succeeded`, `failed` or what the node sent. */
  status: string | null;
  result: unknown;
}

/**
 * The command result a status entry carries, or undefined when it carries
 * none (a health report, `online`/`offline`).
 */
export function commandResultOf(event: Pick<TelemetryEvent, 'deviceId' | 'eventType' | 'valueText' | 'meta'>): CommandResult | undefined {
  if (event.eventType !== STATUS_EVENT_TYPE || event.meta === '{}') return undefined;
  const meta = JSON.parse(event.meta) as Record<string, unknown>;
  if (typeof meta.command_id !== 'string' || meta.command_id === '') return undefined;
  return { deviceId: event.deviceId, commandId: meta.command_id, status: event.valueText, result: meta.result };
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function clean(s: string): boolean {
  return s.indexOf('\u0000') === -1 && s.isWellFormed();
}

class NodeStatusCodec implements Codec {
  decode(payload: Buffer, ctx: CodecContext, out: DecodeSink): void {
    const { limits } = ctx;
    const node = ctx.topicDeviceId;
    const fail = (r: Rejection) => out.reject({ reason: r.reason, message: r.message, deviceId: node ?? null, raw: payload, part: WHOLE_MESSAGE });
    if (node === undefined) return fail(reject('missing_field', 'the status topic names no node (set the route\'s device_level)'));
    if (payload.length > limits.maxPayloadBytes) return fail(reject('payload_too_large', `payload is ${payload.length} bytes, the limit is ${limits.maxPayloadBytes}`));
    if (!isUtf8(payload)) return fail(reject('invalid_utf8', 'payload is not valid UTF-8'));
    const text = payload.toString('utf8').trim();
    if (text.length === 0) return fail(reject('missing_field', 'the status message is empty'));

    let doc: unknown = text;
    if (text[0] === '{' || text[0] === '"' || text[0] === '[') {
      try {
        doc = JSON.parse(text);
      } catch (err) {
        return fail(reject('invalid_json', `payload is not valid JSON: ${(err as Error).message}`));
      }
    }
    let state: string | null;
    let meta = '{}';
    let commandId: string | undefined;
    if (typeof doc === 'string') {
      state = doc;
    } else if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
      const obj = doc as Record<string, unknown>;
      if (obj.node_id !== undefined && obj.node_id !== node) {
        return fail(reject('topic_device_mismatch', `node_id ${JSON.stringify(obj.node_id)} does not match the topic's node "${node}"`));
      }
      const s = obj.status ?? obj.state;
      if (s !== undefined && s !== null && typeof s !== 'string') return fail(reject('wrong_type', `status must be a string, got ${jsonType(s)}`));
      state = (s as string | undefined) ?? null;
      if (obj.command_id !== undefined && typeof obj.command_id !== 'string') return fail(reject('wrong_type', `command_id must be a string, got ${jsonType(obj.command_id)}`));
      commandId = obj.command_id as string | undefined;
      meta = JSON.stringify(obj);
      if (Buffer.byteLength(meta) > limits.maxMetaBytes) return fail(reject('meta_too_large', `the status object is ${Buffer.byteLength(meta)} bytes as JSON, the limit is ${limits.maxMetaBytes}`));
      if (!clean(meta)) return fail(reject('invalid_string', 'the status object contains a NUL character or an unpaired surrogate'));
    } else {
      return fail(reject('not_an_object', `a status is text or a JSON object, got ${jsonType(doc)}`));
    }
    if (state !== null) {
      if (state.length > limits.maxValueTextLength) return fail(reject('field_too_long', `status is ${state.length} characters, the limit is ${limits.maxValueTextLength}`));
      if (!clean(state)) return fail(reject('invalid_string', 'status contains a NUL character or an unpaired surrogate'));
    }
    const id = commandId !== undefined && commandId !== ''
      ? `${node}:status:${commandId}:${state ?? ''}`
      : `${node}:status:${ctx.receivedAt}:${createHash('sha256').update(payload).digest('hex').slice(0, 16)}`;
    const eventId = id.length <= limits.maxIdLength ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`.slice(0, limits.maxIdLength);
    out.accept({ eventId, deviceId: node, schema: 1, eventType: STATUS_EVENT_TYPE, valueNum: null, valueText: state, unit: null, tsDevice: null, tsServer: ctx.receivedAt, meta }, payload, 0);
  }
}

export const nodeStatusCodec: Codec = new NodeStatusCodec();

export const nodeStatus: CodecDefinition = {
  name: 'node-status',
  description: 'Seed 003 node status (`online`/`offline` text or a JSON object, command results echoing command_id): one `status` entry for the device registry, not a reading. No reply.',
  defaultReply: 'none',
  options: [],
  create: () => nodeStatusCodec,
};

/**
 * Decoding of seed 001 device events (the `seed001-json` codec, index.ts):
 * JSON bytes from `qs/v1/{device_id}/events` to a canonical
 * {@link TelemetryEvent}, or a {@link Rejection} with a stable reason code.
 * It never throws: every input ends as an event or a rejection.
 *
 * @example
 * const r = decodeSeed001(Buffer.from('{"schema":1,...}'), { topicDeviceId: 'esp32-01', receivedAt: Date.now(), limits });
 * if (r.ok) store(r.event); else deadLetter(r.reason, r.message);
 */
import { isUtf8 } from 'node:buffer';
import type { Limits } from '../../core/config.js';
import { reject, type Rejection } from '../../core/errors.js';
import type { TelemetryEvent } from '../../core/event.js';
import { epochNumberToMs, parseIsoTimestamp } from './timestamp.js';

export interface DecodeContext {
  /** Device id taken from the topic, or undefined when the topic binds none. */
  topicDeviceId: string | undefined;
  receivedAt: number;
  limits: Limits;
}

export type DecodeResult = { ok: true; event: TelemetryEvent } | (Rejection & { deviceId: string | null });

// A finite decimal number written as a string: "23.5", "-1", "1e3". No hex, no
// whitespace, no "Infinity"/"NaN" (those stay text). The dot is grouped with
// the fraction digits so the digits can only match one way: `\d+\.?\d*`
// backtracks quadratically on "1111…x" (seconds for a long value text).
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function fail(r: Rejection, deviceId: string | null): Seed001Failure {
  return { ok: false, reason: r.reason, message: r.message, deviceId };
}

/** True when the string can be stored faithfully (no NUL, no lone surrogate). */
function cleanString(s: string): boolean {
  return s.indexOf('\u0000') === -1 && s.isWellFormed();
}

function requiredString(obj: Record<string, unknown>, name: string, limits: Limits): string | Rejection {
  const v = obj[name];
  if (v === undefined || v === null) return reject('missing_field', `${name} is required`);
  if (typeof v !== 'string') return reject('wrong_type', `${name} must be a string, got ${jsonType(v)}`);
  if (v.length === 0) return reject('missing_field', `${name} must not be empty`);
  if (v.length > limits.maxIdLength) return reject('field_too_long', `${name} is ${v.length} characters, the limit is ${limits.maxIdLength}`);
  if (!cleanString(v)) return reject('invalid_string', `${name} contains a NUL character or an unpaired surrogate`);
  return v;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Walks meta once: checks depth and that every key and string is storable.
 * Returns an error message or undefined.
 */
function checkMeta(v: unknown, depth: number, maxDepth: number): Rejection | undefined {
  if (typeof v === 'string') return cleanString(v) ? undefined : reject('invalid_string', 'meta contains a string with a NUL character or an unpaired surrogate');
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : reject('value_not_finite', 'meta contains a number outside the range of a double');
  if (v === null || typeof v !== 'object') return undefined;
  // Depth counts containers only: meta itself is level 1, {"a":{"b":1}} is 2.
  if (depth > maxDepth) return reject('meta_too_large', `meta nests deeper than ${maxDepth} levels`);
  if (Array.isArray(v)) {
    for (const item of v) {
      const r = checkMeta(item, depth + 1, maxDepth);
      if (r) return r;
    }
    return undefined;
  }
  for (const key in v as Record<string, unknown>) {
    if (!cleanString(key)) return reject('invalid_string', 'meta contains a key with a NUL character or an unpaired surrogate');
    const r = checkMeta((v as Record<string, unknown>)[key], depth + 1, maxDepth);
    if (r) return r;
  }
  return undefined;
}

export function decodeSeed001(payload: Buffer, ctx: DecodeContext): DecodeResult {
  const r = decodeSeed001Event(payload, ctx);
  return 'ok' in r ? r : { ok: true, event: r };
}

/** A refusal as the codec gives it: the result of `fail`. */
export type Seed001Failure = Rejection & { deviceId: string | null };

/** As decodeSeed001, giving the event itself (no result object: this runs once per message). */
export function decodeSeed001Event(payload: Buffer, ctx: DecodeContext): TelemetryEvent | Seed001Failure {
  const { limits, topicDeviceId } = ctx;
  const fallbackDevice = topicDeviceId ?? null;
  if (payload.length > limits.maxPayloadBytes) {
    return fail(reject('payload_too_large', `payload is ${payload.length} bytes, the limit is ${limits.maxPayloadBytes}`), fallbackDevice);
  }
  if (!isUtf8(payload)) return fail(reject('invalid_utf8', 'payload is not valid UTF-8'), fallbackDevice);
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return fail(reject('invalid_json', `payload is not valid JSON: ${(err as Error).message}`), fallbackDevice);
  }
  return validateSeed001Event(doc, ctx);
}

/**
 * The checks after JSON parsing, for callers that parsed already (an HTTP
 * body holding an array of events is parsed once, not once per event).
 */
export function validateSeed001(doc: unknown, ctx: DecodeContext): DecodeResult {
  const r = validateSeed001Event(doc, ctx);
  return 'ok' in r ? r : { ok: true, event: r };
}

/** As validateSeed001, giving the event itself. */
export function validateSeed001Event(doc: unknown, ctx: DecodeContext): TelemetryEvent | Seed001Failure {
  const { limits, topicDeviceId } = ctx;
  const fallbackDevice = topicDeviceId ?? null;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return fail(reject('not_an_object', `payload must be a JSON object, got ${jsonType(doc)}`), fallbackDevice);
  }
  const obj = doc as Record<string, unknown>;
  const payloadDevice = typeof obj.device_id === 'string' && obj.device_id.length <= limits.maxIdLength ? obj.device_id : null;
  const deviceForDl = fallbackDevice ?? payloadDevice;

  const schema = obj.schema;
  if (schema === undefined || schema === null) return fail(reject('missing_field', 'schema is required'), deviceForDl);
  if (typeof schema !== 'number' || !Number.isInteger(schema)) return fail(reject('wrong_type', `schema must be an integer, got ${jsonType(schema)}`), deviceForDl);
  if (schema !== 1) return fail(reject('unsupported_schema', `schema ${schema} is not supported (supported: 1)`), deviceForDl);

  const eventId = requiredString(obj, 'event_id', limits);
  if (typeof eventId !== 'string') return fail(eventId, deviceForDl);
  const deviceId = requiredString(obj, 'device_id', limits);
  if (typeof deviceId !== 'string') return fail(deviceId, deviceForDl);
  if (topicDeviceId !== undefined && deviceId !== topicDeviceId) {
    return fail(reject('topic_device_mismatch', `device_id "${deviceId}" does not match the topic's device "${topicDeviceId}"`), deviceForDl);
  }
  const eventType = requiredString(obj, 'event_type', limits);
  if (typeof eventType !== 'string') return fail(eventType, deviceId);

  let valueNum: number | null = null;
  let valueText: string | null = null;
  const value = obj.value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return fail(reject('value_not_finite', 'value is a number outside the range of a double'), deviceId);
    valueNum = value;
  } else if (typeof value === 'string') {
    if (value.length > limits.maxValueTextLength) {
      return fail(reject('field_too_long', `value is ${value.length} characters, the limit is ${limits.maxValueTextLength}`), deviceId);
    }
    if (!cleanString(value)) return fail(reject('invalid_string', 'value contains a NUL character or an unpaired surrogate'), deviceId);
    valueText = value;
    if (DECIMAL.test(value)) {
      const n = Number(value);
      if (Number.isFinite(n)) valueNum = n;
    }
  } else if (typeof value === 'boolean') {
    valueNum = value ? 1 : 0;
  } else if (value !== undefined && value !== null) {
    return fail(reject('wrong_type', `value must be a number, string or boolean, got ${jsonType(value)}`), deviceId);
  }

  let unit: string | null = null;
  if (obj.unit !== undefined && obj.unit !== null) {
    if (typeof obj.unit !== 'string') return fail(reject('wrong_type', `unit must be a string, got ${jsonType(obj.unit)}`), deviceId);
    if (obj.unit.length > limits.maxIdLength) return fail(reject('field_too_long', `unit is ${obj.unit.length} characters, the limit is ${limits.maxIdLength}`), deviceId);
    if (!cleanString(obj.unit)) return fail(reject('invalid_string', 'unit contains a NUL character or an unpaired surrogate'), deviceId);
    unit = obj.unit;
  }

  let tsDevice: number | null = null;
  if (obj.ts_device !== undefined && obj.ts_device !== null) {
    if (typeof obj.ts_device === 'number') {
      const n = epochNumberToMs(obj.ts_device);
      if (!n.ok) return fail(reject('invalid_timestamp', n.message), deviceId);
      tsDevice = n.ms;
    } else if (typeof obj.ts_device === 'string') {
      const ms = parseIsoTimestamp(obj.ts_device);
      if (ms === undefined) return fail(reject('invalid_timestamp', `ts_device "${obj.ts_device.slice(0, 64)}" is not an ISO-8601 date-time`), deviceId);
      tsDevice = ms;
    } else {
      return fail(reject('wrong_type', `ts_device must be an ISO-8601 string or epoch seconds/milliseconds, got ${jsonType(obj.ts_device)}`), deviceId);
    }
  }

  let meta = '{}';
  if (obj.meta !== undefined && obj.meta !== null) {
    if (typeof obj.meta !== 'object' || Array.isArray(obj.meta)) {
      return fail(reject('wrong_type', `meta must be an object, got ${jsonType(obj.meta)}`), deviceId);
    }
    const bad = checkMeta(obj.meta, 1, limits.maxMetaDepth);
    if (bad) return fail(bad, deviceId);
    meta = JSON.stringify(obj.meta);
    if (Buffer.byteLength(meta) > limits.maxMetaBytes) {
      return fail(reject('meta_too_large', `meta is ${Buffer.byteLength(meta)} bytes as JSON, the limit is ${limits.maxMetaBytes}`), deviceId);
    }
  }

  return { eventId, deviceId, schema, eventType, valueNum, valueText, unit, tsDevice, tsServer: ctx.receivedAt, meta };
}

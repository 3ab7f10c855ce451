/**
 * Decoding of one compact car-telemetry record (README.md beside this file):
 * `{"ts", "speed", "rpm", "lat", "lon", "heading", "odometer", …}` → one
 * seed-001 style event per reported quantity, all at the record's device time.
 */
import * as crypto from 'node:crypto';
import type { Limits } from '../../core/config.js';
import type { ReasonCode } from '../../core/errors.js';
import type { TelemetryEvent } from '../../core/event.js';
import { epochNumberToMs, parseIsoTimestamp } from '../seed001-json/timestamp.js';

/** The named quantities of an OBD sender: key in the record → event type and unit (design §2.4, seed 001 events). */
export const CAR_FIELDS: Readonly<Record<string, { unit: string | null }>> = {
  speed: { unit: 'km/h' },
  rpm: { unit: 'rpm' },
  coolant_temp: { unit: 'C' },
  fuel_level: { unit: '%' },
  odometer: { unit: 'km' },
  ignition: { unit: null },
};

/** Keys that make the `position` event (its meta), not events of their own. */
const POSITION_KEYS = new Set(['lat', 'lon', 'heading', 'alt', 'hdop']);
/** Keys that are not quantities. */
const ENVELOPE_KEYS = new Set(['ts', 'vehicle_id']);
/** Another numeric PID (`throttle`, `intake_temp`, …) becomes an event named by its key. */
const EXTRA_KEY = /^[a-z][a-z0-9_]{0,63}$/;

export interface CarRecordFailure {
  ok: false;
  reason: ReasonCode;
  message: string;
  deviceId: string | null;
}

const sha1Base64Url: (s: string) => string =
  typeof crypto.hash === 'function'
    ? (s) => crypto.hash('sha1', s, 'base64url')
    : (s) => crypto.createHash('sha1').update(s).digest('base64url');

/**
 * The deterministic id of one quantity of a record: a resent record gives the
 * same ids (the store answers `duplicate`); a resent record with another value
 * is an `event_id_conflict`, never a silent overwrite. `car:` + 22 base64url
 * characters (132 bits) of SHA-1 over vehicle, device time (ms) and quantity.
 */
export function carEventId(vehicleId: string, tsMs: number, eventType: string): string {
  return `car:${sha1Base64Url(`${vehicleId}\u0000${tsMs}\u0000${eventType}`).slice(0, 22)}`;
}

function fail(reason: ReasonCode, message: string, deviceId: string | null): CarRecordFailure {
  return { ok: false, reason, message, deviceId };
}

function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function clean(s: string): boolean {
  return s.indexOf('\u0000') === -1 && s.isWellFormed();
}

/**
 * One record to its events, in a fixed order (the record's keys as sent, the
 * position where `lat` stood). A record is all or nothing: a bad quantity
 * refuses the record, so a car's point is never stored half.
 */
export function decodeCarRecord(doc: unknown, topicDeviceId: string | undefined, receivedAt: number, limits: Limits): TelemetryEvent[] | CarRecordFailure {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return fail('not_an_object', `a car-telemetry record must be a JSON object, got ${jsonType(doc)}`, topicDeviceId ?? null);
  }
  const rec = doc as Record<string, unknown>;
  let deviceId = topicDeviceId;
  const named = rec.vehicle_id;
  if (named !== undefined && named !== null) {
    if (typeof named !== 'string') return fail('wrong_type', `vehicle_id must be a string, got ${jsonType(named)}`, deviceId ?? null);
    if (deviceId !== undefined && named !== deviceId) return fail('topic_device_mismatch', `vehicle_id "${named.slice(0, 128)}" differs from the topic's vehicle "${deviceId}"`, deviceId);
    deviceId = named;
  }
  if (deviceId === undefined || deviceId === '') return fail('missing_field', 'vehicle_id is required when the route names no device level', null);
  if (deviceId.length > limits.maxIdLength) return fail('field_too_long', `vehicle_id is ${deviceId.length} characters, the limit is ${limits.maxIdLength}`, null);
  if (!clean(deviceId)) return fail('invalid_string', 'vehicle_id contains a NUL character or an unpaired surrogate', null);

  const ts = rec.ts;
  let tsMs: number;
  if (ts === undefined || ts === null) return fail('missing_field', 'ts is required (trips are cut on device time)', deviceId);
  if (typeof ts === 'string') {
    const t = parseIsoTimestamp(ts);
    if (t === undefined) return fail('invalid_timestamp', `ts "${ts.slice(0, 64)}" is not an ISO-8601 date-time`, deviceId);
    tsMs = t;
  } else if (typeof ts === 'number') {
    const t = epochNumberToMs(ts);
    if (!t.ok) return fail('invalid_timestamp', t.message.replace(/^ts_device/, 'ts').replace(/ or leave ts_device out$/, ''), deviceId);
    tsMs = t.ms;
  } else {
    return fail('wrong_type', `ts must be an ISO-8601 string or epoch seconds/milliseconds, got ${jsonType(ts)}`, deviceId);
  }

  const events: TelemetryEvent[] = [];
  const event = (eventType: string, valueNum: number | null, unit: string | null, meta: string): TelemetryEvent => ({
    eventId: carEventId(deviceId, tsMs, eventType),
    deviceId,
    schema: 1,
    eventType,
    valueNum,
    valueText: null,
    unit,
    tsDevice: tsMs,
    tsServer: receivedAt,
    meta,
  });

  let positionDone = false;
  for (const key of Object.keys(rec)) {
    if (ENVELOPE_KEYS.has(key)) continue;
    const v = rec[key];
    if (POSITION_KEYS.has(key)) {
      if (positionDone) continue;
      positionDone = true;
      const pos = position(rec, deviceId);
      if ('ok' in pos) return pos;
      if (pos.meta !== undefined) events.push(event('position', null, null, pos.meta));
      continue;
    }
    if (v === null) continue; // A PID the car did not answer this round.
    if (key === 'ignition') {
      const on = v === true || v === 1 || v === 'on' ? 1 : v === false || v === 0 || v === 'off' ? 0 : undefined;
      if (on === undefined) return fail('wrong_type', `ignition must be true/false, 1/0 or "on"/"off", got ${JSON.stringify(v)?.slice(0, 32) ?? jsonType(v)}`, deviceId);
      events.push(event('ignition', on, null, '{}'));
      continue;
    }
    if (!EXTRA_KEY.test(key)) return fail('wrong_type', `key "${key.slice(0, 64)}" is not a quantity name (lowercase letters, digits, _)`, deviceId);
    if (typeof v !== 'number') return fail('wrong_type', `${key} must be a number, got ${jsonType(v)}`, deviceId);
    if (!Number.isFinite(v)) return fail('value_not_finite', `${key} is outside the range of a double`, deviceId);
    events.push(event(key, v, CAR_FIELDS[key]?.unit ?? null, '{}'));
  }
  if (events.length === 0) return fail('missing_field', 'the record reports no quantity (speed, rpm, lat/lon, odometer, …)', deviceId);
  return events;
}

/** lat/lon (both or neither), optional heading/alt/hdop → the position event's meta in seed-001 words. */
function position(rec: Record<string, unknown>, deviceId: string): { meta: string | undefined } | CarRecordFailure {
  const out: Record<string, number> = {};
  for (const [key, name] of [['lat', 'latitude'], ['lon', 'longitude'], ['heading', 'heading'], ['alt', 'altitude'], ['hdop', 'hdop']] as const) {
    const v = rec[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number') return fail('wrong_type', `${key} must be a number, got ${jsonType(v)}`, deviceId);
    if (!Number.isFinite(v)) return fail('value_not_finite', `${key} is outside the range of a double`, deviceId);
    out[name] = v;
  }
  const hasLat = out.latitude !== undefined;
  const hasLon = out.longitude !== undefined;
  if (hasLat !== hasLon) return fail('missing_field', 'lat and lon come together (one was sent without the other)', deviceId);
  if (!hasLat) return { meta: undefined }; // heading without a fix: nothing to place.
  if (out.latitude < -90 || out.latitude > 90 || out.longitude < -180 || out.longitude > 180) {
    return fail('wrong_type', `lat ${out.latitude} / lon ${out.longitude} is not a position (lat −90…90, lon −180…180)`, deviceId);
  }
  return { meta: JSON.stringify(out) };
}

/**
 * Codec for the InfluxDB line protocol, so Telegraf (`outputs.influxdb_v2`,
 * `outputs.influxdb`) and the InfluxDB client libraries can write to telehub
 * unchanged. A body of lines becomes one {@link TelemetryEvent} per field of
 * each line; a bad line is an error for that line only (InfluxDB's
 * partial-write semantics) and the other lines still produce events. It never
 * throws. The mapping is documented, with examples, in README.md beside this
 * file; the grammar is in `scanner.ts` (hand-written: see the note there).
 *
 * @example
 * const { events, errors } = parseLineProtocol('cpu,host=web-1 usage_idle=97.5 1707523200000000000\n', {
 *   precision: 'ns', receivedAt: Date.now(), limits,
 * });
 * // events[0].event: { eventType: 'cpu.usage_idle', deviceId: 'web-1', valueNum: 97.5, tsDevice: 1707523200000, ... }
 */
import * as crypto from 'node:crypto';
import type { Limits } from '../../core/config.js';
import type { ReasonCode } from '../../core/errors.js';
import type { TelemetryEvent } from '../../core/event.js';
import * as scan from './scanner.js';
import { parsePrecision, PointScanner } from './scanner.js';

export { parsePrecision, type Precision } from './scanner.js';

/** Kept as an alias: every code this codec emits is declared in src/core/errors.ts. */
export type LineProtocolReason = ReasonCode;

export interface LineProtocolOptions {
  /** `ns`, `us`, `ms`, `s` (v2 names) or `n`, `u`, `ms`, `s`, `m`, `h` (v1 names); empty means ns. */
  precision: string;
  /** When the body was received, epoch ms: `tsServer`, and the time of lines without a timestamp. */
  receivedAt: number;
  /** Tag whose value is the device id. Default `device`. */
  deviceTag?: string;
  /** Tags tried in order when `deviceTag` is absent. Default `['host']` (Telegraf sets it). */
  fallbackDeviceTags?: string[];
  /** Device id for lines with none of those tags; undefined rejects such lines (`missing_field`). */
  defaultDevice?: string;
  /** `measurement.field` (default) or `field`. */
  eventTypeTemplate?: 'measurement.field' | 'field';
  limits: Limits;
}

export interface LineProtocolEvent {
  /** 1-based line of the body the point starts on. */
  line: number;
  event: TelemetryEvent;
}

export interface LineProtocolError {
  /** 1-based line of the body the point starts on (0 for a problem with the whole request). */
  line: number;
  reason: LineProtocolReason;
  message: string;
  /** The line as received, without its line break. */
  text: string;
}

export interface LineProtocolResult {
  events: LineProtocolEvent[];
  errors: LineProtocolError[];
}

// Local copies: read in the hot loops without going through module bindings.
const SCAN_SYNTAX = scan.SCAN_SYNTAX;
const SCAN_VALUE = scan.SCAN_VALUE;
const K_STRING = scan.K_STRING;
const CR = 13;
const SPACE = 32;
const TAB = 9;
const HASH = 35;

const DEFAULT_FALLBACK_TAGS: readonly string[] = ['host'];

/** `lp:` + 22 base64url characters (132 bits) of SHA-1. */
const sha1Base64Url: (s: string) => string =
  typeof crypto.hash === 'function'
    ? (s) => crypto.hash('sha1', s, 'base64url')
    : (s) => crypto.createHash('sha1').update(s).digest('base64url');

/**
 * The deterministic event id of one field of a point: a retried write gives
 * the same ids, so the store sees duplicates. `tsNanos` is the point's time in
 * nanoseconds as a decimal string; tags are sorted by key.
 */
export function lineProtocolEventId(measurement: string, sortedTags: ReadonlyArray<readonly [string, string]>, fieldKey: string, tsNanos: string): string {
  let s = `${measurement}\u0000`;
  for (const [k, v] of sortedTags) s += `${k}\u0000${v}\u0000`;
  return idFromPrefix(s, fieldKey, tsNanos);
}

function idFromPrefix(prefix: string, fieldKey: string, tsNanos: string): string {
  return `lp:${sha1Base64Url(`${prefix}${fieldKey}\u0000${tsNanos}`).slice(0, 22)}`;
}

/**
 * Parses a line-protocol body into events (one per field of each valid line)
 * and errors (one per invalid line). Never throws.
 */
export function parseLineProtocol(body: string, opts: LineProtocolOptions): LineProtocolResult {
  const result: LineProtocolResult = { events: [], errors: [] };
  const len = body.length;
  const prec = parsePrecision(opts.precision);
  const scanner = prec === undefined ? null : new PointScanner(body, prec);
  const clean = body.indexOf('\u0000') === -1 && body.isWellFormed();
  const ctx: MapContext = {
    body,
    opts,
    result,
    clean,
    deviceTag: opts.deviceTag ?? 'device',
    fallbackTags: opts.fallbackDeviceTags ?? DEFAULT_FALLBACK_TAGS,
    byField: opts.eventTypeTemplate === 'field',
    receivedNanos: nanosOfMs(opts.receivedAt),
    order: [],
  };
  let pos = 0;
  let line = 1;
  while (pos < len) {
    const nl = body.indexOf('\n', pos);
    const next = nl < 0 ? len : nl + 1;
    let end = nl < 0 ? len : nl;
    if (end > pos && body.charCodeAt(end - 1) === CR) end--;
    let i = pos;
    for (; i < end; i++) {
      const c = body.charCodeAt(i);
      if (c !== SPACE && c !== TAB) break;
    }
    // Blank lines and comments.
    if (i === end || body.charCodeAt(i) === HASH) {
      pos = next;
      line++;
      continue;
    }
    if (scanner === null) {
      result.errors.push({
        line,
        reason: 'invalid_line_protocol',
        message: sanitize(`invalid precision "${clip(opts.precision)}": want ns, us, ms or s (v2), or n, u, ms, s, m or h (v1)`),
        text: body.slice(pos, end),
      });
      pos = next;
      line++;
      continue;
    }
    const before = result.events.length;
    try {
      const r = scanner.scan(i, end, next);
      if (r === SCAN_SYNTAX || r === SCAN_VALUE) {
        const reason: LineProtocolReason = r === SCAN_SYNTAX ? 'invalid_line_protocol' : scanner.errKind;
        const text = body.slice(pos, scanner.end);
        result.errors.push({ line, reason, message: parseMessage(body, pos, line, text, scanner.errAt, scanner.errWhat), text });
      } else {
        mapPoint(ctx, scanner, line, pos);
      }
      line += 1 + scanner.extraLines;
      pos = scanner.next;
    } catch (err) {
      // Not expected (the fuzz tests look for it); keeps one line from failing the body.
      result.events.length = before;
      result.errors.push({ line, reason: 'invalid_line_protocol', message: sanitize(`internal error while parsing the line: ${(err as Error)?.message}`), text: body.slice(pos, end) });
      pos = next;
      line++;
    }
  }
  return result;
}

interface MapContext {
  body: string;
  opts: LineProtocolOptions;
  result: LineProtocolResult;
  clean: boolean;
  deviceTag: string;
  fallbackTags: readonly string[];
  byField: boolean;
  receivedNanos: string;
  /** Scratch: tag indexes in key order. */
  order: number[];
}

function nanosOfMs(ms: number): string {
  const t = Math.trunc(ms);
  return t === 0 || !Number.isFinite(t) ? '0' : `${t}000000`;
}

/** Turns one well-formed point into events, or one error when any of them cannot be taken. */
function mapPoint(ctx: MapContext, s: PointScanner, line: number, pos: number): void {
  const { body, opts, result } = ctx;
  const { limits } = opts;
  if (!ctx.clean) {
    const text = body.slice(pos, s.end);
    if (text.indexOf('\u0000') !== -1 || !text.isWellFormed()) {
      fail(ctx, s, line, pos, 'invalid_string', 'the line contains a NUL character or an unpaired UTF-16 surrogate, which the stores cannot keep faithfully');
      return;
    }
  }
  const m = s.measurement;
  const n = s.tagCount;
  const keys = s.tagKeys;
  const vals = s.tagVals;

  // Tags in key order (Telegraf already sends them sorted).
  let sorted = true;
  for (let k = 1; k < n; k++) {
    if (keys[k - 1] > keys[k]) {
      sorted = false;
      break;
    }
  }
  const order = ctx.order;
  order.length = n;
  for (let k = 0; k < n; k++) order[k] = k;
  if (!sorted) order.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
  for (let k = 0; k < n; k++) {
    const key = keys[order[k]];
    if (k > 0 && key === keys[order[k - 1]]) {
      fail(ctx, s, line, pos, 'invalid_line_protocol', `duplicate tags: "${clip(key)}" is given twice`);
      return;
    }
    if (key === 'measurement') {
      fail(ctx, s, line, pos, 'invalid_line_protocol', 'tag key "measurement" is reserved: telehub keeps the measurement name under it in meta');
      return;
    }
  }

  // Device id: the device tag, else the fallback tags in order, else the default.
  let deviceIdx = -1;
  let deviceFrom = ctx.deviceTag;
  for (let k = 0; k < n; k++) {
    if (keys[k] === ctx.deviceTag) {
      deviceIdx = k;
      break;
    }
  }
  for (let f = 0; deviceIdx < 0 && f < ctx.fallbackTags.length; f++) {
    const want = ctx.fallbackTags[f];
    for (let k = 0; k < n; k++) {
      if (keys[k] === want) {
        deviceIdx = k;
        deviceFrom = want;
        break;
      }
    }
  }
  let deviceId: string;
  if (deviceIdx >= 0) {
    deviceId = vals[deviceIdx];
    if (deviceId.length > limits.maxIdLength) {
      fail(ctx, s, line, pos, 'field_too_long', `device id (tag "${clip(deviceFrom)}") is ${deviceId.length} characters, the limit is ${limits.maxIdLength}`);
      return;
    }
  } else if (opts.defaultDevice !== undefined && opts.defaultDevice !== '') {
    deviceId = opts.defaultDevice;
    if (deviceId.length > limits.maxIdLength) {
      fail(ctx, s, line, pos, 'field_too_long', `the default device id is ${deviceId.length} characters, the limit is ${limits.maxIdLength}`);
      return;
    }
    if (deviceId.indexOf('\u0000') !== -1 || !deviceId.isWellFormed()) {
      fail(ctx, s, line, pos, 'invalid_string', 'the default device id contains a NUL character or an unpaired surrogate');
      return;
    }
  } else {
    const tags = [ctx.deviceTag, ...ctx.fallbackTags].map((t) => `"${clip(t)}"`).join(' or ');
    fail(ctx, s, line, pos, 'missing_field', `no device id: the line has no ${tags} tag and no default device is configured`);
    return;
  }

  // meta: the measurement, then the other tags in key order. Built as text so
  // integer-like keys keep their place.
  let meta = `{"measurement":${JSON.stringify(m)}`;
  let prefix = `${m}\u0000`;
  for (let k = 0; k < n; k++) {
    const t = order[k];
    prefix += `${keys[t]}\u0000${vals[t]}\u0000`;
    if (t !== deviceIdx) meta += `,${JSON.stringify(keys[t])}:${JSON.stringify(vals[t])}`;
  }
  meta += '}';
  if (meta.length * 3 > limits.maxMetaBytes) {
    const bytes = Buffer.byteLength(meta);
    if (bytes > limits.maxMetaBytes) {
      fail(ctx, s, line, pos, 'meta_too_large', `meta (the measurement and tags) is ${bytes} bytes as JSON, the limit is ${limits.maxMetaBytes}`);
      return;
    }
  }

  const tsNanos = s.hasTimestamp ? s.tsNanos : ctx.receivedNanos;
  const tsDevice = s.hasTimestamp ? s.tsMs : opts.receivedAt;
  const before = result.events.length;
  for (let f = 0; f < s.fieldCount; f++) {
    const key = s.fieldKeys[f];
    const eventType = ctx.byField ? key : `${m}.${key}`;
    if (eventType.length > limits.maxIdLength) {
      result.events.length = before;
      fail(ctx, s, line, pos, 'field_too_long', `event_type "${clip(eventType)}" is ${eventType.length} characters, the limit is ${limits.maxIdLength}`);
      return;
    }
    const eventId = idFromPrefix(prefix, key, tsNanos);
    if (eventId.length > limits.maxIdLength) {
      result.events.length = before;
      fail(ctx, s, line, pos, 'field_too_long', `event_id "${eventId}" is ${eventId.length} characters, the limit is ${limits.maxIdLength}`);
      return;
    }
    const kind = s.fieldKinds[f];
    const valueText = s.fieldTexts[f];
    if (valueText !== null && valueText.length > limits.maxValueTextLength) {
      result.events.length = before;
      fail(ctx, s, line, pos, 'field_too_long', `the value of field "${clip(key)}" is ${valueText.length} characters, the limit is ${limits.maxValueTextLength}`);
      return;
    }
    const valueNum = kind === K_STRING ? null : s.fieldNums[f];
    result.events.push({
      line,
      event: {
        eventId,
        deviceId,
        schema: 1,
        eventType,
        valueNum,
        valueText,
        unit: null,
        tsDevice,
        tsServer: opts.receivedAt,
        meta,
      },
    });
  }
}

/** Records a point that is well formed but cannot be taken. */
function fail(ctx: MapContext, s: PointScanner, line: number, pos: number, reason: LineProtocolReason, what: string): void {
  const text = ctx.body.slice(pos, s.end);
  ctx.result.errors.push({ line, reason, message: sanitize(`unable to take '${quote(text)}': ${what}`), text });
}

/** An InfluxDB-like parse error message with the column (and line, when the point spans several). */
function parseMessage(body: string, pos: number, line: number, text: string, errAt: number, what: string): string {
  const lineStart = body.lastIndexOf('\n', errAt - 1) + 1;
  const column = errAt - lineStart + 1;
  let where = `column ${column}`;
  if (lineStart > pos) {
    let l = line;
    for (let k = body.indexOf('\n', pos); k !== -1 && k < lineStart; k = body.indexOf('\n', k + 1)) l++;
    where = `line ${l}, column ${column}`;
  }
  return sanitize(`unable to parse '${quote(text)}': ${what} (${where})`);
}

function quote(text: string): string {
  return text.length <= 100 ? text : `${text.slice(0, 100)}…`;
}

function clip(s: string): string {
  return s.length <= 64 ? s : `${s.slice(0, 64)}…`;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/g;

/** Messages are stored and logged: no NUL, line breaks or lone surrogates in them. */
function sanitize(message: string): string {
  let m = message.isWellFormed() ? message : message.toWellFormed();
  CONTROL.lastIndex = 0;
  if (CONTROL.test(m)) m = m.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return m;
}

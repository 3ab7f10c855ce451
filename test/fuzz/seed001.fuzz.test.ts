/**
 * Property tests for the seed 001 decoder (`decodeSeed001`): whatever bytes
 * arrive, it must return an event or a rejection, never throw, and every event
 * it returns must be storable as is.
 *
 * Runs are reproducible: the seed is fixed (override with
 * TELEHUB_TEST_FUZZ_SEED) and TELEHUB_TEST_FUZZ_SCALE multiplies every numRuns
 * (e.g. 10 for a longer soak).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeSeed001, type DecodeResult } from '../../src/codecs/seed001-json/index.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/core/config.js';
import { ALL_REASON_CODES, type ReasonCode } from '../../src/core/errors.js';

const SEED = Number(process.env.TELEHUB_TEST_FUZZ_SEED ?? 0x5eed001);
const SCALE = Number(process.env.TELEHUB_TEST_FUZZ_SCALE ?? 1);
const runs = (n: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(n * SCALE)) });

const RECEIVED_AT = 1_707_523_200_000;
const TOPIC_DEVICE = 'esp32-01';
const KNOWN_FIELDS = ['schema', 'event_id', 'device_id', 'event_type', 'value', 'unit', 'ts_device', 'meta'];

// ---------------------------------------------------------------- helpers

interface Ctx {
  topicDeviceId: string | undefined;
  receivedAt: number;
  limits: Limits;
}

const ctxOf = (topicDeviceId: string | undefined = TOPIC_DEVICE, limits: Partial<Limits> = {}): Ctx => ({
  topicDeviceId,
  receivedAt: RECEIVED_AT,
  limits: { ...DEFAULT_LIMITS, ...limits },
});

/** Decodes and turns an escaping exception into a clear assertion failure. */
function decode(payload: Buffer | Uint8Array | string, ctx: Ctx = ctxOf()): DecodeResult {
  const buf = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  try {
    return decodeSeed001(buf, ctx);
  } catch (err) {
    const e = err as Error;
    assert.fail(`decodeSeed001 threw ${e?.name}: ${e?.message} (payload ${buf.length} bytes: ${JSON.stringify(buf.subarray(0, 120).toString('latin1'))})`);
  }
}

const storable = (s: string) => !s.includes('\u0000') && s.isWellFormed();

const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function isValidUtf8(b: Uint8Array): boolean {
  try {
    utf8Fatal.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Checks the outcome is classified: a storable event within limits, or a known rejection. */
function assertClassified(r: DecodeResult, ctx: Ctx): void {
  assert.equal(typeof r, 'object');
  if (r.ok) {
    const e = r.event;
    const { limits } = ctx;
    for (const [name, v] of [
      ['eventId', e.eventId],
      ['deviceId', e.deviceId],
      ['eventType', e.eventType],
    ] as const) {
      assert.equal(typeof v, 'string', name);
      assert.ok(v.length > 0, `${name} is empty`);
      assert.ok(v.length <= limits.maxIdLength, `${name} longer than maxIdLength`);
      assert.ok(storable(v), `${name} holds NUL or a lone surrogate`);
    }
    if (ctx.topicDeviceId !== undefined) assert.equal(e.deviceId, ctx.topicDeviceId, 'deviceId differs from the topic');
    assert.equal(e.schema, 1);
    assert.ok(e.valueNum === null || (typeof e.valueNum === 'number' && Number.isFinite(e.valueNum)), `valueNum ${e.valueNum}`);
    if (e.valueText !== null) {
      assert.equal(typeof e.valueText, 'string');
      assert.ok(e.valueText.length <= limits.maxValueTextLength, 'valueText longer than maxValueTextLength');
      assert.ok(storable(e.valueText), 'valueText holds NUL or a lone surrogate');
    }
    if (e.unit !== null) {
      assert.equal(typeof e.unit, 'string');
      assert.ok(e.unit.length <= limits.maxIdLength, 'unit longer than maxIdLength');
      assert.ok(storable(e.unit), 'unit holds NUL or a lone surrogate');
    }
    assert.ok(e.tsDevice === null || Number.isSafeInteger(e.tsDevice), `tsDevice ${e.tsDevice}`);
    assert.equal(e.tsServer, ctx.receivedAt);
    assert.equal(typeof e.meta, 'string');
    assert.ok(Buffer.byteLength(e.meta) <= limits.maxMetaBytes || e.meta === '{}', 'meta larger than maxMetaBytes');
    assert.ok(storable(e.meta), 'meta holds NUL or a lone surrogate');
    const meta = JSON.parse(e.meta);
    assert.ok(meta !== null && typeof meta === 'object' && !Array.isArray(meta), 'meta is not a JSON object');
  } else {
    assert.equal(r.ok, false);
    assert.ok((ALL_REASON_CODES as string[]).includes(r.reason), `unknown reason ${r.reason}`);
    assert.notEqual(r.reason, 'store_rejected', 'the decoder never answers store_rejected');
    assert.equal(typeof r.message, 'string');
    assert.ok(r.message.length > 0);
    assert.ok(r.deviceId === null || typeof r.deviceId === 'string');
    if (ctx.topicDeviceId !== undefined) assert.equal(r.deviceId, ctx.topicDeviceId, 'a rejection carries the topic device');
  }
}

const reasonOf = (r: DecodeResult) => (r.ok ? 'ok' : r.reason);

// ---------------------------------------------------------------- arbitraries

const idChars = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,40}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }) },
);
/** Non-empty, storable, within the default id length. */
const idArb = idChars.filter((s) => s.length > 0 && s.length <= DEFAULT_LIMITS.maxIdLength && storable(s));

/** A device id usable as an MQTT topic level. */
const deviceArb = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,30}$/);

const MIN_MS = Date.parse('0002-01-01T00:00:00Z');
const MAX_MS = Date.parse('9998-12-31T00:00:00Z');

type ValueCase = { json: unknown; num: number | null; text: string | null };

const valueArb: fc.Arbitrary<ValueCase | undefined> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => ({ json: n, num: JSON.parse(JSON.stringify(n)) as number, text: null })),
  fc.integer().map((n) => ({ json: n, num: n, text: null })),
  fc
    .tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom('string', 'exp', 'fixed', 'precision'), fc.integer({ min: 0, max: 12 }))
    .map(([n, style, k]) => {
      const s =
        style === 'string' ? String(n) : style === 'exp' ? n.toExponential(Math.min(k, 20)) : style === 'fixed' && Math.abs(n) < 1e21 ? n.toFixed(k) : n.toPrecision(k + 1);
      return { json: s, num: Number(s), text: s };
    }),
  fc
    .tuple(fc.constantFrom(...'abcxyzXYZ_#°µ'.split('')), fc.string({ unit: 'grapheme', maxLength: 30 }))
    .map(([first, rest]) => first + rest)
    .filter(storable)
    .map((s) => ({ json: s, num: null, text: s })),
  fc.constantFrom('Infinity', '-Infinity', 'NaN', ' 42', '42 ', '0x10', '1e999', '-1e999', '1_0', '', '+', '.', 'e5').map((s) => ({ json: s, num: null, text: s })),
  fc.boolean().map((b) => ({ json: b, num: b ? 1 : 0, text: null })),
  fc.constant({ json: null, num: null, text: null }),
  fc.constant(undefined),
);

interface TsCase {
  /** ts_device as sent: an ISO-8601 string or epoch seconds/milliseconds. */
  text: string | number;
  ms: number;
}
const floorTo = (ms: number, unit: number) => ms - (((ms % unit) + unit) % unit);
const pad = (n: number, w: number) => String(n).padStart(w, '0');

const isoTsArb: fc.Arbitrary<TsCase> = fc
  .record({
    instant: fc.integer({ min: MIN_MS, max: MAX_MS }),
    offsetMin: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
    fracLen: fc.constantFrom(0, 1, 2, 3, 6, 9),
    extra: fc.integer({ min: 0, max: 999_999 }),
    sep: fc.constantFrom('T', ' '),
    tzStyle: fc.constantFrom('colon', 'compact', 'Z', 'none'),
    dropSeconds: fc.boolean(),
  })
  .map(({ instant, offsetMin, fracLen, extra, sep, tzStyle, dropSeconds }) => {
    const off = tzStyle === 'Z' || tzStyle === 'none' ? 0 : offsetMin;
    const noSeconds = dropSeconds && fracLen === 0;
    const unit = noSeconds ? 60_000 : fracLen === 0 ? 1000 : fracLen === 1 ? 100 : fracLen === 2 ? 10 : 1;
    const ms = floorTo(instant, unit);
    const local = new Date(instant + off * 60_000);
    const frac = fracLen === 0 ? '' : `.${(pad(local.getUTCMilliseconds(), 3) + pad(extra, 6)).slice(0, fracLen)}`;
    const abs = Math.abs(off);
    const sign = off < 0 ? '-' : '+';
    const tz =
      tzStyle === 'Z' ? 'Z' : tzStyle === 'none' ? '' : tzStyle === 'colon' ? `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}` : `${sign}${pad(Math.floor(abs / 60), 2)}${pad(abs % 60, 2)}`;
    const time = noSeconds
      ? `${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}`
      : `${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}${frac}`;
    const text = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}${sep}${time}${tz}`;
    return { text, ms };
  });

/** 2000-01-01 and 9999-12-31T23:59:59.999Z: the window numeric ts_device must fall in. */
const NUM_MIN_MS = Date.UTC(2000, 0, 1);
const NUM_MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/**
 * Numeric ts_device: whole or fractional epoch seconds (below 1e11) or
 * milliseconds, the expected time computed independently of the decoder
 * (from the instant, not by re-reading the number).
 */
const numericTsArb: fc.Arbitrary<TsCase> = fc.oneof(
  // Whole seconds, 2000-01-01 up to 1e11 - 1 (the year 5138).
  fc.integer({ min: NUM_MIN_MS / 1000, max: 1e11 - 1 }).map((s) => ({ text: s, ms: s * 1000 })),
  // Seconds with a millisecond fraction written as decimal text, e.g. 1707523200.123.
  fc.record({ s: fc.integer({ min: NUM_MIN_MS / 1000, max: 4_102_444_800 }), frac: fc.integer({ min: 0, max: 999 }) }).map(({ s, frac }) => ({
    text: Number(`${s}.${pad(frac, 3)}`),
    ms: s * 1000 + frac,
  })),
  // Whole milliseconds, 2000-01-01 up to the end of 9999.
  fc.integer({ min: NUM_MIN_MS, max: NUM_MAX_MS }).map((ms) => ({ text: ms, ms })),
);

const tsArb: fc.Arbitrary<TsCase> = fc.oneof({ weight: 3, arbitrary: isoTsArb }, { weight: 1, arbitrary: numericTsArb });

function jsonDepthOk(v: unknown, depth: number, max: number): boolean {
  if (depth > max) return false;
  if (typeof v === 'string') return storable(v);
  if (v === null || typeof v !== 'object') return true;
  const children = Array.isArray(v) ? v : Object.entries(v).flatMap(([k, x]) => (storable(k) ? [x] : [{ bad: '\u0000' }]));
  return children.every((c) => jsonDepthOk(c, depth + 1, max));
}

const metaArb = fc
  .dictionary(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }), { maxKeys: 6 })
  .filter((m) => jsonDepthOk(m, 1, DEFAULT_LIMITS.maxMetaDepth) && Buffer.byteLength(JSON.stringify(m)) <= DEFAULT_LIMITS.maxMetaBytes);

const extraArb = fc.dictionary(
  fc.string({ maxLength: 10 }).filter((k) => !KNOWN_FIELDS.includes(k)),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 3 },
);

interface ValidCase {
  topicDeviceId: string;
  payload: string;
  expect: {
    eventId: string;
    deviceId: string;
    eventType: string;
    value: ValueCase | undefined;
    unit: string | null | undefined;
    ts: TsCase | null | undefined;
    meta: Record<string, unknown> | null | undefined;
  };
}

/** Valid seed 001 events (any key order, optional fields present, null or absent, unknown extras). */
const validArb: fc.Arbitrary<ValidCase> = fc
  .record({
    eventId: idArb,
    deviceId: deviceArb,
    eventType: idArb,
    value: valueArb,
    unit: fc.option(fc.option(idArb, { nil: null }), { nil: undefined }),
    ts: fc.option(fc.option(tsArb, { nil: null }), { nil: undefined }),
    meta: fc.option(fc.option(metaArb, { nil: null }), { nil: undefined }),
    extra: extraArb,
    order: fc.shuffledSubarray(KNOWN_FIELDS, { minLength: KNOWN_FIELDS.length, maxLength: KNOWN_FIELDS.length }),
    indent: fc.constantFrom(undefined, 0, 2, '\t'),
    leading: fc.constantFrom('', ' ', '\n', '\r\n\t '),
  })
  .map((g) => {
    const fields: Record<string, unknown> = {
      schema: 1,
      event_id: g.eventId,
      device_id: g.deviceId,
      event_type: g.eventType,
      value: g.value === undefined ? undefined : g.value.json,
      unit: g.unit,
      ts_device: g.ts === undefined ? undefined : g.ts === null ? null : g.ts.text,
      meta: g.meta,
    };
    const obj: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(g.extra)) Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
    for (const k of g.order) if (fields[k] !== undefined) obj[k] = fields[k];
    return {
      topicDeviceId: g.deviceId,
      payload: g.leading + JSON.stringify(obj, null, g.indent),
      expect: { eventId: g.eventId, deviceId: g.deviceId, eventType: g.eventType, value: g.value, unit: g.unit, ts: g.ts, meta: g.meta },
    };
  });

/** Any JSON value, including strings the stores cannot keep. */
const nastyString = fc.constantFrom('', '\u0000', 'a\u0000', '\ud800', '\udfff', 'x'.repeat(200), '😀', '1e3', '23.5', 'Infinity');
const anyJson = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }) },
  { weight: 2, arbitrary: nastyString },
);

const limitsArb: fc.Arbitrary<Partial<Limits>> = fc.oneof(
  fc.constant({}),
  fc.record(
    {
      maxPayloadBytes: fc.integer({ min: 64, max: 2048 }),
      maxMetaBytes: fc.integer({ min: 2, max: 200 }),
      maxMetaDepth: fc.integer({ min: 1, max: 4 }),
      maxIdLength: fc.integer({ min: 1, max: 16 }),
      maxValueTextLength: fc.integer({ min: 1, max: 16 }),
    },
    { requiredKeys: [] },
  ),
);

/** Objects with the known field names holding arbitrary (often wrong) values. */
const structuredArb = fc
  .record(
    {
      schema: fc.oneof(fc.constant(1), anyJson),
      event_id: fc.oneof(idArb, anyJson),
      device_id: fc.oneof(fc.constant(TOPIC_DEVICE), anyJson),
      event_type: fc.oneof(idArb, anyJson),
      value: fc.oneof(valueArb.map((v) => v?.json), anyJson),
      unit: fc.oneof(idArb, anyJson),
      ts_device: fc.oneof(tsArb.map((t) => t.text), anyJson),
      meta: fc.oneof(metaArb, anyJson),
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));

// ---------------------------------------------------------------- properties

describe('seed001 fuzz', () => {
  it('(a) random bytes never throw and are always classified', () => {
    const topics = fc.constantFrom<string | undefined>(TOPIC_DEVICE, undefined, 'other-device');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), topics, limitsArb, (bytes, topic, limits) => {
        const ctx = ctxOf(topic, limits);
        const r = decode(bytes, ctx);
        assertClassified(r, ctx);
        if (bytes.length <= ctx.limits.maxPayloadBytes) assert.equal(!r.ok && r.reason === 'invalid_utf8', !isValidUtf8(bytes), 'invalid_utf8 iff the bytes are not UTF-8');
      }),
      runs(4000),
    );
    // Bytes drawn mostly from JSON's alphabet reach the parser instead of stopping at invalid_utf8.
    const jsonish = fc
      .array(fc.oneof(fc.constantFrom(...'{}[]":,0123456789.eE+- \ntrufalsn\\u'.split('')), fc.constantFrom('"schema"', '"event_id"', '"device_id"', '"esp32-01"', '"meta"', '1')), { maxLength: 120 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(jsonish, topics, (text, topic) => {
        const ctx = ctxOf(topic);
        assertClassified(decode(text, ctx), ctx);
      }),
      runs(3000),
    );
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 4 }), structuredArb), topics, limitsArb, (text, topic, limits) => {
        const ctx = ctxOf(topic, limits);
        assertClassified(decode(text, ctx), ctx);
      }),
      runs(4000),
    );
  });

  it('(b) valid generated events decode and every field round-trips', () => {
    fc.assert(
      fc.property(validArb, ({ topicDeviceId, payload, expect }) => {
        const ctx = ctxOf(topicDeviceId);
        const r = decode(payload, ctx);
        if (!r.ok) assert.fail(`rejected ${r.reason}: ${r.message}`);
        assertClassified(r, ctx);
        const e = r.event;
        assert.equal(e.eventId, expect.eventId);
        assert.equal(e.deviceId, expect.deviceId);
        assert.equal(e.eventType, expect.eventType);
        assert.equal(e.schema, 1);
        assert.equal(e.valueNum, expect.value ? expect.value.num === null || !Number.isFinite(expect.value.num) ? null : expect.value.num : null);
        assert.equal(e.valueText, expect.value ? expect.value.text : null);
        assert.equal(e.unit, expect.unit ?? null);
        assert.equal(e.tsDevice, expect.ts ? expect.ts.ms : null, String(expect.ts?.text));
        if (expect.meta) {
          assert.equal(e.meta, JSON.stringify(expect.meta));
          assert.deepEqual(JSON.parse(e.meta), JSON.parse(JSON.stringify(expect.meta)));
        } else assert.equal(e.meta, '{}');
      }),
      runs(1500),
    );
  });

  it('(c) every truncation of a valid event is rejected, never thrown', () => {
    const check = (payload: Buffer, topicDeviceId: string) => {
      const ctx = ctxOf(topicDeviceId);
      assert.equal(decode(payload, ctx).ok, true);
      for (let len = 0; len < payload.length; len++) {
        const prefix = payload.subarray(0, len);
        const r = decode(prefix, ctx);
        assertClassified(r, ctx);
        assert.equal(r.ok, false, `prefix of ${len}/${payload.length} bytes was accepted`);
        if (!r.ok) assert.ok(r.reason === 'invalid_json' || r.reason === 'invalid_utf8', `prefix of ${len} bytes: ${r.reason}`);
        if (!r.ok && r.reason === 'invalid_utf8') assert.ok(!isValidUtf8(prefix));
      }
    };
    check(
      Buffer.from(
        '{"schema":1,"event_id":"esp32-01-1707523200000","device_id":"esp32-01","event_type":"temperature","value":23.5,"unit":"°C","ts_device":"2024-02-10T00:00:00Z","meta":{"sensor":"dht22","location":"living_room","icon":"🌡"}}',
      ),
      'esp32-01',
    );
    fc.assert(
      fc.property(validArb, ({ topicDeviceId, payload }) => check(Buffer.from(payload.trimEnd()), topicDeviceId)),
      runs(150),
    );
  });

  it('(d) byte mutations of valid events never throw and are classified', (t) => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...Buffer.from('{}[]":,\\0-e.'))) }),
      fc.record({ kind: fc.constant('delete' as const), pos: fc.nat() }),
      fc.record({ kind: fc.constant('replace' as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    const seen: Record<string, number> = {};
    fc.assert(
      fc.property(validArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), ({ topicDeviceId, payload }, muts) => {
        const bytes = [...Buffer.from(payload)];
        for (const m of muts) {
          const pos = bytes.length === 0 ? 0 : m.pos % (bytes.length + (m.kind === 'insert' ? 1 : 0));
          if (m.kind === 'flip' && bytes.length > 0) bytes[pos] ^= 1 << m.bit;
          else if (m.kind === 'insert') bytes.splice(pos, 0, m.byte);
          else if (m.kind === 'delete' && bytes.length > 0) bytes.splice(pos, 1);
          else if (m.kind === 'replace' && bytes.length > 0) bytes[pos] = m.byte;
        }
        const buf = Buffer.from(bytes);
        const ctx = ctxOf(topicDeviceId);
        const r = decode(buf, ctx);
        assertClassified(r, ctx);
        assert.equal(!r.ok && r.reason === 'invalid_utf8', !isValidUtf8(buf));
        seen[reasonOf(r)] = (seen[reasonOf(r)] ?? 0) + 1;
      }),
      runs(4000),
    );
    t.diagnostic(`outcomes: ${JSON.stringify(seen)}`);
    // The mutations must reach past the first checks, or this property tests little.
    for (const reason of ['ok', 'invalid_json', 'invalid_utf8']) assert.ok(seen[reason] > 0, `no mutation produced ${reason}`);
  });

  describe('(e) deep nesting', () => {
    const DEPTH = 10_000;
    const event = (extra: string) => `{"schema":1,"event_id":"e-1","device_id":"${TOPIC_DEVICE}","event_type":"t"${extra}}`;
    const arrays = (n: number, inner = '') => '['.repeat(n) + inner + ']'.repeat(n);
    const objects = (n: number, inner = '1') => '{"a":'.repeat(n) + inner + '}'.repeat(n);
    const cases: [string, string, ReasonCode | 'ok'][] = [
      ['top-level arrays', arrays(DEPTH), 'not_an_object'],
      ['top-level objects', objects(DEPTH), 'missing_field'],
      ['top-level unclosed arrays', '['.repeat(DEPTH), 'invalid_json'],
      ['top-level unclosed objects', '{"a":'.repeat(DEPTH), 'invalid_json'],
      ['top-level arrays, one closer missing', '['.repeat(DEPTH) + ']'.repeat(DEPTH - 1), 'invalid_json'],
      ['meta objects', event(`,"meta":${objects(DEPTH)}`), 'meta_too_large'],
      ['meta holding arrays', event(`,"meta":{"a":${arrays(DEPTH)}}`), 'meta_too_large'],
      ['meta as deep array', event(`,"meta":${arrays(DEPTH)}`), 'wrong_type'],
      ['meta unclosed', event(`,"meta":${'{"a":'.repeat(DEPTH)}`).slice(0, -1), 'invalid_json'],
      ['value', event(`,"value":${arrays(DEPTH)}`), 'wrong_type'],
      ['unit', event(`,"unit":${objects(DEPTH)}`), 'wrong_type'],
      ['ts_device', event(`,"ts_device":${arrays(DEPTH)}`), 'wrong_type'],
      ['schema', `{"schema":${arrays(DEPTH, '1')}}`, 'wrong_type'],
      ['event_id', `{"schema":1,"event_id":${objects(DEPTH)}}`, 'wrong_type'],
      ['unknown field (ignored)', event(`,"x":${arrays(DEPTH)},"y":${objects(DEPTH)}`), 'ok'],
    ];
    for (const [name, payload, expected] of cases) {
      it(`${DEPTH} levels: ${name} -> ${expected}`, () => {
        for (const limits of [{}, { maxPayloadBytes: 268_435_455, maxMetaDepth: 256 }]) {
          const ctx = ctxOf(TOPIC_DEVICE, limits);
          if (Buffer.byteLength(payload) > ctx.limits.maxPayloadBytes) continue;
          const r = decode(payload, ctx);
          assertClassified(r, ctx);
          assert.equal(reasonOf(r), expected, r.ok ? '' : r.message);
        }
      });
    }
    it('1,000,000 levels at the largest configurable payload limit', () => {
      const ctx = ctxOf(TOPIC_DEVICE, { maxPayloadBytes: 268_435_455, maxMetaDepth: 256 });
      const n = 1_000_000;
      assert.equal(reasonOf(decode(arrays(n), ctx)), 'not_an_object');
      assert.equal(reasonOf(decode(event(`,"meta":${objects(n)}`), ctx)), 'meta_too_large');
      assert.equal(reasonOf(decode(event(`,"x":${arrays(n)}`), ctx)), 'ok');
      assert.equal(reasonOf(decode('['.repeat(n), ctx)), 'invalid_json');
    });
    it('random mixed nesting of arrays and objects', () => {
      const shape = fc.record({
        kinds: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        where: fc.constantFrom('top', 'meta', 'value', 'extra'),
        closed: fc.boolean(),
      });
      fc.assert(
        fc.property(shape, ({ kinds, where, closed }) => {
          let open = '';
          let close = '';
          for (let i = 0; i < DEPTH; i++) {
            const obj = kinds[i % kinds.length];
            open += obj ? '{"k":' : '[';
            close = (obj ? '}' : ']') + close;
          }
          const nested = open + '0' + (closed ? close : '');
          const payload = where === 'top' ? nested : event(`,"${where === 'extra' ? 'x' : where}":${nested}`);
          const ctx = ctxOf(TOPIC_DEVICE, { maxPayloadBytes: 1 << 20 });
          const r = decode(payload, ctx);
          assertClassified(r, ctx);
          if (!closed) assert.equal(reasonOf(r), 'invalid_json');
        }),
        runs(40),
      );
    });
  });

  describe('(f) huge numbers and long digit strings', () => {
    const event = (fields: string) => `{"schema":1,"event_id":"e-1","device_id":"${TOPIC_DEVICE}","event_type":"t",${fields}}`;
    const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), minLength: min, maxLength: max });
    /** JSON number text with long parts: -?int(.frac)?(e±exp)? */
    const numberText = fc
      .record({
        neg: fc.boolean(),
        int: fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'.split('')), digits(0, 2000)).map(([a, b]) => a + b)),
        frac: fc.option(digits(1, 2000), { nil: undefined }),
        exp: fc.option(fc.tuple(fc.constantFrom('e', 'E', 'e+', 'e-', 'E-'), digits(1, 400)), { nil: undefined }),
      })
      .map(({ neg, int, frac, exp }) => `${neg ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}${exp === undefined ? '' : exp.join('')}`);

    it('value as a JSON number', () => {
      fc.assert(
        fc.property(numberText, (text) => {
          const ctx = ctxOf();
          const r = decode(event(`"value":${text}`), ctx);
          assertClassified(r, ctx);
          const n = JSON.parse(text) as number;
          if (Number.isFinite(n)) {
            assert.ok(r.ok, r.ok ? '' : r.message);
            if (r.ok) assert.equal(r.event.valueNum, n); // -0 stays -0, as JSON.parse reads it
          } else assert.equal(reasonOf(r), 'value_not_finite');
        }),
        runs(600),
      );
    });

    it('value as a long numeric string', () => {
      fc.assert(
        fc.property(numberText, fc.constantFrom('', 'x', ' ', '.', 'e', '-'), (text, suffix) => {
          const s = text + suffix;
          const ctx = ctxOf();
          const r = decode(event(`"value":${JSON.stringify(s)}`), ctx);
          assertClassified(r, ctx);
          if (s.length > ctx.limits.maxValueTextLength) return assert.equal(reasonOf(r), 'field_too_long');
          assert.ok(r.ok, r.ok ? '' : r.message);
          if (!r.ok) return;
          assert.equal(r.event.valueText, s);
          const numeric = suffix === '' || suffix === '.' && !/[.eE]/.test(text);
          const n = Number(s);
          assert.equal(r.event.valueNum, numeric && Number.isFinite(n) ? n : null, s.slice(0, 80));
        }),
        runs(600),
      );
    });

    it('numeric detection on a long value string stays linear (no regex backtracking)', () => {
      // The value text limit is configurable up to 16,777,216 characters. Each
      // case below takes well under 100 ms with a linear check; a quadratic one
      // needs seconds per message and stalls the whole ingest loop.
      const ctx = ctxOf(TOPIC_DEVICE, { maxValueTextLength: 1_000_000, maxPayloadBytes: 4_000_000 });
      for (const s of ['1'.repeat(60_000) + 'x', '1'.repeat(30_000) + '.' + '1'.repeat(30_000) + 'x', '.' + '1'.repeat(60_000) + 'x', '1e' + '1'.repeat(60_000) + 'x']) {
        const started = performance.now();
        const r = decode(event(`"value":"${s}"`), ctx);
        const ms = performance.now() - started;
        assert.ok(r.ok && r.event.valueNum === null && r.event.valueText === s);
        assert.ok(ms < 1000, `decoding a ${s.length}-character value took ${ms.toFixed(0)} ms`);
      }
      // At the default limit too: 4096 digits and a trailing letter.
      const started = performance.now();
      for (let i = 0; i < 20; i++) decode(event(`"value":"${'7'.repeat(4095)}x"`));
      const per = (performance.now() - started) / 20;
      assert.ok(per < 10, `a 4096-character value took ${per.toFixed(1)} ms to decode`);
    });

    it('schema as a huge number', () => {
      fc.assert(
        fc.property(numberText, (text) => {
          const ctx = ctxOf();
          const r = decode(`{"schema":${text},"event_id":"e-1","device_id":"${TOPIC_DEVICE}","event_type":"t"}`, ctx);
          assertClassified(r, ctx);
          const n = JSON.parse(text) as number;
          const expected = n === 1 ? 'ok' : Number.isInteger(n) ? 'unsupported_schema' : 'wrong_type';
          assert.equal(reasonOf(r), expected, text.slice(0, 80));
        }),
        runs(400),
      );
    });

    it('ts_device as a huge number or a long digit string', () => {
      fc.assert(
        fc.property(numberText, fc.boolean(), (text, asString) => {
          const ctx = ctxOf();
          const r = decode(event(`"ts_device":${asString ? JSON.stringify(text) : text}`), ctx);
          assertClassified(r, ctx);
          // A number is epoch seconds below 1e11, else milliseconds, and must land in 2000..9999.
          const n = JSON.parse(text) as number;
          const ms = n < 1e11 ? n * 1000 : n;
          const inWindow = Number.isFinite(n) && n >= 0 && Math.round(ms) >= NUM_MIN_MS && Math.round(ms) <= NUM_MAX_MS;
          assert.equal(reasonOf(r), asString || !inWindow ? 'invalid_timestamp' : 'ok', text.slice(0, 80));
        }),
        runs(400),
      );
      for (const ts of ['2024'.repeat(500) + '-02-10T00:00:00Z', '2024-02-10T00:00:00.' + '9'.repeat(5000) + 'Z', '2024-02-10T00:00:00+' + '0'.repeat(5000)]) {
        assert.equal(reasonOf(decode(event(`"ts_device":"${ts}"`))), 'invalid_timestamp');
      }
    });

    it('ids and meta holding huge numbers', () => {
      fc.assert(
        fc.property(numberText, (text) => {
          const ctx = ctxOf();
          assert.equal(reasonOf(decode(`{"schema":1,"event_id":${text},"device_id":"${TOPIC_DEVICE}","event_type":"t"}`, ctx)), 'wrong_type');
          const r = decode(event(`"meta":{"n":${text}}`), ctx);
          assertClassified(r, ctx);
          const n = JSON.parse(text) as number;
          if (!Number.isFinite(n)) assert.equal(reasonOf(r), 'value_not_finite');
          else if (r.ok) assert.equal(JSON.parse(r.event.meta).n, JSON.parse(JSON.stringify(n))); // JSON text has no -0
          else assert.equal(reasonOf(r), 'meta_too_large'); // only when the number text is longer than maxMetaBytes
        }),
        runs(300),
      );
    });
  });

  describe('(g) invalid UTF-8 is always invalid_utf8', () => {
    const BAD: [string, number[]][] = [
      ['lone continuation 80', [0x80]],
      ['lone continuation BF', [0xbf]],
      ['continuations 80 80', [0x80, 0x80]],
      ['overlong "/" C0 AF', [0xc0, 0xaf]],
      ['overlong NUL C0 80', [0xc0, 0x80]],
      ['overlong C1 BF', [0xc1, 0xbf]],
      ['overlong E0 80 AF', [0xe0, 0x80, 0xaf]],
      ['overlong E0 9F BF', [0xe0, 0x9f, 0xbf]],
      ['overlong F0 80 80 AF', [0xf0, 0x80, 0x80, 0xaf]],
      ['overlong F0 8F BF BF', [0xf0, 0x8f, 0xbf, 0xbf]],
      ['surrogate ED A0 80', [0xed, 0xa0, 0x80]],
      ['surrogate ED AD BF', [0xed, 0xad, 0xbf]],
      ['surrogate ED B0 80', [0xed, 0xb0, 0x80]],
      ['surrogate ED BF BF', [0xed, 0xbf, 0xbf]],
      ['CESU-8 pair', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
      ['above U+10FFFF F4 90 80 80', [0xf4, 0x90, 0x80, 0x80]],
      ['F5 lead', [0xf5, 0x80, 0x80, 0x80]],
      ['F8 five-byte form', [0xf8, 0x88, 0x80, 0x80, 0x80]],
      ['FC six-byte form', [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80]],
      ['FE', [0xfe]],
      ['FF', [0xff]],
      ['truncated 2-byte C3', [0xc3]],
      ['truncated 3-byte E2 82', [0xe2, 0x82]],
      ['truncated 4-byte F0 9F 98', [0xf0, 0x9f, 0x98]],
      ['lead then ASCII C3 41', [0xc3, 0x41]],
      ['latin-1 é', [0xe9]],
    ];
    const base = Buffer.from(
      '{"schema":1,"event_id":"é-1","device_id":"esp32-01","event_type":"température","value":"ok €","unit":"°C","ts_device":"2024-02-10T00:00:00Z","meta":{"k":"😀"}}',
    );
    /** Byte offsets where a character starts (or the end), so an insertion never splits a valid sequence. */
    const boundaries = [...Array(base.length + 1).keys()].filter((i) => i === base.length || (base[i] & 0xc0) !== 0x80);

    for (const [name, seq] of BAD) {
      it(`${name} at every character boundary`, () => {
        assert.equal(isValidUtf8(Buffer.from(seq)), false, `${name} is itself valid UTF-8`);
        for (const at of boundaries) {
          const payload = Buffer.concat([base.subarray(0, at), Buffer.from(seq), base.subarray(at)]);
          const ctx = ctxOf();
          const r = decode(payload, ctx);
          assertClassified(r, ctx);
          assert.equal(reasonOf(r), 'invalid_utf8', `${name} inserted at byte ${at}`);
        }
      });
    }

    it('random invalid sequences inside valid events', () => {
      fc.assert(
        fc.property(validArb, fc.array(fc.constantFrom(...BAD.map(([, s]) => s)), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), ({ topicDeviceId, payload }, seqs, where) => {
          let buf = Buffer.from(payload);
          seqs.forEach((seq, i) => {
            const cuts = [...Array(buf.length + 1).keys()].filter((j) => j === buf.length || (buf[j] & 0xc0) !== 0x80);
            const at = cuts[where[i] % cuts.length];
            buf = Buffer.concat([buf.subarray(0, at), Buffer.from(seq), buf.subarray(at)]);
          });
          const ctx = ctxOf(topicDeviceId);
          const r = decode(buf, ctx);
          assertClassified(r, ctx);
          assert.equal(reasonOf(r), 'invalid_utf8');
        }),
        runs(800),
      );
    });
  });
});

/**
 * Golden tests for the line-protocol codec: every folder under `testdata/`
 * holds the body as `input.txt` (default options: precision ns) or as
 * `input.json` (`body` plus options: precision, deviceTag, fallbackDeviceTags,
 * defaultDevice, eventTypeTemplate, limits), and `expected.json` with every
 * event (line and all TelemetryEvent fields) and every error (line, reason,
 * text, message). `about` says what a case shows.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS, type Limits } from '../../core/config.js';
import { ALL_REASON_CODES } from '../../core/errors.js';
import type { TelemetryEvent } from '../../core/event.js';
import { collectDecode } from '../collect.js';
import { LineProtocolCodec, lineProtocolEventId, parseLineProtocol, parsePrecision, type LineProtocolOptions, type LineProtocolResult } from './index.js';

const TESTDATA = new URL('./testdata/', import.meta.url);
const RECEIVED_AT = 1_707_523_201_234;
const KNOWN_REASONS: string[] = [...ALL_REASON_CODES];
/** Every reason this codec can give; each needs a golden case. */
const CODEC_REASONS = ['invalid_line_protocol', 'missing_field', 'field_too_long', 'invalid_string', 'value_not_finite', 'invalid_timestamp', 'meta_too_large'];
const EVENT_KEYS = ['eventId', 'deviceId', 'schema', 'eventType', 'valueNum', 'valueText', 'unit', 'tsDevice', 'tsServer', 'meta'];
const INPUT_KEYS = ['about', 'body', 'precision', 'deviceTag', 'fallbackDeviceTags', 'defaultDevice', 'eventTypeTemplate', 'limits'];

interface GoldenInput {
  about?: string;
  body: string;
  precision?: string;
  deviceTag?: string;
  fallbackDeviceTags?: string[];
  defaultDevice?: string;
  eventTypeTemplate?: 'measurement.field' | 'field';
  limits?: Partial<Limits>;
}

interface GoldenExpected {
  about: string;
  events: Array<{ line: number; event: TelemetryEvent }>;
  errors: Array<{ line: number; reason: string; text: string; message: string }>;
}

interface GoldenCase {
  name: string;
  input: GoldenInput;
  fromText: boolean;
  expected: GoldenExpected;
}

function loadCases(): GoldenCase[] {
  const names = readdirSync(TESTDATA)
    .filter((n) => statSync(new URL(`${n}/`, TESTDATA)).isDirectory())
    .sort();
  return names.map((name) => {
    const file = (f: string) => new URL(`${name}/${f}`, TESTDATA);
    const hasTxt = existsSync(file('input.txt'));
    const hasJson = existsSync(file('input.json'));
    assert.ok(hasTxt !== hasJson, `${name}: needs exactly one of input.txt and input.json`);
    const input: GoldenInput = hasTxt ? { body: readFileSync(file('input.txt'), 'utf8') } : JSON.parse(readFileSync(file('input.json'), 'utf8'));
    return { name, input, fromText: hasTxt, expected: JSON.parse(readFileSync(file('expected.json'), 'utf8')) as GoldenExpected };
  });
}

function optionsOf(input: GoldenInput): LineProtocolOptions {
  for (const key of Object.keys(input)) assert.ok(INPUT_KEYS.includes(key), `unknown input key "${key}"`);
  for (const key of Object.keys(input.limits ?? {})) assert.ok(key in DEFAULT_LIMITS, `unknown limit "${key}"`);
  return {
    precision: input.precision ?? 'ns',
    receivedAt: RECEIVED_AT,
    deviceTag: input.deviceTag,
    fallbackDeviceTags: input.fallbackDeviceTags,
    defaultDevice: input.defaultDevice,
    eventTypeTemplate: input.eventTypeTemplate,
    limits: { ...DEFAULT_LIMITS, ...input.limits },
  };
}

const cases = loadCases();

function parse(body: string, opts: Partial<LineProtocolOptions> = {}): LineProtocolResult {
  return parseLineProtocol(body, { precision: 'ns', receivedAt: RECEIVED_AT, limits: DEFAULT_LIMITS, ...opts });
}

describe('line-protocol golden cases', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(typeof c.input.body, 'string', 'input.json needs a "body" string');
      assert.deepEqual(Object.keys(c.expected).sort(), ['about', 'errors', 'events'], 'expected.json has about, events, errors');
      let r: LineProtocolResult | undefined;
      assert.doesNotThrow(() => {
        r = parseLineProtocol(c.input.body, optionsOf(c.input));
      });
      for (const e of c.expected.events) assert.deepEqual(Object.keys(e.event), EVENT_KEYS, 'an expected event lists every TelemetryEvent field, in order');
      assert.deepEqual(r!.events, c.expected.events);
      assert.deepEqual(r!.errors, c.expected.errors);
      for (const e of r!.events) assert.ok(!Object.is(e.event.valueNum, -0), 'no -0');
      for (const e of r!.errors) {
        assert.ok(KNOWN_REASONS.includes(e.reason), `unknown reason ${e.reason}`);
        assert.ok(e.message.length > 0 && !/[\u0000\n\r]/.test(e.message) && e.message.isWellFormed(), 'messages are one clean line');
      }
    });
  }

  // The codec the ingest path runs gives the parser's results: one event per
  // field (with its line's bytes), one rejection per bad line (`line N: ` before
  // its message, its text as the dead letter's bytes). Bodies that UTF-8 cannot
  // carry (lone surrogates) reach the codec only as bytes, so they are left out.
  for (const c of cases.filter((x) => x.input.body.isWellFormed())) {
    it(`${c.name} (through the codec)`, () => {
      const o = optionsOf(c.input);
      const codec = new LineProtocolCodec({ deviceTag: o.deviceTag ?? 'device', fallbackDeviceTags: o.fallbackDeviceTags ?? ['host'], eventType: o.eventTypeTemplate ?? 'measurement.field', precision: 'ns' });
      const body = Buffer.from(c.input.body, 'utf8');
      const d = collectDecode(codec, body, { topicDeviceId: o.defaultDevice, receivedAt: RECEIVED_AT, limits: o.limits, contentType: '', precision: o.precision });
      assert.deepEqual(d.events.map((e) => ({ line: e.part, event: e.event })), c.expected.events);
      const lines = c.input.body.split('\n');
      for (const e of d.events) assert.equal(e.raw.toString(), lines[e.part - 1].replace(/\r$/, ''), 'an event keeps its line as its raw bytes');
      assert.deepEqual(
        d.rejections.map((r) => ({ line: r.part, reason: r.reason, text: r.raw.toString(), message: r.message })),
        c.expected.errors.map((e) => ({ line: e.line, reason: e.reason, text: e.text, message: `line ${e.line}: ${e.message}` })),
      );
    });
  }

  it('has at least 60 cases, from both input forms', () => {
    assert.ok(cases.length >= 60, `only ${cases.length} golden cases`);
    assert.ok(cases.some((c) => c.fromText) && cases.some((c) => !c.fromText));
  });

  it('covers every reason the codec gives, and no unknown one', () => {
    const seen = new Set(cases.flatMap((c) => c.expected.errors.map((e) => e.reason)));
    for (const reason of seen) assert.ok(KNOWN_REASONS.includes(reason), `golden case uses unknown reason "${reason}"`);
    assert.deepEqual(CODEC_REASONS.filter((r) => !seen.has(r)), [], 'reasons without a golden case');
  });

  it('covers every precision spelling', () => {
    const seen = new Set(cases.map((c) => c.input.precision ?? 'ns'));
    for (const p of ['ns', 'n', 'us', 'u', 'ms', 's', 'm', 'h']) assert.ok(seen.has(p), `no golden case with precision ${p}`);
  });

  it('covers every field type and a mixed body', () => {
    const all = cases.flatMap((c) => c.expected.events.map((e) => e.event));
    assert.ok(all.some((e) => e.valueText !== null && e.valueNum === null), 'string');
    assert.ok(all.some((e) => e.valueText !== null && e.valueNum !== null), 'big integer');
    assert.ok(cases.some((c) => c.expected.events.length > 0 && c.expected.errors.length > 0), 'mixed valid and invalid lines');
  });
});

describe('line-protocol event ids', () => {
  const sha1Id = (s: string) => `lp:${createHash('sha1').update(s, 'utf8').digest('base64url').slice(0, 22)}`;

  it('follow the documented formula: lp: + 22 base64url chars of SHA-1(measurement NUL (key NUL value NUL)* field NUL nanoseconds)', () => {
    const r = parse('cpu,host=web-1,cpu=cpu0 usage_idle=97.5,usage_user=1 1707523200123456789\n');
    assert.equal(r.events[0].event.eventId, sha1Id('cpu\0cpu\0cpu0\0host\0web-1\0usage_idle\u00001707523200123456789'));
    assert.equal(r.events[1].event.eventId, sha1Id('cpu\0cpu\0cpu0\0host\0web-1\0usage_user\u00001707523200123456789'));
    assert.equal(r.events[0].event.eventId, lineProtocolEventId('cpu', [['cpu', 'cpu0'], ['host', 'web-1']], 'usage_idle', '1707523200123456789'));
    assert.match(r.events[0].event.eventId, /^lp:[A-Za-z0-9_-]{22}$/);
  });

  it('use the unescaped names', () => {
    const r = parse('my\\ m,host=a\\,b f\\=1=1 5\n');
    assert.equal(r.events[0].event.eventId, sha1Id('my m\0host\0a,b\0f=1\u00005'));
  });

  it('a retried write gives the same ids whatever the receive time', () => {
    const body = 'cpu,host=a v=1,w=2 1707523200000000000\nmem,host=a used=3i 1707523200000000000\n';
    const a = parse(body, { receivedAt: 1 });
    const b = parse(body, { receivedAt: 999_999 });
    assert.deepEqual(
      a.events.map((e) => e.event.eventId),
      b.events.map((e) => e.event.eventId),
    );
    assert.equal(new Set(a.events.map((e) => e.event.eventId)).size, 3, 'fields of a line have distinct ids');
  });

  it('without a timestamp the receive time is hashed, so retries are not idempotent', () => {
    const a = parse('cpu,host=a v=1\n', { receivedAt: 1_707_523_200_000 });
    const b = parse('cpu,host=a v=1\n', { receivedAt: 1_707_523_200_001 });
    assert.notEqual(a.events[0].event.eventId, b.events[0].event.eventId);
    assert.equal(a.events[0].event.eventId, sha1Id('cpu\0host\0a\0v\u00001707523200000000000'));
    assert.equal(a.events[0].event.tsDevice, 1_707_523_200_000);
  });

  it('the same instant in any precision gives the same ids', () => {
    const ids = [
      ['ns', '1707523200000000000'],
      ['us', '1707523200000000'],
      ['ms', '1707523200000'],
      ['s', '1707523200'],
      ['m', '28458720'],
      ['h', '474312'],
    ].map(([precision, ts]) => {
      const r = parse(`cpu,host=a v=1 ${ts}\n`, { precision });
      assert.equal(r.events[0].event.tsDevice, 1_707_523_200_000, precision);
      return r.events[0].event.eventId;
    });
    assert.equal(new Set(ids).size, 1);
    const neg = ['ns', 'us', 'ms', 's', 'm', 'h'].map((precision) => parse(`cpu,host=a v=1 -${{ ns: '3600000000000', us: '3600000000', ms: '3600000', s: '3600', m: '60', h: '1' }[precision]}\n`, { precision }).events[0].event);
    assert.equal(new Set(neg.map((e) => e.eventId)).size, 1);
    assert.ok(neg.every((e) => e.tsDevice === -3_600_000));
  });

  it('differ by field, tag value, measurement and time', () => {
    const r = parse(['m,host=a v=1 1', 'm,host=a w=1 1', 'm,host=b v=1 1', 'n,host=a v=1 1', 'm,host=a v=1 2', 'm,host=a,x=y v=1 1'].join('\n'));
    assert.equal(new Set(r.events.map((e) => e.event.eventId)).size, 6);
  });
});

describe('line-protocol options', () => {
  it('parsePrecision knows the v2 and v1 names, nothing else', () => {
    for (const [name, canonical] of [
      ['', 'ns'],
      ['ns', 'ns'],
      ['n', 'ns'],
      ['us', 'us'],
      ['u', 'us'],
      ['ms', 'ms'],
      ['s', 's'],
      ['m', 'm'],
      ['h', 'h'],
    ]) {
      assert.equal(parsePrecision(name)?.name, canonical, name);
    }
    for (const bad of ['NS', 'sec', 'seconds', 'mn', 'd', ' s', 'toString', '__proto__', 'hasOwnProperty']) assert.equal(parsePrecision(bad), undefined, bad);
  });

  it('an unknown precision is an error on every point, never a throw', () => {
    const r = parse('a,host=h v=1\n# c\nb,host=h v=2 5\n', { precision: '__proto__' });
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.reason]),
      [
        [1, 'invalid_line_protocol'],
        [3, 'invalid_line_protocol'],
      ],
    );
    assert.equal(r.events.length, 0);
  });

  it('the tag that gave the device id is left out of meta; the others stay', () => {
    const r = parse('m,device=d,host=h,zone=z v=1 1\n');
    assert.equal(r.events[0].event.meta, '{"measurement":"m","host":"h","zone":"z"}');
    const h = parse('m,host=h,zone=z v=1 1\n');
    assert.equal(h.events[0].event.meta, '{"measurement":"m","zone":"z"}');
    const d = parse('m,zone=z v=1 1\n', { defaultDevice: 'g' });
    assert.equal(d.events[0].event.meta, '{"measurement":"m","zone":"z"}');
  });

  it('meta is valid JSON of strings even with quotes, backslashes and control characters in tags', () => {
    const r = parse('m,host=h,k"ey=va\\lue\\"\tx v=1 1\n');
    assert.deepEqual(JSON.parse(r.events[0].event.meta), { measurement: 'm', 'k"ey': 'va\\lue\\"\tx' });
  });

  it('tiny limits give errors, never throws', () => {
    const limits: Limits = { maxPayloadBytes: 1, maxMetaBytes: 1, maxMetaDepth: 1, maxIdLength: 1, maxValueTextLength: 0 };
    const r = parse('m,host=h v=1 1\nm,host=h s="" 1\n', { limits });
    assert.equal(r.events.length, 0);
    assert.equal(r.errors.length, 2);
  });

  it('an empty defaultDevice counts as none', () => {
    assert.equal(parse('m v=1\n', { defaultDevice: '' }).errors[0].reason, 'missing_field');
  });

  it('a default device with a NUL is refused as invalid_string', () => {
    assert.equal(parse('m v=1\n', { defaultDevice: 'a\0' }).errors[0].reason, 'invalid_string');
  });

  it('a line with thousands of fields (and duplicates) stays linear and keeps the last value', () => {
    const fields = Array.from({ length: 20_000 }, (_, k) => `f${k % 10_000}=${k}i`).join(',');
    const t0 = performance.now();
    const r = parse(`m,host=h ${fields} 1\n`);
    assert.ok(performance.now() - t0 < 2000, 'took too long');
    assert.equal(r.events.length, 10_000);
    assert.equal(r.events[0].event.valueNum, 10_000);
    assert.equal(r.events[9_999].event.eventType, 'm.f9999');
    assert.equal(r.events[9_999].event.valueNum, 19_999);
  });
});

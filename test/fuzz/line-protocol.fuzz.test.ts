/**
 * Property tests for the line-protocol codec (`parseLineProtocol`): whatever
 * text arrives it never throws, every line that holds a point ends as events
 * or as one error, every event is storable as is, and valid points written by
 * an escaping serializer (below) come back exactly.
 *
 * Runs are reproducible: the seed is fixed (override with
 * TELEHUB_TEST_FUZZ_SEED) and TELEHUB_TEST_FUZZ_SCALE multiplies every numRuns
 * (e.g. 10 for a longer soak).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { lineProtocolEventId, parseLineProtocol, type LineProtocolOptions, type LineProtocolResult } from '../../src/codecs/line-protocol/index.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/core/config.js';
import { ALL_REASON_CODES } from '../../src/core/errors.js';

const SEED = Number(process.env.TELEHUB_TEST_FUZZ_SEED ?? 0x11e9f07);
const SCALE = Number(process.env.TELEHUB_TEST_FUZZ_SCALE ?? 1);
const runs = (n: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(n * SCALE)) });

const RECEIVED_AT = 1_707_523_201_234;
const KNOWN_REASONS: string[] = [...ALL_REASON_CODES];

// ---------------------------------------------------------------- helpers

function optsOf(o: Partial<LineProtocolOptions> = {}): LineProtocolOptions {
  return { precision: 'ns', receivedAt: RECEIVED_AT, limits: DEFAULT_LIMITS, ...o };
}

/** Parses and turns an escaping exception into a clear assertion failure. */
function parse(body: string, opts: LineProtocolOptions = optsOf()): LineProtocolResult {
  try {
    return parseLineProtocol(body, opts);
  } catch (err) {
    const e = err as Error;
    assert.fail(`parseLineProtocol threw ${e?.name}: ${e?.message} (body ${body.length} chars: ${JSON.stringify(body.slice(0, 200))})`);
  }
}

const storable = (s: string) => !s.includes('\u0000') && s.isWellFormed();

interface PhysicalLine {
  text: string;
  /** Holds a point: not blank, not a comment. */
  candidate: boolean;
}

function physicalLines(body: string): PhysicalLine[] {
  if (body.length === 0) return [];
  const parts = body.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts.map((raw) => {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const lead = text.replace(/^[ \t]*/, '');
    return { text, candidate: lead.length > 0 && !lead.startsWith('#') };
  });
}

/**
 * Checks the outcome is classified: storable events within limits, known
 * errors with clean messages, and every line holding a point accounted for.
 */
function assertClassified(body: string, r: LineProtocolResult, opts: LineProtocolOptions): void {
  const { limits } = opts;
  for (const { event: e } of r.events) {
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
    assert.match(e.eventId, /^lp:[A-Za-z0-9_-]{22}$/);
    assert.equal(e.schema, 1);
    assert.equal(e.unit, null);
    assert.ok(e.valueNum === null || (Number.isFinite(e.valueNum) && !Object.is(e.valueNum, -0)), `valueNum ${e.valueNum}`);
    if (e.valueText !== null) {
      assert.ok(e.valueText.length <= limits.maxValueTextLength, 'valueText longer than maxValueTextLength');
      assert.ok(storable(e.valueText), 'valueText holds NUL or a lone surrogate');
    }
    assert.ok(e.valueNum !== null || e.valueText !== null, 'an event carries a value');
    assert.ok(Number.isSafeInteger(e.tsDevice), `tsDevice ${e.tsDevice}`);
    assert.equal(e.tsServer, opts.receivedAt);
    assert.ok(Buffer.byteLength(e.meta) <= limits.maxMetaBytes, 'meta larger than maxMetaBytes');
    assert.ok(storable(e.meta));
    const meta = JSON.parse(e.meta) as Record<string, unknown>;
    assert.ok(meta !== null && typeof meta === 'object' && !Array.isArray(meta));
    assert.equal(typeof meta.measurement, 'string');
    for (const v of Object.values(meta)) assert.equal(typeof v, 'string');
  }
  for (const err of r.errors) {
    assert.ok(KNOWN_REASONS.includes(err.reason), `unknown reason ${err.reason}`);
    assert.ok(err.message.length > 0);
    assert.ok(!/[\u0000\n\r]/.test(err.message) && err.message.isWellFormed(), `message is not one clean line: ${JSON.stringify(err.message)}`);
    assert.ok(!err.message.startsWith('internal error'), err.message);
    assert.equal(typeof err.text, 'string');
  }

  // Every line holding a point ends as events or one error, and nothing else does.
  const lines = physicalLines(body);
  const eventLines = new Set(r.events.map((e) => e.line));
  const errorLines = r.errors.map((e) => e.line);
  assert.equal(new Set(errorLines).size, errorLines.length, 'one error per point');
  for (const l of errorLines) assert.ok(!eventLines.has(l), `line ${l} has both events and an error`);
  const outcome = new Set([...eventLines, ...errorLines]);
  for (const l of outcome) assert.ok(l >= 1 && l <= lines.length && lines[l - 1].candidate, `outcome on line ${l}, which holds no point`);
  const sorted = [...outcome].sort((a, b) => a - b);
  lines.forEach((pl, k) => {
    const l = k + 1;
    if (!pl.candidate || outcome.has(l)) return;
    // Only a string value with raw newlines lets a point span lines: this
    // line must continue a point that began on an earlier line with a quote.
    const start = sorted.filter((x) => x < l).pop();
    assert.ok(start !== undefined && lines[start - 1].text.includes('"'), `line ${l} (${JSON.stringify(pl.text.slice(0, 80))}) has no outcome`);
  });
  if (!body.includes('"')) {
    const candidates = lines.flatMap((pl, k) => (pl.candidate ? [k + 1] : []));
    assert.deepEqual(sorted, candidates, 'without quotes every line holding a point has exactly one outcome');
  }
  // Events keep body order.
  for (let k = 1; k < r.events.length; k++) assert.ok(r.events[k - 1].line <= r.events[k].line);
}

// ---------------------------------------------------------------- a serializer with InfluxDB's escaping

const escapeMeasurement = (s: string) => s.replace(/[, ]/g, (c) => `\\${c}`);
const escapeKey = (s: string) => s.replace(/[,= ]/g, (c) => `\\${c}`);
const escapeString = (s: string) => s.replace(/["\\]/g, (c) => `\\${c}`);

type GenValue =
  | { kind: 'float'; v: number }
  | { kind: 'int'; v: bigint }
  | { kind: 'uint'; v: bigint }
  | { kind: 'bool'; v: boolean; spelling: string }
  | { kind: 'string'; v: string };

function serializeValue(g: GenValue): string {
  switch (g.kind) {
    case 'float':
      return String(g.v);
    case 'int':
      return `${g.v}i`;
    case 'uint':
      return `${g.v}u`;
    case 'bool':
      return g.spelling;
    case 'string':
      return `"${escapeString(g.v)}"`;
  }
}

function expectedValue(g: GenValue): { num: number | null; text: string | null } {
  switch (g.kind) {
    case 'float':
      return { num: g.v === 0 ? 0 : g.v, text: null };
    case 'int':
    case 'uint': {
      const n = Number(g.v);
      return { num: n === 0 ? 0 : n, text: Number.isSafeInteger(n) ? null : g.v.toString() };
    }
    case 'bool':
      return { num: g.v ? 1 : 0, text: null };
    case 'string':
      return { num: null, text: g.v };
  }
}

const PRECISIONS = {
  ns: 1n,
  n: 1n,
  us: 1_000n,
  u: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
} as const;
type PrecisionName = keyof typeof PRECISIONS;
const MAX_NS = 9_223_372_036_854_775_806n;

const floorDiv = (n: bigint, d: bigint) => {
  const q = n / d;
  return n % d !== 0n && n < 0n ? q - 1n : q;
};

// Names: InfluxDB's special characters weighted up; never empty, never ending
// in a backslash (it would escape the separator), no line breaks, no NUL.
const nameChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...'abcdefxyz_019-./:'.split('')) },
  { weight: 3, arbitrary: fc.constantFrom(',', '=', ' ', '\\', '"', '#', '\t', "'") },
  { weight: 1, arbitrary: fc.constantFrom('é', 'µ', '°', '😀', '\u00a0', '中') },
);
const nameArb = (maxLength: number) =>
  fc
    .array(nameChar, { minLength: 1, maxLength })
    .map((cs) => cs.join(''))
    .filter((s) => !s.endsWith('\\') && storable(s));
const measurementArb = nameArb(12).filter((s) => !s.startsWith('#') && !s.startsWith('\t'));

const stringValueArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 3, arbitrary: fc.array(fc.constantFrom('a', ' ', ',', '=', '"', '\\', 'n', '\t', '#', 'é'), { maxLength: 12 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('a', '\n', '\r\n', '"', '\\', ' '), { maxLength: 8 }).map((a) => a.join('')) },
).filter(storable);

const valueArb: fc.Arbitrary<GenValue> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => ({ kind: 'float' as const, v })),
  fc.integer({ min: -1000, max: 1000 }).map((v) => ({ kind: 'float' as const, v })),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => ({ kind: 'int' as const, v })),
  fc.bigInt({ min: -10n, max: 10n }).map((v) => ({ kind: 'int' as const, v })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ kind: 'uint' as const, v })),
  fc.constantFrom('t', 'T', 'true', 'True', 'TRUE', 'f', 'F', 'false', 'False', 'FALSE').map((spelling) => ({ kind: 'bool' as const, v: 'tT'.includes(spelling[0]), spelling })),
  stringValueArb.map((v) => ({ kind: 'string' as const, v })),
);

interface GenPoint {
  measurement: string;
  device: string;
  tags: Array<[string, string]>;
  fields: Array<[string, GenValue]>;
  ts: bigint | null;
  sep1: string;
  sep2: string;
  lead: string;
  trail: string;
}

const pointArb = (precision: PrecisionName): fc.Arbitrary<GenPoint> => {
  const maxTs = MAX_NS / PRECISIONS[precision];
  return fc.record({
    measurement: measurementArb,
    device: nameArb(16),
    tags: fc.uniqueArray(fc.tuple(nameArb(8), nameArb(10)), { maxLength: 4, selector: ([k]) => k }).map((ts) => ts.filter(([k]) => k !== 'device' && k !== 'measurement')),
    fields: fc.uniqueArray(fc.tuple(nameArb(8), valueArb), { minLength: 1, maxLength: 5, selector: ([k]) => k }),
    ts: fc.option(fc.oneof(fc.bigInt({ min: -maxTs, max: maxTs }), fc.constantFrom(0n, maxTs, -maxTs, 1n, -1n)), { nil: null }),
    sep1: fc.constantFrom(' ', '  ', '   '),
    sep2: fc.constantFrom(' ', '  ', ' \t'),
    lead: fc.constantFrom('', '', ' ', '\t '),
    trail: fc.constantFrom('', '', ' ', ' \t'),
  });
};

/** The point as a line, with the device tag at a random place among the tags. */
function serializePoint(p: GenPoint, devicePos: number): string {
  const tags = [...p.tags];
  tags.splice(devicePos % (tags.length + 1), 0, ['device', p.device]);
  let s = p.lead + escapeMeasurement(p.measurement);
  for (const [k, v] of tags) s += `,${escapeKey(k)}=${escapeKey(v)}`;
  s += p.sep1 + p.fields.map(([k, v]) => `${escapeKey(k)}=${serializeValue(v)}`).join(',');
  if (p.ts !== null) s += p.sep2 + p.ts.toString();
  return s + p.trail;
}

function assertRoundTrip(p: GenPoint, line: number, got: LineProtocolResult['events'], precision: PrecisionName): void {
  assert.equal(got.length, p.fields.length, 'one event per field');
  const sortedTags = [...p.tags, ['device', p.device] as [string, string]].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const meta = `{"measurement":${JSON.stringify(p.measurement)}${sortedTags
    .filter(([k]) => k !== 'device')
    .map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join('')}}`;
  const nanos = p.ts === null ? BigInt(RECEIVED_AT) * 1_000_000n : p.ts * PRECISIONS[precision];
  const tsDevice = p.ts === null ? RECEIVED_AT : Number(floorDiv(nanos, 1_000_000n));
  p.fields.forEach(([key, value], k) => {
    const { line: l, event: e } = got[k];
    assert.equal(l, line, 'line number');
    assert.equal(e.eventType, `${p.measurement}.${key}`);
    assert.equal(e.deviceId, p.device);
    const want = expectedValue(value);
    assert.equal(e.valueNum, want.num, `valueNum of ${serializeValue(value)}`);
    assert.equal(e.valueText, want.text, `valueText of ${serializeValue(value)}`);
    assert.equal(e.tsDevice, tsDevice === 0 ? 0 : tsDevice);
    assert.equal(e.tsServer, RECEIVED_AT);
    assert.equal(e.meta, meta);
    assert.equal(e.eventId, lineProtocolEventId(p.measurement, sortedTags, key, nanos.toString()));
  });
}

interface GenBody {
  precision: PrecisionName;
  points: GenPoint[];
  body: string;
  lines: number[];
}

/** Several valid points with comments and blank lines between them, LF or CRLF. */
const bodyArb: fc.Arbitrary<GenBody> = fc.constantFrom(...(Object.keys(PRECISIONS) as PrecisionName[])).chain((precision) =>
  fc
    .record({
      points: fc.array(fc.tuple(pointArb(precision), fc.nat(), fc.constantFrom('', '', '# comment, with "quotes"\n', '\n', '  \t\n')), { minLength: 1, maxLength: 5 }),
      eol: fc.constantFrom('\n', '\r\n'),
      finalEol: fc.boolean(),
    })
    .map(({ points, eol, finalEol }) => {
      let body = '';
      let line = 1;
      const lines: number[] = [];
      points.forEach(([p, devicePos, between], k) => {
        if (between !== '') {
          body += between.replace('\n', eol);
          line++;
        }
        lines.push(line);
        const text = serializePoint(p, devicePos);
        line += text.split('\n').length; // raw newlines inside string values
        body += text;
        if (k < points.length - 1 || finalEol) body += eol;
      });
      return { precision, points: points.map(([p]) => p), body, lines };
    }),
);

// ---------------------------------------------------------------- properties

describe('line-protocol fuzz', () => {
  it('(a) random text never throws and every line is accounted for', () => {
    const lpChars = fc.constantFrom(...'abc ,=\\"\n\r\t#-.0123456789eEiutTfF'.split(''), 'cpu', 'host=a', 'device=d', ' v=1', '1707523200000000000', '"x"', '\r\n', '\u0000', '\ud800');
    const lpText = fc.array(lpChars, { maxLength: 80 }).map((a) => a.join(''));
    const anyOpts = fc.record({
      precision: fc.constantFrom('ns', 'us', 'ms', 's', 'm', 'h', 'n', 'u', '', 'bogus'),
      defaultDevice: fc.constantFrom(undefined, 'gw', ''),
      eventTypeTemplate: fc.constantFrom(undefined, 'field' as const),
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 200 }), lpText), anyOpts, (body, o) => {
        const opts = optsOf(o);
        assertClassified(body, parse(body, opts), opts);
      }),
      runs(4000),
    );
  });

  it('(b) valid generated points round-trip through the escaping serializer', () => {
    fc.assert(
      fc.property(bodyArb, ({ precision, points, body, lines }) => {
        const opts = optsOf({ precision });
        const r = parse(body, opts);
        assert.deepEqual(r.errors, [], `errors for ${JSON.stringify(body)}`);
        assertClassified(body, r, opts);
        let at = 0;
        points.forEach((p, k) => {
          assertRoundTrip(p, lines[k], r.events.slice(at, at + p.fields.length), precision);
          at += p.fields.length;
        });
        assert.equal(at, r.events.length);
      }),
      runs(1500),
    );
  });

  it('(c) mutations of valid bodies never throw and stay classified', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), text: fc.constantFrom(',', '=', ' ', '\\', '"', '\n', '\r', '#', 'i', 'u', '.', '-', 'e', 't', '\u0000', '\ud800', '99999999999999999999') }),
      fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ kind: fc.constant('replace' as const), pos: fc.nat(), text: fc.constantFrom(',', '=', ' ', '\\', '"', 'x', '\n') }),
      fc.record({ kind: fc.constant('duplicate' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
    );
    const seen: Record<string, number> = {};
    fc.assert(
      fc.property(bodyArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.constantFrom(undefined, 'gw'), ({ precision, body }, muts, defaultDevice) => {
        let s = body;
        for (const m of muts) {
          const pos = m.pos % (s.length + 1);
          if (m.kind === 'insert') s = s.slice(0, pos) + m.text + s.slice(pos);
          else if (m.kind === 'delete') s = s.slice(0, pos) + s.slice(pos + m.len);
          else if (m.kind === 'replace') s = s.slice(0, pos) + m.text + s.slice(pos + 1);
          else s = s.slice(0, pos + m.len) + s.slice(pos, pos + m.len) + s.slice(pos + m.len);
        }
        const opts = optsOf({ precision, defaultDevice });
        const r = parse(s, opts);
        assertClassified(s, r, opts);
        for (const e of r.errors) seen[e.reason] = (seen[e.reason] ?? 0) + 1;
        if (r.events.length > 0) seen.ok = (seen.ok ?? 0) + 1;
      }),
      runs(3000),
    );
    // The mutations reach deep into the grammar, not only the first check.
    for (const reason of ['ok', 'invalid_line_protocol', 'invalid_string', 'invalid_timestamp']) assert.ok((seen[reason] ?? 0) > 0, `no mutation ended as ${reason}: ${JSON.stringify(seen)}`);
  });

  it('(d) every truncation of a valid line is classified', () => {
    fc.assert(
      fc.property(pointArb('ns'), fc.nat(), (p, devicePos) => {
        const line = serializePoint(p, devicePos);
        for (let len = 0; len <= line.length; len++) {
          const prefix = line.slice(0, len);
          assertClassified(prefix, parse(prefix), optsOf());
        }
      }),
      runs(200),
    );
  });

  it('(e) bad lines never change the good lines around them', () => {
    // Garbage without quotes (a quote may open a multi-line string value, by design).
    const garbage = fc.array(fc.constantFrom(...'abc ,=\\\t#-.019eituTf'.split(''), 'cpu', 'host=', ' v=', '99999999999999999999', '\u0000'), { minLength: 1, maxLength: 30 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.array(fc.oneof(pointArb('ns').map((p) => ({ p })), garbage.map((g) => ({ g }))), { minLength: 1, maxLength: 8 }),
        (items) => {
          const valid = items.flatMap((it, k) => ('p' in it && !it.p.fields.some(([, v]) => v.kind === 'string' && /[\n]/.test(v.v)) ? [{ k, p: it.p }] : []));
          const body = items.map((it) => ('p' in it ? serializePoint(it.p, 0) : it.g)).join('\n');
          if (body.split('\n').length !== items.length) return; // a string value with a raw newline: skip
          const r = parse(body);
          assertClassified(body, r, optsOf());
          for (const { k, p } of valid) {
            const alone = parse(serializePoint(p, 0));
            const here = r.events.filter((e) => e.line === k + 1);
            assert.deepEqual(
              here.map((e) => e.event),
              alone.events.map((e) => e.event),
            );
            assertRoundTrip(p, k + 1, here, 'ns');
          }
        },
      ),
      runs(1500),
    );
  });

  it('(f) limits are respected whatever they are', () => {
    const limitsArb: fc.Arbitrary<Limits> = fc.record({
      maxPayloadBytes: fc.constant(DEFAULT_LIMITS.maxPayloadBytes),
      maxMetaBytes: fc.integer({ min: 1, max: 200 }),
      maxMetaDepth: fc.integer({ min: 1, max: 8 }),
      maxIdLength: fc.integer({ min: 1, max: 40 }),
      maxValueTextLength: fc.integer({ min: 0, max: 16 }),
    });
    fc.assert(
      fc.property(bodyArb, limitsArb, ({ precision, body }, limits) => {
        const opts = optsOf({ precision, limits });
        assertClassified(body, parse(body, opts), opts);
      }),
      runs(1000),
    );
  });
});

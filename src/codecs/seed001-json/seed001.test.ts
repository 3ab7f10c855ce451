/**
 * Golden tests for the seed 001 codec: every folder under `testdata/` holds an
 * `input.json` (topic, payload as UTF-8 text or base64, optional limit
 * overrides) and an `expected.json` (the canonical event without `tsServer`,
 * or the rejection's reason code). Adding a reason code without a golden case
 * that produces it fails here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS, type Limits } from '../../core/config.js';
import { ALL_REASON_CODES, type ReasonCode } from '../../core/errors.js';
import { compileTopicFilter } from '../../pipeline/topic-matcher.js';
import { collectDecode } from '../collect.js';
import { decodeSeed001, seed001Codec, type DecodeResult } from './index.js';
import { parseIsoTimestamp } from './timestamp.js';

const TESTDATA = new URL('./testdata/', import.meta.url);
const EVENTS_FILTER = 'qs/v1/+/events';
const RECEIVED_AT = 1_707_523_201_234;
/** Codes a decoder cannot produce (they come from later stages). */
const NOT_FROM_DECODER: ReasonCode[] = ['store_rejected', 'event_id_conflict', 'invalid_line_protocol'];

interface GoldenInput {
  /** `qs/v1/<device>/events`, or null for a source whose topic binds no device. */
  topic: string | null;
  payload?: string;
  payload_base64?: string;
  limits?: Partial<Limits>;
}

type GoldenExpected =
  | { ok: true; event: Record<string, unknown> }
  | { ok: false; reason: string; deviceId?: string | null };

interface GoldenCase {
  name: string;
  input: GoldenInput;
  expected: GoldenExpected;
}

const EVENT_KEYS = ['eventId', 'deviceId', 'schema', 'eventType', 'valueNum', 'valueText', 'unit', 'tsDevice', 'meta'].sort();

function loadCases(): GoldenCase[] {
  const names = readdirSync(TESTDATA)
    .filter((n) => statSync(new URL(`${n}/`, TESTDATA)).isDirectory())
    .sort();
  return names.map((name) => {
    const read = (file: string) => JSON.parse(readFileSync(new URL(`${name}/${file}`, TESTDATA), 'utf8'));
    return { name, input: read('input.json') as GoldenInput, expected: read('expected.json') as GoldenExpected };
  });
}

const cases = loadCases();
const matchTopic = compileTopicFilter(EVENTS_FILTER);

function runCase(c: GoldenCase): DecodeResult {
  const { input } = c;
  const hasText = typeof input.payload === 'string';
  const hasB64 = typeof input.payload_base64 === 'string';
  assert.ok(hasText !== hasB64, `${c.name}: input.json needs exactly one of "payload" and "payload_base64"`);
  for (const key of Object.keys(input)) {
    assert.ok(['topic', 'payload', 'payload_base64', 'limits'].includes(key), `${c.name}: unknown input key "${key}"`);
  }
  for (const key of Object.keys(input.limits ?? {})) {
    assert.ok(key in DEFAULT_LIMITS, `${c.name}: unknown limit "${key}"`);
  }
  const payload = hasText ? Buffer.from(input.payload!, 'utf8') : Buffer.from(input.payload_base64!, 'base64');
  if (hasB64) assert.equal(payload.toString('base64'), input.payload_base64, `${c.name}: payload_base64 is not canonical base64`);
  let topicDeviceId: string | undefined;
  if (input.topic !== null) {
    const m = matchTopic(input.topic);
    assert.ok(m, `${c.name}: topic "${input.topic}" does not match ${EVENTS_FILTER}`);
    topicDeviceId = m.deviceId;
  }
  const limits: Limits = { ...DEFAULT_LIMITS, ...input.limits };
  const ctx = { topicDeviceId, receivedAt: RECEIVED_AT, limits };
  const r = decodeSeed001(payload, ctx);
  // The codec (what the ingest path runs) gives the same, as one event or one rejection of the whole payload.
  const viaCodec = collectDecode(seed001Codec, payload, ctx);
  assert.equal(viaCodec.events.length + viaCodec.rejections.length, 1, `${c.name}: one event or one rejection`);
  if (r.ok) {
    assert.deepEqual(viaCodec.events[0]?.event, r.event, `${c.name}: codec event`);
    assert.equal(viaCodec.events[0].raw, payload, `${c.name}: the event keeps the payload for a dead letter`);
  } else {
    const { reason, message, deviceId, raw } = viaCodec.rejections[0] ?? {};
    assert.deepEqual({ reason, message, deviceId }, { reason: r.reason, message: r.message, deviceId: r.deviceId }, `${c.name}: codec rejection`);
    assert.equal(raw, payload, `${c.name}: the rejection keeps the payload`);
  }
  return r;
}

describe('seed001 golden cases', () => {
  it('has golden cases', () => {
    assert.ok(cases.length > 0, 'no golden cases found under testdata/');
  });

  for (const c of cases) {
    it(c.name, () => {
      let r: DecodeResult;
      assert.doesNotThrow(() => {
        r = runCase(c);
      }, `${c.name}: decodeSeed001 threw`);
      r = r!;
      if (c.expected.ok) {
        assert.deepEqual(Object.keys(c.expected.event).sort(), EVENT_KEYS, `${c.name}: expected.json event must list exactly ${EVENT_KEYS.join(', ')}`);
        assert.equal(r.ok, true, `${c.name}: expected an event, got ${r.ok ? '' : `${r.reason}: ${r.message}`}`);
        if (!r.ok) return;
        const { tsServer, ...event } = r.event;
        assert.equal(tsServer, RECEIVED_AT, 'tsServer is the time received');
        assert.deepEqual(event, c.expected.event);
      } else {
        assert.deepEqual(
          Object.keys(c.expected).filter((k) => !['ok', 'reason', 'deviceId'].includes(k)),
          [],
          `${c.name}: unknown keys in expected.json`,
        );
        assert.equal(r.ok, false, `${c.name}: expected rejection ${c.expected.reason}, got an event`);
        if (r.ok) return;
        assert.equal(r.reason, c.expected.reason, `${c.name}: ${r.message}`);
        assert.equal(typeof r.message, 'string');
        assert.ok(r.message.length > 0, 'a rejection carries a message');
        if ('deviceId' in c.expected) assert.equal(r.deviceId, c.expected.deviceId, `${c.name}: dead-letter device id`);
      }
    });
  }

  it('covers every reason code the decoder can produce', () => {
    const seen = new Set(cases.filter((c) => !c.expected.ok).map((c) => (c.expected as { reason: string }).reason));
    for (const reason of seen) assert.ok((ALL_REASON_CODES as string[]).includes(reason), `golden case uses unknown reason "${reason}"`);
    const missing = ALL_REASON_CODES.filter((code) => !NOT_FROM_DECODER.includes(code) && !seen.has(code));
    assert.deepEqual(missing, [], `reason codes without a golden case in testdata/: ${missing.join(', ')}`);
  });

  it('covers both outcomes and binary payloads', () => {
    assert.ok(cases.some((c) => c.expected.ok));
    assert.ok(cases.some((c) => typeof c.input.payload_base64 === 'string'));
  });
});

/** Rewrites an accepted shape into the strict ECMAScript form Date.parse defines. */
function toEcmaScriptForm(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/.exec(text);
  if (!m) throw new Error(`not an accepted shape: ${text}`);
  const [, date, hm, sec = '00', frac = '', tz = 'Z'] = m;
  const ms = frac.slice(0, 3).padEnd(3, '0');
  let offset: string;
  if (tz === 'Z' || tz === 'z') offset = 'Z';
  else {
    const digits = tz.slice(1).replace(':', '');
    offset = `${tz[0]}${digits.slice(0, 2)}:${digits.length > 2 ? digits.slice(2) : '00'}`;
  }
  return `${date}T${hm}:${sec}.${ms}${offset}`;
}

describe('parseIsoTimestamp', () => {
  const valid = [
    '2024-02-10T00:00:00Z',
    '2024-02-10T00:00:00z',
    '2024-02-10T02:00:00+02:00',
    '2024-02-09T19:00:00-05:00',
    '2024-02-10T05:30:00+0530',
    '2024-02-10T05:30:00-0530',
    '2024-02-10T02:00:00+02',
    '2024-02-10T00:00:00-00:00',
    '2024-02-10T00:00:00+23:59',
    '2024-02-10T00:00:00-23:59',
    '2024-02-10T00:00:00.5Z',
    '2024-02-10T00:00:00.05Z',
    '2024-02-10T00:00:00.123Z',
    '2024-02-10T00:00:00.1234Z',
    '2024-02-10T00:00:00.123456Z',
    '2024-02-10T00:00:00.999999999Z',
    '2024-02-10T00:00:00,25Z',
    '2024-02-10T00:00:00',
    '2024-02-10T00:00:00.75',
    '2024-02-10T13:45Z',
    '2024-02-10T13:45',
    '2024-02-10 00:00:00Z',
    '2024-02-10 03:00:00+03:00',
    '2024-02-29T12:00:00Z',
    '2000-02-29T00:00:00Z',
    '2024-12-31T23:59:59.999Z',
    '1970-01-01T00:00:00Z',
    '1969-12-31T23:59:59.999Z',
    '1900-03-01T00:00:00Z',
    '0001-01-01T00:00:00Z',
    '0024-02-29T00:00:00Z',
    '0099-12-31T23:59:59Z',
    '9999-12-31T23:59:59.999Z',
    '9999-12-31T23:59:59.999-23:59',
  ];
  for (const text of valid) {
    it(`agrees with Date.parse: ${JSON.stringify(text)}`, () => {
      const expected = Date.parse(toEcmaScriptForm(text));
      assert.ok(Number.isFinite(expected), `Date.parse rejected ${toEcmaScriptForm(text)}`);
      assert.equal(parseIsoTimestamp(text), expected);
    });
  }

  it('agrees with Date.parse over a sweep of instants, offsets and fraction lengths', () => {
    // Deterministic LCG so the sweep is the same on every run.
    let state = 0x2545f491;
    const next = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const min = Date.UTC(1, 0, 2);
    const span = Date.UTC(9999, 11, 30) - min;
    for (let i = 0; i < 5000; i++) {
      const instant = min + Math.floor((next(1 << 30) / (1 << 30)) * span);
      const offsetMin = (next(2) ? 1 : -1) * next(24 * 60);
      const local = new Date(instant + offsetMin * 60000);
      const fracLen = [0, 1, 2, 3, 6, 9][next(6)];
      const ms = local.getUTCMilliseconds();
      const frac = fracLen === 0 ? '' : `.${(pad(ms, 3) + pad(next(1_000_000), 6)).slice(0, fracLen)}`;
      const sep = next(4) === 0 ? ' ' : 'T';
      const oh = pad(Math.floor(Math.abs(offsetMin) / 60), 2);
      const om = pad(Math.abs(offsetMin) % 60, 2);
      const sign = offsetMin < 0 ? '-' : '+';
      const tz = offsetMin === 0 && next(2) ? 'Z' : next(2) ? `${sign}${oh}:${om}` : `${sign}${oh}${om}`;
      const text =
        `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}` +
        `${sep}${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}${frac}${tz}`;
      const expected = Date.parse(toEcmaScriptForm(text));
      assert.equal(parseIsoTimestamp(text), expected, text);
    }
  });

  it('rejects calendar dates that Date.parse rolls over or accepts loosely', () => {
    for (const text of [
      '2024-02-30T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '1900-02-29T00:00:00Z',
      '2024-04-31T00:00:00Z',
      '2024-02-10T24:00:00Z',
      '2024-02-10T23:59:60Z',
      '2024-13-01T00:00:00Z',
      '2024-02-10',
      'Feb 10 2024',
      'Sat, 10 Feb 2024 00:00:00 GMT',
      '2024-02-10T00:00:00+24:00',
      '',
    ]) {
      assert.equal(parseIsoTimestamp(text), undefined, text);
    }
  });
});

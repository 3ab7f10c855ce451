/**
 * Golden tests for the car-telemetry codec: every folder under `testdata/`
 * holds `input.json` (`about`, `topic_device` (absent: the route names no
 * device level), and `payload` as JSON or `payload_text` as raw text) and
 * `expected.json` with every event (part and all TelemetryEvent fields) and
 * every rejection (part, reason, message). Regenerate nothing by hand-waving:
 * UPDATE_GOLDEN=1 rewrites the expected files, which a reviewer then reads.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../core/config.js';
import { collectDecode } from '../collect.js';
import { CODECS } from '../registry.js';
import { carEventId, carTelemetryCodec } from './index.js';

const TESTDATA = new URL('./testdata/', import.meta.url);
const RECEIVED_AT = 1_707_552_001_234;

function run(input: { topic_device?: string; payload?: unknown; payload_text?: string }) {
  const bytes = Buffer.from(input.payload_text ?? JSON.stringify(input.payload));
  const d = collectDecode(carTelemetryCodec, bytes, { topicDeviceId: input.topic_device, receivedAt: RECEIVED_AT, limits: DEFAULT_LIMITS });
  return {
    events: d.events.map((e) => ({ part: e.part, event: e.event })),
    rejections: d.rejections.map((r) => ({ part: r.part, reason: r.reason, message: r.message, deviceId: r.deviceId })),
  };
}

describe('car-telemetry codec (golden cases)', () => {
  const names = readdirSync(TESTDATA).filter((n) => statSync(new URL(`${n}/`, TESTDATA)).isDirectory()).sort();
  it('has the cases', () => assert.ok(names.length >= 15, `${names.length} cases`));
  for (const name of names) {
    it(name, () => {
      const input = JSON.parse(readFileSync(new URL(`${name}/input.json`, TESTDATA), 'utf8'));
      const got = { about: input.about, ...run(input) };
      const file = new URL(`${name}/expected.json`, TESTDATA);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, `${JSON.stringify(got, null, 2)}\n`);
      assert.deepEqual(got, JSON.parse(readFileSync(file, 'utf8')));
    });
  }
});

describe('car-telemetry codec', () => {
  it('is registered, replies none by default', () => {
    assert.equal(CODECS['car-telemetry'].defaultReply, 'none');
    assert.equal(CODECS['car-telemetry'].create({}, { lineProtocol: { deviceTag: 'd', fallbackDeviceTags: [], eventType: 'field' } }), carTelemetryCodec);
  });

  it('ids are deterministic per vehicle, device time and quantity, and differ when any of them does', () => {
    const a = run({ topic_device: 'car-1', payload: { ts: 1707552000, speed: 1, rpm: 2 } }).events.map((e) => e.event.eventId);
    const b = run({ topic_device: 'car-1', payload: { ts: '2024-02-10T08:00:00.000Z', rpm: 3, speed: 9 } }).events.map((e) => e.event.eventId);
    assert.deepEqual(new Set(a), new Set(b));
    assert.equal(a[0], carEventId('car-1', 1707552000000, 'speed'));
    const ids = new Set([carEventId('car-1', 1, 'speed'), carEventId('car-2', 1, 'speed'), carEventId('car-1', 2, 'speed'), carEventId('car-1', 1, 'rpm')]);
    assert.equal(ids.size, 4);
  });

  it('an oversized payload is refused whole', () => {
    const big = Buffer.from(JSON.stringify({ ts: 1707552000, note: 'x'.repeat(DEFAULT_LIMITS.maxPayloadBytes) }));
    const d = collectDecode(carTelemetryCodec, big, { topicDeviceId: 'car-1', receivedAt: RECEIVED_AT, limits: DEFAULT_LIMITS });
    assert.deepEqual(d.rejections.map((r) => [r.reason, r.part]), [['payload_too_large', -1]]);
    assert.equal(d.events.length, 0);
  });
});

/**
 * Golden tests for the node-telemetry codec: every folder under `testdata/`
 * holds an `input.json` (topic, payload as UTF-8 text) and an `expected.json`
 * (the readings without `tsServer`, and the rejections' reason, part and
 * device). Plus the properties the golden cases cannot show alone: a resend
 * gives the same event ids, and a long id stays deterministic.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../core/config.js';
import { compileTopicFilter } from '../../pipeline/topic-matcher.js';
import { collectDecode } from '../collect.js';
import { nodeReadingId, nodeTelemetryCodec } from './index.js';

const TESTDATA = new URL('./testdata/', import.meta.url);
const FILTER = 'iot/node/+/telemetry';
const RECEIVED_AT = 1_707_523_201_234;
const match = compileTopicFilter(FILTER);

interface Expected {
  events: Array<Record<string, unknown>>;
  rejections: Array<{ reason: string; part: number; deviceId: string | null }>;
}

function decode(topic: string, payload: Buffer) {
  const m = match(topic);
  assert.ok(m, `topic ${topic} does not match ${FILTER}`);
  return collectDecode(nodeTelemetryCodec, payload, { topicDeviceId: m.deviceId, receivedAt: RECEIVED_AT, limits: DEFAULT_LIMITS });
}

describe('node-telemetry golden cases', () => {
  const names = readdirSync(TESTDATA).sort();
  assert.ok(names.length >= 10);
  for (const name of names) {
    it(name, () => {
      const input = JSON.parse(readFileSync(new URL(`${name}/input.json`, TESTDATA), 'utf8')) as { topic: string; payload: string };
      const expected = JSON.parse(readFileSync(new URL(`${name}/expected.json`, TESTDATA), 'utf8')) as Expected;
      const payload = Buffer.from(input.payload, 'utf8');
      const got = decode(input.topic, payload);
      assert.deepEqual(
        got.events.map((e) => {
          assert.equal(e.event.tsServer, RECEIVED_AT);
          assert.ok(e.raw.equals(payload), 'a reading keeps the whole message as its raw bytes');
          const { tsServer: _, ...rest } = e.event;
          return rest;
        }),
        expected.events,
      );
      assert.deepEqual(got.rejections.map((r) => ({ reason: r.reason, part: r.part, deviceId: r.deviceId })), expected.rejections);
      for (const r of got.rejections) {
        assert.ok(r.raw.equals(payload), 'a dead letter keeps the whole payload');
        assert.ok(r.message.length > 0);
      }
    });
  }
});

describe('node-telemetry event ids', () => {
  it('a resent message gives the same ids; another timestamp gives others', () => {
    const msg = (ts: number) => Buffer.from(JSON.stringify({ node_id: 'n1', timestamp: ts, sensors: { a: 1, b: 2 } }));
    const ids = (ts: number) => decode('iot/node/n1/telemetry', msg(ts)).events.map((e) => e.event.eventId);
    assert.deepEqual(ids(1704844800), ids(1704844800));
    assert.deepEqual(ids(1704844800), ['n1:1704844800:a', 'n1:1704844800:b']);
    assert.notDeepEqual(ids(1704844801), ids(1704844800));
  });

  it('an id longer than the limit becomes a hash, the same each time and within the limit', () => {
    const node = 'n'.repeat(100);
    const a = nodeReadingId(node, 1704844800, 's'.repeat(100), 128);
    assert.equal(a, nodeReadingId(node, 1704844800, 's'.repeat(100), 128));
    assert.notEqual(a, nodeReadingId(node, 1704844800, 's'.repeat(99) + 't', 128));
    assert.ok(a.startsWith('sha256:') && a.length <= 128);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEAD_LETTER_PUBLISH_MAX_BYTES, deadLetterToJson, type DeadLetter } from './event.js';

const base: DeadLetter = { reason: 'invalid_json', message: 'm', topic: 'qs/v1/d/events', deviceId: 'd', payload: Buffer.from('{"a":'), receivedAt: 0, source: 'mqtt' };

describe('dead letter JSON', () => {
  it('carries UTF-8 payloads as text and others as base64', () => {
    assert.deepEqual(deadLetterToJson(base), { schema: 1, reason: 'invalid_json', message: 'm', topic: 'qs/v1/d/events', device_id: 'd', source: 'mqtt', payload: '{"a":', payload_encoding: 'utf8', received_at: '1970-01-01T00:00:00.000Z' });
    const bin = deadLetterToJson({ ...base, payload: Buffer.from([0xff, 0x00]) });
    assert.equal(bin.payload_encoding, 'base64');
    assert.equal(bin.payload, '/wA=');
  });

  it('cuts the published copy of an oversized payload, never the stored one', () => {
    const big = { ...base, reason: 'payload_too_large' as const, payload: Buffer.alloc(100_000, 'x') };
    const pub = deadLetterToJson(big);
    assert.equal((pub.payload as string).length, DEAD_LETTER_PUBLISH_MAX_BYTES);
    assert.equal(pub.payload_truncated, true);
    assert.equal(pub.payload_bytes, 100_000);
    assert.ok(Buffer.byteLength(JSON.stringify(pub)) < 16_384);
    const full = deadLetterToJson(big, { full: true });
    assert.equal((full.payload as string).length, 100_000);
    assert.equal(full.payload_truncated, undefined);
  });
});

/**
 * PacketSizeGuard against packets made by mqtt-packet (the codec Aedes
 * parses with), cut into chunks at random places: it follows the packet
 * boundaries exactly and names the first packet over the cap by its size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { PacketSizeGuard } from './packet-size-guard.js';

const packetArb = fc.oneof(
  fc.record({ topic: fc.string({ minLength: 1, maxLength: 200 }), payloadLen: fc.nat({ max: 20_000 }), qos: fc.constantFrom(0, 1) }).map(({ topic, payloadLen, qos }) =>
    mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(payloadLen, 7), qos: qos as 0 | 1, messageId: qos ? 1 : undefined, retain: false, dup: false }),
  ),
  fc.constant(mqttPacket.generate({ cmd: 'pingreq' })),
  fc.nat({ max: 65535 }).map((messageId) => mqttPacket.generate({ cmd: 'puback', messageId })),
  fc.array(fc.string({ minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 20 }).map((topics) =>
    mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: topics.map((topic) => ({ topic, qos: 1 as const })) }),
  ),
);

/** Cuts `bytes` at the given fractions into chunks. */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    if (c > prev) out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

describe('PacketSizeGuard', () => {
  it('reports the first packet over the cap, by its whole size, however the stream is cut', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 2, max: 25_000 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }), (packets, cap, cuts) => {
        const guard = new PacketSizeGuard(cap);
        const firstOver = packets.find((p) => p.length > cap);
        let reported = -1;
        for (const c of chunks(Buffer.concat(packets), cuts)) {
          reported = guard.check(c);
          if (reported >= 0) break;
        }
        assert.equal(reported, firstOver ? firstOver.length : -1);
      }),
      { numRuns: 300 },
    );
  });

  it('reports a 200 MB announcement from its header alone', () => {
    const guard = new PacketSizeGuard(131_072);
    // PUBLISH, Remaining Length 209715200 in four bytes, nothing more yet.
    assert.equal(guard.check(Buffer.from([0x30, 0x80, 0x80, 0x80])), -1, 'length not complete yet');
    assert.equal(guard.check(Buffer.from([0x64])), 1 + 4 + 209_715_200);
  });

  it('leaves a malformed length (a fifth length byte) to the parser', () => {
    const guard = new PacketSizeGuard(10);
    assert.equal(guard.check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x30, 0x7f])), -1);
  });

  it('a packet exactly at the cap passes', () => {
    const p = mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(100), qos: 0, retain: false, dup: false });
    assert.equal(new PacketSizeGuard(p.length).check(p), -1);
    assert.equal(new PacketSizeGuard(p.length - 1).check(p), p.length);
  });
});

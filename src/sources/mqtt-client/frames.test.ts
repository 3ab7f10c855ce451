/**
 * The hand-written frames against mqtt-packet, the codec MQTT.js and Aedes
 * use: what one writes the other must read, both ways, for MQTT 3.1.1 and 5.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generate, parser, type IPublishPacket, type Packet } from 'mqtt-packet';
import { decodePublish, frameAt, publishSize, PUBACK, PUBCOMP, PUBREC, writeAck, writePublish } from './frames.js';

const PAYLOAD_SIZES = [0, 1, 100, 127, 200, 16_383, 16_500, 70_000, 2_100_000];

function parseWithMqttPacket(bytes: Buffer, protocolVersion: 4 | 5): Packet[] {
  const p = parser({ protocolVersion });
  const out: Packet[] = [];
  p.on('packet', (packet: Packet) => out.push(packet));
  p.on('error', (err: Error) => {
    throw err;
  });
  p.parse(bytes);
  return out;
}

for (const v of [4, 5] as const) {
  const v5 = v === 5;
  describe(`MQTT ${v === 5 ? '5' : '3.1.1'} frames`, () => {
    it('decodes PUBLISHes written by mqtt-packet (QoS 0-2, flags, properties, every length class)', () => {
      for (const size of PAYLOAD_SIZES) {
        for (const qos of [0, 1, 2] as const) {
          const payload = Buffer.alloc(size, 0x61 + (size % 26));
          const packet: IPublishPacket = {
            cmd: 'publish',
            topic: 'qs/v1/ésp-01/events',
            payload,
            qos,
            dup: qos > 0,
            retain: size % 2 === 1,
            messageId: qos > 0 ? 40_000 + size % 1000 : undefined,
            properties: v5 ? { payloadFormatIndicator: true, messageExpiryInterval: 60, userProperties: { a: 'b' }, subscriptionIdentifier: 7 } : undefined,
          };
          const bytes = Buffer.concat([Buffer.from([0xc0, 0x00]), generate(packet, { protocolVersion: v })]); // a PINGREQ first
          const first = frameAt(bytes, 0)!;
          assert.equal(first.end, 2);
          const f = frameAt(bytes, 2);
          assert.ok(f, `a complete frame for ${size}`);
          assert.equal(f.end, bytes.length);
          const d = decodePublish(bytes, 2, f.body, f.end, v5);
          assert.equal(d.topic, packet.topic);
          assert.equal(d.qos, qos);
          assert.equal(d.dup, packet.dup);
          assert.equal(d.retain, packet.retain);
          assert.equal(d.packetId, packet.messageId ?? 0);
          assert.ok(d.payload.equals(payload), `payload of ${size} bytes`);
          // Truncated: no frame yet, never a wrong one.
          assert.equal(frameAt(bytes.subarray(0, bytes.length - 1), 2), undefined);
        }
      }
    });

    it('writes PUBLISHes that mqtt-packet reads back', () => {
      for (const size of PAYLOAD_SIZES) {
        for (const qos of [0, 1] as const) {
          const topic = 'qs/v1/ésp-01/acks';
          const topicBytes = Buffer.byteLength(topic);
          const payload = Buffer.alloc(size, 0x7a);
          const n = publishSize(topicBytes, size, qos, v5);
          const out = Buffer.alloc(n + 3, 0xee);
          const asString = size % 2 === 0;
          const end = writePublish(out, 3, topic, topicBytes, asString ? payload.toString() : payload, size, qos, 65_535, v5);
          assert.equal(end, n + 3, 'publishSize is exact');
          const [p] = parseWithMqttPacket(out.subarray(3), v) as IPublishPacket[];
          assert.equal(p.cmd, 'publish');
          assert.equal(p.topic, topic);
          assert.equal(p.qos, qos);
          assert.equal(p.retain, false);
          if (qos === 1) assert.equal(p.messageId, 65_535);
          assert.ok(Buffer.from(p.payload as Buffer).equals(payload));
          assert.ok(out.subarray(0, 3).equals(Buffer.from([0xee, 0xee, 0xee])), 'nothing written before pos');
        }
      }
    });

    it('writes PUBACK/PUBREC/PUBCOMP byte for byte as mqtt-packet does', () => {
      for (const [type, cmd] of [[PUBACK, 'puback'], [PUBREC, 'pubrec'], [PUBCOMP, 'pubcomp']] as const) {
        for (const id of [1, 255, 256, 65_535]) {
          const out = Buffer.alloc(4);
          assert.equal(writeAck(out, 0, type, id), 4);
          const [p] = parseWithMqttPacket(out, v);
          assert.equal(p.cmd, cmd);
          assert.equal(p.messageId, id);
          if (!v5) assert.ok(out.equals(generate({ cmd, messageId: id } as Packet, { protocolVersion: v })));
        }
      }
    });
  });
}

describe('malformed input', () => {
  it('rejects a remaining length longer than four bytes', () => {
    assert.throws(() => frameAt(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0), /longer than 4 bytes/);
  });
  it('rejects QoS 3, a truncated topic and an empty topic', () => {
    const qos3 = Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]);
    assert.throws(() => decodePublish(qos3, 0, 2, qos3.length, false), /QoS 3/);
    const truncated = Buffer.from([0x30, 0x03, 0x00, 0x09, 0x61]);
    assert.throws(() => decodePublish(truncated, 0, 2, truncated.length, false), /truncated topic/);
    const empty = Buffer.from([0x30, 0x03, 0x00, 0x00, 0x61]);
    assert.throws(() => decodePublish(empty, 0, 2, empty.length, false), /without a topic/);
  });
});

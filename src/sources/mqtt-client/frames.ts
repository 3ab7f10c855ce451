/**
 * The MQTT frames a QoS 1 subscriber handles once per event, read and written
 * by hand: splitting the byte stream into frames, decoding PUBLISH, and
 * encoding PUBLISH and PUBACK.
 *
 * Why by hand: these run for every event (one PUBLISH in, one ACK PUBLISH
 * and one PUBACK out). mqtt-packet's streaming parser copies each frame
 * through a BufferList, builds a packet object and calls `debug` several
 * times per packet; the profile of the Mosquitto + PostgreSQL benchmark had
 * MQTT.js + mqtt-packet + bl + debug at ~25% of telehub's CPU. Every other,
 * rare packet (CONNECT, CONNACK, SUBSCRIBE, SUBACK, DISCONNECT, …) still goes
 * through mqtt-packet, the codec MQTT.js and Aedes use (see connection.ts).
 * `frames.test.ts` checks these against mqtt-packet both ways.
 */

/** MQTT control packet types (the high nibble of the first byte). */
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;

/** A complete frame's boundaries inside a buffer, or undefined when more bytes are needed. */
export interface FrameBounds {
  /** Index of the first byte after the fixed header (the variable header). */
  body: number;
  /** Index just past the frame. */
  end: number;
}

/**
 * Finds the frame starting at `pos`. Throws on a malformed remaining length
 * (more than four length bytes), which MQTT treats as a protocol error.
 */
export function frameAt(buf: Buffer, pos: number): FrameBounds | undefined {
  let len = 0;
  let mul = 1;
  let i = pos + 1;
  for (;;) {
    if (i >= buf.length) return undefined;
    const b = buf[i++];
    len += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) break;
    mul *= 128;
    if (mul > 128 ** 3) throw new Error('Malformed MQTT packet: remaining length longer than 4 bytes.');
  }
  const end = i + len;
  return end <= buf.length ? { body: i, end } : undefined;
}

/** A decoded PUBLISH; `payload` is a view into the received bytes (no copy). */
export interface PublishFrame {
  topic: string;
  qos: 0 | 1 | 2;
  dup: boolean;
  retain: boolean;
  packetId: number;
  payload: Buffer;
}

/**
 * Decodes the PUBLISH frame `buf[start…end)` whose variable header starts at
 * `body`. MQTT 5 properties are skipped: telehub never allows topic aliases
 * (it sends no Topic Alias Maximum), so none of them changes what the event is.
 */
export function decodePublish(buf: Buffer, start: number, body: number, end: number, v5: boolean): PublishFrame {
  const flags = buf[start] & 0x0f;
  const qosBits = (flags >> 1) & 3;
  if (qosBits === 3) throw new Error('Malformed MQTT PUBLISH: QoS 3.');
  const qos = qosBits as 0 | 1 | 2;
  let p = body;
  if (p + 2 > end) throw new Error('Malformed MQTT PUBLISH: truncated topic.');
  const topicLen = buf.readUInt16BE(p);
  p += 2;
  if (p + topicLen > end) throw new Error('Malformed MQTT PUBLISH: truncated topic.');
  const topic = buf.toString('utf8', p, p + topicLen);
  p += topicLen;
  let packetId = 0;
  if (qos > 0) {
    if (p + 2 > end) throw new Error('Malformed MQTT PUBLISH: truncated packet id.');
    packetId = buf.readUInt16BE(p);
    p += 2;
  }
  if (v5) {
    let propLen = 0;
    let mul = 1;
    for (;;) {
      if (p >= end) throw new Error('Malformed MQTT PUBLISH: truncated properties.');
      const b = buf[p++];
      propLen += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) break;
      mul *= 128;
      if (mul > 128 ** 3) throw new Error('Malformed MQTT PUBLISH: property length longer than 4 bytes.');
    }
    p += propLen;
    if (p > end) throw new Error('Malformed MQTT PUBLISH: truncated properties.');
  }
  if (topicLen === 0) throw new Error('MQTT PUBLISH without a topic (topic aliases are not enabled).');
  return { topic, qos, dup: (flags & 8) !== 0, retain: (flags & 1) !== 0, packetId, payload: buf.subarray(p, end) };
}

/** Bytes needed to encode `n` as an MQTT variable byte integer. */
function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Encoded size of a PUBLISH of this topic and payload (byte lengths). */
export function publishSize(topicBytes: number, payloadBytes: number, qos: 0 | 1, v5: boolean): number {
  const rem = 2 + topicBytes + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payloadBytes;
  return 1 + varIntSize(rem) + rem;
}

/**
 * Writes a PUBLISH into `out` at `pos` (the caller made room with
 * `publishSize`; `payloadBytes` is the payload's UTF-8 length when it is a
 * string) and returns the position after it. No properties (MQTT 5:
 * property length 0), never retained.
 */
export function writePublish(
  out: Buffer,
  pos: number,
  topic: string,
  topicBytes: number,
  payload: Buffer | string,
  payloadBytes: number,
  qos: 0 | 1,
  packetId: number,
  v5: boolean,
): number {
  let rem = 2 + topicBytes + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payloadBytes;
  out[pos++] = 0x30 | (qos << 1);
  do {
    let b = rem % 128;
    rem = Math.floor(rem / 128);
    if (rem > 0) b |= 0x80;
    out[pos++] = b;
  } while (rem > 0);
  out.writeUInt16BE(topicBytes, pos);
  pos += 2;
  pos += out.write(topic, pos, topicBytes, 'utf8');
  if (qos > 0) {
    out.writeUInt16BE(packetId, pos);
    pos += 2;
  }
  if (v5) out[pos++] = 0;
  pos += typeof payload === 'string' ? out.write(payload, pos, payloadBytes, 'utf8') : payload.copy(out, pos);
  return pos;
}

/**
 * Writes a 4-byte PUBACK (or PUBREC/PUBREL/PUBCOMP) for `packetId`. In MQTT 5
 * a remaining length of 2 means reason code 0 (success) with no properties.
 */
export function writeAck(out: Buffer, pos: number, type: number, packetId: number): number {
  out[pos] = (type << 4) | (type === PUBREL ? 0x02 : 0);
  out[pos + 1] = 2;
  out[pos + 2] = packetId >> 8;
  out[pos + 3] = packetId & 0xff;
  return pos + 4;
}

/**
 * Caps the size of the MQTT packets a client may send to the embedded
 * broker (TELEHUB_MQTT_MAX_PACKET_BYTES).
 *
 * Why hand-written: mqtt-packet's parser (which Aedes uses) has no size
 * limit: it reads a packet's Remaining Length (up to 256 MB) and buffers
 * until that many bytes have arrived, and Aedes offers no option or hook
 * before that. So telehub reads the fixed header of every packet itself as
 * the bytes pass, and refuses a packet as soon as its header announces more
 * than the cap, before its body is buffered anywhere.
 *
 * The size is the whole packet (fixed header included), as MQTT 5 defines
 * Maximum Packet Size. A malformed length (a fifth length byte) is left for
 * mqtt-packet to refuse; the guard stops looking at that connection.
 */
import type { Duplex } from 'node:stream';

/** Follows packet boundaries in a byte stream, reading only fixed headers. */
export class PacketSizeGuard {
  /** Body bytes of the current packet still to come. */
  private remaining = 0;
  private inLength = false;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private gaveUp = false;

  constructor(readonly maxBytes: number) {}

  /**
   * Feeds the next chunk of the stream. Returns the announced size of the
   * first packet over the cap that starts or completes its header in this
   * chunk, or -1 when there is none.
   */
  check(chunk: Uint8Array): number {
    if (this.gaveUp) return -1;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, n - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      if (!this.inLength) {
        // The packet type byte; its length follows.
        i++;
        this.inLength = true;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      const b = chunk[i++];
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (b & 0x80) {
        if (this.lengthBytes === 4) {
          this.gaveUp = true;
          return -1;
        }
        continue;
      }
      this.inLength = false;
      const size = 1 + this.lengthBytes + this.length;
      if (size > this.maxBytes) return size;
      this.remaining = this.length;
    }
    return -1;
  }
}

/**
 * Puts a PacketSizeGuard on the reads of `conn` (Aedes pulls a connection's
 * bytes with `conn.read()` when it is readable). When a packet over the cap
 * is announced, the chunk holding its header is withheld from Aedes and
 * `onOversized` is called once; it is expected to destroy the connection.
 * Packets of that chunk before the oversized one are dropped with it: QoS 1
 * ones were not acknowledged, so the device sends them again.
 */
export function guardPacketSize(conn: Duplex, maxBytes: number, onOversized: (bytes: number) => void): void {
  const guard = new PacketSizeGuard(maxBytes);
  const read = conn.read;
  let tripped = false;
  conn.read = function guardedRead(this: Duplex, size?: number) {
    const chunk = read.call(this, size);
    if (chunk === null || tripped) return tripped ? null : chunk;
    const over = guard.check(chunk);
    if (over < 0) return chunk;
    tripped = true;
    onOversized(over);
    return null;
  };
}

/**
 * Aedes with its per-client deduplication made safe for mixed QoS.
 *
 * Why: Aedes numbers every publication as it enters `publish`
 * (`brokerCounter`, one counter per broker) and, per subscribing client,
 * forwards a message only if its number is higher than the last one it
 * forwarded (lib/client.js `dedupe`: `duplicates[brokerId] < brokerCounter`).
 * That is meant to drop the second copy of one message matched by two
 * overlapping subscriptions (`#` and `qs/#`), and it assumes messages reach
 * the subscribers in the order they were numbered. They do not: a QoS 1/2
 * publication first waits on the persistence (`enqueueOffline`: two promise
 * hops), a retained one on `storeRetained`, while a QoS 0 one is emitted at
 * once. So a QoS 1 message numbered N that is still in those hops is
 * overtaken by a QoS 0 message numbered N+1, and every client subscribed to
 * both topics then drops message N as a "duplicate".
 *
 * In telehub that lost the ACK of every QoS 0 event for subscribers whose
 * filter also matched the events topic: the ACK (QoS 1, TELEHUB_ACK_QOS) is
 * published just before telehub releases the event's `authorizePublish`,
 * which then publishes the QoS 0 event synchronously, numbered after the ACK
 * but emitted before it. Upstream: moscajs/aedes#994 (open for Aedes 1.2.0).
 *
 * The fix keeps Aedes' dedupe and its meaning, and numbers publications per
 * *lane*: QoS 0 or QoS 1/2, retained or not. Within a lane every message
 * takes the same path through `publish`, so it is emitted in the order it was
 * numbered, and the dedupe compares only numbers of one lane (the lane is
 * the packet's `brokerId`, which is the key of Aedes' per-client record).
 * Both copies of one message still carry one (lane, number) and are deduped.
 * Packets that already carry a `brokerId` (a will published by another
 * broker of a cluster) keep theirs.
 */
import { Aedes, type AedesOptions, type Client, type PublishPacket } from 'aedes';

type Done = (error?: Error) => void;
type LanedPacket = PublishPacket & { brokerId?: string; brokerCounter?: number };

export class LanedAedes extends Aedes {
  private readonly laneCounters = new Map<string, number>();

  /**
   * Aedes' own signature is `publish(packet, client, done)` (its typings show
   * only the two-argument form that programmatic callers use).
   */
  override publish(packet: PublishPacket, clientOrDone?: Client | null | Done, done?: Done): void {
    const p = packet as LanedPacket;
    if (!p.brokerId) {
      const lane = `${this.id}/${(p.qos ?? 0) > 0 ? 'q12' : 'q0'}${p.retain ? '-retained' : ''}`;
      const n = (this.laneCounters.get(lane) ?? 0) + 1;
      this.laneCounters.set(lane, n);
      p.brokerId = lane;
      p.brokerCounter = n;
    }
    (Aedes.prototype.publish as (p: PublishPacket, c?: Client | null | Done, d?: Done) => void).call(this, packet, clientOrDone, done);
  }

  /** Creates and starts the broker (what `Aedes.createBroker` does for the base class). */
  static async start(opts: AedesOptions): Promise<LanedAedes> {
    const broker = new LanedAedes(opts);
    await broker.listen();
    return broker;
  }
}

/**
 * Holding an MQTT.js QoS 1 PUBACK until a batch commits, without holding the
 * connection.
 *
 * Why this exists: MQTT.js handles a connection's packets one at a time. For
 * a QoS 1 PUBLISH it calls `handleMessage(packet, cb)` and, inside `cb`,
 * `_sendPacket({cmd:'puback'}, done)`; the next packet waits for `done`. So
 * delaying `cb` until the commit would serialise the subscription to one
 * message per commit (design §4) and make batching impossible.
 *
 * The seam: `handleMessage` is MQTT.js's documented override point. We call
 * its `cb` at once (so the next packet is parsed), and intercept the
 * `_sendPacket({cmd:'puback'})` that MQTT.js makes synchronously inside that
 * `cb`: its `done` is called at once too, and the PUBACK itself is parked on a
 * ticket. Tickets are released strictly in arrival order (MQTT 3.1.1 §4.6 and
 * MQTT 5 §4.6 require PUBACKs in PUBLISH order) once their event has
 * committed and its ACK has been written to the same socket.
 *
 * `_sendPacket` is not public API, so the mqtt version is pinned exactly in
 * package.json, `assertSeam` refuses to start on a client without it, and
 * `mqtt-client.test.ts` fails if a PUBACK ever leaves before its commit or if
 * intake stops being concurrent.
 *
 * A connection that drops takes its parked PUBACKs with it: the broker
 * redelivers those messages on the next connection of the persistent session
 * and they are answered `duplicate`. Sending an old connection's PUBACK on a
 * new connection could acknowledge a different message that reused the
 * packet id, so they are discarded, never replayed.
 */
import type { MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, cbStorePut?: () => void, noStore?: boolean) => void;

export interface Ticket {
  generation: number;
  committed: boolean;
  puback: Packet | undefined;
}

export class DeferredPubacks {
  private tickets: Ticket[] = [];
  private head = 0;
  private generation = 0;
  private capturing: Ticket | undefined;
  private readonly send: SendPacket;

  constructor(private readonly client: MqttClient) {
    assertSeam(client);
    const internal = client as unknown as { _sendPacket: SendPacket };
    this.send = internal._sendPacket.bind(client);
    internal._sendPacket = (packet, cb, cbStorePut, noStore) => {
      const ticket = this.capturing;
      if (ticket !== undefined && packet.cmd === 'puback') {
        this.capturing = undefined;
        ticket.puback = packet;
        cb?.();
        this.flush();
        return;
      }
      this.send(packet, cb, cbStorePut, noStore);
    };
  }

  /** Opens a ticket for a PUBLISH just received, in arrival order. */
  open(): Ticket {
    const t: Ticket = { generation: this.generation, committed: false, puback: undefined };
    this.tickets.push(t);
    return t;
  }

  /**
   * Calls MQTT.js's `handleMessage` callback so the next packet is read,
   * parking the PUBACK it sends on `ticket`.
   */
  continueIntake(ticket: Ticket, cb: () => void): void {
    this.capturing = ticket;
    try {
      cb();
    } finally {
      this.capturing = undefined;
    }
  }

  /** Marks the ticket's event as committed (and its ACK written); releases what can go. */
  commit(ticket: Ticket): void {
    ticket.committed = true;
    if (ticket.generation === this.generation) this.flush();
  }

  /** The connection closed: its parked PUBACKs are void (see the file comment). */
  connectionLost(): void {
    this.generation++;
    this.tickets = [];
    this.head = 0;
  }

  /** PUBACKs parked and not yet sent. */
  get parked(): number {
    return this.tickets.length - this.head;
  }

  private flush(): void {
    const tickets = this.tickets;
    let i = this.head;
    while (i < tickets.length && tickets[i].committed && tickets[i].puback !== undefined) {
      this.send(tickets[i].puback!);
      i++;
    }
    this.head = i;
    // Compact now and then so the array does not grow without bound.
    if (i > 1024 && i * 2 > tickets.length) {
      this.tickets = tickets.slice(i);
      this.head = 0;
    }
  }
}

/** Throws when the installed MQTT.js lacks the internals this seam relies on. */
export function assertSeam(client: MqttClient): void {
  const c = client as unknown as Record<string, unknown>;
  if (typeof c._sendPacket !== 'function' || typeof c.handleMessage !== 'function') {
    throw new Error('The installed mqtt package lacks _sendPacket/handleMessage; telehub pins mqtt to a version it has verified (see deferred-puback.ts).');
  }
}

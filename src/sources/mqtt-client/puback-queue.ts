/**
 * PUBACKs (PUBRECs for QoS 2) owed to the broker, released strictly in the
 * order the PUBLISHes arrived (MQTT 3.1.1 and 5, §4.6) once each message's
 * event has committed and its ACK has been queued.
 *
 * A ticket belongs to one connection (`generation`); after a connection loss
 * its tickets are void: the broker redelivers those messages and they are
 * answered `duplicate` (see connection.ts).
 */

export type SendAck = (type: number, packetId: number, generation: number) => void;

export class Ticket {
  committed = false;
  /** Called by the pipeline after the commit (and the ACK publish); idempotent. */
  readonly release: () => void;
  constructor(
    readonly type: number,
    readonly packetId: number,
    readonly generation: number,
    queue: PubackQueue,
  ) {
    this.release = () => queue.commit(this);
  }
}

export class PubackQueue {
  private tickets: Ticket[] = [];
  private head = 0;
  private generation = -1;

  constructor(private readonly send: SendAck) {}

  /** Opens a ticket for a PUBLISH just received on connection `generation`, in arrival order. */
  open(type: number, packetId: number, generation: number): Ticket {
    if (generation !== this.generation) this.reset(generation);
    const t = new Ticket(type, packetId, generation, this);
    this.tickets.push(t);
    return t;
  }

  /** Marks the ticket committed and sends every PUBACK now due, in order. */
  commit(ticket: Ticket): void {
    if (ticket.committed) return;
    ticket.committed = true;
    if (ticket.generation !== this.generation) return;
    const tickets = this.tickets;
    let i = this.head;
    while (i < tickets.length && tickets[i].committed) {
      const t = tickets[i];
      this.send(t.type, t.packetId, t.generation);
      i++;
    }
    this.head = i;
    if (i === tickets.length) {
      this.tickets = [];
      this.head = 0;
    } else if (i > 1024 && i * 2 > tickets.length) {
      this.tickets = tickets.slice(i);
      this.head = 0;
    }
  }

  /** The connection closed: its tickets are void (see the file comment). */
  connectionLost(): void {
    this.reset(this.generation + 1);
  }

  /** PUBACKs owed and not yet sent. */
  get parked(): number {
    return this.tickets.length - this.head;
  }

  private reset(generation: number): void {
    this.generation = generation;
    this.tickets = [];
    this.head = 0;
  }
}

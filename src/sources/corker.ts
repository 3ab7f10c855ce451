/**
 * Coalesces the many small writes that follow a commit (one ACK and one
 * PUBACK per event) into one write per connection.
 *
 * Aedes writes each outgoing packet from its own setImmediate, and a
 * stream's write goes to the socket at once unless the stream is corked, so
 * a 1,000-event batch cost about two thousand small writev system calls on
 * the sending side (and as many reads on the devices' side). A connection
 * corked here is uncorked in the event loop's next check phase, after every
 * packet queued by the commit (including those Aedes queues with
 * setImmediate) has been handed to it. Corking only delays the bytes; it
 * never reorders them on a connection.
 */
import type { Writable } from 'node:stream';

type Corkable = Pick<Writable, 'cork' | 'uncork'>;

export class Corker {
  private corked: Corkable[] = [];
  private readonly held = new Set<Corkable>();
  private scheduled = false;

  /** Holds the connection's writes until the next loop iteration's check phase. */
  cork(conn: Corkable | undefined): void {
    if (conn === undefined || this.held.has(conn)) return;
    conn.cork();
    this.held.add(conn);
    this.corked.push(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      // Immediates queued now run in this iteration's check phase, before
      // those Aedes queues while delivering; the inner one runs after them.
      setImmediate(() => setImmediate(() => this.flush()));
    }
  }

  /** Uncorks everything now. */
  flush(): void {
    this.scheduled = false;
    const conns = this.corked;
    this.corked = [];
    this.held.clear();
    for (const c of conns) c.uncork();
  }
}

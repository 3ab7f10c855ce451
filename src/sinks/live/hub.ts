/**
 * Fan-out of the commit log to live stream clients (WebSocket).
 *
 * While at least one client is connected, one shared reader follows the log
 * (woken after each commit, else polling) and each entry is serialised once
 * for every client. Each message carries its log number (`seq`). A client
 * that connects with `since` first reads what it missed on its own, page by
 * page, and joins the shared reader once it has caught up with it; each
 * client remembers the last number it was sent, so the hand-over has neither
 * a gap nor a duplicate. Events and presence transitions are sent (a
 * transition as `{"seq","kind":"presence","device_id","presence","cause",
 * "from","at"}`, matched by the type filter as the type `presence`); dead
 * letters are log entries too, and only move the client's position.
 *
 * Every client has a bounded send buffer: when its socket's unsent bytes pass
 * `maxBufferedBytes`, the client is closed with code 4008 (SLOW_CLIENT_CLOSE);
 * a socket whose send throws is dropped. The hub never waits on a client and
 * runs outside the write path, so no client can slow or disturb ingestion.
 *
 * @example
 * const hub = new LiveHub({ maxBufferedBytes: 1 << 20, log: store.log, wakeup, pollMs: 500 });
 * hub.add(ws, { devices: ['esp32-*'], types: ['temperature'] }, sinceSeq);
 */
import type { Logger } from 'pino';
import type { TelemetryEvent } from '../../core/event.js';
import type { Wakeup } from '../../log/wakeup.js';
import type { CommitLog, LogEntry, PresenceTransitionEntry } from '../../storage/log.js';

/** Close code sent to a client whose send buffer overflowed (4000–4999 is for applications). */
export const SLOW_CLIENT_CLOSE = { code: 4008, reason: 'slow consumer: send buffer limit exceeded' } as const;

export interface LiveSocket {
  send(data: string): void;
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
  /** Drops the connection without a closing handshake (ws has it). */
  terminate?(): void;
}

export interface LiveFilter {
  /** Glob patterns (`*` = any run of characters); empty = all. */
  devices: string[];
  types: string[];
}

interface Client {
  socket: LiveSocket;
  device: RegExp | undefined;
  type: RegExp | undefined;
  /** Log number of the last entry this client has been given (sent or filtered out). */
  cursor: number;
  /** Served by the shared reader (else still catching up on its own). */
  live: boolean;
  gone: boolean;
}

export interface LiveCounters {
  clients: number;
  sent: number;
  slowDisconnects: number;
}

export interface LiveHubOptions {
  maxBufferedBytes: number;
  log: CommitLog;
  wakeup: Wakeup;
  /** Longest wait between reads when no commit rang the wake-up. */
  pollMs: number;
  /** Entries read per page. */
  pageSize?: number;
  logger?: Logger;
}

function globToRegExp(patterns: string[]): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  const alt = patterns.map((p) => p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*'));
  return new RegExp(`^(?:${alt.join('|')})$`);
}

/** The JSON a stream client receives for one event: its commit-log number, then the events row. */
export function streamMessage(e: TelemetryEvent, seq: number): string {
  return `{"seq":${seq},${eventToJson(e).slice(1)}`;
}

/** A presence transition as JSON (the live stream, `telehub events --follow`): `{seq, kind: "presence", device_id, presence, cause, from, at}`. */
export function presenceLine(seq: number, p: PresenceTransitionEntry): string {
  return JSON.stringify({ seq, kind: 'presence', device_id: p.deviceId, presence: p.state, cause: p.cause, from: p.from, at: new Date(p.at).toISOString() });
}

/** One event as the events table's row in JSON (the query API's pages use it too). */
export function eventToJson(e: TelemetryEvent): string {
  return `{"event_id":${JSON.stringify(e.eventId)},"device_id":${JSON.stringify(e.deviceId)},"schema":${e.schema},"event_type":${JSON.stringify(e.eventType)},"value_num":${e.valueNum === null ? 'null' : e.valueNum},"value_text":${e.valueText === null ? 'null' : JSON.stringify(e.valueText)},"unit":${e.unit === null ? 'null' : JSON.stringify(e.unit)},"ts_device":${e.tsDevice === null ? 'null' : `"${new Date(e.tsDevice).toISOString()}"`},"ts_server":"${new Date(e.tsServer).toISOString()}","meta":${e.meta}}`;
}

export class LiveHub {
  private clients = new Set<Client>();
  readonly counters: LiveCounters = { clients: 0, sent: 0, slowDisconnects: 0 };
  /** Log number up to which the shared reader has served live clients; undefined while it is not running. */
  private position: number | undefined;
  private readonly pageSize: number;
  private closed = false;

  constructor(private readonly opts: LiveHubOptions) {
    this.pageSize = opts.pageSize ?? 1000;
  }

  /**
   * Adds a client. Without `since` it gets what commits from now on; with
   * `since` it first gets the events after that log number. Returns a
   * function that removes it.
   */
  add(socket: LiveSocket, filter: LiveFilter, since?: number): () => void {
    const c: Client = { socket, device: globToRegExp(filter.devices), type: globToRegExp(filter.types), cursor: since ?? -1, live: false, gone: false };
    this.clients.add(c);
    this.counters.clients = this.clients.size;
    void this.catchUp(c, since === undefined);
    return () => this.remove(c);
  }

  get size(): number {
    return this.clients.size;
  }

  /** Clients served by the shared reader (the others are still catching up). */
  get liveClients(): number {
    let n = 0;
    for (const c of this.clients) if (c.live) n++;
    return n;
  }

  private remove(c: Client): void {
    c.gone = true;
    if (this.clients.delete(c)) this.counters.clients = this.clients.size;
  }

  /** A client reads on its own until it reaches the shared reader's position, then joins it. */
  private async catchUp(c: Client, fromHead: boolean): Promise<void> {
    let failures = 0;
    while (!c.gone && !this.closed) {
      try {
        if (fromHead) {
          c.cursor = this.position ?? (await this.opts.log.head());
          fromHead = false;
        }
        if (this.position !== undefined && c.cursor >= this.position) {
          c.live = true;
          return;
        }
        const page = await this.opts.log.read(c.cursor, this.pageSize);
        failures = 0;
        if (c.gone) return;
        if (page.length > 0) {
          this.deliver(c, page);
          continue;
        }
        if (this.position === undefined) {
          // Nothing after its cursor and no shared reader yet: start one from here.
          c.live = true;
          this.position = c.cursor;
          void this.follow();
          return;
        }
      } catch (err) {
        this.opts.logger?.warn({ err, failures: ++failures }, 'Live stream could not read the commit log; retrying.');
        await this.opts.wakeup.wait(this.opts.pollMs);
      }
    }
  }

  /** The shared reader: runs while any client is connected. */
  private async follow(): Promise<void> {
    while (this.clients.size > 0 && !this.closed && this.position !== undefined) {
      const gen = this.opts.wakeup.generation;
      let page: LogEntry[];
      try {
        page = await this.opts.log.read(this.position, this.pageSize);
      } catch (err) {
        this.opts.logger?.warn({ err }, 'Live stream could not read the commit log; retrying.');
        await this.opts.wakeup.wait(this.opts.pollMs);
        continue;
      }
      if (page.length === 0) {
        await this.opts.wakeup.wait(this.opts.pollMs, gen);
        continue;
      }
      this.position = page[page.length - 1].seq;
      const json: Array<string | undefined> = new Array(page.length);
      for (const c of this.clients) if (c.live) this.deliver(c, page, json);
    }
    this.position = undefined;
    // A client that was waiting for the shared reader must not wait for ever.
    for (const c of this.clients) if (c.live) {
      c.live = false;
      void this.catchUp(c, false);
    }
  }

  /** Sends the entries after the client's cursor that match its filter. */
  private deliver(c: Client, page: readonly LogEntry[], json: Array<string | undefined> = new Array(page.length)): void {
    for (let i = 0; i < page.length; i++) {
      const entry = page[i];
      if (entry.seq <= c.cursor) continue;
      c.cursor = entry.seq;
      if (entry.kind === 'deadletter') continue;
      const [deviceId, type] = entry.kind === 'event' ? [entry.event.deviceId, entry.event.eventType] : [entry.presence.deviceId, 'presence'];
      if (c.device && !c.device.test(deviceId)) continue;
      if (c.type && !c.type.test(type)) continue;
      if (c.socket.bufferedAmount > this.opts.maxBufferedBytes) {
        this.remove(c);
        this.counters.slowDisconnects++;
        this.closeSocket(c.socket, SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason);
        return;
      }
      try {
        c.socket.send((json[i] ??= entry.kind === 'event' ? streamMessage(entry.event, entry.seq) : presenceLine(entry.seq, entry.presence)));
      } catch (err) {
        this.opts.logger?.warn({ err }, 'A live stream client failed to take a message; dropping it.');
        this.remove(c);
        this.closeSocket(c.socket, 1011, 'send failed');
        return;
      }
      this.counters.sent++;
    }
  }

  private closeSocket(socket: LiveSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch {
      socket.terminate?.();
    }
  }

  /** Closes every client; one that does not finish the closing handshake within a second is dropped. */
  closeAll(code = 1001, reason = 'telehub is shutting down'): void {
    this.closed = true;
    for (const c of this.clients) {
      this.closeSocket(c.socket, code, reason);
      const socket = c.socket;
      if (socket.terminate) setTimeout(() => socket.terminate!(), 1000).unref();
    }
    for (const c of [...this.clients]) this.remove(c);
    this.opts.wakeup.ring();
  }
}

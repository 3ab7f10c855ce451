/**
 * Fan-out of committed events to live stream clients (WebSocket).
 *
 * Each event is serialised once per commit, whatever the number of clients.
 * Every client has a bounded send buffer: when its socket's unsent bytes pass
 * `maxBufferedBytes`, the client is closed with code 4008 (see
 * SLOW_CLIENT_CLOSE) instead of letting memory grow; the hub never waits on a
 * client, so a slow client cannot slow ingestion.
 *
 * @example
 * const hub = new LiveHub({ maxBufferedBytes: 1 << 20 });
 * hub.add(ws, { devices: ['esp32-*'], types: ['temperature'] });
 * writer.on('committed', ({ stored }) => hub.publish(stored));
 */
import type { TelemetryEvent } from '../../core/event.js';

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
}

export interface LiveCounters {
  clients: number;
  sent: number;
  slowDisconnects: number;
}

function globToRegExp(patterns: string[]): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  const alt = patterns.map((p) => p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*'));
  return new RegExp(`^(?:${alt.join('|')})$`);
}

/** The JSON a stream client receives for one event (the events table's column names). */
export function eventToJson(e: TelemetryEvent): string {
  return `{"event_id":${JSON.stringify(e.eventId)},"device_id":${JSON.stringify(e.deviceId)},"schema":${e.schema},"event_type":${JSON.stringify(e.eventType)},"value_num":${e.valueNum === null ? 'null' : e.valueNum},"value_text":${e.valueText === null ? 'null' : JSON.stringify(e.valueText)},"unit":${e.unit === null ? 'null' : JSON.stringify(e.unit)},"ts_device":${e.tsDevice === null ? 'null' : `"${new Date(e.tsDevice).toISOString()}"`},"ts_server":"${new Date(e.tsServer).toISOString()}","meta":${e.meta}}`;
}

export class LiveHub {
  private clients = new Set<Client>();
  readonly counters: LiveCounters = { clients: 0, sent: 0, slowDisconnects: 0 };

  /**
   * `onActive(true)` when the first client connects and `(false)` when the
   * last leaves, so the pipeline only collects committed events for the
   * stream while someone listens.
   */
  constructor(private readonly opts: { maxBufferedBytes: number; onActive?: (active: boolean) => void }) {}

  add(socket: LiveSocket, filter: LiveFilter): () => void {
    const c: Client = { socket, device: globToRegExp(filter.devices), type: globToRegExp(filter.types) };
    this.clients.add(c);
    this.sizeChanged();
    return () => {
      if (this.clients.delete(c)) this.sizeChanged();
    };
  }

  private sizeChanged(): void {
    const before = this.counters.clients;
    this.counters.clients = this.clients.size;
    if ((before === 0) !== (this.clients.size === 0)) this.opts.onActive?.(this.clients.size > 0);
  }

  get size(): number {
    return this.clients.size;
  }

  /** Sends each event to every client whose filter matches it. */
  publish(events: readonly TelemetryEvent[]): void {
    if (this.clients.size === 0 || events.length === 0) return;
    const json: Array<string | undefined> = new Array(events.length);
    for (const c of this.clients) {
      for (let i = 0; i < events.length; i++) {
        const e = events[i];
        if (c.device && !c.device.test(e.deviceId)) continue;
        if (c.type && !c.type.test(e.eventType)) continue;
        if (c.socket.bufferedAmount > this.opts.maxBufferedBytes) {
          this.clients.delete(c);
          this.sizeChanged();
          this.counters.slowDisconnects++;
          c.socket.close(SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason);
          break;
        }
        c.socket.send((json[i] ??= eventToJson(e)));
        this.counters.sent++;
      }
    }
  }

  /** Closes every client; one that does not finish the closing handshake within a second is dropped. */
  closeAll(code = 1001, reason = 'telehub is shutting down'): void {
    for (const c of this.clients) {
      c.socket.close(code, reason);
      const socket = c.socket;
      if (socket.terminate) setTimeout(() => socket.terminate!(), 1000).unref();
    }
    this.clients.clear();
    this.sizeChanged();
  }
}

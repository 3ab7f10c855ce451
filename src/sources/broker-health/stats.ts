/**
 * Broker health figures (seed 003's `iot/broker/stats`), pure: totals read
 * from a broker in, the published message out. Rates are the change of a
 * total over the interval between two readings.
 */

/** Running totals of a broker; null where the broker does not tell. */
export interface BrokerTotals {
  clientsConnected: number | null;
  /** PUBLISH packets received from clients. */
  messagesIn: number | null;
  /** PUBLISH packets sent to subscribers. */
  messagesOut: number | null;
  /** Messages the broker dropped (Mosquitto: queue limits; embedded: publishes refused, oversized packets). */
  dropped: number | null;
  uptimeS: number | null;
}

/** The JSON published on `iot/broker/stats` (snake_case, as seed 003's messages are). */
export interface BrokerStatsMessage {
  source: 'embedded' | '$SYS';
  clients_connected: number | null;
  messages_in_per_s: number | null;
  messages_out_per_s: number | null;
  messages_in_total: number | null;
  messages_out_total: number | null;
  dropped_total: number | null;
  uptime_s: number | null;
  /** Unix seconds of the reading. */
  timestamp: number;
}

export interface Reading {
  atMs: number;
  totals: BrokerTotals;
}

/** The stats message for `now`, with rates against `prev` (null on the first reading or after a counter reset). */
export function statsMessage(source: BrokerStatsMessage['source'], now: Reading, prev?: Reading): BrokerStatsMessage {
  const dt = prev ? (now.atMs - prev.atMs) / 1000 : 0;
  const rate = (a: number | null, b: number | null | undefined) => (dt > 0 && a !== null && b !== null && b !== undefined && a >= b ? round((a - b) / dt) : null);
  const t = now.totals;
  return {
    source,
    clients_connected: t.clientsConnected,
    messages_in_per_s: rate(t.messagesIn, prev?.totals.messagesIn),
    messages_out_per_s: rate(t.messagesOut, prev?.totals.messagesOut),
    messages_in_total: t.messagesIn,
    messages_out_total: t.messagesOut,
    dropped_total: t.dropped,
    uptime_s: t.uptimeS,
    timestamp: Math.floor(now.atMs / 1000),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Folds one Mosquitto `$SYS/broker/…` message into the totals; returns
 * false for topics it does not use. Mosquitto publishes these every
 * `sys_interval` seconds (and some only when they change).
 */
export function applySys(totals: BrokerTotals, topic: string, payload: string): boolean {
  const n = Number.parseFloat(payload); // `uptime` is "3344 seconds"
  if (!Number.isFinite(n)) return false;
  switch (topic) {
    case '$SYS/broker/clients/connected':
      totals.clientsConnected = n;
      return true;
    case '$SYS/broker/publish/messages/received':
      totals.messagesIn = n;
      return true;
    case '$SYS/broker/publish/messages/sent':
      totals.messagesOut = n;
      return true;
    case '$SYS/broker/publish/messages/dropped':
      totals.dropped = n;
      return true;
    case '$SYS/broker/uptime':
      totals.uptimeS = n;
      return true;
    default:
      return false;
  }
}

export function emptyTotals(): BrokerTotals {
  return { clientsConnected: null, messagesIn: null, messagesOut: null, dropped: null, uptimeS: null };
}

/**
 * Broker health on seed 003's topics: `iot/broker/status` (retained
 * `online`; `offline` on a clean stop, and as the will of telehub's
 * connection to an external broker) and `iot/broker/stats` every
 * TELEHUB_BROKER_STATS_INTERVAL_S. The figures come from the embedded
 * broker's own counters, or from an external broker's `$SYS` (sys-relay.ts);
 * the last message is also what `/metrics` shows.
 *
 * Takes: a way to read totals and a way to publish. Gives: the messages and `last`.
 */
import type { Logger } from 'pino';
import { statsMessage, type BrokerStatsMessage, type BrokerTotals, type Reading } from './stats.js';

export const BROKER_STATUS_TOPIC = 'iot/broker/status';
export const BROKER_STATS_TOPIC = 'iot/broker/stats';

export interface HealthPublisher {
  publish(topic: string, payload: string, retain: boolean): void;
}

export class BrokerHealth {
  private timer?: NodeJS.Timeout;
  private prev?: Reading;
  /** The last stats published (undefined before the first, or when the broker tells nothing). */
  last?: BrokerStatsMessage;

  constructor(
    private readonly source: BrokerStatsMessage['source'],
    private readonly read: () => BrokerTotals | undefined,
    private readonly out: HealthPublisher,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Says `online` (retained) and starts the stats. */
  start(announce = true): void {
    if (announce) this.out.publish(BROKER_STATUS_TOPIC, 'online', true);
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** Publishes one stats message now (also called by the interval). */
  tick(): void {
    const totals = this.read();
    if (!totals) return; // an external broker that has sent no $SYS yet
    const now = { atMs: Date.now(), totals: { ...totals } };
    this.last = statsMessage(this.source, now, this.prev);
    this.prev = now;
    try {
      this.out.publish(BROKER_STATS_TOPIC, JSON.stringify(this.last), false);
    } catch (err) {
      this.log.warn({ err }, 'Could not publish broker stats.');
    }
  }

  /** Stops the stats and says `offline` (retained): a clean stop sends no will. */
  stop(announce = true): void {
    clearInterval(this.timer);
    if (announce) this.out.publish(BROKER_STATUS_TOPIC, 'offline', true);
  }
}

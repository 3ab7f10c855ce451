/**
 * The clock side of trips: every TELEHUB_TRIP_TICK_S, ends the trips in
 * progress that no new data will continue (expireTrips). One tick at a time;
 * a failed tick is logged and the next one tries again.
 */
import type { Logger } from 'pino';
import type { Store } from '../../storage/store.js';
import type { TripSettings } from '../../trips/index.js';
import type { TripSettingsFor } from '../../trips/config.js';
import { expireTrips } from './index.js';

export class TripTick {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly opts: { settings: TripSettings; settingsFor?: TripSettingsFor; tickMs: number },
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.tick().finally(() => (this.running = undefined));
    }, this.opts.tickMs);
    this.timer.unref();
  }

  /** One re-evaluation against the clock now. */
  async tick(now = Date.now()): Promise<void> {
    try {
      await expireTrips(this.store.kind, this.store.processors, this.opts.settingsFor ?? this.opts.settings, now);
    } catch (err) {
      this.log.warn({ err }, 'Trip tick failed; trying again at the next tick.');
    }
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }
}

/**
 * Writes the presence monitor's transitions to the commit log, in the order
 * they were made, a batch at a time (whatever queued while the previous
 * append ran). A failed append is retried with back-off (100 ms doubling to
 * 5 s) for as long as the process runs: a transition is never dropped for a
 * store that is away, and a later one never overtakes it. An append that
 * committed but whose reply was lost is retried harmlessly: the table's key
 * (device, time, state) stores it once. After each commit `onCommit` rings
 * (the processors' wake-up).
 */
import type { Logger } from 'pino';
import type { PresenceTransitionEntry } from '../storage/log.js';

export type AppendPresence = (entries: readonly PresenceTransitionEntry[]) => Promise<void>;

export class PresenceWriter {
  private queue: PresenceTransitionEntry[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;
  private wakeRetry: (() => void) | undefined;

  constructor(
    private readonly append: AppendPresence,
    private readonly log: Logger,
    private readonly onCommit: () => void = () => {},
  ) {}

  /** Transitions queued or being written. */
  get pending(): number {
    return this.queue.length + (this.running === undefined ? 0 : 1);
  }

  write(entries: readonly PresenceTransitionEntry[]): void {
    if (entries.length === 0) return;
    this.queue.push(...entries);
    this.kick();
  }

  private kick(): void {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  /** Resolves once everything queued so far is committed (or given up on at stop). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops retrying after the current attempt; what is queued is tried once more. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeRetry?.();
    await this.idle();
  }

  private async drain(): Promise<void> {
    let delay = 100;
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, 1000);
      try {
        await this.append(batch);
        this.queue.splice(0, batch.length);
        delay = 100;
        this.onCommit();
      } catch (err) {
        if (this.stopped) {
          this.log.warn({ err, transitions: this.queue.length }, 'Presence transitions were not stored before shutdown; the next start recomputes presence from the store.');
          this.queue = [];
          return;
        }
        this.log.warn({ err, transitions: batch.length, retryInMs: delay }, 'Presence transitions could not be stored; retrying.');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wakeRetry = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wakeRetry = undefined;
        delay = Math.min(5000, delay * 2);
      }
    }
  }
}

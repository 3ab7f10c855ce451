/**
 * In-process wake-up for readers of the commit log: the batch writer rings it
 * after commits (no data), readers wait on it between polls. A reader takes
 * `generation` before it reads the log and passes it to `wait`, so a ring
 * that came while it was reading is not missed.
 *
 * @example
 * const gen = wakeup.generation;
 * const entries = await store.log.read(cp, 500);
 * if (entries.length === 0) await wakeup.wait(1000, gen);
 */
export class Wakeup {
  private gen = 0;
  private waiters = new Set<() => void>();

  get generation(): number {
    return this.gen;
  }

  /** Wakes every waiter; never throws. */
  ring(): void {
    this.gen++;
    const w = this.waiters;
    if (w.size === 0) return;
    this.waiters = new Set();
    for (const f of w) f();
  }

  /** Resolves after `ms`, on a ring, or at once when the generation moved past `since`. */
  wait(ms: number, since?: number): Promise<void> {
    if (since !== undefined && since !== this.gen) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

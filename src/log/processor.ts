/**
 * What a processor is: a named consumer of the commit log whose state lives
 * in the store and moves in one transaction with its checkpoint (see
 * `ProcessorRunner`).
 */
import type { LogEntry, LogInterest, ProcessorStatement } from '../storage/log.js';

export type Dialect = 'sqlite' | 'postgres';

export interface Processor {
  /** Stable name: its checkpoint is stored under it (letters, digits, `_`, `.`, `-`). */
  readonly name: string;
  /** The tables holding its state; a rebuild empties them. */
  readonly tables: readonly string[];
  /**
   * Optional: the entries it needs (default: all). The store leaves the
   * others out of its reads when no processor of the runner wants them, and
   * the checkpoint moves past them all the same. A processor may still be
   * handed entries it did not ask for (another processor of the runner
   * wants them) and must pass over those.
   */
  readonly reads?: LogInterest;
  /**
   * The statements (in the store's dialect) that apply `entries` (ascending
   * seq, after the checkpoint) to the state. They run in the transaction that
   * moves the checkpoint past the last entry. Must not keep state of its own
   * between calls: after a failure the same entries come again.
   */
  apply(entries: readonly LogEntry[], dialect: Dialect): ProcessorStatement[] | Promise<ProcessorStatement[]>;
  /**
   * Optional: called after the transaction that applied `entries` and moved
   * the checkpoint past them has committed (to act on the new state, e.g.
   * wake a component). Not called again for those entries; an error here is
   * logged and does not undo the commit.
   */
  afterCommit?(entries: readonly LogEntry[]): void | Promise<void>;
  /**
   * Optional clock: for state that changes with the passing of time when no
   * entry arrives (an alert's "for 5 minutes"). The runner calls it every
   * `tickMs`, only when the processor has caught up with the log, in the
   * same loop as `apply` (never concurrently with it), and commits its
   * statements with the checkpoint unmoved (compare-and-set on it as for a
   * step). Statements that must not apply over a concurrent step in another
   * process carry an `expect` guard.
   */
  tick?(now: number, dialect: Dialect): ProcessorStatement[] | Promise<ProcessorStatement[]>;
  /** How often `tick` runs (ms). */
  readonly tickMs?: number;
}

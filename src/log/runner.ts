/**
 * Runs processors beside intake (after Marten's async daemon): each one reads
 * the commit log from its own durable checkpoint and commits its state and
 * its new checkpoint in one store transaction, so a kill -9 at any moment
 * neither loses an entry nor applies one twice.
 *
 * A processor never runs inside the write path: the batch writer only rings
 * the wake-up. One that throws is logged with its name, counted, and retried
 * from its checkpoint with exponential back-off; one that falls behind shows
 * as lag (entries and seconds). Neither delays an ACK.
 *
 * Two runners of the same processor (two processes, or a rebuild while
 * telehub runs) are safe: the checkpoint moves by compare-and-set, and the
 * loser re-reads the checkpoint and goes on from there.
 *
 * The processors share one reader of the log (`SharedLogReader`): a page is
 * read once and handed to every processor at or within it; a processor that
 * lags (rebuilt, retrying, slow) reads on its own until it is back within the
 * shared pages. Each processor still runs its own loop (apply, commit,
 * back-off, clock), so one that throws or is slow holds up no other.
 *
 * A page that changes nothing (the processor returns no statements, and has
 * no `afterCommit` to call) does not cost a transaction of its own: the
 * checkpoint moves in memory and reaches the store with the processor's next
 * commit, or within `pollMs`, or at stop. A kill -9 meanwhile only makes the
 * processor see those entries again; applying them changed nothing, so
 * nothing is applied twice (and the store never holds state without its
 * checkpoint).
 */
import type { Logger } from 'pino';
import { ALL_ENTRIES, CheckpointMovedError, unionInterest } from '../storage/log.js';
import type { Store } from '../storage/store.js';
import type { Processor } from './processor.js';
import { SharedLogReader, type SharedReaderCounters } from './shared-reader.js';
import { Wakeup } from './wakeup.js';

export interface RunnerOptions {
  /** Most entries applied in one transaction. */
  batchSize: number;
  /** Longest wait between reads of the log when nothing rang the wake-up. */
  pollMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /**
   * Least time between two reads at the head of the log, ms (default
   * FOLLOW_LINGER_MS; see SharedLogReader): a fast head is read in pages of
   * this many milliseconds' commits, not one page per commit.
   */
  lingerMs?: number;
}

/** How long a processor following a fast head lets commits gather before the next read (ms). */
export const FOLLOW_LINGER_MS = 50;

export interface ProcessorStatus {
  name: string;
  checkpoint: number;
  /** Entries after the checkpoint (counted up to LAG_COUNT_CAP). */
  lagEntries: number;
  /** Age of the oldest entry not yet applied, seconds; 0 when caught up. */
  lagSeconds: number;
  /**
   * running: following the log; retrying: its last attempt failed; stopped:
   * its runner stopped. For a processor this process does not run, what its
   * runner (another process) last recorded in the store.
   */
  state: 'running' | 'retrying' | 'stopped';
  /** Failed attempts: since this process started when it runs the processor, else as recorded in the store. */
  errors: number;
  lastError: { message: string; at: number } | null;
}

/** Entries behind are counted up to this many (a count over a huge backlog would itself be slow). */
export const LAG_COUNT_CAP = 1_000_000;

interface Running {
  processor: Processor;
  /** Where its checkpoint stands in the store, as far as this runner knows. */
  checkpoint: number;
  /** How far it has applied: past `checkpoint` by pages that changed nothing and are not yet recorded. */
  position: number;
  /** When `checkpoint` last moved here (epoch ms). */
  storedAt: number;
  state: ProcessorStatus['state'];
  errors: number;
  lastError: ProcessorStatus['lastError'];
  loop?: Promise<void>;
  /** When its clock last ran (epoch ms). */
  lastTick: number;
}

export class ProcessorRunner {
  private readonly running = new Map<string, Running>();
  private stopped = false;
  private readonly stopSignal = new Wakeup();
  private readonly reader: SharedLogReader;
  /** Called for each failed attempt (metrics). */
  onError?: (name: string) => void;

  constructor(
    private readonly store: Store,
    processors: readonly Processor[],
    private readonly opts: RunnerOptions,
    private readonly log: Logger,
    readonly wakeup = new Wakeup(),
  ) {
    for (const p of processors) {
      if (this.running.has(p.name)) throw new Error(`two processors are named ${p.name}`);
      this.running.set(p.name, { processor: p, checkpoint: 0, position: 0, storedAt: 0, state: 'stopped', errors: 0, lastError: null, lastTick: 0 });
    }
    // One read serves them all, so it fetches what any of them wants.
    const interest = unionInterest(processors.map((p) => p.reads ?? ALL_ENTRIES));
    this.reader = new SharedLogReader(store.log, { maxBatch: opts.batchSize, lingerMs: opts.lingerMs ?? FOLLOW_LINGER_MS, interest }, () => this.wakeup.generation);
  }

  /** How the shared reader served the processors (reads of the log, answers shared). */
  get readerCounters(): Readonly<SharedReaderCounters> {
    return this.reader.counters;
  }

  get names(): string[] {
    return [...this.running.keys()];
  }

  /** Registers every processor's checkpoint and starts following the log. */
  async start(): Promise<void> {
    // All registered before any follows, so those at one checkpoint start on the same shared pages.
    for (const r of this.running.values()) {
      this.at(r, await this.store.processors.register(r.processor.name));
      r.state = 'running';
      await this.record(r.processor.name, 'running');
    }
    for (const r of this.running.values()) r.loop = this.follow(r);
  }

  /** Stops after the step each processor is in; its checkpoint stays where its last commit put it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopSignal.ring();
    this.wakeup.ring();
    await Promise.all([...this.running.values()].map((r) => r.loop));
    for (const r of this.running.values()) {
      if (r.loop === undefined) continue;
      await this.flush(r).catch((err) => this.log.warn({ processor: r.processor.name, err }, 'Processor checkpoint not recorded at stop; its last pages will be read again.'));
      r.loop = undefined;
      r.state = 'stopped';
      await this.record(r.processor.name, 'stopped');
    }
  }

  /**
   * Applies entries until the processor has caught up with the log as it is
   * now (`telehub processors rebuild`, tests). Calls `progress` after each step.
   */
  async catchUp(name: string, progress?: (checkpoint: number) => void): Promise<number> {
    const r = this.running.get(name);
    if (r === undefined) throw new Error(`no processor named ${name}`);
    this.at(r, await this.store.processors.register(name));
    for (;;) {
      const n = await this.step(r, { gen: this.wakeup.generation, fresh: true });
      if (n === 0) await this.flush(r);
      progress?.(r.position);
      if (n === 0) return r.checkpoint;
    }
  }

  /** Each processor's checkpoint and lag, read from the store now. */
  async status(): Promise<ProcessorStatus[]> {
    const rows = new Map((await this.store.processors.list()).map((c) => [c.name, c]));
    const names = [...new Set([...this.running.keys(), ...rows.keys()])].sort();
    const now = Date.now();
    return Promise.all(
      names.map(async (name): Promise<ProcessorStatus> => {
        const r = this.running.get(name);
        const row = rows.get(name);
        // Where a processor run here has applied to, when the store still has the checkpoint this runner last recorded.
        const checkpoint = r !== undefined && (row === undefined || row.seq === r.checkpoint) ? r.position : (row?.seq ?? 0);
        const b = await this.store.log.backlog(checkpoint, LAG_COUNT_CAP);
        const mine = r !== undefined && r.state !== 'stopped';
        return {
          name,
          checkpoint,
          lagEntries: b.entries,
          lagSeconds: b.oldestAt === null ? 0 : Math.max(0, (now - b.oldestAt) / 1000),
          state: mine ? r.state : (row?.state ?? 'stopped'),
          errors: mine ? r.errors : (row?.errors ?? 0),
          lastError: mine ? r.lastError : (row?.lastError ?? null),
        };
      }),
    );
  }

  /**
   * Takes the page after the checkpoint (from the shared reader) and applies
   * it; returns how many log entries it moved past (wanted or not). `read.gen`
   * is the wake-up generation taken before: 0 then means nothing had
   * committed before that ring.
   */
  private async step(r: Running, read: { gen: number; fresh?: boolean }): Promise<number> {
    const { entries, to } = await this.reader.sliceAfter(r.position, read);
    if (to <= r.position) return 0;
    const moved = to - r.position;
    const statements = entries.length === 0 ? [] : await r.processor.apply(entries, this.store.kind);
    if (statements.length === 0 && (r.processor.afterCommit === undefined || entries.length === 0)) {
      // Nothing to commit with it: the checkpoint follows later (see the class comment).
      r.position = to;
      if (Date.now() - r.storedAt >= this.opts.pollMs) await this.flush(r);
      this.reader.release(this.lowestPosition());
      return moved;
    }
    await this.store.processors.commit(r.processor.name, r.checkpoint, to, statements);
    this.at(r, to);
    this.reader.release(this.lowestPosition());
    if (r.processor.afterCommit) {
      try {
        await r.processor.afterCommit(entries);
      } catch (err) {
        this.log.warn({ processor: r.processor.name, err, checkpoint: to }, 'Processor after-commit step failed; its state is committed.');
      }
    }
    return moved;
  }

  /**
   * Runs the processor's clock when it is due; returns how long until the
   * next one is (Infinity without a clock). Only called when caught up, so a
   * tick never judges the passing of time on a state that entries already
   * committed would have changed.
   */
  private async tick(r: Running): Promise<number> {
    const p = r.processor;
    if (p.tick === undefined) return Infinity;
    const every = Math.max(1, p.tickMs ?? 1000);
    const now = Date.now();
    if (now - r.lastTick < every) return r.lastTick + every - now;
    const statements = await p.tick(now, this.store.kind);
    if (statements.length > 0) {
      // With the pages applied since the recorded checkpoint (they changed nothing), as a step would.
      await this.store.processors.commit(p.name, r.checkpoint, r.position, statements);
      this.at(r, r.position);
    }
    r.lastTick = now;
    return every;
  }

  private async follow(r: Running): Promise<void> {
    const name = r.processor.name;
    for (let attempt = 0; !this.stopped; ) {
      const gen = this.wakeup.generation;
      try {
        const n = await this.step(r, { gen });
        const nextTick = n === 0 ? await this.tick(r) : Infinity;
        // Idle with pages not yet recorded: record them by the time the poll would be due.
        const flushIn = r.position === r.checkpoint ? Infinity : Math.max(0, r.storedAt + this.opts.pollMs - Date.now());
        if (n === 0 && flushIn === 0) await this.flush(r);
        if (r.state === 'retrying') {
          this.log.info({ processor: name, checkpoint: r.checkpoint }, 'Processor is applying entries again.');
          r.state = 'running';
          await this.record(name, 'running');
        }
        attempt = 0;
        if (n === 0) await this.wakeup.wait(Math.min(this.opts.pollMs, nextTick, flushIn || Infinity), gen);
      } catch (err) {
        if (this.stopped) break;
        if (err instanceof CheckpointMovedError) {
          // A rebuild or another runner moved it: go on from where it is now.
          const at = await this.store.processors.get(name).catch(() => undefined);
          this.log.info({ processor: name, from: r.checkpoint, to: at }, 'Processor checkpoint moved elsewhere; continuing from there.');
          if (at !== undefined) this.at(r, at);
          continue;
        }
        r.state = 'retrying';
        r.errors++;
        const message = err instanceof Error ? err.message : String(err);
        r.lastError = { message, at: Date.now() };
        try {
          this.onError?.(name);
        } catch {
          // metrics must not stop the loop
        }
        await this.record(name, 'retrying', message);
        const delay = this.backoff(attempt++);
        this.log.error({ processor: name, err, checkpoint: r.checkpoint, attempt, retryInMs: delay }, 'Processor failed; retrying from its checkpoint.');
        await this.stopSignal.wait(delay);
        // The commit may have failed after the server applied it (connection lost at COMMIT): trust the store.
        const at = await this.store.processors.get(name).catch(() => undefined);
        if (at !== undefined) this.at(r, at);
      }
    }
  }

  /** Where the store has the checkpoint (read or just committed): position and checkpoint both there. */
  private at(r: Running, seq: number): void {
    r.checkpoint = seq;
    r.position = seq;
    r.storedAt = Date.now();
  }

  /** Records the checkpoint of pages that changed nothing (one transaction moving only the checkpoint). */
  private async flush(r: Running): Promise<void> {
    if (r.position === r.checkpoint) return;
    await this.store.processors.commit(r.processor.name, r.checkpoint, r.position, []);
    this.at(r, r.position);
  }

  /** How far the least advanced processor following the log here has applied: kept pages below it serve no one. */
  private lowestPosition(): number {
    let low = Infinity;
    for (const r of this.running.values()) if (r.loop !== undefined && r.position < low) low = r.position;
    return low;
  }

  /** Stores the runner's state for other processes (`telehub processors`); best effort, as the store may be what failed. */
  private async record(name: string, state: ProcessorStatus['state'], error?: string): Promise<void> {
    await this.store.processors.recordState(name, state, error).catch(() => {});
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.opts.retryMaxMs, this.opts.retryMinMs * 2 ** Math.min(attempt, 30));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }
}

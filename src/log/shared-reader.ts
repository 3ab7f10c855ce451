/**
 * One reader of the commit log for all the processors of a runner: a page
 * read once is kept (a few pages) and handed to every processor whose
 * checkpoint lies at or within it, instead of each processor reading the
 * same entries again.
 *
 * - A processor at the newest page's end asks for the next page: the first
 *   one to ask starts the read, the others join it (single flight), so N
 *   processors at the head cost one read per page.
 * - A processor whose checkpoint lies inside a kept page gets the rest of that
 *   page (a slice: still one snapshot's entries, all of them between its
 *   checkpoint and the page's end).
 * - A processor behind the kept pages (rebuilt, back from retrying, slow)
 *   reads on its own, full pages, until its checkpoint falls inside the kept
 *   pages again; then it is served from them (it has rejoined).
 * - A processor ahead of the kept pages (another runner or a rebuild moved its
 *   checkpoint) moves the shared position forward to it: the shared reader
 *   follows the front, laggards read on their own.
 *
 * The shared page size adapts: a page that comes back full doubles the next
 * limit (a backlog: fewer, bigger transactions, up to the processor batch
 * size); a short one sets it to twice what came (near the head: small steps,
 * applied as soon as they commit).
 *
 * Wake-ups: a processor that finds nothing waits for the next ring. It may
 * only take "nothing" from a read issued after the generation it took
 * before asking (else a commit rung between that read's start and its
 * asking would be missed until the poll), so a request with a newer
 * generation waits for an older read in flight and then reads again.
 *
 * @example
 * const reader = new SharedLogReader(store.log, { maxBatch: 1000 }, () => wakeup.generation);
 * const entries = await reader.after(checkpoint, { gen: wakeup.generation });
 */
import type { CommitLog, LogEntry } from '../storage/log.js';

export interface SharedReaderOptions {
  /** Largest page, and the page size of a processor reading on its own. */
  maxBatch: number;
  /** Smallest shared page (default: an eighth of maxBatch, at least 1). */
  minBatch?: number;
  /** Entries kept for processors a little behind the front (default: 4 × maxBatch; the newest page is always kept). */
  keepEntries?: number;
}

export interface AfterOptions {
  /** The wake-up generation the caller took before asking: an empty answer comes from a read issued at or after it. */
  gen: number;
  /** An empty answer must come from a read issued after this call (catch-up: "caught up with the log as it is now"). */
  fresh?: boolean;
}

/** How the reader served its callers (tests, diagnostics). */
export interface SharedReaderCounters {
  /** Reads of the log for the shared position (one per page, whoever asked). */
  sharedReads: number;
  /** Reads of processors behind (or beside) the shared pages. */
  ownReads: number;
  /** Answers taken from a kept page or a read another processor started. */
  shared: number;
}

interface Page {
  /** The page holds every entry with after < seq ≤ to. */
  after: number;
  to: number;
  entries: readonly LogEntry[];
}

interface Flight {
  after: number;
  /** Wake-up generation when it was issued. */
  gen: number;
  /** Order of issue (for `fresh`). */
  id: number;
  page: Promise<Page>;
}

export class SharedLogReader {
  private pages: Page[] = [];
  private kept = 0;
  /** End of the newest page: where the next shared read starts (undefined until the first). */
  private front: number | undefined;
  private flight: Flight | undefined;
  private issued = 0;
  private limit: number;
  private readonly min: number;
  private readonly max: number;
  private readonly keep: number;
  readonly counters: SharedReaderCounters = { sharedReads: 0, ownReads: 0, shared: 0 };

  constructor(
    private readonly log: CommitLog,
    opts: SharedReaderOptions,
    private readonly generation: () => number,
  ) {
    this.max = Math.max(1, opts.maxBatch);
    this.min = Math.min(this.max, Math.max(1, opts.minBatch ?? Math.floor(this.max / 8)));
    this.keep = opts.keepEntries ?? 4 * this.max;
    this.limit = this.min;
  }

  /** Up to maxBatch entries with seq > `checkpoint`, ascending, all from one snapshot (see CommitLog.read). */
  async after(checkpoint: number, opts: AfterOptions): Promise<readonly LogEntry[]> {
    const mark = this.issued;
    for (;;) {
      const kept = this.slice(checkpoint);
      if (kept !== undefined) {
        this.counters.shared++;
        return kept;
      }
      const f = this.flight;
      if (f !== undefined) {
        if (f.after === checkpoint && f.gen >= opts.gen && (!opts.fresh || f.id > mark)) {
          this.counters.shared++;
          return (await f.page).entries;
        }
        if (this.front !== undefined && checkpoint < this.front) return this.own(checkpoint);
        // At or ahead of the front while an older read runs: wait for it, then look again.
        await f.page.catch(() => {});
        continue;
      }
      if (this.front !== undefined && checkpoint < this.front) return this.own(checkpoint);
      if (this.front !== checkpoint) this.rebase(checkpoint);
      return (await this.readFront()).entries;
    }
  }

  /** Forgets kept pages every processor has passed (`low`: the smallest checkpoint of those that still may ask). */
  release(low: number): void {
    while (this.pages.length > 1 && this.pages[0].to <= low) this.drop();
  }

  /** The rest of the kept page holding `checkpoint`, if any. */
  private slice(checkpoint: number): readonly LogEntry[] | undefined {
    const pages = this.pages;
    if (pages.length === 0 || checkpoint < pages[0].after || checkpoint >= pages[pages.length - 1].to) return undefined;
    for (const p of pages) {
      if (checkpoint >= p.to) continue;
      if (checkpoint === p.after) return p.entries;
      // First entry past the checkpoint (entries ascend; the checkpoint need not be one of them).
      let lo = 0;
      let hi = p.entries.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (p.entries[mid].seq <= checkpoint) lo = mid + 1;
        else hi = mid;
      }
      return p.entries.slice(lo);
    }
    return undefined;
  }

  private async own(checkpoint: number): Promise<readonly LogEntry[]> {
    this.counters.ownReads++;
    return this.log.read(checkpoint, this.max);
  }

  /** Moves the shared position to `to` (the first read, or a processor ahead of it), dropping kept pages. */
  private rebase(to: number): void {
    this.pages = [];
    this.kept = 0;
    this.front = to;
    this.limit = this.min;
  }

  private readFront(): Promise<Page> {
    const after = this.front!;
    const limit = this.limit;
    this.counters.sharedReads++;
    const flight: Flight = {
      after,
      gen: this.generation(),
      id: ++this.issued,
      page: this.log.read(after, limit).then(
        (entries) => {
          if (this.flight === flight) this.flight = undefined;
          const page: Page = { after, to: entries.length === 0 ? after : entries[entries.length - 1].seq, entries };
          if (entries.length > 0 && this.front === after) {
            this.pages.push(page);
            this.kept += entries.length;
            this.front = page.to;
            while (this.pages.length > 1 && this.kept > this.keep) this.drop();
          }
          this.limit = entries.length >= limit ? Math.min(this.max, limit * 2) : Math.min(this.max, Math.max(this.min, 2 * entries.length));
          return page;
        },
        (err: unknown) => {
          if (this.flight === flight) this.flight = undefined;
          throw err;
        },
      ),
    };
    this.flight = flight;
    return flight.page;
  }

  private drop(): void {
    const p = this.pages.shift();
    if (p !== undefined) this.kept -= p.entries.length;
  }
}

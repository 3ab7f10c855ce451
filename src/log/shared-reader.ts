/**
 * One reader of the commit log for all the processors of a runner: a page
 * read once is kept (a few pages) and handed to every processor whose
 * checkpoint lies at or within it, instead of each processor reading the
 * same entries again.
 *
 * - Processors at the same checkpoint share one read (single flight): N
 *   processors following the head cost one read per page.
 * - A processor whose checkpoint lies inside a kept page gets the rest of that
 *   page (a slice: still one snapshot's entries, all of them between its
 *   checkpoint and the page's end).
 * - A processor behind the kept pages (rebuilt, back from retrying, slow)
 *   reads on its own, full pages (kept too, so laggards at one checkpoint
 *   share them), until its checkpoint falls inside the kept pages again; then
 *   it is served from them: it has rejoined.
 *
 * The page size at the front (the furthest any read has reached) adapts: a
 * page that comes back full doubles the next limit (a backlog: fewer, bigger
 * transactions, up to the processor batch size); a short one sets it to
 * twice what came (near the head: small steps). Reads behind the front take
 * full pages.
 *
 * Linger: after a read at the front that came back short (it reached the
 * head), the next read at the front is not issued before `lingerMs` after
 * it. A head that moves fast then costs one read, and each processor one
 * transaction, per `lingerMs` rather than per commit of the write path (at
 * 20,000 events/s and pages of a few dozen entries, hundreds of reads and
 * transactions a second, which is what following the log cost on 2 cores);
 * a quiet head still gets each commit read within `lingerMs` of its ring.
 * Catch-up (`fresh`) and backlogs (a full page last) never linger.
 *
 * Interest: the reader fetches only the entries some processor of its runner
 * wants (`SharedReaderOptions.interest`, the union of their `reads`); a page
 * says how far it covered (`to`), so processors move past the entries no one
 * wanted without fetching them. With the default processors off, the only
 * follower is the command dispatcher, and it reads node status messages and
 * presence transitions alone, not the telemetry that makes up the log.
 *
 * Wake-ups: a processor that finds nothing waits for the next ring. It may
 * only take "nothing" from a read issued at or after the wake-up generation
 * it took before asking (else a commit rung between that read's start and its
 * asking would wait for the poll), so a request with a newer generation
 * waits for an older read in flight and then reads again.
 *
 * @example
 * const reader = new SharedLogReader(store.log, { maxBatch: 1000 }, () => wakeup.generation);
 * const entries = await reader.after(checkpoint, { gen: wakeup.generation });
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ALL_ENTRIES, type CommitLog, type LogEntry, type LogInterest } from '../storage/log.js';

export interface SharedReaderOptions {
  /** Largest page, and the page size of a processor reading on its own. */
  maxBatch: number;
  /** Smallest shared page (default: an eighth of maxBatch, at least 1). */
  minBatch?: number;
  /** Entries kept for processors a little behind (default: 4 × maxBatch); over it, the pages furthest behind go first. */
  keepEntries?: number;
  /** Least time between the start of a read at the front that reached the head and the next read at the front, ms (default 0). */
  lingerMs?: number;
  /** The entries any of its processors wants (default: all); the store leaves the others out of the pages. */
  interest?: LogInterest;
}

/** An answer: the wanted entries with checkpoint < seq ≤ `to`, all of them (`to` may pass entries no one wanted). */
export interface LogSlice {
  entries: readonly LogEntry[];
  to: number;
}

export interface AfterOptions {
  /** The wake-up generation the caller took before asking: an empty answer comes from a read issued at or after it. */
  gen: number;
  /** An empty answer must come from a read issued after this call (catch-up: "caught up with the log as it is now"). */
  fresh?: boolean;
}

/** How the reader served its callers (tests, diagnostics). */
export interface SharedReaderCounters {
  /** Reads at the front (the furthest any read had reached): one per page, however many processors asked. */
  sharedReads: number;
  /** Reads behind the front: processors catching up on their own. */
  ownReads: number;
  /** Answers taken from a kept page or a read another processor started. */
  shared: number;
}

interface Page {
  /** The page holds every wanted entry with after < seq ≤ to. */
  after: number;
  to: number;
  entries: readonly LogEntry[];
}

const sliceOf = (p: Page): LogSlice => ({ entries: p.entries, to: p.to });

/** What a kept page counts against `keepEntries` (an empty one 1, so pages of nothing wanted cannot pile up). */
const weight = (p: Page) => p.entries.length || 1;

interface Flight {
  /** Wake-up generation when its read was issued (Infinity while it lingers: it will be issued after any ring seen so far). */
  readonly gen: number;
  /** Order of issue (for `fresh`). */
  id: number;
  page: Promise<Page>;
}

export class SharedLogReader {
  /** Kept pages, oldest read first. */
  private pages: Page[] = [];
  private kept = 0;
  /** The furthest position any read has reached: reads from there on take the adaptive limit. */
  private front = 0;
  /** Reads in flight, by the position they read after. */
  private readonly flights = new Map<number, Flight>();
  private issued = 0;
  private limit: number;
  private readonly min: number;
  private readonly max: number;
  private readonly keep: number;
  private readonly linger: number;
  private readonly interest: LogInterest;
  /** When the last read at the front that came back short was issued (performance.now()). */
  private headReadAt = -Infinity;
  readonly counters: SharedReaderCounters = { sharedReads: 0, ownReads: 0, shared: 0 };

  constructor(
    private readonly log: CommitLog,
    opts: SharedReaderOptions,
    private readonly generation: () => number,
  ) {
    this.max = Math.max(1, opts.maxBatch);
    this.min = Math.min(this.max, Math.max(1, opts.minBatch ?? Math.floor(this.max / 8)));
    this.keep = opts.keepEntries ?? 4 * this.max;
    this.linger = Math.max(0, opts.lingerMs ?? 0);
    this.interest = opts.interest ?? ALL_ENTRIES;
    this.limit = this.min;
  }

  /** Up to maxBatch entries with seq > `checkpoint`, ascending, all from one snapshot (see CommitLog.read). */
  async after(checkpoint: number, opts: AfterOptions): Promise<readonly LogEntry[]> {
    return (await this.sliceAfter(checkpoint, opts)).entries;
  }

  /**
   * The wanted entries of up to maxBatch entries after `checkpoint` and how
   * far they reach: a caller moves its position to `to` even when no entry
   * came (all were of kinds no processor here wants).
   */
  async sliceAfter(checkpoint: number, opts: AfterOptions): Promise<LogSlice> {
    const mark = this.issued;
    for (;;) {
      const kept = this.slice(checkpoint);
      if (kept !== undefined) {
        this.counters.shared++;
        return kept;
      }
      const f = this.flights.get(checkpoint);
      if (f === undefined) return sliceOf(await this.read(checkpoint, opts.fresh === true));
      if (f.gen >= opts.gen && (!opts.fresh || f.id > mark)) {
        this.counters.shared++;
        return sliceOf(await f.page);
      }
      // Issued before the ring (or the call) this asker must see past: wait for it, then look again.
      await f.page.catch(() => {});
    }
  }

  /** Forgets kept pages every processor has passed (`low`: the smallest checkpoint of those that may still ask). */
  release(low: number): void {
    if (this.pages.every((p) => p.to > low)) return;
    this.pages = this.pages.filter((p) => p.to > low);
    this.kept = this.pages.reduce((n, p) => n + weight(p), 0);
  }

  /**
   * Over the limit of kept entries, forgets the pages furthest behind first
   * (maybe the one just read by a laggard): the pages at the front serve the
   * processors that follow the head, which are most of them.
   */
  private trim(): void {
    while (this.kept > this.keep && this.pages.length > 0) {
      let low = 0;
      for (let i = 1; i < this.pages.length; i++) if (this.pages[i].to < this.pages[low].to) low = i;
      this.kept -= weight(this.pages.splice(low, 1)[0]);
    }
  }

  /** The rest of a kept page holding `checkpoint` (the newest such page), if any. */
  private slice(checkpoint: number): LogSlice | undefined {
    for (let i = this.pages.length - 1; i >= 0; i--) {
      const p = this.pages[i];
      if (checkpoint < p.after || checkpoint >= p.to) continue;
      if (checkpoint === p.after) return { entries: p.entries, to: p.to };
      // First entry past the checkpoint (entries ascend; the checkpoint need not be one of them).
      let lo = 0;
      let hi = p.entries.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (p.entries[mid].seq <= checkpoint) lo = mid + 1;
        else hi = mid;
      }
      return { entries: p.entries.slice(lo), to: p.to };
    }
    return undefined;
  }

  private read(after: number, fresh: boolean): Promise<Page> {
    const atFront = after >= this.front;
    const limit = atFront ? this.limit : this.max;
    if (atFront) this.counters.sharedReads++;
    else this.counters.ownReads++;
    const wait = atFront && !fresh ? this.headReadAt + this.linger - performance.now() : 0;
    // Lingering, the read is issued later than any ring seen by one who asks meanwhile.
    const issuing = { gen: wait > 0 ? Infinity : this.generation(), at: performance.now() };
    const issue = () => {
      issuing.gen = this.generation();
      issuing.at = performance.now();
      return this.log.readPage(after, limit, this.interest);
    };
    const flight: Flight = {
      get gen() {
        return issuing.gen;
      },
      id: ++this.issued,
      page: (wait > 0 ? delay(wait).then(issue) : issue()).then(
        (read) => {
          if (this.flights.get(after) === flight) this.flights.delete(after);
          const page: Page = { after, to: read.to, entries: read.entries };
          if (page.to > after) {
            this.pages.push(page);
            this.kept += weight(page);
            this.trim();
            if (page.to > this.front) this.front = page.to;
          }
          if (atFront) {
            const short = read.scanned < limit;
            this.limit = short ? Math.min(this.max, Math.max(this.min, 2 * read.scanned)) : Math.min(this.max, limit * 2);
            if (short) this.headReadAt = Math.max(this.headReadAt, issuing.at);
            else this.headReadAt = -Infinity;
          }
          return page;
        },
        (err: unknown) => {
          if (this.flights.get(after) === flight) this.flights.delete(after);
          throw err;
        },
      ),
    };
    this.flights.set(after, flight);
    return flight.page;
  }
}

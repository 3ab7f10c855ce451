/**
 * SharedLogReader's own rules, against an in-memory log whose reads the test
 * releases one by one (so "a read in flight while a commit rings" is exact,
 * not a race): readers at the front share one read, readers inside a kept
 * page get its rest, laggards read on their own, a processor ahead moves the
 * front, and an empty answer never comes from a read older than the ring the
 * asker saw; after a read that reached the head the next one lingers. The
 * runner over real stores: runner.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pageOf, type CommitLog, type LogEntry, type LogInterest, type LogPage } from '../storage/log.js';
import { SharedLogReader } from './shared-reader.js';

/** A log of event-less entries (the reader looks only at seq); reads wait until `release`d. */
class HeldLog implements CommitLog {
  seqs: number[] = [];
  readonly reads: { after: number; limit: number; release: () => void }[] = [];
  /** Answer reads at once (no holding). */
  open = false;

  append(...seqs: number[]): void {
    this.seqs.push(...seqs);
  }

  read(after: number, limit: number): Promise<LogEntry[]> {
    return new Promise((resolve) => {
      // The snapshot is taken when the read is released (as a statement's is when it runs).
      const release = () => resolve(this.seqs.filter((s) => s > after).slice(0, limit).map((seq) => ({ seq, kind: 'deadletter', deadLetter: {} }) as unknown as LogEntry));
      this.reads.push({ after, limit, release });
      if (this.open) release();
    });
  }

  async readPage(after: number, limit: number, interest: LogInterest): Promise<LogPage> {
    return pageOf(after, await this.read(after, limit), interest);
  }

  async head(): Promise<number> {
    return this.seqs.at(-1) ?? 0;
  }

  async backlog(): Promise<{ entries: number; oldestAt: number | null }> {
    return { entries: 0, oldestAt: null };
  }
}

const seqsOf = (es: readonly LogEntry[]) => es.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Lets pending promise callbacks run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('SharedLogReader', () => {
  it('readers at the front share one read; one inside a kept page gets its rest', async () => {
    const log = new HeldLog();
    log.append(...range(1, 10));
    let gen = 0;
    const reader = new SharedLogReader(log, { maxBatch: 100, minBatch: 100 }, () => gen);
    const asks = [reader.after(0, { gen }), reader.after(0, { gen }), reader.after(0, { gen })];
    await settle();
    assert.equal(log.reads.length, 1, 'three readers at the front, one read');
    log.reads[0].release();
    for (const a of await Promise.all(asks)) assert.deepEqual(seqsOf(a), range(1, 10));
    assert.deepEqual(seqsOf(await reader.after(4, { gen })), range(5, 10), 'the rest of the kept page');
    assert.equal(log.reads.length, 1);
    assert.deepEqual(reader.counters, { sharedReads: 1, ownReads: 0, shared: 3 });
  });

  it('an empty answer comes only from a read issued after the ring the asker saw', async () => {
    const log = new HeldLog();
    let gen = 0;
    const reader = new SharedLogReader(log, { maxBatch: 100 }, () => gen);
    const first = reader.after(0, { gen: 0 });
    await settle();
    // A commit lands and rings while that read is in flight (its snapshot may predate the commit).
    log.append(1, 2);
    gen++;
    const second = reader.after(0, { gen });
    await settle();
    assert.equal(log.reads.length, 1, 'the second asker does not start a read beside the first');
    // The first read's snapshot is older than the commit.
    const snapshot = log.seqs;
    log.seqs = [];
    log.reads[0].release();
    log.seqs = snapshot;
    assert.deepEqual(seqsOf(await first), []);
    await settle();
    assert.equal(log.reads.length, 2, 'the asker that saw the ring reads again');
    log.reads[1].release();
    assert.deepEqual(seqsOf(await second), [1, 2]);
  });

  it('a fresh ask (catch-up) does not take the answer of a read issued before it', async () => {
    const log = new HeldLog();
    const reader = new SharedLogReader(log, { maxBatch: 100 }, () => 0);
    const polling = reader.after(0, { gen: 0 });
    await settle();
    log.append(1); // written without a ring (another process, or a test's direct write)
    const fresh = reader.after(0, { gen: 0, fresh: true });
    const snapshot = log.seqs;
    log.seqs = [];
    log.reads[0].release();
    log.seqs = snapshot;
    assert.deepEqual(seqsOf(await polling), []);
    await settle();
    log.reads[1].release();
    assert.deepEqual(seqsOf(await fresh), [1]);
  });

  it('a laggard reads full pages on its own until it is within the kept pages, then is served from them', async () => {
    const log = new HeldLog();
    log.open = true;
    log.append(...range(1, 100));
    const reader = new SharedLogReader(log, { maxBatch: 10, minBatch: 10, keepEntries: 20 }, () => 0);
    // The front moves to 100 by shared reads; only the last 20 entries stay kept.
    let front = 0;
    while (front < 100) front = (await reader.after(front, { gen: 0 })).at(-1)!.seq;
    assert.equal(reader.counters.sharedReads, 10);
    let cp = 0;
    const own: number[] = [];
    while (cp < 100) {
      const before = reader.counters.ownReads;
      const page = await reader.after(cp, { gen: 0 });
      assert.deepEqual(seqsOf(page), range(cp + 1, Math.min(100, page.at(-1)!.seq)), 'no gap, no repeat');
      if (reader.counters.ownReads > before) own.push(cp);
      cp = page.at(-1)!.seq;
    }
    assert.deepEqual(own, [0, 10, 20, 30, 40, 50, 60, 70], 'own reads while behind the kept pages (80..100), none after');
    assert.equal(reader.counters.sharedReads, 10);
  });

  it('with an interest, a page of nothing wanted still moves its readers on, is shared, and counts as full by what it covered', async () => {
    const log = new HeldLog();
    log.open = true;
    log.append(...range(1, 25));
    // HeldLog's entries are dead letters: this reader wants none of them.
    const reader = new SharedLogReader(log, { maxBatch: 40, minBatch: 10, interest: { events: 'all', deadLetters: false, presence: false } }, () => 0);
    assert.deepEqual(await reader.sliceAfter(0, { gen: 0 }), { entries: [], to: 10 });
    assert.deepEqual(await reader.sliceAfter(0, { gen: 0 }), { entries: [], to: 10 }, 'a second asker at 0 is served the kept page');
    assert.deepEqual(await reader.sliceAfter(5, { gen: 0 }), { entries: [], to: 10 }, 'and one inside it');
    assert.equal(reader.counters.sharedReads, 1);
    // 10 entries covered of a limit of 10: full, so the next page is twice as large.
    assert.deepEqual(await reader.sliceAfter(10, { gen: 0 }), { entries: [], to: 25 });
    assert.equal(log.reads.at(-1)!.limit, 20);
    assert.deepEqual(await reader.sliceAfter(25, { gen: 0 }), { entries: [], to: 25 }, 'at the head: nothing, and no move');
  });

  it('pages at the front grow when full and shrink near the head; behind it they are full', async () => {
    const log = new HeldLog();
    log.open = true;
    log.append(...range(1, 900));
    const reader = new SharedLogReader(log, { maxBatch: 400, minBatch: 50 }, () => 0);
    assert.deepEqual(seqsOf(await reader.after(0, { gen: 0 })), range(1, 50));
    // Another runner moved this processor's checkpoint to 500: beyond the front, so it reads there.
    assert.deepEqual(seqsOf(await reader.after(500, { gen: 0 })), range(501, 600));
    let cp = 600;
    while (cp < 900) cp = (await reader.after(cp, { gen: 0 })).at(-1)!.seq;
    assert.deepEqual(seqsOf(await reader.after(900, { gen: 0 })), []);
    log.append(901, 902);
    assert.deepEqual(seqsOf(await reader.after(900, { gen: 0 })), [901, 902]);
    // Full pages double (100, 200, 400); a short one (100 of 400) gives twice what came; an empty one the smallest.
    assert.deepEqual(log.reads.map((r) => r.limit), [50, 100, 200, 400, 200, 50]);
    assert.equal(reader.counters.ownReads, 0);
    assert.deepEqual(seqsOf(await reader.after(50, { gen: 0 })), range(51, 450), 'a laggard reads the largest page');
    assert.equal(reader.counters.ownReads, 1);
  });

  it('laggards at one checkpoint share their reads too', async () => {
    const log = new HeldLog();
    log.append(...range(1, 30));
    const reader = new SharedLogReader(log, { maxBatch: 10, minBatch: 10 }, () => 0);
    log.open = true;
    await reader.after(20, { gen: 0 }); // the front is at 30
    log.open = false;
    const a = reader.after(0, { gen: 0 });
    const b = reader.after(0, { gen: 0 });
    await settle();
    assert.equal(log.reads.length, 2, 'one read for both');
    log.reads[1].release();
    assert.deepEqual(seqsOf(await a), range(1, 10));
    assert.deepEqual(seqsOf(await b), range(1, 10));
    assert.deepEqual(seqsOf(await reader.after(5, { gen: 0 })), range(6, 10), 'and the page is kept for a third');
    assert.equal(reader.counters.ownReads, 1);
  });

  it('lingers after a read that reached the head: askers meanwhile share one later read; a catch-up or a full page does not wait', async () => {
    const log = new HeldLog();
    log.open = true;
    log.append(1, 2, 3);
    let gen = 0;
    const reader = new SharedLogReader(log, { maxBatch: 100, minBatch: 100, lingerMs: 1000 }, () => gen);
    assert.deepEqual(seqsOf(await reader.after(0, { gen })), [1, 2, 3], 'a short page: the head');
    log.append(4, 5);
    gen++;
    // The next read at the front lingers: not issued yet, and two askers share it.
    const a = reader.after(3, { gen });
    const b = reader.after(3, { gen });
    await settle();
    assert.equal(log.reads.length, 1, 'no read during the linger');
    // A catch-up (fresh) does not wait for it.
    const other = new SharedLogReader(log, { maxBatch: 100, minBatch: 100, lingerMs: 1000 }, () => gen);
    assert.deepEqual(seqsOf(await other.after(0, { gen })), [1, 2, 3, 4, 5]);
    assert.deepEqual(seqsOf(await other.after(5, { gen, fresh: true })), [], 'fresh: read at once');
    assert.equal(log.reads.length, 3);
    // The lingering read comes, once, for both askers, and sees what committed before it.
    log.append(6);
    assert.deepEqual(seqsOf(await a), [4, 5, 6]);
    assert.deepEqual(seqsOf(await b), [4, 5, 6]);
    assert.equal(log.reads.length, 4);
    // After a full page (a backlog) the next read is not held.
    const fast = new SharedLogReader(log, { maxBatch: 2, minBatch: 2, lingerMs: 60_000 }, () => gen);
    assert.deepEqual(seqsOf(await fast.after(0, { gen })), [1, 2]);
    assert.deepEqual(seqsOf(await fast.after(2, { gen })), [3, 4]);
  });
});

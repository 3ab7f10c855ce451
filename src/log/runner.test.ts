/**
 * The runner's shared reading of the log, on both real stores (reads counted
 * by a wrapper around the store's own log): N processors cost about one read
 * per page, not N; a failing processor stalls neither the others nor the
 * writer, and once it is back it catches up on its own and rejoins the
 * shared reads; every processor applies every entry once, in order.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { TelemetryEvent } from '../core/event.js';
import { readAll } from '../storage/conformance-log.js';
import type { CommitLog, LogEntry, ProcessorStore } from '../storage/log.js';
import type { Store } from '../storage/store.js';
import { stopTestPostgres } from '../../test/helpers/postgres.js';
import type { Processor } from './processor.js';
import { ProcessorRunner } from './runner.js';
import { openTestStore } from '../../test/helpers/store.js';

after(() => stopTestPostgres());

const log = pino({ level: 'silent' });
const T0 = Date.UTC(2025, 0, 1);

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'runner', 8);

/** The store with its log reads and processor commits counted (the real store does the work). */
function counted(store: Store): { store: Store; reads: () => number; fetched: () => number; commits: (name: string) => number } {
  let reads = 0;
  let fetched = 0;
  const commits = new Map<string, number>();
  const inner = store.log;
  const log: CommitLog = {
    read: (a, l) => (reads++, inner.read(a, l).then((es) => ((fetched += es.length), es))),
    readPage: (a, l, i) => (reads++, inner.readPage(a, l, i).then((p) => ((fetched += p.entries.length), p))),
    head: () => inner.head(),
    backlog: (a, c) => inner.backlog(a, c),
  };
  const processors: ProcessorStore = {
    ...store.processors,
    commit: (name, from, to, st) => (commits.set(name, (commits.get(name) ?? 0) + 1), store.processors.commit(name, from, to, st)),
  };
  return {
    store: new Proxy(store, { get: (t, k) => (k === 'log' ? log : k === 'processors' ? processors : Reflect.get(t, k, t)) }),
    reads: () => reads,
    fetched: () => fetched,
    commits: (name) => commits.get(name) ?? 0,
  };
}

function ev(id: string, i: number): TelemetryEvent {
  return { eventId: id, deviceId: `dev-${i % 7}`, schema: 1, eventType: 't', valueNum: i, valueText: null, unit: null, tsDevice: null, tsServer: T0 + i, meta: '{}' };
}

/** A processor that records what it applied (after each commit) and lets a test await a log number. */
function recorder(name: string, fail?: (entries: readonly LogEntry[]) => boolean) {
  const seqs: number[] = [];
  let pages = 0;
  const waiters: { seq: number; done: () => void }[] = [];
  const p: Processor & { seqs: number[]; pages: () => number; reached(seq: number): Promise<void> } = {
    name,
    tables: [],
    seqs,
    pages: () => pages,
    apply(entries) {
      if (fail?.(entries)) throw new Error(`${name} refuses this page`);
      return [];
    },
    afterCommit(entries) {
      pages++;
      seqs.push(...entries.map((e) => e.seq));
      const at = entries[entries.length - 1].seq;
      for (const w of waiters.splice(0)) if (at >= w.seq) w.done();
      else waiters.push(w);
    },
    reached(seq) {
      return seqs.length > 0 && seqs[seqs.length - 1] >= seq ? Promise.resolve() : new Promise((done) => waiters.push({ seq, done }));
    },
  };
  return p;
}

/** Writes `batches` batches of `size` events, ringing the runner after each (as the batch writer does); the log's head after. */
async function write(store: Store, runner: ProcessorRunner, tag: string, batches: number, size: number): Promise<number> {
  for (let b = 0; b < batches; b++) {
    await store.writeBatch({ events: Array.from({ length: size }, (_, j) => ev(`${tag}-${b}-${j}`, b * size + j)), deadLetters: [] });
    runner.wakeup.ring();
  }
  return store.log.head();
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`processor runner, shared log reads (${kind})`, () => {
    it('N processors following the log cost about one read per page, and each applies every entry once, in order', async () => {
      const { store: real, cleanup } = await openStore(kind);
      const { store, reads } = counted(real);
      const ps = Array.from({ length: 5 }, (_, i) => recorder(`p${i}`));
      const runner = new ProcessorRunner(store, ps, { batchSize: 100, pollMs: 60_000, retryMinMs: 1, retryMaxMs: 20 }, log);
      try {
        // A backlog first (read in growing pages), then live batches (one page each).
        const backlog = await write(real, runner, 'old', 10, 100);
        await runner.start();
        await Promise.all(ps.map((p) => p.reached(backlog)));
        const head = await write(real, runner, 'live', 20, 40);
        await Promise.all(ps.map((p) => p.reached(head)));
        const all = (await readAll(real)).map((e) => e.seq);
        for (const p of ps) assert.deepEqual(p.seqs, all, `${p.name}: every entry once, in order`);
        const pages = Math.max(...ps.map((p) => p.pages()));
        // One read per page, plus the empty reads that find the head (about one per wake-up for all).
        assert.ok(reads() <= 2 * pages + ps.length, `${reads()} reads of the log for ${pages} pages of ${ps.length} processors`);
        assert.ok(reads() < ps.length * pages / 2, `${reads()} reads: not one per processor and page (${ps.length * pages})`);
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('a failing processor stalls neither the others nor the writer; back, it catches up on its own and rejoins the shared reads', async () => {
      const { store: real, cleanup } = await openStore(kind);
      const { store, reads } = counted(real);
      let broken = true;
      const flaky = recorder('flaky', () => broken);
      const others = [recorder('a'), recorder('b'), recorder('c')];
      const runner = new ProcessorRunner(store, [flaky, ...others], { batchSize: 50, pollMs: 60_000, retryMinMs: 200, retryMaxMs: 400 }, log);
      const failures: string[] = [];
      runner.onError = (name) => failures.push(name);
      try {
        await runner.start();
        // While flaky fails and backs off, the others follow many pages (more than the reader keeps).
        const head = await write(real, runner, 'w', 30, 20);
        await Promise.all(others.map((p) => p.reached(head)));
        assert.ok(failures.length > 0 && failures.every((n) => n === 'flaky'));
        assert.deepEqual(flaky.seqs, []);
        const st = (await runner.status()).find((s) => s.name === 'flaky')!;
        assert.equal(st.state, 'retrying');
        assert.equal(st.checkpoint, 0);

        broken = false;
        await flaky.reached(head);
        const own = runner.readerCounters.ownReads;
        assert.ok(own > 0, 'it caught up with reads of its own');
        const all = (await readAll(real)).map((e) => e.seq);
        for (const p of [flaky, ...others]) assert.deepEqual(p.seqs, all, `${p.name}: every entry once, in order`);

        // Caught up, it is served with the others again: no more reads of its own, one read per page.
        const readsBefore = reads();
        const pagesBefore = flaky.pages();
        const head2 = await write(real, runner, 'x', 10, 20);
        await Promise.all([flaky, ...others].map((p) => p.reached(head2)));
        assert.equal(runner.readerCounters.ownReads, own, 'rejoined: no reads of its own');
        const pages = flaky.pages() - pagesBefore;
        assert.ok(reads() - readsBefore <= 2 * pages + 4, `${reads() - readsBefore} reads for ${pages} pages of 4 processors`);
        assert.equal((await runner.status()).find((s) => s.name === 'flaky')!.state, 'running');
      } finally {
        broken = false;
        await runner.stop();
        await cleanup();
      }
    });

    it('pages that change nothing cost no transaction each: the checkpoint follows with the next commit or within the poll', async () => {
      const { store: real, cleanup } = await openStore(kind);
      const { store, commits } = counted(real);
      const seen: number[] = [];
      // Changes something only for every 5th batch's events (tag "k").
      const picky: Processor = {
        name: 'picky',
        tables: [],
        apply(entries) {
          seen.push(...entries.map((e) => e.seq));
          const mine = entries.filter((e) => e.kind === 'event' && e.event.eventId.startsWith('k'));
          return mine.length === 0 ? [] : [{ sql: 'UPDATE processor_checkpoints SET state = state WHERE name = ' + (kind === 'sqlite' ? '?' : '$1'), params: ['picky'] }];
        },
      };
      const dc = recorder('all');
      const runner = new ProcessorRunner(store, [picky, dc], { batchSize: 50, pollMs: 200, retryMinMs: 1, retryMaxMs: 20 }, log);
      try {
        await runner.start();
        let head = 0;
        for (let b = 0; b < 20; b++) {
          head = await write(real, runner, b % 5 === 4 ? `k${b}` : `n${b}`, 1, 10);
          await dc.reached(head);
        }
        // Recorded in the store within the poll, although nothing came after.
        for (let i = 0; (await real.processors.get('picky')) !== head; i++) {
          assert.ok(i < 200, 'the checkpoint reached the store');
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.deepEqual(seen, (await readAll(real)).map((e) => e.seq), 'every entry once, in order');
        assert.ok(commits('picky') < commits('all') / 2, `${commits('picky')} transactions for picky, ${commits('all')} for a processor that commits every page`);
        await runner.stop();
        assert.equal(await real.processors.get('picky'), head);
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('a processor that reads only some entries gets those from the store, and its checkpoint moves past the rest', async () => {
      const { store: real, cleanup } = await openStore(kind);
      const { store, fetched, commits } = counted(real);
      const applied: number[] = [];
      let afterCommits = 0;
      // Like the command dispatcher: node status messages only, with an after-commit step.
      const narrow: Processor = {
        name: 'narrow',
        tables: [],
        reads: { events: ['status'], deadLetters: false, presence: false },
        apply(entries) {
          applied.push(...entries.filter((e) => e.kind === 'event' && e.event.eventType === 'status').map((e) => e.seq));
          return [];
        },
        afterCommit: () => void afterCommits++,
      };
      const runner = new ProcessorRunner(store, [narrow], { batchSize: 50, pollMs: 200, retryMinMs: 1, retryMaxMs: 20 }, log);
      try {
        await runner.start();
        let head = 0;
        for (let b = 0; b < 20; b++) {
          const events = Array.from({ length: 30 }, (_, j) => ev(`t${b}-${j}`, j));
          if (b % 4 === 0) events.push({ ...ev(`s${b}`, b), eventType: 'status', valueNum: null, valueText: 'online' });
          await real.writeBatch({ events, deadLetters: b % 5 === 0 ? [{ reason: 'invalid_json', message: 'bad', topic: 't', deviceId: null, payload: Buffer.from('x'), receivedAt: T0, source: 'mqtt' }] : [] });
          runner.wakeup.ring();
          head = await real.log.head();
        }
        for (let i = 0; (await real.processors.get('narrow')) !== head; i++) {
          assert.ok(i < 300, 'the checkpoint reached the head, past entries it never read');
          await new Promise((r) => setTimeout(r, 10));
        }
        const status = (await readAll(real)).filter((e) => e.kind === 'event' && e.event.eventType === 'status').map((e) => e.seq);
        assert.equal(status.length, 5);
        assert.deepEqual(applied, status, 'each status entry once, in order');
        assert.equal(fetched(), status.length, 'the store sent only the wanted entries');
        assert.ok(afterCommits <= status.length, `${afterCommits} after-commit steps: none for pages with nothing wanted`);
        assert.ok(commits('narrow') < 20, `${commits('narrow')} transactions for 20 commits of the log`);
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('processors reading different entries share one read of what any of them wants', async () => {
      const { store: real, cleanup } = await openStore(kind);
      const { store, fetched } = counted(real);
      const narrow = recorder('narrow');
      const wide = recorder('wide');
      const runner = new ProcessorRunner(store, [{ ...narrow, reads: { events: ['status'], deadLetters: false, presence: false } }, wide], { batchSize: 100, pollMs: 60_000, retryMinMs: 1, retryMaxMs: 20 }, log);
      try {
        await runner.start();
        const head = await write(real, runner, 'w', 10, 20);
        await Promise.all([narrow.reached(head), wide.reached(head)]);
        const all = (await readAll(real)).map((e) => e.seq);
        assert.deepEqual(wide.seqs, all, 'the processor wanting all got every entry once, in order');
        assert.deepEqual(narrow.seqs, all, 'handed the pages read for the other (it passes over what it does not need)');
        assert.ok(fetched() <= 2 * all.length, `${fetched()} entries fetched for ${all.length}`);
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('status shows how far a processor has applied before its checkpoint is recorded; stop records it', async () => {
      const { store, cleanup } = await openStore(kind);
      const seen: number[] = [];
      const quiet: Processor = { name: 'quiet', tables: [], apply: (entries) => (seen.push(...entries.map((e) => e.seq)), []) };
      const runner = new ProcessorRunner(store, [quiet], { batchSize: 50, pollMs: 60_000, retryMinMs: 1, retryMaxMs: 20 }, log);
      try {
        await runner.start();
        const head = await write(store, runner, 'q', 3, 10);
        while (seen.at(-1) !== head) await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => setImmediate(r));
        const [st] = await runner.status();
        assert.equal(st.checkpoint, head);
        assert.equal(st.lagEntries, 0);
        assert.equal(await store.processors.get('quiet'), 0, 'not yet recorded (the poll is a minute away)');
        await runner.stop();
        assert.equal(await store.processors.get('quiet'), head, 'recorded at stop');
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('a slow processor delays no other: the rest follow the log while it is still applying', async () => {
      const { store: real, cleanup } = await openStore(kind);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const slow = recorder('slow');
      const apply = slow.apply.bind(slow);
      slow.apply = async (entries, dialect) => (await held, apply(entries, dialect));
      const fast = recorder('fast');
      const runner = new ProcessorRunner(real, [slow, fast], { batchSize: 50, pollMs: 60_000, retryMinMs: 1, retryMaxMs: 20 }, log);
      try {
        const first = await write(real, runner, 's', 1, 25);
        await runner.start();
        const head = await write(real, runner, 's2', 8, 25);
        await fast.reached(head);
        assert.equal(await real.processors.get('slow'), 0, 'slow is still on its first page');
        release();
        await slow.reached(head);
        assert.ok(first > 0);
        assert.deepEqual(slow.seqs, fast.seqs);
      } finally {
        release();
        await runner.stop();
        await cleanup();
      }
    });
  });
}

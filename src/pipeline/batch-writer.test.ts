/**
 * BatchWriter logic with a scripted store (pure logic: retries, splitting,
 * outcomes). The same writer runs against the real stores in test/e2e.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { TelemetryEvent } from '../core/event.js';
import type { Store, WriteBatch, WriteResult } from '../storage/store.js';
import { BatchWriter, type ItemOutcome } from './batch-writer.js';

const log = pino({ level: 'silent' });
const opts = { batchMax: 4, batchWaitMs: 5, maxInflight: 100, writeConcurrency: 1, retryMinMs: 1, retryMaxMs: 4 };

function ev(id: string): TelemetryEvent {
  return { eventId: id, deviceId: 'd', schema: 1, eventType: 't', valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer: 0, meta: '{}' };
}

class ScriptedStore {
  batches: WriteBatch[] = [];
  seen = new Set<string>();
  failTransient = 0;
  poison = new Set<string>();
  asStore(): Store {
    return {
      kind: 'postgres',
      writeBatch: async (b: WriteBatch): Promise<WriteResult> => {
        this.batches.push(b);
        if (this.failTransient > 0) {
          this.failTransient--;
          throw Object.assign(new Error('connection lost'), { code: 'ECONNRESET' });
        }
        if (b.events.some((e) => this.poison.has(e.eventId))) throw Object.assign(new Error('value too long'), { code: '22001' });
        return { statuses: b.events.map((e) => (this.seen.has(e.eventId) ? 'duplicate' : (this.seen.add(e.eventId), 'stored'))) };
      },
      isRetriable: (err: unknown) => (err as { code?: string }).code === 'ECONNRESET',
    } as unknown as Store;
  }
}

function submitAll(w: BatchWriter, ids: string[]): Promise<ItemOutcome[]> {
  return Promise.all(ids.map((id) => new Promise<ItemOutcome>((done) => w.submit({ kind: 'event', event: ev(id), raw: Buffer.from(id), topic: `qs/v1/d/events`, source: 'mqtt', done }))));
}

describe('BatchWriter', () => {
  it('closes batches at batchMax and reports stored/duplicate per event', async () => {
    const s = new ScriptedStore();
    const w = new BatchWriter(s.asStore(), opts, log);
    const out = await submitAll(w, ['a', 'b', 'c', 'd', 'a', 'e']);
    assert.deepEqual(out.map((o) => o.status), ['stored', 'stored', 'stored', 'stored', 'duplicate', 'stored']);
    assert.equal(s.batches[0].events.length, 4);
    assert.equal(w.inflight, 0);
  });

  it('retries transient failures until they pass, acknowledging nothing meanwhile', async () => {
    const s = new ScriptedStore();
    s.failTransient = 3;
    const w = new BatchWriter(s.asStore(), opts, log);
    let settled = 0;
    const p = submitAll(w, ['a', 'b']).then((o) => {
      settled++;
      return o;
    });
    const out = await p;
    assert.equal(settled, 1);
    assert.equal(s.batches.length, 4, 'three failed attempts, then success');
    assert.deepEqual(out.map((o) => o.status), ['stored', 'stored']);
    assert.equal(w.storeHealthy, true);
  });

  it('isolates a permanently refused event, stores the rest, dead-letters it as store_rejected', async () => {
    const s = new ScriptedStore();
    s.poison.add('c');
    const w = new BatchWriter(s.asStore(), opts, log);
    const out = await submitAll(w, ['a', 'b', 'c', 'd']);
    assert.deepEqual(out.map((o) => o.status), ['stored', 'stored', 'rejected', 'stored']);
    const rejected = out[2];
    assert.ok(rejected.status === 'rejected' && rejected.deadLetter.reason === 'store_rejected');
    assert.ok(rejected.status === 'rejected' && rejected.deadLetter.payload.equals(Buffer.from('c')));
    const dlBatch = s.batches.find((b) => b.deadLetters.length === 1)!;
    assert.equal(dlBatch.deadLetters[0].reason, 'store_rejected');
    assert.match(dlBatch.deadLetters[0].message, /value too long/);
  });

  it('waitForCapacity resolves only when in-flight items drop below the cap', async () => {
    const s = new ScriptedStore();
    s.failTransient = 2;
    const w = new BatchWriter(s.asStore(), { ...opts, maxInflight: 2, batchMax: 2 }, log);
    const first = submitAll(w, ['a', 'b']);
    assert.equal(w.hasCapacity, false);
    let resolved = false;
    const cap = w.waitForCapacity().then(() => (resolved = true));
    assert.equal(resolved, false);
    await first;
    await cap;
    assert.equal(resolved, true);
  });

  it('drain commits the open batch before the wait expires', async () => {
    const s = new ScriptedStore();
    const w = new BatchWriter(s.asStore(), { ...opts, batchWaitMs: 60_000 }, log);
    const p = submitAll(w, ['a']);
    await w.close();
    assert.deepEqual((await p).map((o) => o.status), ['stored']);
  });

  it('merges batches that queued behind a busy store into one commit, up to mergeMax (group commit)', async () => {
    for (const [mergeMax, expected] of [[10, [4, 8, 4]], [4, [4, 4, 4, 4]]] as const) {
      const s = new ScriptedStore();
      const inner = s.asStore();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let calls = 0;
      const gated = {
        ...inner,
        writeBatch: async (b: WriteBatch) => {
          if (calls++ === 0) await gate; // the first commit is slow: the next batches queue behind it
          return inner.writeBatch(b);
        },
      } as Store;
      const w = new BatchWriter(gated, { ...opts, mergeMax }, log);
      const ids = Array.from({ length: 16 }, (_, i) => `m${i}`);
      const done = submitAll(w, ids);
      release();
      const out = await done;
      assert.deepEqual(s.batches.map((b) => b.events.length), expected, `mergeMax ${mergeMax}`);
      assert.deepEqual(out.map((o) => o.status), ids.map(() => 'stored'));
      assert.deepEqual(s.batches.flatMap((b) => b.events.map((e) => e.eventId)), ids, 'order kept across merged batches');
    }
  });

  it('a commit listener that throws neither rewrites the batch nor completes an item twice', async () => {
    const s = new ScriptedStore();
    const w = new BatchWriter(s.asStore(), opts, log);
    let rings = 0;
    w.onCommit(() => {
      rings++;
      throw new Error('listener failure');
    });
    let completions = 0;
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const out = await Promise.all(
      ids.map(
        (id) =>
          new Promise<ItemOutcome>((resolve) =>
            w.submit({ kind: 'event', event: ev(id), raw: Buffer.from(id), topic: 'qs/v1/d/events', source: 'mqtt', done: (o) => (completions++, resolve(o)) }),
          ),
      ),
    );
    await w.drain();
    // Let the (throwing) listeners run, then look again.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.ok(rings >= 1, 'the listener was called');
    assert.deepEqual(out.map((o) => o.status), ids.map(() => 'stored'));
    assert.equal(completions, ids.length, 'each item completed once');
    assert.equal(s.batches.length, 2, 'each batch written once');
    assert.equal(w.inflight, 0);
  });

  it('an acknowledgement callback that throws completes nothing twice', async () => {
    const s = new ScriptedStore();
    const w = new BatchWriter(s.asStore(), { ...opts, batchMax: 2 }, log);
    let calls = 0;
    const idle = new Promise<void>((resolve) => {
      for (const id of ['x', 'y']) {
        w.submit({ kind: 'event', event: ev(id), raw: Buffer.from(id), topic: 'qs/v1/d/events', source: 'mqtt', done: () => {
          calls++;
          if (calls === 2) resolve();
          throw new Error('ack failed');
        } });
      }
    });
    await idle;
    await w.drain();
    assert.equal(calls, 2);
    assert.equal(s.batches.length, 1);
    assert.equal(w.inflight, 0);
  });

  it('rings commit listeners after the items are completed, without data', async () => {
    const s = new ScriptedStore();
    const w = new BatchWriter(s.asStore(), opts, log);
    const order: string[] = [];
    const rang = new Promise<unknown[]>((resolve) => w.onCommit((...args: unknown[]) => (order.push('ring'), resolve(args))));
    await new Promise<void>((resolve) => w.submit({ kind: 'event', event: ev('r'), raw: Buffer.from('r'), topic: 'qs/v1/d/events', source: 'mqtt', done: () => (order.push('done'), resolve()) }));
    assert.deepEqual(await rang, []);
    assert.deepEqual(order, ['done', 'ring']);
  });
});

/**
 * BatchWriter logic with a scripted store (pure logic: retries, splitting,
 * outcomes). The same writer runs against the real stores in test/e2e.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { TelemetryEvent } from '../core/event.js';
import { createMetrics } from '../core/metrics.js';
import type { EventConflict, Store, WriteBatch, WriteResult } from '../storage/store.js';
import { BatchWriter, type ItemOutcome } from './batch-writer.js';

const log = pino({ level: 'silent' });
const opts = { batchMax: 4, batchWaitMs: 5, maxInflight: 100, writeConcurrency: 1, retryMinMs: 1, retryMaxMs: 4 };

function ev(id: string): TelemetryEvent {
  return { eventId: id, deviceId: 'd', schema: 1, eventType: 't', valueNum: 1, valueText: null, unit: null, tsDevice: null, tsServer: 0, meta: '{}' };
}

class ScriptedStore {
  batches: WriteBatch[] = [];
  /** Batches that committed, in order. */
  committed: WriteBatch[] = [];
  seen = new Set<string>();
  failTransient = 0;
  poison = new Set<string>();
  /** How many more writes holding a dead letter are refused with a permanent (non-retriable) error. */
  refuseDeadLetters = 0;
  /** Ids taken by another device's event: answered `conflict`. */
  takenBy = new Map<string, string>();
  /** Called at the start of every write attempt. */
  onWrite: (b: WriteBatch) => void = () => {};
  asStore(): Store {
    return {
      kind: 'postgres',
      writeBatch: async (b: WriteBatch): Promise<WriteResult> => {
        this.batches.push(b);
        this.onWrite(b);
        if (this.failTransient > 0) {
          this.failTransient--;
          throw Object.assign(new Error('connection lost'), { code: 'ECONNRESET' });
        }
        if (b.events.some((e) => this.poison.has(e.eventId))) throw Object.assign(new Error('value too long'), { code: '22001' });
        if (b.deadLetters.length > 0 && this.refuseDeadLetters > 0) {
          this.refuseDeadLetters--;
          throw Object.assign(new Error('permission denied for table deadletters'), { code: '42501' });
        }
        const conflicts = new Map<number, EventConflict>();
        const statuses = b.events.map((e, i) => {
          const holder = this.takenBy.get(e.eventId);
          if (holder !== undefined) {
            conflicts.set(i, { storedDeviceId: holder, differs: ['device_id'] });
            return 'conflict' as const;
          }
          return this.seen.has(e.eventId) ? ('duplicate' as const) : (this.seen.add(e.eventId), 'stored' as const);
        });
        this.committed.push(b);
        return conflicts.size > 0 ? { statuses, conflicts } : { statuses };
      },
      isRetriable: (err: unknown) => (err as { code?: string }).code === 'ECONNRESET',
    } as unknown as Store;
  }
}

function submitAll(w: BatchWriter, ids: string[], onDone: (o: ItemOutcome) => void = () => {}): Promise<ItemOutcome[]> {
  return Promise.all(
    ids.map((id) => new Promise<ItemOutcome>((done) => w.submit({ kind: 'event', event: ev(id), raw: Buffer.from(id), topic: `qs/v1/d/events`, source: 'mqtt', done: (o) => (onDone(o), done(o)) }))),
  );
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
    // Sampled at the start of every attempt: what was acknowledged by then, and whether the writer reported the store healthy.
    let settled = 0;
    const atAttempt: Array<[number, boolean]> = [];
    s.onWrite = () => atAttempt.push([settled, w.storeHealthy]);
    const out = await submitAll(w, ['a', 'b'], () => settled++);
    assert.deepEqual(atAttempt, [[0, true], [0, false], [0, false], [0, false]], 'three failed attempts, then success; nothing acknowledged before it');
    assert.equal(settled, 2);
    assert.deepEqual(out.map((o) => o.status), ['stored', 'stored']);
    assert.equal(w.storeHealthy, true);
  });

  it('turns a conflict into an event_id_conflict dead letter, committed before the item completes', async () => {
    const s = new ScriptedStore();
    s.takenBy.set('esp32-02-5000', 'esp32-01');
    const w = new BatchWriter(s.asStore(), opts, log);
    let completedEarly = false;
    const out = await Promise.all(
      ['a', 'esp32-02-5000', 'b'].map(
        (id) =>
          new Promise<ItemOutcome>((done) => {
            const event = { ...ev(id), deviceId: 'esp32-02' };
            w.submit({
              kind: 'event',
              event,
              raw: Buffer.from(`{"event_id":"${id}"}`),
              topic: 'qs/v1/esp32-02/events',
              source: 'mqtt-embedded',
              // When the item completes, its dead letter must already be committed.
              done: (o) => {
                if (o.status === 'conflict' && !s.committed.some((b) => b.deadLetters.includes(o.deadLetter))) completedEarly = true;
                done(o);
              },
            });
          }),
      ),
    );
    assert.deepEqual(out.map((o) => o.status), ['stored', 'conflict', 'stored']);
    assert.equal(completedEarly, false, 'the conflict completed before its dead letter was committed');
    const c = out[1];
    assert.ok(c.status === 'conflict');
    assert.equal(c.deadLetter.reason, 'event_id_conflict');
    assert.equal(c.deadLetter.deviceId, 'esp32-02');
    assert.equal(c.deadLetter.topic, 'qs/v1/esp32-02/events');
    assert.equal(c.deadLetter.source, 'mqtt-embedded');
    assert.equal(c.deadLetter.payload.toString(), '{"event_id":"esp32-02-5000"}');
    assert.match(c.deadLetter.message, /^event_id "esp32-02-5000" is already taken by an event of device "esp32-01" \(differs in device_id\); this event was not stored/);
    assert.equal(w.inflight, 0);
  });

  it('keeps a dead letter the store refuses even alone in flight, unacknowledged, until a retry stores it', async () => {
    const s = new ScriptedStore();
    s.refuseDeadLetters = 4;
    const metrics = createMetrics();
    const w = new BatchWriter(s.asStore(), opts, log, metrics);
    let settled = 0;
    const atAttempt: number[] = [];
    s.onWrite = (b) => {
      if (b.deadLetters.length > 0) atAttempt.push(settled);
    };
    const deadLetter = { reason: 'invalid_json' as const, message: 'x', topic: 'qs/v1/d/events', deviceId: 'd', payload: Buffer.from('{'), receivedAt: 1, source: 'mqtt' as const };
    const outcome = await new Promise<ItemOutcome>((done) => w.submit({ kind: 'dead', deadLetter, done: (o) => (settled++, done(o)) }));
    assert.deepEqual(atAttempt, [0, 0, 0, 0, 0], 'four refusals, then the fifth attempt stores it; nothing acknowledged before');
    assert.equal(settled, 1);
    assert.equal(outcome.status, 'rejected');
    assert.equal(s.committed.filter((b) => b.deadLetters.length > 0).length, 1, 'committed once');
    assert.equal((await metrics.deadLettersUnstorable.get()).values[0].value, 4);
    assert.equal(w.inflight, 0);
    assert.equal(w.storeHealthy, true);
  });

  it('does not complete a conflict whose dead letter the store refuses until it is stored', async () => {
    const s = new ScriptedStore();
    s.takenBy.set('x', 'other');
    s.refuseDeadLetters = 2;
    const w = new BatchWriter(s.asStore(), opts, log);
    let settled = 0;
    const dlAttempts: number[] = [];
    s.onWrite = (b) => {
      if (b.deadLetters.length > 0) dlAttempts.push(settled);
    };
    const out = await submitAll(w, ['x'], () => settled++);
    assert.deepEqual(dlAttempts, [0, 0, 0], 'two refusals, then stored; the conflict completed only after');
    assert.equal(settled, 1);
    assert.equal(out[0].status, 'conflict');
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

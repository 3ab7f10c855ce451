/**
 * device-counters against both real stores: its state equals what the events
 * table says (COUNT(*), extremes, last values) and what the devices table
 * says; a rebuild from 0 equals the live state; with TELEHUB_WRITE_CONCURRENCY
 * above 1 each device's entries arrive in log order and its newest reading
 * wins; a failing processor is retried from its checkpoint and delays nothing.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { TelemetryEvent } from '../../core/event.js';
import type { Processor } from '../../log/processor.js';
import { ProcessorRunner } from '../../log/runner.js';
import { BatchWriter } from '../../pipeline/batch-writer.js';
import { readAll } from '../../storage/conformance-log.js';
import type { Store } from '../../storage/store.js';
import { stopTestPostgres } from '../../../test/helpers/postgres.js';
import { DEVICE_COUNTERS, deviceCounters, readDeviceCounters, type DeviceCounterRow, type DeviceLastValue } from './index.js';
import { openTestStore } from '../../../test/helpers/store.js';

after(() => stopTestPostgres());

const log = pino({ level: 'silent' });
const RUN = { batchSize: 50, pollMs: 20, retryMinMs: 1, retryMaxMs: 20 };
const T0 = Date.UTC(2025, 0, 1);

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'dc', 6);

function ev(id: string, deviceId: string, type: string, value: number | string, tsDevice: number | null, tsServer: number): TelemetryEvent {
  return {
    eventId: id, deviceId, schema: 1, eventType: type,
    valueNum: typeof value === 'number' ? value : null, valueText: typeof value === 'string' ? value : null,
    unit: typeof value === 'number' ? 'u' : null, tsDevice, tsServer, meta: '{}',
  };
}

/** The state device-counters must hold, computed from the stored log (not from what was sent). */
async function expectedState(store: Store): Promise<{ counters: DeviceCounterRow[]; values: DeviceLastValue[] }> {
  const counters = new Map<string, DeviceCounterRow>();
  const values = new Map<string, DeviceLastValue>();
  for (const entry of await readAll(store)) {
    if (entry.kind !== 'event') continue;
    const e = entry.event;
    const c = counters.get(e.deviceId) ?? { deviceId: e.deviceId, events: 0, firstSeen: Infinity, lastSeen: -Infinity, lastSeq: 0 };
    counters.set(e.deviceId, { ...c, events: c.events + 1, firstSeen: Math.min(c.firstSeen, e.tsServer), lastSeen: Math.max(c.lastSeen, e.tsServer), lastSeq: Math.max(c.lastSeq, entry.seq) });
    const time = e.tsDevice ?? e.tsServer;
    const k = `${e.deviceId}\u0000${e.eventType}`;
    const v = values.get(k);
    if (!v || time > v.time || (time === v.time && entry.seq > v.seq)) {
      values.set(k, { deviceId: e.deviceId, eventType: e.eventType, valueNum: e.valueNum, valueText: e.valueText, unit: e.unit, time, seq: entry.seq });
    }
  }
  const byKey = (a: { deviceId: string; eventType?: string }, b: { deviceId: string; eventType?: string }) =>
    a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : (a.eventType ?? '') < (b.eventType ?? '') ? -1 : 1;
  return { counters: [...counters.values()].sort(byKey), values: [...values.values()].sort(byKey) };
}

/** Resolves when every processor's checkpoint has reached the log's head. */
async function caughtUp(store: Store, names: string[]): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const head = await store.log.head();
    const cps = await store.processors.list();
    if (names.every((n) => cps.find((c) => c.name === n)?.seq === head)) return;
    if (Date.now() > end) throw new Error('processors did not catch up');
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`device-counters on ${kind}`, () => {
    it('equals COUNT(*) per device, the devices table, and the newest value per type', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        await store.writeBatch({ events: [ev('a1', 'dev-a', 'temp', 20, T0 + 5000, T0 + 10), ev('a2', 'dev-a', 'temp', 19, T0 + 1000, T0 + 20), ev('b1', 'dev-b', 'state', 'on', null, T0 + 30)], deadLetters: [] });
        await store.writeBatch({ events: [ev('a1', 'dev-a', 'temp', 99, T0 + 9000, T0 + 40), ev('a3', 'dev-a', 'hum', 50.5, T0 + 5000, T0 + 50)], deadLetters: [{ reason: 'invalid_json', message: 'x', topic: 't', deviceId: 'dev-a', payload: Buffer.from('{'), receivedAt: T0, source: 'mqtt' }] });
        const runner = new ProcessorRunner(store, [deviceCounters()], RUN, log);
        await runner.catchUp(DEVICE_COUNTERS);
        const state = await readDeviceCounters(store.kind, store.processors);
        assert.deepEqual(state, await expectedState(store));
        assert.deepEqual(state.counters.map((c) => [c.deviceId, c.events]), [['dev-a', 3], ['dev-b', 1]]);
        // dev-a temp: a1 (device time +5000) is newer than a2 (+1000); the duplicate a1 (99) never counted.
        assert.equal(state.values.find((v) => v.deviceId === 'dev-a' && v.eventType === 'temp')?.valueNum, 20);
        assert.equal(state.values.find((v) => v.deviceId === 'dev-b')?.valueText, 'on');
        const devices = await store.queries.devices();
        assert.deepEqual(state.counters.map((c) => ({ deviceId: c.deviceId, firstSeen: c.firstSeen, lastSeen: c.lastSeen, events: c.events })), devices);
        const [st] = await runner.status();
        assert.equal(st.checkpoint, await store.log.head());
        assert.equal(st.lagEntries, 0);
        assert.equal(st.lagSeconds, 0);
      } finally {
        await cleanup();
      }
    });

    it('a rebuild from 0 gives the live state, also while writes go on', async () => {
      const { store, cleanup } = await openStore(kind);
      const runner = new ProcessorRunner(store, [deviceCounters()], RUN, log);
      try {
        await runner.start();
        const writer = new BatchWriter(store, { batchMax: 37, batchWaitMs: 2, maxInflight: 10_000, writeConcurrency: 2, retryMinMs: 1, retryMaxMs: 20 }, log);
        writer.onCommit(() => runner.wakeup.ring());
        const done: Promise<unknown>[] = [];
        for (let i = 0; i < 1500; i++) {
          const e = ev(`e${i % 1400}`, `dev-${i % 13}`, i % 2 ? 'temp' : 'hum', i, i % 5 === 0 ? null : T0 + ((i * 7919) % 3000), T0 + i);
          done.push(new Promise((r) => writer.submit({ kind: 'event', event: e, raw: Buffer.from(''), topic: 't', source: 'mqtt', done: r })));
        }
        await Promise.all(done);
        await caughtUp(store, [DEVICE_COUNTERS]);
        const live = await readDeviceCounters(store.kind, store.processors);
        assert.deepEqual(live, await expectedState(store));
        assert.equal(live.counters.reduce((n, c) => n + c.events, 0), 1400);
        await runner.stop();
        await store.processors.reset(DEVICE_COUNTERS, deviceCounters().tables);
        assert.deepEqual((await readDeviceCounters(store.kind, store.processors)).counters, []);
        const rebuild = new ProcessorRunner(store, [deviceCounters()], { ...RUN, batchSize: 333 }, log);
        await rebuild.catchUp(DEVICE_COUNTERS);
        assert.deepEqual(await readDeviceCounters(store.kind, store.processors), live);
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('a throwing processor is retried from its checkpoint; the writer and other processors are not held up', async () => {
      const { store, cleanup } = await openStore(kind);
      let failuresLeft = 3;
      const seen: number[] = [];
      const flaky: Processor = {
        name: 'flaky',
        tables: [],
        apply(entries) {
          if (failuresLeft-- > 0) throw new Error('flaky processor failure');
          seen.push(...entries.map((e) => e.seq));
          return [];
        },
      };
      const runner = new ProcessorRunner(store, [flaky, deviceCounters()], RUN, log);
      const errors: string[] = [];
      runner.onError = (name) => errors.push(name);
      try {
        await runner.start();
        for (let k = 0; k < 5; k++) await store.writeBatch({ events: Array.from({ length: 30 }, (_, j) => ev(`f${k}-${j}`, `dev-${j % 4}`, 't', j, null, T0 + j)), deadLetters: [] });
        runner.wakeup.ring();
        await caughtUp(store, ['flaky', DEVICE_COUNTERS]);
        assert.deepEqual(errors, ['flaky', 'flaky', 'flaky']);
        // Every entry exactly once, in order, although the first attempts threw.
        assert.deepEqual(seen, (await readAll(store)).map((e) => e.seq));
        const st = (await runner.status()).find((s) => s.name === 'flaky')!;
        assert.equal(st.errors, 3);
        assert.match(st.lastError?.message ?? '', /flaky processor failure/);
        assert.equal(st.state, 'running');
        assert.deepEqual(await readDeviceCounters(store.kind, store.processors), await expectedState(store));
      } finally {
        await runner.stop();
        await cleanup();
      }
    });

    it('two runners of the same processor (two processes) apply every entry once', async () => {
      const { store, cleanup } = await openStore(kind);
      const a = new ProcessorRunner(store, [deviceCounters()], { ...RUN, batchSize: 7 }, log);
      const b = new ProcessorRunner(store, [deviceCounters()], { ...RUN, batchSize: 11 }, log);
      try {
        await Promise.all([a.start(), b.start()]);
        for (let k = 0; k < 20; k++) {
          await store.writeBatch({ events: Array.from({ length: 20 }, (_, j) => ev(`t${k}-${j}`, `dev-${j % 3}`, 't', k, T0 + k, T0 + k)), deadLetters: [] });
          a.wakeup.ring();
          b.wakeup.ring();
        }
        await caughtUp(store, [DEVICE_COUNTERS]);
        await Promise.all([a.stop(), b.stop()]);
        assert.deepEqual(await readDeviceCounters(store.kind, store.processors), await expectedState(store));
      } finally {
        await a.stop();
        await b.stop();
        await cleanup();
      }
    });
  });
}

describe('device-counters with write concurrency above 1 (PostgreSQL)', () => {
  it('gives each device its entries in log order and keeps its newest reading', async () => {
    const { store, cleanup } = await openStore('postgres');
    const order = new Map<string, number[]>();
    const recorder: Processor = {
      name: 'order-recorder',
      tables: [],
      apply(entries) {
        for (const e of entries) if (e.kind === 'event') (order.get(e.event.deviceId) ?? order.set(e.event.deviceId, []).get(e.event.deviceId)!).push(e.seq);
        return [];
      },
    };
    const runner = new ProcessorRunner(store, [deviceCounters(), recorder], RUN, log);
    try {
      await runner.start();
      const writer = new BatchWriter(store, { batchMax: 25, batchWaitMs: 1, mergeMax: 25, maxInflight: 100_000, writeConcurrency: 4, retryMinMs: 1, retryMaxMs: 20 }, log);
      writer.onCommit(() => runner.wakeup.ring());
      const devices = 20;
      const perDevice = 150;
      const done: Promise<unknown>[] = [];
      // Each device sends readings 1..perDevice with increasing device time,
      // interleaved with the others, so one device's readings span many
      // concurrently committing batches.
      for (let i = 1; i <= perDevice; i++) {
        for (let d = 0; d < devices; d++) {
          const e = ev(`c-${d}-${i}`, `dev-${String(d).padStart(2, '0')}`, 'reading', i, T0 + i * 1000, T0 + i);
          done.push(new Promise((r) => writer.submit({ kind: 'event', event: e, raw: Buffer.from(''), topic: 't', source: 'mqtt', done: r })));
        }
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(done);
      await caughtUp(store, [DEVICE_COUNTERS, 'order-recorder']);
      const state = await readDeviceCounters(store.kind, store.processors);
      assert.equal(state.counters.length, devices);
      for (const c of state.counters) assert.equal(c.events, perDevice, c.deviceId);
      for (const v of state.values) assert.equal(v.valueNum, perDevice, `${v.deviceId}: its newest reading`);
      for (const [device, seqs] of order) {
        assert.equal(seqs.length, perDevice, device);
        assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `${device}: entries out of log order`);
      }
      assert.deepEqual(state, await expectedState(store));
    } finally {
      await runner.stop();
      await cleanup();
    }
  });
});

/**
 * LiveHub logic over an in-memory commit log (pure logic: fan-out, filters,
 * slow clients, catching up with `since`). test/e2e/stream.test.ts runs it
 * with real WebSocket clients over the real stores.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TelemetryEvent } from '../../core/event.js';
import { Wakeup } from '../../log/wakeup.js';
import { pageOf, type CommitLog, type LogEntry, type LogInterest, type LogPage } from '../../storage/log.js';
import { LiveHub, SLOW_CLIENT_CLOSE, eventToJson, streamMessage, type LiveSocket } from './hub.js';

function ev(device: string, type: string, i = 0): TelemetryEvent {
  return { eventId: `${device}-${i}`, deviceId: device, schema: 1, eventType: type, valueNum: i, valueText: null, unit: 'C', tsDevice: 0, tsServer: 1000, meta: '{"a":1}' };
}

/** An in-memory log; `append` commits entries and rings the wake-up as the batch writer would. */
class MemoryLog implements CommitLog {
  entries: LogEntry[] = [];
  reads = 0;
  constructor(readonly wakeup: Wakeup) {}
  append(...events: TelemetryEvent[]): void {
    for (const event of events) this.entries.push({ seq: this.entries.length + 1, kind: 'event', event });
    this.wakeup.ring();
  }
  appendDeadLetter(): void {
    this.entries.push({ seq: this.entries.length + 1, kind: 'deadletter', deadLetter: { id: 1, reason: 'invalid_json', message: 'x', topic: 't', deviceId: null, source: 'mqtt', payload: Buffer.from('x'), receivedAt: 0 } });
    this.wakeup.ring();
  }
  async read(after: number, limit: number): Promise<LogEntry[]> {
    this.reads++;
    return this.entries.filter((e) => e.seq > after).slice(0, limit);
  }
  async readPage(after: number, limit: number, interest: LogInterest): Promise<LogPage> {
    return pageOf(after, await this.read(after, limit), interest);
  }
  async head(): Promise<number> {
    return this.entries.length;
  }
  async backlog(): Promise<never> {
    throw new Error('not used');
  }
}

class FakeSocket implements LiveSocket {
  sent: string[] = [];
  bufferedAmount = 0;
  closed: [number, string] | undefined;
  grow = 0;
  throws = false;
  send(d: string) {
    if (this.throws) throw new Error('socket broke');
    this.sent.push(d);
    this.bufferedAmount += this.grow;
  }
  close(code: number, reason: string) {
    this.closed = [code, reason];
  }
  get seqs(): number[] {
    return this.sent.map((s) => JSON.parse(s).seq);
  }
}

/** Resolves when `cond` holds, checking after each turn of the event loop. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function setup(maxBufferedBytes = 1_000_000, pageSize = 1000) {
  const wakeup = new Wakeup();
  const log = new MemoryLog(wakeup);
  // A long poll: only the wake-up moves the hub, so the tests see that it is rung.
  const hub = new LiveHub({ maxBufferedBytes, log, wakeup, pollMs: 60_000, pageSize });
  return { wakeup, log, hub };
}

describe('live hub', () => {
  it('filters by device and type globs, from the commit log', async () => {
    const { log, hub } = setup();
    log.append(ev('old', 'temperature'));
    const all = new FakeSocket();
    const esp = new FakeSocket();
    const temp = new FakeSocket();
    hub.add(all, { devices: [], types: [] });
    hub.add(esp, { devices: ['esp32-*'], types: [] });
    hub.add(temp, { devices: ['esp32-*', 'car.1'], types: ['temperature'] });
    await until(() => hub.liveClients === 3, 'the clients joining');
    log.append(ev('esp32-01', 'temperature'), ev('esp32-02', 'humidity'), ev('car.1', 'temperature'), ev('carx1', 'temperature'));
    await until(() => all.sent.length === 4, 'four events');
    await until(() => temp.sent.length === 2, 'two temperatures');
    assert.deepEqual(all.seqs, [2, 3, 4, 5], 'nothing from before the client connected');
    assert.equal(esp.sent.length, 2);
    assert.deepEqual(temp.sent.map((s) => JSON.parse(s).device_id), ['esp32-01', 'car.1']);
    hub.closeAll();
  });

  it('closes a slow client with 4008 and keeps serving the others', async () => {
    const { log, hub } = setup(100);
    const slow = new FakeSocket();
    slow.grow = 60;
    const fast = new FakeSocket();
    hub.add(slow, { devices: [], types: [] }, 0);
    hub.add(fast, { devices: [], types: [] }, 0);
    log.append(ev('a', 't', 1), ev('a', 't', 2), ev('a', 't', 3), ev('a', 't', 4));
    await until(() => fast.sent.length === 4 && slow.closed !== undefined, 'delivery');
    assert.deepEqual(slow.closed, [SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason]);
    assert.equal(slow.sent.length, 2);
    assert.equal(hub.size, 1);
    assert.equal(hub.counters.slowDisconnects, 1);
    hub.closeAll();
  });

  it('drops a client whose send throws; the others get everything', async () => {
    const { log, hub } = setup();
    const broken = new FakeSocket();
    broken.throws = true;
    const ok = new FakeSocket();
    hub.add(broken, { devices: [], types: [] }, 0);
    hub.add(ok, { devices: [], types: [] }, 0);
    log.append(ev('a', 't', 1), ev('a', 't', 2));
    await until(() => ok.sent.length === 2, 'delivery');
    assert.equal(hub.size, 1);
    assert.deepEqual(broken.closed?.[0], 1011);
    hub.closeAll();
  });

  it('a client with since gets what it missed, then live events, without gap or duplicate while commits go on', async () => {
    // Small pages so the catch-up takes many reads while the log keeps growing.
    const { log, hub } = setup(1_000_000, 7);
    for (let i = 1; i <= 100; i++) log.append(ev(`d${i % 3}`, 't', i));
    log.appendDeadLetter();
    const live = new FakeSocket();
    hub.add(live, { devices: [], types: [] });
    const late = new FakeSocket();
    hub.add(late, { devices: [], types: [] }, 40);
    for (let i = 101; i <= 300; i++) {
      log.append(ev(`d${i % 3}`, 't', i));
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await until(() => late.sent.length === 300 - 40 && live.sent.length > 0 && JSON.parse(live.sent.at(-1)!).seq === 301, 'all events');
    const expected = Array.from({ length: 301 - 40 }, (_, i) => 41 + i).filter((s) => s !== 101);
    assert.deepEqual(late.seqs, expected, 'the dead letter (seq 101) moves the position but is not sent');
    assert.deepEqual(live.seqs, expected.filter((s) => s > 101));
    const one = JSON.parse(late.sent[0]);
    assert.equal(one.seq, 41);
    assert.equal(one.event_id, 'd2-41');
    hub.closeAll();
  });

  it('serialises an event as the events table row, and a stream message with its seq first', () => {
    const row = { event_id: 'd-5', device_id: 'd', schema: 1, event_type: 't', value_num: 5, value_text: null, unit: 'C', ts_device: '1970-01-01T00:00:00.000Z', ts_server: '1970-01-01T00:00:01.000Z', meta: { a: 1 } };
    assert.deepEqual(JSON.parse(eventToJson(ev('d', 't', 5))), row);
    assert.deepEqual(JSON.parse(streamMessage(ev('d', 't', 5), 42)), { seq: 42, ...row });
  });
});

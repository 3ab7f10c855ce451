import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TelemetryEvent } from '../../core/event.js';
import { LiveHub, SLOW_CLIENT_CLOSE, eventToJson, type LiveSocket } from './hub.js';

function ev(device: string, type: string, i = 0): TelemetryEvent {
  return { eventId: `${device}-${i}`, deviceId: device, schema: 1, eventType: type, valueNum: i, valueText: null, unit: 'C', tsDevice: 0, tsServer: 1000, meta: '{"a":1}' };
}

class FakeSocket implements LiveSocket {
  sent: string[] = [];
  bufferedAmount = 0;
  closed: [number, string] | undefined;
  grow = 0;
  send(d: string) {
    this.sent.push(d);
    this.bufferedAmount += this.grow;
  }
  close(code: number, reason: string) {
    this.closed = [code, reason];
  }
}

describe('live hub', () => {
  it('filters by device and type globs', () => {
    const hub = new LiveHub({ maxBufferedBytes: 1000 });
    const all = new FakeSocket();
    const esp = new FakeSocket();
    const temp = new FakeSocket();
    hub.add(all, { devices: [], types: [] });
    hub.add(esp, { devices: ['esp32-*'], types: [] });
    hub.add(temp, { devices: ['esp32-*', 'car.1'], types: ['temperature'] });
    hub.publish([ev('esp32-01', 'temperature'), ev('esp32-02', 'humidity'), ev('car.1', 'temperature'), ev('carx1', 'temperature')]);
    assert.equal(all.sent.length, 4);
    assert.equal(esp.sent.length, 2);
    assert.deepEqual(temp.sent.map((s) => JSON.parse(s).device_id), ['esp32-01', 'car.1']);
  });

  it('closes a slow client with 4008 and keeps serving the others', () => {
    const hub = new LiveHub({ maxBufferedBytes: 100 });
    const slow = new FakeSocket();
    slow.grow = 60;
    const fast = new FakeSocket();
    hub.add(slow, { devices: [], types: [] });
    hub.add(fast, { devices: [], types: [] });
    hub.publish([ev('a', 't', 1), ev('a', 't', 2), ev('a', 't', 3), ev('a', 't', 4)]);
    assert.deepEqual(slow.closed, [SLOW_CLIENT_CLOSE.code, SLOW_CLIENT_CLOSE.reason]);
    assert.equal(slow.sent.length, 2);
    assert.equal(fast.sent.length, 4);
    assert.equal(hub.size, 1);
    assert.equal(hub.counters.slowDisconnects, 1);
  });

  it('serialises an event as the events table row', () => {
    assert.deepEqual(JSON.parse(eventToJson(ev('d', 't', 5))), { event_id: 'd-5', device_id: 'd', schema: 1, event_type: 't', value_num: 5, value_text: null, unit: 'C', ts_device: '1970-01-01T00:00:00.000Z', ts_server: '1970-01-01T00:00:01.000Z', meta: { a: 1 } });
  });
});

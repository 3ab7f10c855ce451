/**
 * The node-status codec: text and JSON status, command results with a
 * deterministic id, and the refusals (mismatched node, wrong types, empty).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_LIMITS } from '../../core/config.js';
import { collectDecode } from '../collect.js';
import { commandResultOf, nodeStatusCodec, STATUS_EVENT_TYPE } from './index.js';

const AT = 1_707_523_201_234;
const decode = (payload: string, node: string | null = 'node_01', receivedAt = AT) =>
  collectDecode(nodeStatusCodec, Buffer.from(payload), { topicDeviceId: node ?? undefined, receivedAt, limits: DEFAULT_LIMITS });

describe('node-status codec', () => {
  it('plain text and a JSON string are the state', () => {
    for (const p of ['online', ' offline\n', '"online"']) {
      const { events, rejections } = decode(p);
      assert.deepEqual(rejections, []);
      assert.equal(events.length, 1);
      const e = events[0].event;
      assert.equal(e.eventType, STATUS_EVENT_TYPE);
      assert.equal(e.deviceId, 'node_01');
      assert.equal(e.valueText, p.trim().replace(/"/g, ''));
      assert.equal(e.meta, '{}');
      assert.equal(commandResultOf(e), undefined);
    }
  });

  it('a JSON health report keeps its fields in meta', () => {
    const { events } = decode('{"status":"online","wifi_rssi":-71,"uptime":120,"firmware":"1.4.2"}');
    assert.equal(events[0].event.valueText, 'online');
    assert.deepEqual(JSON.parse(events[0].event.meta), { status: 'online', wifi_rssi: -71, uptime: 120, firmware: '1.4.2' });
  });

  it('two health reports get different ids; the same message received twice in one ms is a duplicate', () => {
    const a = decode('{"uptime":1}').events[0].event.eventId;
    assert.notEqual(a, decode('{"uptime":2}').events[0].event.eventId);
    assert.notEqual(a, decode('{"uptime":1}', 'node_01', AT + 1).events[0].event.eventId);
    assert.equal(a, decode('{"uptime":1}').events[0].event.eventId);
  });

  it('a command result has an id from command_id and status, whenever it arrives', () => {
    const p = '{"command_id":"c-17","status":"succeeded","result":{"led":"on"}}';
    const one = decode(p).events[0].event;
    const again = decode(p, 'node_01', AT + 60_000).events[0].event;
    assert.equal(one.eventId, 'node_01:status:c-17:succeeded');
    assert.equal(again.eventId, one.eventId);
    assert.notEqual(decode('{"command_id":"c-17","status":"received"}').events[0].event.eventId, one.eventId);
    assert.deepEqual(commandResultOf(one), { deviceId: 'node_01', commandId: 'c-17', status: 'succeeded', result: { led: 'on' } });
  });

  it('refuses what it cannot read, with a reason', () => {
    const cases: Array<[string, string]> = [
      ['', 'missing_field'],
      ['{"node_id":"node_02","status":"online"}', 'topic_device_mismatch'],
      ['{"status":1}', 'wrong_type'],
      ['{"command_id":7,"status":"failed"}', 'wrong_type'],
      ['{"status":', 'invalid_json'],
      ['[1]', 'not_an_object'],
    ];
    for (const [p, reason] of cases) {
      const { events, rejections } = decode(p);
      assert.equal(events.length, 0, p);
      assert.deepEqual(rejections.map((r) => [r.reason, r.deviceId]), [[reason, 'node_01']], p);
    }
    assert.equal(decode('online', null).rejections[0].reason, 'missing_field');
  });
});

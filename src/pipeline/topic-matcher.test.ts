import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ackTopic, compileTopicFilter } from './topic-matcher.js';

describe('topic matching', () => {
  it('extracts the device at the first +', () => {
    const m = compileTopicFilter('qs/v1/+/events');
    assert.deepEqual(m('qs/v1/esp32-01/events'), { deviceId: 'esp32-01' });
    assert.equal(m('qs/v1/esp32-01/acks'), undefined);
    assert.equal(m('qs/v1/esp32-01/events/x'), undefined);
    assert.equal(m('qs/v1/events'), undefined);
    assert.deepEqual(m('qs/v1//events'), { deviceId: '' });
  });
  it('supports # and filters without a device level', () => {
    assert.deepEqual(compileTopicFilter('site/+/#')('site/a/b/c'), { deviceId: 'a' });
    assert.deepEqual(compileTopicFilter('fixed/topic')('fixed/topic'), { deviceId: undefined });
    assert.equal(compileTopicFilter('+/events')('$SYS/events'), undefined);
  });
  it('fills the ACK template', () => {
    assert.equal(ackTopic('qs/v1/{device_id}/acks', 'esp32-01'), 'qs/v1/esp32-01/acks');
  });
});

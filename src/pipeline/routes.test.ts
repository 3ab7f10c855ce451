/**
 * The route table: first matching route wins, the device comes from the
 * route's level (a `+` or a level under `#`), a topic on no route is
 * undefined; and compiled from the validated configuration.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CODEC_DEFAULTS, defaultRoute, type RouteConfig } from '../core/config.js';
import { RouteTable } from './routes.js';
import { compileTopicMatcher } from './topic-matcher.js';

const route = (filter: string, codec: string, deviceLevel: number | undefined, extra: Partial<RouteConfig> = {}): RouteConfig => ({
  origin: `test ${filter}`,
  filter,
  codec,
  deviceLevel,
  reply: 'none',
  ackTemplate: 'qs/v1/{device_id}/acks',
  options: {},
  ...extra,
});

describe('route table', () => {
  const table = new RouteTable(
    [defaultRoute('qs/v1/+/events', 'qs/v1/{device_id}/acks'), route('home/+/events', 'seed001-json', 2, { reply: 'seed001-ack', ackTemplate: 'home/{device_id}/acks' }), route('home/#', 'line-protocol', 3), route('sensors/+/+/metrics', 'line-protocol', 3)],
    DEFAULT_CODEC_DEFAULTS,
  );

  it('takes a topic by the first route that matches, with its device level', () => {
    const m = table.match('home/kitchen/events');
    assert.equal(m?.route.config.filter, 'home/+/events', 'the earlier of two matching routes');
    assert.equal(m?.deviceId, 'kitchen');
    assert.equal(m?.route.ack?.topic('kitchen'), 'home/kitchen/acks');
    const lp = table.match('home/kitchen/boiler/metrics');
    assert.equal(lp?.route.config.filter, 'home/#');
    assert.equal(lp?.deviceId, 'boiler', 'level 3 under the #');
    assert.equal(lp?.route.ack, undefined, 'reply none');
    assert.equal(table.match('sensors/hall/thermo-1/metrics')?.deviceId, 'thermo-1');
    assert.equal(table.match('qs/v1/esp32-01/events')?.route.config.codec, 'seed001-json');
  });

  it('leaves a topic on no route alone', () => {
    assert.equal(table.match('qs/v1/esp32-01/acks'), undefined);
    assert.equal(table.match('other/x'), undefined);
    assert.equal(table.match('sensors/hall/metrics'), undefined);
  });

  it('lists every filter to subscribe to, in order', () => {
    assert.deepEqual(table.filters, ['qs/v1/+/events', 'home/+/events', 'home/#', 'sensors/+/+/metrics']);
  });

  it('makes each route its codec', () => {
    assert.notEqual(table.routes[0].codec, table.routes[2].codec);
    assert.throws(() => new RouteTable([route('a/+', 'protobuf', 2)], DEFAULT_CODEC_DEFAULTS), /Unknown codec protobuf/);
  });
});

describe('topic matcher with a device level', () => {
  it('a + level, a level under #, none', () => {
    assert.equal(compileTopicMatcher('a/+/+/m', 2)('a/x/y/m'), 'y');
    assert.equal(compileTopicMatcher('a/#', 2)('a/x/y/z'), 'y');
    assert.equal(compileTopicMatcher('a/#', 2)('a/x'), undefined, '# matched, but the level is absent');
    assert.equal(compileTopicMatcher('a/#', 2)('a'), undefined, '# matches its parent level too');
    assert.equal(compileTopicMatcher('a/+', -1)('a/x'), undefined, 'no device level');
    assert.equal(compileTopicMatcher('a/+', -1)('b/x'), false);
    assert.equal(compileTopicMatcher('#', 0)('$SYS/x'), false);
  });
});

/**
 * The config file (TELEHUB_CONFIG): routes from YAML or JSON, checked with
 * the settings' rules; every unknown key and bad value is refused with its
 * path, all at once, through the same ConfigError as the environment.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { handWrittenPart } from './config-doc.js';
import { CODEC_NAMES } from '../codecs/registry.js';
import { checkFile, configFileKeys } from './config-file.js';
import { loadConfig } from './config.js';
import { ConfigError } from './errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'telehub-config-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

function problemsOf(value: unknown): string[] {
  const problems: string[] = [];
  checkFile(value, problems);
  return problems;
}

describe('config file', () => {
  it('without TELEHUB_CONFIG the table is the default routes: seed 001, node telemetry, node status, car telemetry', () => {
    const c = loadConfig({ MQTT_EVENTS_TOPIC: 'plant/+/+/events' });
    assert.deepEqual(c.routes, [
      { origin: 'MQTT_EVENTS_TOPIC', filter: 'plant/+/+/events', codec: 'seed001-json', deviceLevel: 2, reply: 'seed001-ack', ackTemplate: 'qs/v1/{device_id}/acks', options: {} },
      { origin: 'TELEHUB_NODE_TELEMETRY_TOPIC', filter: 'iot/node/+/telemetry', codec: 'node-telemetry', deviceLevel: 3, reply: 'none', ackTemplate: 'qs/v1/{device_id}/acks', options: {} },
      { origin: 'TELEHUB_NODE_STATUS_TOPIC', filter: 'iot/node/+/status', codec: 'node-status', deviceLevel: 3, reply: 'none', ackTemplate: 'qs/v1/{device_id}/acks', options: {} },
      { origin: 'TELEHUB_CAR_TELEMETRY_TOPIC', filter: 'fleet/v1/+/telemetry', codec: 'car-telemetry', deviceLevel: 3, reply: 'none', ackTemplate: 'qs/v1/{device_id}/acks', options: {} },
    ]);
  });

  it('the node-telemetry reply and topics are settings; a file adds another node-telemetry pattern or replaces a default', () => {
    const c = loadConfig({ TELEHUB_NODE_TELEMETRY_REPLY: 'seed001-ack', TELEHUB_NODE_TELEMETRY_TOPIC: 'farm/+/n/telemetry' });
    assert.deepEqual(c.routes.filter((r) => r.codec === 'node-telemetry').map((r) => [r.filter, r.reply, r.deviceLevel]), [['farm/+/n/telemetry', 'seed001-ack', 2]]);
    assert.throws(() => loadConfig({ TELEHUB_NODE_TELEMETRY_REPLY: 'always' }), (err: unknown) => err instanceof ConfigError && /TELEHUB_NODE_TELEMETRY_REPLY="always": must be one of none, seed001-ack/.test(err.message));
    const f = file('nodes.yaml', 'routes:\n  - filter: home/+/sensor\n    codec: node-telemetry\n  - filter: iot/node/+/status\n    codec: node-status\n    device_level: 3\n');
    const d = loadConfig({ TELEHUB_CONFIG: f });
    assert.deepEqual(d.routes.map((r) => [r.filter, r.codec, r.reply]), [
      ['qs/v1/+/events', 'seed001-json', 'seed001-ack'],
      ['iot/node/+/telemetry', 'node-telemetry', 'none'],
      ['fleet/v1/+/telemetry', 'car-telemetry', 'none'],
      ['home/+/sensor', 'node-telemetry', 'none'],
      ['iot/node/+/status', 'node-status', 'none'],
    ]);
    assert.match(d.routes[4].origin, /routes\[1\]$/);
  });

  it('TELEHUB_CAR_TELEMETRY_TOPIC=none turns the car route off; a bad filter is a configuration error', () => {
    assert.deepEqual(loadConfig({ TELEHUB_CAR_TELEMETRY_TOPIC: 'none' }).routes.map((r) => r.codec), ['seed001-json', 'node-telemetry', 'node-status']);
    assert.deepEqual(loadConfig({ TELEHUB_CAR_TELEMETRY_TOPIC: 'cars/+/obd' }).routes.map((r) => [r.filter, r.deviceLevel]), [['qs/v1/+/events', 3], ['iot/node/+/telemetry', 3], ['iot/node/+/status', 3], ['cars/+/obd', 2]]);
    assert.throws(() => loadConfig({ TELEHUB_CAR_TELEMETRY_TOPIC: 'cars/x+/obd' }), (err: unknown) => err instanceof ConfigError && err.message.includes('TELEHUB_CAR_TELEMETRY_TOPIC'));
  });

  it('YAML routes are added after the default, with their codec options and the codec default reply', () => {
    const f = file('ok.yaml', 'routes:\n  - filter: home/+/events\n    codec: seed001-json\n    ack_template: home/{device_id}/acks\n  - filter: sensors/+/+/metrics\n    codec: line-protocol\n    device_level: 3\n    precision: s\n    fallback_device_tags: []\n');
    const c = loadConfig({ TELEHUB_CONFIG: f });
    assert.deepEqual(
      c.routes.map((r) => [r.filter, r.codec, r.deviceLevel, r.reply, r.ackTemplate, r.options]),
      [
        ['qs/v1/+/events', 'seed001-json', 3, 'seed001-ack', 'qs/v1/{device_id}/acks', {}],
        ['iot/node/+/telemetry', 'node-telemetry', 3, 'none', 'qs/v1/{device_id}/acks', {}],
        ['iot/node/+/status', 'node-status', 3, 'none', 'qs/v1/{device_id}/acks', {}],
        ['fleet/v1/+/telemetry', 'car-telemetry', 3, 'none', 'qs/v1/{device_id}/acks', {}],
        ['home/+/events', 'seed001-json', 2, 'seed001-ack', 'home/{device_id}/acks', {}],
        ['sensors/+/+/metrics', 'line-protocol', 3, 'none', 'qs/v1/{device_id}/acks', { precision: 's', fallback_device_tags: [] }],
      ],
    );
    assert.equal(c.configFile, f);
  });

  it('JSON is read too, and a route with the MQTT_EVENTS_TOPIC filter replaces the default', () => {
    const f = file('ok.json', JSON.stringify({ routes: [{ filter: 'qs/v1/+/events', codec: 'seed001-json', reply: 'none' }] }));
    const c = loadConfig({ TELEHUB_CONFIG: f });
    assert.deepEqual(c.routes.map((r) => r.filter), ['iot/node/+/telemetry', 'iot/node/+/status', 'fleet/v1/+/telemetry', 'qs/v1/+/events']);
    assert.equal(c.routes[3].reply, 'none');
    assert.match(c.routes[3].origin, /routes\[0\]$/);
  });

  it('an empty file is no routes', () => {
    assert.equal(loadConfig({ TELEHUB_CONFIG: file('empty.yaml', '') }).routes.length, 4);
  });

  it('unknown keys are refused with their path, with a suggestion', () => {
    assert.deepEqual(problemsOf({ rutes: [] }), ['rutes: unknown key (did you mean routes?); known here: routes, devices, tiers, alerts, trips']);
    const p = problemsOf({ routes: [{ fitler: 'a/+', codec: 'seed001-json' }] });
    assert.ok(p.some((m) => m.startsWith('routes[0].fitler: unknown key (did you mean filter?)')), p.join('\n'));
    assert.ok(p.includes('routes[0].filter: is required'), p.join('\n'));
    assert.deepEqual(problemsOf({ routes: [{ filter: 'a/+', codec: 'seed001-json', precision: 's' }] }), ['routes[0].precision: not an option of codec seed001-json']);
  });

  it('values are checked by the settings rules, each problem naming its key', () => {
    const p = problemsOf({
      routes: [
        { filter: 'a/#/b', codec: 'seed001-json' },
        { filter: 'b/+', codec: 'protobuf' },
        { filter: 'c/+', codec: 'line-protocol', precision: 'days', device_level: 'two' },
        { filter: 'd/+', codec: 'seed001-json', ack_template: 'acks/+' },
        { filter: 'e/+', codec: 'line-protocol', fallback_device_tags: 'host' },
        'f/+',
      ],
    });
    const expect = [/^routes\[0\]\.filter="a\/#\/b": `#` must be a whole level and the last one$/, new RegExp(`^routes\\[1\\]\\.codec="protobuf": must be one of ${CODEC_NAMES.join(", ")}$`), /^routes\[2\]\.precision="days": must be one of/, /^routes\[2\]\.device_level: must be an integer, got string "two"$/, /^routes\[3\]\.ack_template="acks\/\+": must contain \{device_id\}$/, /^routes\[4\]\.fallback_device_tags: must be a list of non-empty strings/, /^routes\[5\]: must be a mapping/];
    for (const re of expect) assert.ok(p.some((m) => re.test(m)), `${re}\n${p.join('\n')}`);
    assert.equal(p.length, expect.length, p.join('\n'));
  });

  it('checks a route as a whole: device level, reply, duplicates, shared filters', () => {
    assert.deepEqual(problemsOf({ routes: [{ filter: 'a/b/+', codec: 'seed001-json', device_level: 2 }] }), ['routes[0].device_level: level 2 of a/b/+ is the fixed "b"; it must be a + level or one under a trailing #']);
    assert.deepEqual(problemsOf({ routes: [{ filter: 'a/+', codec: 'seed001-json', device_level: 3 }] }), ['routes[0].device_level: level 3 of a/+ is beyond its last level; it must be a + level or one under a trailing #']);
    assert.deepEqual(problemsOf({ routes: [{ filter: 'a/#', codec: 'line-protocol', device_level: 3 }] }), []);
    assert.deepEqual(problemsOf({ routes: [{ filter: 'a/+', codec: 'line-protocol', ack_template: 'x/{device_id}' }] }), ['routes[0].ack_template: is used only with reply: seed001-ack']);
    assert.deepEqual(problemsOf({ routes: [{ filter: 'a/+', codec: 'seed001-json' }, { filter: 'a/+', codec: 'line-protocol' }] }), ['routes[1].filter: a/+ is already routed by routes[0]']);
    assert.match(problemsOf({ routes: [{ filter: '$share/g/a/+', codec: 'seed001-json' }] })[0], /TELEHUB_MQTT_SHARE_GROUP/);
    assert.match(problemsOf([1])[0], /the file must hold a mapping/);
  });

  it('loadConfig reports file and environment problems together in one ConfigError, naming the file', () => {
    const f = file('bad.yaml', 'routes:\n  - filter: x/+\n    codec: nope\n');
    assert.throws(
      () => loadConfig({ TELEHUB_CONFIG: f, TELEHUB_BATCH_MAX: 'many' }),
      (err: unknown) => err instanceof ConfigError && err.message.includes('TELEHUB_BATCH_MAX') && err.message.includes(`${f}: routes[0].codec="nope"`),
    );
    assert.throws(() => loadConfig({ TELEHUB_CONFIG: file('syntax.yaml', 'routes: [\n') }), (err: unknown) => err instanceof ConfigError && /syntax\.yaml: not valid YAML or JSON: .* at line \d+, column \d+$/m.test(err.message));
    assert.throws(() => loadConfig({ TELEHUB_CONFIG: path.join(dir, 'missing.yaml') }), (err: unknown) => err instanceof ConfigError && /TELEHUB_CONFIG=.*missing\.yaml/.test(err.message));
    assert.throws(() => loadConfig({ TELEHUB_CONFIG: file('dup.yaml', 'routes: []\nroutes: []\n') }), (err: unknown) => err instanceof ConfigError && /dup\.yaml: not valid YAML/.test(err.message));
  });

  it('a tiers: section sets the ladder; lateness and refresh stay settings', () => {
    const f = file('tiers.yaml', 'tiers:\n  raw_retention: 14d\n  aggregates:\n    - { width: 1m, retention: 30d }\n    - { width: 15m, retention: 1y }\n    - { width: 1h, retention: 5y }\n');
    const c = loadConfig({ TELEHUB_CONFIG: f, TELEHUB_ROLLUP_LATENESS_S: '86400' });
    assert.deepEqual(c.tiers, {
      rawRetentionMs: 14 * 86_400_000,
      aggregates: [
        { widthMs: 60_000, retentionMs: 30 * 86_400_000 },
        { widthMs: 900_000, retentionMs: 365 * 86_400_000 },
        { widthMs: 3_600_000, retentionMs: 5 * 365 * 86_400_000 },
      ],
      latenessMs: 86_400_000,
      refreshMs: 10_000,
    });
    // Only raw_retention given: the default aggregates stay.
    const raw = loadConfig({ TELEHUB_CONFIG: file('raw.yaml', 'tiers: { raw_retention: 90d }\n') });
    assert.equal(raw.tiers.rawRetentionMs, 90 * 86_400_000);
    assert.deepEqual(raw.tiers.aggregates.map((a) => a.widthMs), [60_000, 300_000, 3_600_000]);
  });

  it('tiers: unknown keys, bad durations and unsound ladders are refused with their path', () => {
    assert.deepEqual(problemsOf({ tiers: { raw_retension: '7d', aggregates: [{ width: '1m', retention: 'forever', widht: 1 }, { width: '5m' }, 'x'] } }), [
      'tiers.raw_retension: unknown key (did you mean raw_retention?); known here: raw_retention, aggregates',
      'tiers.aggregates[0].widht: unknown key (did you mean width?); known here: width, retention',
      'tiers.aggregates[0].retention: must be a duration such as 90s, 30m, 12h, 7d, 2w or 1y, got string "forever"',
      'tiers.aggregates[1].retention: is required',
      'tiers.aggregates[2]: must be a mapping with width and retention, got string "x"',
    ]);
    assert.deepEqual(problemsOf({ tiers: [] }), ['tiers: must be a mapping with raw_retention and/or aggregates, got a list']);
    // The ladder as a whole (checkTiers), named by the file.
    const f = file('bad-ladder.yaml', 'tiers:\n  raw_retention: 3d\n  aggregates:\n    - { width: 1m, retention: 90d }\n    - { width: 90s, retention: 2y }\n');
    assert.throws(
      () => loadConfig({ TELEHUB_CONFIG: f }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes(`${f}: tiers.raw_retention: 3d ends before the lateness window`) &&
        err.message.includes(`${f}: tiers.aggregates[1].width: 90s must be a larger multiple of the tier below (1m, 1m)`),
    );
  });

  it('the example file in deploy/ is valid', () => {
    const example = new URL('../../deploy/telehub/telehub.example.yaml', import.meta.url).pathname;
    const c = loadConfig({ TELEHUB_CONFIG: example });
    assert.deepEqual(c.routes.map((r) => r.filter), ['qs/v1/+/events', 'iot/node/+/telemetry', 'iot/node/+/status', 'fleet/v1/+/telemetry', 'home/+/events', 'sensors/+/+/metrics', 'home/+/sensor']);
  });

  it('docs/configuration.md documents every config-file key in its hand-written part', () => {
    const doc = handWrittenPart(readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8'));
    for (const key of configFileKeys()) {
      const [section, leaf] = key.split('.');
      if (leaf === undefined) assert.ok(doc.includes(`${section}:`), `docs/configuration.md: the config file section lacks an example of ${section}`);
      else assert.ok(doc.includes(`| \`${leaf}\` |`), `docs/configuration.md: the config file section lacks a row for ${key}`);
    }
  });
});

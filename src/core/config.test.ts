import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { handWrittenPart, renderConfigDoc } from './config-doc.js';
import { DEFAULT_CODEC_DEFAULTS, DEFAULT_LIMITS, loadConfig } from './config.js';
import { ConfigError } from './errors.js';
import { SETTINGS } from './settings.js';

describe('configuration', () => {
  it('defaults: embedded broker, SQLite under ./data, seed-001 topics', () => {
    const c = loadConfig({});
    assert.equal(c.mqtt, undefined);
    assert.equal(c.store.kind, 'sqlite');
    assert.match(c.store.kind === 'sqlite' ? c.store.file : '', /data[/\\]telehub\.db$/);
    assert.equal(c.topics.events, 'qs/v1/+/events');
    assert.equal(c.topics.deadLetter, 'qs/v1/deadletter');
    assert.equal(c.topics.ackTemplate, 'qs/v1/{device_id}/acks');
    assert.equal(c.http.port, 8080);
    assert.equal(c.embedded.port, 1883);
    assert.equal(c.embedded.wsPort, 9001);
    assert.equal(c.limits.maxPayloadBytes, 65536);
    assert.equal(c.limits.maxMetaBytes, 8192);
    assert.equal(c.limits.maxMetaDepth, 8);
    assert.equal(c.limits.maxIdLength, 128);
    assert.deepEqual(c.limits, DEFAULT_LIMITS, 'DEFAULT_LIMITS are the settings defaults');
    assert.deepEqual(c.lineProtocol, DEFAULT_CODEC_DEFAULTS.lineProtocol, 'DEFAULT_CODEC_DEFAULTS are the settings defaults');
  });

  it('seed variables select the external broker and PostgreSQL with the seed defaults', () => {
    const c = loadConfig({ MQTT_HOST: 'mosquitto', POSTGRES_HOST: 'db' });
    assert.equal(c.mqtt?.url, 'mqtt://mosquitto:1883');
    assert.equal(c.mqtt?.protocolVersion, 5);
    assert.equal(c.mqtt?.clientId, 'telehub-ingester');
    assert.deepEqual(c.store.kind === 'postgres' && [c.store.host, c.store.port, c.store.database, c.store.user, c.store.password], ['db', 5432, 'qs', 'qs', 'qs_password']);
  });

  it('MQTT_URL and DATABASE_URL, including TLS brokers with credentials', () => {
    const c = loadConfig({ MQTT_URL: 'mqtts://abc.s1.eu.hivemq.cloud:8883', MQTT_USERNAME: 'u', MQTT_PASSWORD: 'p', DATABASE_URL: 'postgres://a:b@h/db' });
    assert.equal(c.mqtt?.url, 'mqtts://abc.s1.eu.hivemq.cloud:8883');
    assert.equal(c.mqtt?.username, 'u');
    assert.equal(c.store.kind, 'postgres');
  });

  it('rejects bad values, naming each setting, all at once', () => {
    try {
      loadConfig({ TELEHUB_BATCH_MAX: 'many', TELEHUB_HTTP_PORT: '70000', MQTT_URL: 'http://x', ACK_TEMPLATE: 'acks/+', MQTT_CA_FILE: '/nonexistent/ca.pem', DATABASE_URL: 'postgres://u:secret@h/db', TELEHUB_STORE: 'mysql' });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      for (const name of ['TELEHUB_BATCH_MAX', 'TELEHUB_HTTP_PORT', 'MQTT_URL', 'ACK_TEMPLATE', 'MQTT_CA_FILE', 'TELEHUB_STORE']) {
        assert.match(err.message, new RegExp(name), `message names ${name}`);
      }
    }
  });

  it('never prints a secret in an error', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://u:supersecret@h/db' }), (err: Error) => !err.message.includes('supersecret') && /DATABASE_URL/.test(err.message));
  });

  it('rejects unknown TELEHUB_* names with a suggestion, ignores test variables', () => {
    assert.throws(() => loadConfig({ TELEHUB_BATCHMAX: '10' }), /TELEHUB_BATCHMAX: unknown setting \(did you mean TELEHUB_BATCH_MAX\?\)/);
    assert.doesNotThrow(() => loadConfig({ TELEHUB_TEST_DATABASE_URL: 'x' }));
  });

  it('checks settings against each other', () => {
    assert.throws(() => loadConfig({ TELEHUB_BATCH_MAX: '500', TELEHUB_MAX_INFLIGHT: '100' }), /TELEHUB_BATCH_MAX: must not exceed TELEHUB_MAX_INFLIGHT/);
    assert.throws(() => loadConfig({ TELEHUB_RETRY_MIN_MS: '900', TELEHUB_RETRY_MAX_MS: '100' }), /TELEHUB_RETRY_MIN_MS/);
    assert.throws(() => loadConfig({ MQTT_EVENTS_TOPIC: 'qs/#/events' }), /MQTT_EVENTS_TOPIC/);
    assert.throws(() => loadConfig({ TELEHUB_MAX_PAYLOAD_BYTES: '5000', TELEHUB_MQTT_MAX_PACKET_BYTES: '4999' }), /TELEHUB_MQTT_MAX_PACKET_BYTES: must be at least TELEHUB_MAX_PAYLOAD_BYTES/);
  });

  it("caps embedded-broker packets a topic's room above the payload limit unless told otherwise", () => {
    assert.equal(loadConfig({}).embedded.maxPacketBytes, 65536 + 65536);
    assert.equal(loadConfig({ TELEHUB_MAX_PAYLOAD_BYTES: '1000' }).embedded.maxPacketBytes, 1000 + 65536);
    assert.equal(loadConfig({ TELEHUB_MAX_PAYLOAD_BYTES: '1000', TELEHUB_MQTT_MAX_PACKET_BYTES: '1000' }).embedded.maxPacketBytes, 1000);
  });

  it('docs/configuration.md is generated from the schema and up to date', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    assert.equal(doc, renderConfigDoc(handWrittenPart(doc)), 'run `npm run docs:config`');
    for (const s of SETTINGS) assert.ok(doc.includes(`\`${s.env}\``), s.env);
  });
});

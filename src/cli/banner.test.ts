/**
 * The start-up banner's wording for the set-ups the e2e test does not start
 * (wildcard hosts, an external broker, PostgreSQL), and that it never shows
 * a password.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../core/config.js';
import { formatBanner } from './banner.js';

describe('formatBanner', () => {
  it('embedded defaults: localhost addresses on all interfaces, the SQLite file', () => {
    const config = loadConfig({ TELEHUB_DATA_DIR: '/srv/telehub' });
    const text = formatBanner({ config, httpPort: 8080, mqttPort: 1883, mqttWsPort: 9001 });
    assert.equal(
      text,
      [
        'telehub is running.',
        '  MQTT       mqtt://localhost:1883 (all interfaces)',
        '  WebSocket  ws://localhost:9001 (all interfaces)',
        '  HTTP       http://localhost:8080 (all interfaces)',
        '  Store      SQLite /srv/telehub/telehub.db',
        '',
      ].join('\n'),
    );
  });

  it('the dashboard address and the admin token: the token itself only on the start that created it', () => {
    const config = loadConfig({ TELEHUB_DATA_DIR: '/srv/telehub' });
    const first = formatBanner({ config, httpPort: 8080, mqttPort: 1883, mqttWsPort: 9001, adminToken: { file: '/srv/telehub/admin-token', created: 'thk_0123456789abcdef_secret' } });
    assert.match(first, /\n {2}Dashboard {2}http:\/\/localhost:8080\/ \(all interfaces\)\n/);
    assert.match(first, /\n {2}Token {6}thk_0123456789abcdef_secret \(admin; shown once, kept in \/srv\/telehub\/admin-token\)\n/);
    const later = formatBanner({ config, httpPort: 8080, mqttPort: 1883, mqttWsPort: 9001, adminToken: { file: '/srv/telehub/admin-token' } });
    assert.match(later, /\n {2}Token {6}admin token in \/srv\/telehub\/admin-token\n/);
    assert.doesNotMatch(later, /thk_/);
  });

  it('an IPv6 address is bracketed', () => {
    const config = loadConfig({ TELEHUB_HTTP_HOST: '::1', TELEHUB_MQTT_HOST: '::1' });
    const text = formatBanner({ config, httpPort: 8080, mqttPort: 1883, mqttWsPort: -1 });
    assert.match(text, /MQTT {7}mqtt:\/\/\[::1\]:1883\n/);
    assert.match(text, /WebSocket {2}off\n/);
  });

  it('external broker and PostgreSQL, passwords hidden', () => {
    const config = loadConfig({ MQTT_URL: 'mqtts://dev:brokersecret@broker.lan:8883', DATABASE_URL: 'postgres://qs:dbsecret@db.lan:5432/qs' });
    const text = formatBanner({ config, httpPort: 8080, mqttPort: 0, mqttWsPort: -1 });
    assert.match(text, /MQTT {7}external broker mqtts:\/\/dev@broker\.lan:8883 as telehub-ingester\n/);
    assert.match(text, /WebSocket {2}off \(external broker\)\n/);
    assert.match(text, /Store {6}PostgreSQL postgres:\/\/qs@db\.lan:5432\/qs\n/);
    assert.doesNotMatch(text, /secret/);
  });

  it('PostgreSQL from POSTGRES_* settings, password never shown', () => {
    const config = loadConfig({ POSTGRES_HOST: 'db', POSTGRES_PASSWORD: 'pgsecret' });
    const text = formatBanner({ config, httpPort: 8080, mqttPort: 1883, mqttWsPort: 9001 });
    assert.match(text, /Store {6}PostgreSQL postgres:\/\/qs@db:5432\/qs\n/);
    assert.doesNotMatch(text, /pgsecret/);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
function telehub(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 30_000 });
}

describe('telehub command', () => {
  it('a bad setting stops start-up with exit code 78 and a message naming it', () => {
    const r = telehub(['start'], { TELEHUB_BATCH_MAX: 'lots', TELEHUB_HTTP_PORT: '99999' });
    assert.equal(r.status, 78);
    assert.match(r.stderr, /TELEHUB_BATCH_MAX="lots": must be an integer/);
    assert.match(r.stderr, /TELEHUB_HTTP_PORT="99999": must be at most 65535/);
    assert.match(r.stderr, /docs\/configuration\.md/);
  });

  it('config prints the effective configuration with secrets hidden', () => {
    const r = telehub(['config'], { DATABASE_URL: 'postgres://u:hunter2@db/qs', MQTT_URL: 'mqtt://broker:1883', MQTT_PASSWORD: 'hunter3' });
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.equal(c.store.kind, 'postgres');
    assert.equal(c.mqtt.url, 'mqtt://broker:1883');
    assert.ok(!r.stdout.includes('hunter2') && !r.stdout.includes('hunter3'));
  });

  it('unknown commands fail with a hint', () => {
    const r = telehub(['frobnicate'], {});
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Unknown command "frobnicate"/);
  });
});

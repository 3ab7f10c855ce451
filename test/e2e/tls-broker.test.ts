/**
 * telehub against a TLS broker that wants a username and password, the way a
 * HiveMQ Cloud user runs it: `MQTT_URL=mqtts://…`, `MQTT_USERNAME`,
 * `MQTT_PASSWORD`, and `MQTT_CA_FILE` for the (here private) CA. The broker is
 * Aedes behind node's TLS server with a certificate made by openssl for this
 * test. Skipped, saying so, where the openssl command is missing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { once, type EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { skipUnless } from '../helpers/skip.js';
import { startTelehubProcess } from '../helpers/telehub.js';

const haveOpenssl = spawnSync('openssl', ['version']).error === undefined;

function makeCerts(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=telehub test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
}

describe('external broker over TLS with credentials', { skip: skipUnless(haveOpenssl, 'openssl command not installed') }, () => {
  it('mqtts:// + MQTT_CA_FILE + MQTT_USERNAME/MQTT_PASSWORD: events stored and ACKed; a wrong password is not', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'telehub-tls-'));
    execFileSync('sh', ['-c', 'printf "subjectAltName=DNS:localhost,IP:127.0.0.1\\n" > san.ext'], { cwd: dir });
    makeCerts(dir);
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        const ok = username === 'telehub' && password?.toString() === 's3cret';
        if (ok || client.id.startsWith('device-')) return done(null, true);
        done(Object.assign(new Error('bad credentials'), { returnCode: 4 }), false);
      },
    });
    const server: Server = createServer({ key: readFileSync(path.join(dir, 'server.key')), cert: readFileSync(path.join(dir, 'server.pem')) }, (s) => broker.handle(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `mqtts://localhost:${(server.address() as AddressInfo).port}`;
    const base = { MQTT_URL: url, MQTT_CA_FILE: path.join(dir, 'ca.pem'), MQTT_USERNAME: 'telehub', TELEHUB_MQTT_PROTOCOL: '3.1.1', MQTT_CLIENT_ID: 'telehub-tls' };

    const hub = await startTelehubProcess({ ...base, MQTT_PASSWORD: 's3cret' });
    const device = await mqtt.connectAsync(url, { clientId: 'device-1', ca: readFileSync(path.join(dir, 'ca.pem')), protocolVersion: 4 });
    try {
      await hub.ready();
      await device.subscribeAsync('qs/v1/esp32-01/acks', { qos: 1 });
      const ack = once(device as unknown as EventEmitter, 'message');
      await device.publishAsync('qs/v1/esp32-01/events', JSON.stringify({ schema: 1, event_id: 'tls-1', device_id: 'esp32-01', event_type: 'temperature', value: 21 }), { qos: 1 });
      const [topic, payload] = (await ack) as [string, Buffer];
      assert.equal(topic, 'qs/v1/esp32-01/acks');
      assert.deepEqual(JSON.parse(payload.toString()), { schema: 1, event_id: 'tls-1', device_id: 'esp32-01', status: 'stored' });
      assert.ok(!hub.output().includes('s3cret'), 'the password is never logged');
      assert.equal(await hub.stop(), 0);

      // A wrong password: telehub does not become ready and says why.
      const bad = await startTelehubProcess({ ...base, MQTT_PASSWORD: 'wrong' });
      try {
        const end = Date.now() + 30_000;
        while (!bad.output().includes('MQTT client error') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        assert.match(bad.output(), /MQTT client error.*|Not authorized|Bad User Name or Password/);
        const ready = await fetch(`http://127.0.0.1:${bad.httpPort}/readyz`);
        assert.equal(ready.status, 503);
        assert.match(JSON.stringify(await ready.json()), /mqtt: not connected/);
        assert.ok(!bad.output().includes('wrong"'), 'the password is never logged');
      } finally {
        bad.cleanup();
      }
    } catch (err) {
      process.stderr.write(hub.output().slice(-3000));
      throw err;
    } finally {
      await device.endAsync(true);
      hub.cleanup();
      server.close();
      await new Promise<void>((r) => broker.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

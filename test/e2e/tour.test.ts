/**
 * The README's five-minute tour, run as written: mosquitto_pub / mosquitto_sub
 * against `telehub start` on embedded defaults, then the CLI to see the rows.
 * Skipped (and says so) when the mosquitto clients are not installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { skipUnless } from '../helpers/skip.js';
import { startTelehubProcess } from '../helpers/telehub.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const haveClients = spawnSync('mosquitto_pub', ['--help']).error === undefined;
const haveSqlite3 = spawnSync('sqlite3', ['-version']).error === undefined;

const EVENT = `{
  "schema": 1,
  "event_id": "esp32-01-1707523200000",
  "device_id": "esp32-01",
  "event_type": "temperature",
  "value": 23.5,
  "unit": "C",
  "ts_device": "2024-02-10T00:00:00Z",
  "meta": {"sensor": "dht22", "location": "living_room"}
}`;

describe('README tour', { skip: skipUnless(haveClients, 'mosquitto_pub/mosquitto_sub not installed') }, () => {
  it('publish, see the ACK and the duplicate, see a dead letter, look at the row', async () => {
    const hub = await startTelehubProcess();
    try {
      await hub.ready();
      const port = String(hub.mqttPort);
      const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-t', 'qs/v1/+/acks', '-t', 'qs/v1/deadletter', '-t', 'tour/ready', '-v', '-W', '60']);
      let out = '';
      sub.stdout.on('data', (d) => (out += d));
      const tourLines = () => out.split('\n').filter((l) => l.startsWith('qs/v1/'));
      // The subscriber is ready once it prints a probe.
      while (!out.includes('tour/ready')) {
        await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-t', 'tour/ready', '-m', 'ok']);
        await new Promise((r) => setTimeout(r, 50));
      }

      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-t', 'qs/v1/esp32-01/events', '-m', EVENT]);
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-t', 'qs/v1/esp32-01/events', '-m', EVENT]);
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-t', 'qs/v1/esp32-02/events', '-m', '{"schema":1,"event_id":"x1","device_id":"esp32-01","event_type":"temperature"}']);
      // The same event_id with another value: another event reusing the id.
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-q', '1', '-t', 'qs/v1/esp32-01/events', '-m', EVENT.replace('23.5', '24.0')]);
      const end = Date.now() + 20_000;
      while (tourLines().length < 5 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      sub.kill();
      const lines = tourLines();
      assert.equal(lines.length, 5, `mosquitto_sub output:\n${out}`);
      assert.equal(lines[0], 'qs/v1/esp32-01/acks {"schema":1,"event_id":"esp32-01-1707523200000","device_id":"esp32-01","status":"stored"}');
      assert.equal(lines[1], 'qs/v1/esp32-01/acks {"schema":1,"event_id":"esp32-01-1707523200000","device_id":"esp32-01","status":"duplicate"}');
      assert.ok(lines[2].startsWith('qs/v1/deadletter '));
      const dl = JSON.parse(lines[2].slice('qs/v1/deadletter '.length));
      assert.equal(dl.reason, 'topic_device_mismatch');
      assert.equal(dl.topic, 'qs/v1/esp32-02/events');
      assert.equal(JSON.parse(lines[3].slice('qs/v1/deadletter '.length)).reason, 'event_id_conflict');
      assert.equal(lines[4], 'qs/v1/esp32-01/acks {"schema":1,"event_id":"esp32-01-1707523200000","device_id":"esp32-01","status":"conflict"}');

      if (haveSqlite3) {
        // The README's plain-SQL line, on this run's database.
        const q = await run('sqlite3', [path.join(hub.dataDir, 'telehub.db'), 'select event_id, device_id, value_num, ts_device, ts_server from events_readable limit 5']);
        assert.match(q.stdout.trim(), /^esp32-01-1707523200000\|esp32-01\|23\.5\|2024-02-10T00:00:00\.000Z\|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      }

      const env: NodeJS.ProcessEnv = { ...process.env, TELEHUB_DATA_DIR: hub.dataDir };
      for (const k of Object.keys(env)) if (k.startsWith('TELEHUB_') && k !== 'TELEHUB_DATA_DIR') delete env[k];
      const events = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'events', '--limit', '5'], { cwd: root, env });
      const row = JSON.parse(events.stdout.trim().split('\n')[0]);
      assert.deepEqual(
        { ...row, ts_server: undefined },
        { event_id: 'esp32-01-1707523200000', device_id: 'esp32-01', event_type: 'temperature', value_num: 23.5, value_text: null, unit: 'C', ts_device: '2024-02-10T00:00:00.000Z', ts_server: undefined, meta: { sensor: 'dht22', location: 'living_room' } },
      );
      const dls = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'deadletters'], { cwd: root, env });
      assert.deepEqual(dls.stdout.trim().split('\n').map((l) => JSON.parse(l).reason), ['event_id_conflict', 'topic_device_mismatch']);
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-3000));
      throw err;
    } finally {
      hub.cleanup();
    }
  });
});

/**
 * `telehub simulate` and `telehub start --demo` as a user runs them: child
 * processes, real brokers, the store read back through the CLI.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';
import { runTelehubCli, startTelehubProcess, telehubCli } from '../helpers/telehub.js';

describe('telehub simulate', () => {
  it('--help names every option and profile', async () => {
    const r = await runTelehubCli({}, 'simulate', '--help');
    assert.equal(r.status, 0);
    for (const o of ['--devices', '--rate', '--profile', '--duration', '--broker', '--http', '--token']) assert.ok(r.stdout.includes(o), o);
    for (const p of ['sensor', 'energy', 'heatpump', 'car']) assert.ok(r.stdout.includes(p), p);
  });

  it('refuses bad options with exit 64 and one line', async () => {
    for (const args of [['--profile', 'toaster'], ['--rate', '0'], ['--devices', 'many'], ['--bogus'], ['--http', 'http://x'], ['--broker', 'http://x']]) {
      const r = await runTelehubCli({}, 'simulate', ...args);
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^telehub simulate: .+\n$/, args.join(' '));
    }
  });

  describe('against a running telehub', () => {
    let t: InProcessTelehub;
    before(async () => (t = await startInProcess('sqlite')));
    after(() => t.close());

    it('prints the report, nothing lost, and exits 0', async () => {
      const r = await runTelehubCli({}, 'simulate', '-n', '3', '--rate', '4', '--duration', '1', '--broker', `mqtt://127.0.0.1:${t.hub.mqttPort}`, '--prefix', 'simcli', '--json');
      assert.equal(r.status, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.devices, 3);
      assert.ok(report.events.sent > 0);
      assert.equal(report.lost, 0);
      assert.equal(report.acknowledged, report.sent);
      const stored = (await t.hub.store.recentEvents(10_000, 'simcli-sensor-001')).length;
      assert.ok(stored > 0);
    });

    it('says which broker it cannot reach, exit 1', async () => {
      const r = await runTelehubCli({}, 'simulate', '--duration', '1', '--broker', 'mqtt://127.0.0.1:1');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /could not connect to mqtt:\/\/127\.0\.0\.1:1/);
    });
  });
});

describe('telehub start --demo (npm run demo)', () => {
  it('starts a fleet whose events are acknowledged and stored', async () => {
    const hub = await startTelehubProcess({}, ['--demo']);
    try {
      await hub.ready();
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`);
      const stored = new Promise<string>((resolve) =>
        c.on('message', (_t, p) => {
          const ack = JSON.parse(p.toString());
          if (ack.status === 'stored') resolve(ack.device_id);
        }),
      );
      await c.subscribeAsync('qs/v1/+/acks', { qos: 1 });
      const device = await stored;
      await c.endAsync();
      assert.match(device, /^demo-(sensor|energy|heatpump|car)-\d+$/);
      const lines = (await telehubCli({ TELEHUB_DATA_DIR: hub.dataDir }, 'events', '--device', device)).split('\n');
      assert.ok(lines.length > 0 && JSON.parse(lines[0]).device_id === device);
      assert.match(hub.output(), /Demo fleet started/);
      assert.equal(await hub.stop(), 0);
      assert.match(hub.output(), /Demo fleet stopped/);
    } catch (err) {
      process.stderr.write(hub.output().slice(-5000));
      throw err;
    } finally {
      hub.cleanup();
    }
  });
});

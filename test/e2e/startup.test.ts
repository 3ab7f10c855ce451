/**
 * `telehub start` as a user meets it: a port that is already taken stops
 * start-up with one line naming the port and the setting to change (exit 78,
 * EX_CONFIG), and a successful start ends with a banner naming the MQTT,
 * WebSocket and HTTP addresses and the store.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/net.js';
import { startTelehubProcess, type TelehubProcess } from '../helpers/telehub.js';

/** A listener on a random port of 127.0.0.1, holding it for the test. */
async function occupyPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  return { port: (srv.address() as net.AddressInfo).port, close: () => new Promise((r) => srv.close(() => r())) };
}

for (const { setting, name } of [
  { setting: 'TELEHUB_MQTT_PORT', name: 'MQTT' },
  { setting: 'TELEHUB_MQTT_WS_PORT', name: 'MQTT WebSocket' },
  { setting: 'TELEHUB_HTTP_PORT', name: 'HTTP' },
]) {
  describe(`start-up with the ${name} port taken`, () => {
    it(`exits 78 with one line naming the port and ${setting}, no stack trace`, async () => {
      const taken = await occupyPort();
      // The WebSocket listener is off by default in the helper; give it its own free port unless it is the one taken.
      const env: Record<string, string> = { TELEHUB_MQTT_WS_PORT: String(await freePort()), [setting]: String(taken.port) };
      const hub = await startTelehubProcess(env);
      try {
        const code = await hub.exited;
        const stderr = hub.stderr();
        assert.equal(code, 78, hub.output());
        const lines = stderr.split('\n').filter((l) => l.length > 0);
        assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${stderr}`);
        assert.ok(lines[0].includes(String(taken.port)), `names the port: ${lines[0]}`);
        assert.ok(lines[0].includes(setting), `names the setting: ${lines[0]}`);
        assert.doesNotMatch(hub.output(), /\n\s+at /, 'no stack trace anywhere in the output');
        assert.doesNotMatch(hub.output(), /Unhandled 'error' event/);
      } finally {
        hub.cleanup();
        await taken.close();
      }
    });
  });
}

/**
 * The banner's text once its last line (the store) has arrived on stderr:
 * the HTTP answer that made the process ready can overtake the pipe.
 */
function bannerOf(hub: TelehubProcess, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!/Store\s+\S.*\n/.test(hub.stderr())) return;
      done();
      resolve(hub.stderr());
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no banner within ${timeoutMs} ms:\n${hub.output()}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      hub.proc.stderr!.off('data', onData);
    };
    const onData = () => setImmediate(check);
    hub.proc.stderr!.on('data', onData);
    check();
  });
}

describe('start-up banner', () => {
  it('ends start-up with the MQTT, WebSocket and HTTP addresses and the store', async () => {
    const wsPort = await freePort();
    const hub = await startTelehubProcess({ TELEHUB_MQTT_WS_PORT: String(wsPort) });
    try {
      await hub.ready();
      const banner = await bannerOf(hub);
      assert.match(banner, new RegExp(`MQTT\\s+mqtt://127\\.0\\.0\\.1:${hub.mqttPort}\\b`));
      assert.match(banner, new RegExp(`WebSocket\\s+ws://127\\.0\\.0\\.1:${wsPort}\\b`));
      assert.match(banner, new RegExp(`HTTP\\s+http://127\\.0\\.0\\.1:${hub.httpPort}\\b`));
      assert.ok(banner.includes(path.join(hub.dataDir, 'telehub.db')), `names the SQLite file:\n${banner}`);
      assert.match(banner, /Store\s+SQLite/);
      // Logs stay JSON lines on stdout; the banner is for people, on stderr.
      for (const line of hub.output().split('\n')) {
        if (line.startsWith('{')) assert.doesNotThrow(() => JSON.parse(line));
      }
      assert.equal(await hub.stop(), 0);
    } finally {
      hub.cleanup();
    }
  });

  it('says "off" for a disabled WebSocket listener', async () => {
    const hub = await startTelehubProcess({ TELEHUB_MQTT_WS_PORT: '-1' });
    try {
      await hub.ready();
      assert.match(await bannerOf(hub), /WebSocket\s+off/);
      assert.equal(await hub.stop(), 0);
    } finally {
      hub.cleanup();
    }
  });
});

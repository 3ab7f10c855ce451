/**
 * The live WebSocket stream with real clients (ws): events arriving over
 * MQTT and HTTP reach matching subscribers as they are committed; a client
 * that stops reading is closed with 4008 while a fast one next to it gets
 * everything and ingestion is not slowed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { startTelehubProcess, telehubCli } from '../helpers/telehub.js';


async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('live stream', () => {
  it('filters, delivers MQTT and HTTP events as committed, and drops a slow client with 4008', async () => {
    const hub = await startTelehubProcess({ TELEHUB_STREAM_MAX_BUFFER_BYTES: '65536' });
    const sockets: WebSocket[] = [];
    let device: mqtt.MqttClient | undefined;
    try {
      await hub.ready();
      const env = { TELEHUB_DATA_DIR: hub.dataDir };
      const token = (...a: string[]) => telehubCli(env, 'tokens', 'create', ...a);
      const read = await token('--name', 'dash', '--scope', 'read');
      const ingest = await token('--name', 'phone');
      const wsUrl = `ws://127.0.0.1:${hub.httpPort}/api/v1/stream`;

      // No token: refused before the upgrade.
      const refused = new WebSocket(wsUrl);
      const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
      assert.equal(res.statusCode, 401);

      const open = async (url: string, headers?: Record<string, string>) => {
        const ws = new WebSocket(url, { headers });
        sockets.push(ws);
        // Events, and presence transitions (kind presence) of the devices the filter matches.
        const got: Array<{ event_id: string; device_id: string; event_type: string; kind?: string; presence?: string }> = [];
        ws.on('message', (d) => got.push(JSON.parse(d.toString())));
        await once(ws, 'open');
        return { ws, got };
      };
      const esp = await open(`${wsUrl}?token=${read}&device=esp32-*`);
      const temps = await open(`${wsUrl}?type=temperature`, { authorization: `Bearer ${read}` });
      await until(async () => /telehub_stream_clients 2/.test(await (await fetch(`http://127.0.0.1:${hub.httpPort}/metrics`)).text()), 'two stream clients');

      device = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { clientId: 'stream-dev' });
      await device.publishAsync('qs/v1/esp32-01/events', JSON.stringify({ schema: 1, event_id: 'm-1', device_id: 'esp32-01', event_type: 'temperature', value: 20 }), { qos: 1 });
      await device.publishAsync('qs/v1/car-1/events', JSON.stringify({ schema: 1, event_id: 'm-2', device_id: 'car-1', event_type: 'speed', value: 80 }), { qos: 1 });
      const r = await fetch(`http://127.0.0.1:${hub.httpPort}/ingest`, {
        method: 'POST',
        body: JSON.stringify([{ schema: 1, event_id: 'h-1', device_id: 'car-1', event_type: 'temperature', value: 5 }, { schema: 1, event_id: 'h-2', device_id: 'esp32-02', event_type: 'humidity', value: 40 }]),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest}` },
      });
      assert.equal(r.status, 202);
      const events = (got: Array<{ kind?: string; event_id: string }>) => got.filter((e) => e.kind !== 'presence');
      await until(() => events(esp.got).length >= 2 && events(temps.got).length >= 2, 'stream messages');
      assert.deepEqual(events(esp.got).map((e) => e.event_id).sort(), ['h-2', 'm-1']);
      assert.deepEqual(events(temps.got).map((e) => e.event_id).sort(), ['h-1', 'm-1']);
      // The device filter applies to presence transitions too; the type filter matches them as type presence only.
      assert.ok(esp.got.filter((e) => e.kind === 'presence').every((e) => e.device_id.startsWith('esp32-') && e.presence === 'online'));
      assert.equal(temps.got.filter((e) => e.kind === 'presence').length, 0);

      // A slow client (stops reading) next to a fast one, under load.
      const slow = await open(`${wsUrl}?token=${read}`);
      const fast = await open(`${wsUrl}?token=${read}`);
      const slowClosed = once(slow.ws, 'close');
      (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      // ~16 MB in all: more than loopback's socket buffers can hide from the server's send buffer.
      const n = 4000;
      const batch = Array.from({ length: n }, (_, i) => ({ schema: 1, event_id: `load-${i}`, device_id: 'load', event_type: 'x', value: i, meta: { pad: 'p'.repeat(4000) } }));
      for (let i = 0; i < n; i += 500) {
        const rr = await fetch(`http://127.0.0.1:${hub.httpPort}/ingest`, { method: 'POST', body: JSON.stringify(batch.slice(i, i + 500)), headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest}` } });
        assert.equal(rr.status, 202, 'ingestion is not held up by the slow client');
      }
      await until(() => fast.got.filter((e) => e.device_id === 'load' && e.kind !== 'presence').length === n, 'the fast client got every event');
      await until(async () => /telehub_stream_slow_disconnects_total 1/.test(await (await fetch(`http://127.0.0.1:${hub.httpPort}/metrics`)).text()), 'the slow client dropped');
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const [code] = (await slowClosed) as [number, Buffer];
      assert.equal(code, 4008);
      assert.ok(slow.got.length < n, `the slow client did not get everything (${slow.got.length})`);
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-4000));
      throw err;
    } finally {
      for (const s of sockets) s.terminate();
      await device?.endAsync(true);
      hub.cleanup();
    }
  });
});

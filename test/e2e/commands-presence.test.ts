/**
 * Commands and presence together (issue 9): a command for a device that is
 * known to be offline is not published; one whose TTL runs out meanwhile
 * ends `expired` without ever reaching the device (the immobiliser that must
 * not fire days later); the rest go out when the device is back, and succeed.
 * Embedded broker, a real MQTT.js client with a last will as the node, states
 * read back through the HTTP API (polled, never slept).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';

interface Cmd {
  command_id: string;
  state: string;
  attempts: number;
}

describe('commands wait while their device is offline', () => {
  let t: InProcessTelehub;
  let admin: string;
  before(async () => {
    t = await startInProcess('sqlite', { TELEHUB_COMMAND_ACK_TIMEOUT_S: '1', TELEHUB_COMMAND_MAX_ATTEMPTS: '5' });
    admin = await t.token('admin');
  });
  after(() => t?.close());

  const api = async (path: string, init: RequestInit = {}) => {
    const r = await fetch(`${t.base}${path}`, { ...init, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const poll = async <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await read();
      if (ok(v)) return v;
      if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const presence = (id: string) => api(`/api/v1/devices/${id}`).then((r) => r.body.presence as string | undefined);
  const command = (id: string) => api(`/api/v1/commands/${id}`).then((r) => r.body as unknown as Cmd);

  /** The node: client id = device id, a last will on its status topic, answers each command_id once. */
  async function node(url: string, id: string, received: string[]): Promise<MqttClient> {
    const c = await mqtt.connectAsync(url, { clientId: id, reconnectPeriod: 0, will: { topic: `iot/node/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: false } });
    c.on('message', (_topic, payload) => {
      const m = JSON.parse(payload.toString()) as { command_id: string };
      if (!received.includes(m.command_id)) received.push(m.command_id);
      c.publish(`iot/node/${id}/status`, JSON.stringify({ command_id: m.command_id, status: 'succeeded' }), { qos: 1 });
    });
    await c.subscribeAsync(`iot/node/${id}/command`, { qos: 1 });
    await c.publishAsync(`iot/node/${id}/status`, 'online', { qos: 1 });
    return c;
  }

  it('holds commands back while the device is offline, expires one at its TTL unsent, sends the rest when it returns', async () => {
    const id = `pres-cmd-${process.pid}`;
    const url = `mqtt://127.0.0.1:${t.hub.mqttPort}`;
    const received: string[] = [];

    const first = await node(url, id, received);
    await poll('presence after connect', () => presence(id), (p) => p === 'online');
    first.stream.destroy(); // killed, not disconnected: the broker publishes its will
    await poll('presence after the will', () => presence(id), (p) => p === 'offline');

    const send = async (body: Record<string, unknown>) => {
      const r = await api(`/api/v1/devices/${id}/commands`, { method: 'POST', body: JSON.stringify(body) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body as unknown as Cmd;
    };
    const short = await send({ command: 'immobilise', ttl_s: 1 });
    const long = await send({ command: 'ping', ttl_s: 600 });

    const expired = await poll('the short-lived command', () => command(short.command_id), (c) => c.state === 'expired');
    assert.equal(expired.attempts, 0, 'an expired command was never published');
    // The TTL has run out meanwhile, so the dispatcher has had its chances: still nothing sent.
    const waiting = await command(long.command_id);
    assert.deepEqual([waiting.state, waiting.attempts], ['queued', 0]);

    const back = await node(url, id, received);
    try {
      const done = await poll('the held-back command', () => command(long.command_id), (c) => c.state === 'succeeded');
      assert.ok(done.attempts >= 1);
      assert.deepEqual(received, [long.command_id], 'only the live command reached the device');
      assert.equal((await command(short.command_id)).state, 'expired');
    } finally {
      await back.endAsync();
    }
  });
});

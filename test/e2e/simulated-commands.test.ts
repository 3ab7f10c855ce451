/**
 * Commands to the fleet simulator's nodes (what `telehub simulate` runs,
 * src/simulator) through the HTTP API, on the embedded broker and on
 * Mosquitto: each command ends `succeeded` with the node's result and was
 * executed exactly once by the node; a command a node does not know ends
 * `failed` with its reason. Waiting polls the API, never a sleep.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSimulation, type Simulation } from '../../src/simulator/run.js';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';
import { clearSession, mosquittoUrl, needsMosquitto } from '../helpers/mqtt.js';

interface Cmd {
  command_id: string;
  state: string;
  attempts: number;
  cause: string | null;
  result: unknown;
}

for (const mode of ['embedded', 'mosquitto'] as const) {
  describe(`commands to simulated nodes (${mode} broker)`, { skip: mode === 'mosquitto' ? needsMosquitto : false }, () => {
    const clientId = `telehub-simcmd-${process.pid}`;
    let t: InProcessTelehub;
    let sim: Simulation;
    let admin: string;
    before(async () => {
      t = await startInProcess('sqlite', mode === 'mosquitto' ? { MQTT_URL: mosquittoUrl!, MQTT_CLIENT_ID: clientId } : {});
      admin = await t.token('admin');
      sim = await startSimulation({ devices: 3, rate: 1, profile: 'sensor', brokerUrl: mode === 'mosquitto' ? mosquittoUrl! : `mqtt://127.0.0.1:${t.hub.mqttPort}`, idPrefix: `simcmd-${mode}-${process.pid}` });
    });
    after(async () => {
      await sim?.stop();
      await t?.close();
      if (mode === 'mosquitto') await clearSession(mosquittoUrl!, clientId);
    });

    const send = async (dev: string, body: Record<string, unknown>) => {
      const r = await fetch(`${t.base}/api/v1/devices/${dev}/commands`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 201, await r.clone().text());
      return (await r.json()) as Cmd;
    };
    const ended = async (id: string, ms = 20_000): Promise<Cmd> => {
      const end = Date.now() + ms;
      for (;;) {
        const c = (await (await fetch(`${t.base}/api/v1/commands/${id}`, { headers: { authorization: `Bearer ${admin}` } })).json()) as Cmd;
        if (['succeeded', 'failed', 'expired', 'cancelled'].includes(c.state)) return c;
        if (Date.now() > end) throw new Error(`command ${id} stayed ${c.state}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    it('a command via POST /api/v1/devices/{id}/commands ends succeeded with the node\'s result, executed once', async () => {
      const nodes = sim.devices.map((d) => d.id);
      const sent = await Promise.all(nodes.map((dev) => send(dev, { command: 'set_interval', params: { seconds: 2 } })));
      const done = await Promise.all(sent.map((c) => ended(c.command_id)));
      for (const [k, c] of done.entries()) {
        assert.deepEqual([c.state, c.result], ['succeeded', { interval_s: 2 }], JSON.stringify(c));
        assert.equal(sim.stats.executions.get(`${nodes[k]}/${c.command_id}`), 1, `${nodes[k]} ran it once`);
      }
      const ping = await ended((await send(nodes[0], { command: 'ping' })).command_id);
      assert.equal(ping.state, 'succeeded');
      assert.equal((ping.result as { pong?: unknown }).pong, true);
    });

    it('a command the node does not know ends failed, cause node, with the node\'s reason', async () => {
      const dev = sim.devices[1].id;
      const c = await ended((await send(dev, { command: 'self_destruct' })).command_id);
      assert.deepEqual([c.state, c.cause], ['failed', 'node']);
      assert.match(String((c.result as { error?: unknown }).error), /unknown command "self_destruct"/);
      assert.equal(sim.stats.executions.get(`${dev}/${c.command_id}`), 1);
    });
  });
}

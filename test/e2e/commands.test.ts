/**
 * Commands end to end: telehub in-process (embedded broker, or the real
 * Mosquitto as an external broker), the HTTP API, and a real MQTT client
 * acting as the node (test/helpers/command-node.ts). States are read back
 * through the API; waiting is polling the API for a state, never a sleep.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { commandResultOf } from '../../src/codecs/node-status/index.js';
import { commandAnswers, COMMANDS_CONSUMER } from '../../src/commands/answers.js';
import { ProcessorRunner } from '../../src/log/runner.js';
import { commandNode } from '../helpers/command-node.js';
import { startInProcess, type InProcessTelehub } from '../helpers/inprocess.js';
import { runTelehubCli } from '../helpers/telehub.js';
import { clearSession, mosquittoUrl, needsMosquitto } from '../helpers/mqtt.js';

interface Cmd {
  command_id: string;
  state: string;
  attempts: number;
  cause: string | null;
  result: unknown;
  sent_at: string | null;
  delivered_at: string | null;
  finished_at: string | null;
}

const ENV = { TELEHUB_COMMAND_ACK_TIMEOUT_S: '1', TELEHUB_COMMAND_MAX_ATTEMPTS: '3' };

for (const mode of ['embedded', 'mosquitto'] as const) {
  describe(`commands end to end (${mode} broker)`, { skip: mode === 'mosquitto' ? needsMosquitto : false }, () => {
    let t: InProcessTelehub;
    let admin: string;
    let url: string;
    let seq = 0;
    const device = () => `cmd-${mode}-${process.pid}-${++seq}`;

    before(async () => {
      t = await startInProcess('sqlite', mode === 'mosquitto' ? { ...ENV, MQTT_URL: mosquittoUrl!, MQTT_CLIENT_ID: `telehub-cmd-test-${process.pid}` } : ENV);
      admin = await t.token('admin');
      url = mode === 'mosquitto' ? mosquittoUrl! : `mqtt://127.0.0.1:${t.hub.mqttPort}`;
    });
    after(async () => {
      await t?.close();
      // telehub's persistent session on the shared Mosquitto goes with the test.
      if (mode === 'mosquitto') await clearSession(mosquittoUrl!, `telehub-cmd-test-${process.pid}`);
    });

    const send = async (dev: string, body: Record<string, unknown>) => {
      const r = await fetch(`${t.base}/api/v1/devices/${dev}/commands`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 201, await r.clone().text());
      return (await r.json()) as Cmd;
    };
    const get = async (id: string) => (await (await fetch(`${t.base}/api/v1/commands/${id}`, { headers: { authorization: `Bearer ${admin}` } })).json()) as Cmd;
    const until = async (id: string, states: string[], ms = 15_000) => {
      const end = Date.now() + ms;
      for (;;) {
        const c = await get(id);
        if (states.includes(c.state)) return c;
        if (Date.now() > end) throw new Error(`command ${id} stayed ${c.state}: ${JSON.stringify(c)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    /** Resolves once the answer to `commandId` is in the commit log and the dispatcher's consumer has applied it (its checkpoint past the entry). */
    const answerApplied = async (commandId: string, ms = 15_000) => {
      const end = Date.now() + ms;
      let seq: number | undefined;
      for (let from = 0; ; ) {
        if (seq === undefined) {
          const entries = await t.hub.store.log.read(from, 1000);
          for (const e of entries) if (e.kind === 'event' && commandResultOf(e.event)?.commandId === commandId) seq = e.seq;
          if (entries.length > 0) from = entries[entries.length - 1].seq;
        }
        if (seq !== undefined && ((await t.hub.store.processors.get(COMMANDS_CONSUMER)) ?? 0) >= seq) return;
        if (Date.now() > end) throw new Error(`the answer to ${commandId} was ${seq === undefined ? 'never committed' : `committed at ${seq} but not applied`}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    it('a node that answers: queued → sent → delivered → succeeded, run once, with its result', async () => {
      const dev = device();
      const node = await commandNode(url, dev);
      try {
        const c = await send(dev, { command: 'set_led', params: { state: 'on', brightness: 128 } });
        assert.ok(['queued', 'sent'].includes(c.state));
        const done = await until(c.command_id, ['succeeded', 'failed', 'expired']);
        assert.equal(done.state, 'succeeded');
        assert.deepEqual(done.result, { ran: 'set_led' });
        assert.ok(done.sent_at && done.delivered_at && done.finished_at, 'a time for every step');
        assert.deepEqual(node.received[0], { command: 'set_led', params: { state: 'on', brightness: 128 }, command_id: c.command_id });
        assert.equal(node.executions.get(c.command_id), 1);
      } finally {
        await node.close();
      }
    });

    it('a failing node: failed with cause node and its result', async () => {
      const dev = device();
      const node = await commandNode(url, dev, 'fail');
      try {
        const c = await send(dev, { command: 'open_valve' });
        const done = await until(c.command_id, ['succeeded', 'failed', 'expired']);
        assert.deepEqual([done.state, done.cause, done.result], ['failed', 'node', { error: 'relay stuck' }]);
      } finally {
        await node.close();
      }
    });

    it('a node that never answers: resent with the same id up to the maximum, then failed with cause timeout', async () => {
      const dev = device();
      const node = await commandNode(url, dev, 'silent');
      try {
        const c = await send(dev, { command: 'reboot' });
        const done = await until(c.command_id, ['succeeded', 'failed', 'expired']);
        assert.deepEqual([done.state, done.cause, done.attempts, done.delivered_at], ['failed', 'timeout', 3, null]);
        assert.deepEqual(node.received.map((m) => m.command_id), [c.command_id, c.command_id, c.command_id]);
      } finally {
        await node.close();
      }
    });

    it('commands go out one at a time, in order: the second waits for the first answer', async () => {
      const dev = device();
      const node = await commandNode(url, dev, 'silent');
      try {
        const first = await send(dev, { command: 'one' });
        const second = await send(dev, { command: 'two' });
        await until(first.command_id, ['sent']);
        assert.equal((await get(second.command_id)).state, 'queued');
        assert.deepEqual(node.received.map((m) => m.command), node.received.map(() => 'one'));
        // The node answers now (it dedupes: the resend it gets is run once).
        node.behaviour = 'succeed';
        await until(first.command_id, ['succeeded']);
        await until(second.command_id, ['succeeded']);
        assert.equal(node.executions.get(first.command_id), 1);
        assert.equal(node.executions.get(second.command_id), 1);
        const order = node.received.map((m) => m.command);
        assert.ok(order.lastIndexOf('one') < order.indexOf('two'), `order: ${order}`);
      } finally {
        await node.close();
      }
    });

    it('a command for a node that is away is sent when it comes back, unless it expired first', async () => {
      const dev = device();
      const waits = await send(dev, { command: 'later', ttl_s: 60 });
      const expires = await send(device(), { command: 'too_late', ttl_s: 1 });
      await until(waits.command_id, ['sent']);
      const expired = await until(expires.command_id, ['expired', 'failed', 'succeeded']);
      assert.deepEqual([expired.state, expired.cause], ['expired', 'ttl']);
      const node = await commandNode(url, dev);
      try {
        const done = await until(waits.command_id, ['succeeded', 'failed', 'expired']);
        assert.equal(done.state, 'succeeded');
        assert.equal(node.executions.get(waits.command_id), 1);
      } finally {
        await node.close();
      }
    });

    it('cancel: an open command is cancelled and not sent again; an ended one answers 409', async () => {
      const dev = device();
      const node = await commandNode(url, dev, 'silent');
      try {
        const c = await send(dev, { command: 'cancel_me', ttl_s: 60 });
        await until(c.command_id, ['sent']);
        const del = await fetch(`${t.base}/api/v1/commands/${c.command_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
        assert.equal(del.status, 200);
        assert.equal(((await del.json()) as Cmd).state, 'cancelled');
        const again = await fetch(`${t.base}/api/v1/commands/${c.command_id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
        assert.equal(again.status, 409);
        // A late answer changes nothing: once it is committed and the dispatcher's consumer is past it, the command is still cancelled.
        node.behaviour = 'succeed';
        await node.client.publishAsync(`iot/node/${dev}/status`, JSON.stringify({ command_id: c.command_id, status: 'succeeded' }), { qos: 1 });
        await answerApplied(c.command_id);
        const list = await (await fetch(`${t.base}/api/v1/devices/${dev}/commands`, { headers: { authorization: `Bearer ${admin}` } })).json() as { commands: Cmd[] };
        assert.deepEqual(list.commands.map((x) => [x.command_id, x.state]), [[c.command_id, 'cancelled']]);
      } finally {
        await node.close();
      }
    });
    it('telehub command send --wait prints the final state; a bad --params exits 64', { skip: mode === 'mosquitto' ? 'the CLI path is the same for both brokers' : false }, async () => {
      const dev = device();
      const node = await commandNode(url, dev);
      try {
        const r = await runTelehubCli({ TELEHUB_TOKEN: admin }, 'command', 'send', dev, 'ping', '--params', '{"n":1}', '--wait', '--url', t.base);
        assert.equal(r.status, 0, r.stderr);
        const c = JSON.parse(r.stdout) as Cmd;
        assert.equal(c.state, 'succeeded');
        assert.equal(node.executions.get(c.command_id), 1);
        const bad = await runTelehubCli({ TELEHUB_TOKEN: admin }, 'command', 'send', dev, 'ping', '--params', '{nope', '--url', t.base);
        assert.equal(bad.status, 64);
        assert.match(bad.stderr, /--params is not valid JSON/);
      } finally {
        await node.close();
      }
    });

    it('an answer committed while the dispatcher\'s consumer is stopped waits in the commit log and is applied when it runs', async () => {
      const dev = device();
      const node = await commandNode(url, dev, 'silent');
      // The consumer is stopped (with every processor: the last test of this telehub) and run again by hand.
      await t.hub.processors.stop();
      try {
        const c = await send(dev, { command: 'set_led', params: { state: 'off' }, ttl_s: 60 });
        await until(c.command_id, ['sent']);
        await node.client.publishAsync(`iot/node/${dev}/status`, JSON.stringify({ command_id: c.command_id, status: 'succeeded', result: { led: 'off' } }), { qos: 1 });
        // Embedded: the PUBACK came after the commit. Mosquitto PUBACKs itself: wait for telehub to commit it.
        const end = Date.now() + 15_000;
        while (!(await t.hub.store.recentEvents(10, dev)).some((e) => e.eventType === 'status')) {
          if (Date.now() > end) throw new Error('the answer was never committed');
          await new Promise((r) => setTimeout(r, 50));
        }
        const head = await t.hub.store.log.head();
        assert.equal((await get(c.command_id)).state, 'sent', 'no consumer ran: not applied yet');

        const runner = new ProcessorRunner(t.hub.store, [commandAnswers(t.hub.commands)], { batchSize: 100, pollMs: 20, retryMinMs: 1, retryMaxMs: 20 }, pino({ level: 'silent' }));
        assert.ok((await runner.catchUp(COMMANDS_CONSUMER)) >= head, 'the checkpoint moved past the answer');
        const done = await get(c.command_id);
        assert.deepEqual([done.state, done.result], ['succeeded', { led: 'off' }]);
      } finally {
        await node.close();
      }
    });
  });
}

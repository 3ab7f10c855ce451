/**
 * Node answers through the commit log, against both real stores: an answer
 * committed while the dispatcher's consumer is not running (stopped,
 * behind, killed) waits in the log and is applied when it runs, its
 * checkpoint then past the entry; the device's next command goes out after
 * that commit; answers naming another device's command, or a cancelled one,
 * change nothing, nor does applying the whole log again; a first start on a
 * store with history begins at the log's head.
 */
import { appendPresence } from '../storage/presence-log.js';
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { DEFAULT_LIMITS } from '../core/config.js';
import type { TelemetryEvent } from '../core/event.js';
import { collectDecode } from '../codecs/collect.js';
import { nodeStatusCodec } from '../codecs/node-status/index.js';
import { ProcessorRunner } from '../log/runner.js';
import { stopTestPostgres } from '../../test/helpers/postgres.js';
import { commandAnswers, COMMANDS_CONSUMER, registerCommandAnswers } from './answers.js';
import { CommandDispatcher } from './dispatcher.js';
import { openTestStore } from '../../test/helpers/store.js';

after(() => stopTestPostgres());

const log = pino({ level: 'silent' });
const RUN = { batchSize: 50, pollMs: 20, retryMinMs: 1, retryMaxMs: 20 };
const SETTINGS = { ttlMs: 60_000, ackTimeoutMs: 60_000, maxAttempts: 3 };

const openStore = (kind: 'sqlite' | 'postgres') => openTestStore(kind, 'answers');

/** A status message as the node-status route commits it (decoded by the real codec). */
function statusEvent(node: string, body: unknown, receivedAt = Date.now()): TelemetryEvent {
  const { events, rejections } = collectDecode(nodeStatusCodec, Buffer.from(JSON.stringify(body)), { topicDeviceId: node, receivedAt, limits: DEFAULT_LIMITS });
  assert.deepEqual(rejections, []);
  return events[0].event;
}

const until = async (f: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const reading = (id: string, node: string): TelemetryEvent => ({ eventId: id, deviceId: node, schema: 1, eventType: 'temperature', valueNum: 21, valueText: null, unit: 'C', tsDevice: null, tsServer: Date.now(), meta: '{}' });

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`command answers through the commit log (${kind})`, () => {
    it('an answer committed while the consumer is stopped is applied when it runs; its checkpoint ends past the entry', async () => {
      const { store, cleanup } = await openStore(kind);
      const published: string[] = [];
      const d = new CommandDispatcher(store.commands, { publish: (_t, p) => void published.push(p.toString()) }, SETTINGS, log);
      try {
        await registerCommandAnswers(store.processors, store.log);
        await d.start();
        const c = await d.submit({ deviceId: 'node-7', command: 'set_led', params: { state: 'on' } });
        assert.equal(c.state, 'sent');
        assert.equal(JSON.parse(published[0]).command_id, c.commandId);
        // The node answers; the answer is committed (as intake does) while no consumer runs.
        await store.writeBatch({ events: [reading('r1', 'node-7'), statusEvent('node-7', { command_id: c.commandId, status: 'received' })], deadLetters: [] });
        await store.writeBatch({ events: [statusEvent('node-7', { command_id: c.commandId, status: 'succeeded', result: { led: 'on' } })], deadLetters: [] });
        const head = await store.log.head();
        assert.equal((await store.commands.get(c.commandId))?.state, 'sent', 'nothing applied it yet');
        assert.equal(await store.processors.get(COMMANDS_CONSUMER), 0);

        const runner = new ProcessorRunner(store, [commandAnswers(d)], RUN, log);
        assert.equal(await runner.catchUp(COMMANDS_CONSUMER), head);
        const done = await store.commands.get(c.commandId);
        assert.equal(done?.state, 'succeeded');
        assert.equal(done?.result, '{"led":"on"}');
        assert.ok(done?.deliveredAt !== null && done?.finishedAt !== null);
        assert.equal(await store.processors.get(COMMANDS_CONSUMER), head);
      } finally {
        d.stop();
        await cleanup();
      }
    });

    it('replaying the log changes nothing; an answer naming another device\'s command or a cancelled one is ignored; the next command goes out after the commit', async () => {
      const { store, cleanup } = await openStore(kind);
      const published: Array<{ topic: string; id: string }> = [];
      const d = new CommandDispatcher(store.commands, { publish: (topic, p) => void published.push({ topic, id: JSON.parse(p.toString()).command_id }) }, SETTINGS, log);
      try {
        await registerCommandAnswers(store.processors, store.log);
        await d.start();
        const a = await d.submit({ deviceId: 'node-8', command: 'one' });
        const next = await d.submit({ deviceId: 'node-8', command: 'two' });
        const other = await d.submit({ deviceId: 'node-9', command: 'three' });
        assert.equal(next.state, 'queued', 'one at a time per device');
        await store.writeBatch({
          events: [
            statusEvent('node-8', { command_id: a.commandId, status: 'failed', result: { error: 'relay stuck' } }),
            // node-8 names node-9's command: not its own, ignored.
            statusEvent('node-8', { command_id: other.commandId, status: 'succeeded' }),
          ],
          deadLetters: [],
        });
        const runner = new ProcessorRunner(store, [commandAnswers(d)], RUN, log);
        await runner.catchUp(COMMANDS_CONSUMER);
        const once = await store.commands.get(a.commandId);
        assert.deepEqual([once?.state, once?.cause, once?.result], ['failed', 'node', '{"error":"relay stuck"}']);
        assert.equal((await store.commands.get(other.commandId))?.state, 'sent');
        // After the commit the dispatcher sent node-8's next command.
        await until(async () => published.some((p) => p.id === next.commandId));
        assert.deepEqual(published.find((p) => p.id === next.commandId)?.topic, 'iot/node/node-8/command');

        // The next one is cancelled; its late answer changes nothing.
        assert.equal((await d.cancel(next.commandId))?.cancelled, true);
        await store.writeBatch({ events: [statusEvent('node-8', { command_id: next.commandId, status: 'succeeded' })], deadLetters: [] });
        await runner.catchUp(COMMANDS_CONSUMER);
        assert.equal((await store.commands.get(next.commandId))?.state, 'cancelled');

        // The whole log applied again from 0 (every answer a second time) changes nothing.
        const before = await Promise.all([a, next, other].map((c) => store.commands.get(c.commandId)));
        await store.processors.reset(COMMANDS_CONSUMER, []);
        assert.equal(await runner.catchUp(COMMANDS_CONSUMER), await store.log.head());
        assert.deepEqual(await Promise.all([a, next, other].map((c) => store.commands.get(c.commandId))), before);
      } finally {
        d.stop();
        await cleanup();
      }
    });

    it('presence seam: a command for an offline device waits (never published) and goes out when a presence `online` entry is committed, unless it expired first', async () => {
      const { store, cleanup } = await openStore(kind);
      const offline = new Set(['node-off', 'node-late']);
      const published: string[] = [];
      const d = new CommandDispatcher(store.commands, { publish: (_t, p) => void published.push(JSON.parse(p.toString()).command_id) }, SETTINGS, log, Date.now, (dev) => !offline.has(dev));
      try {
        await registerCommandAnswers(store.processors, store.log);
        await d.start();
        const waits = await d.submit({ deviceId: 'node-off', command: 'set_led', ttlS: 60 });
        const expires = await d.submit({ deviceId: 'node-late', command: 'immobilise', ttlS: 1 });
        assert.deepEqual([waits.state, expires.state, published], ['queued', 'queued', []]);
        await until(async () => (await store.commands.get(expires.commandId))?.state === 'expired');
        assert.equal((await store.commands.get(expires.commandId))?.cause, 'ttl');

        // node-off (and node-late, too late) come back: the presence monitor commits the transitions.
        offline.clear();
        const presence = (dev: string) => ({ deviceId: dev, state: 'online', cause: 'connected', from: 'offline', at: Date.now() });
        await appendPresence(store.kind, store.processors, [presence('node-off'), presence('node-late')]);
        await new ProcessorRunner(store, [commandAnswers(d)], RUN, log).catchUp(COMMANDS_CONSUMER);
        await until(async () => published.includes(waits.commandId));
        assert.equal((await store.commands.get(waits.commandId))?.state, 'sent');
        assert.ok(!published.includes(expires.commandId), 'an expired command is never published');
      } finally {
        d.stop();
        await cleanup();
      }
    });

    it('a first start on a store with history registers at the head; a later start keeps its checkpoint', async () => {
      const { store, cleanup } = await openStore(kind);
      try {
        await store.writeBatch({ events: [reading('old-1', 'n'), reading('old-2', 'n')], deadLetters: [] });
        const head = await store.log.head();
        assert.ok(head > 0);
        await registerCommandAnswers(store.processors, store.log);
        assert.equal(await store.processors.get(COMMANDS_CONSUMER), head);
        await store.writeBatch({ events: [reading('new-1', 'n')], deadLetters: [] });
        await registerCommandAnswers(store.processors, store.log);
        assert.equal(await store.processors.get(COMMANDS_CONSUMER), head, 'not moved past what it has not applied');
      } finally {
        await cleanup();
      }
    });
  });
}

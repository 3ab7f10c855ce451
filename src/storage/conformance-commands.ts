/**
 * Conformance cases for the command repository (part of `storeConformance`):
 * every step's time reads back, transitions are compare-and-set (of two
 * racing writers exactly one wins), and open commands come back in the order
 * they were queued, across a reopen (what the dispatcher rebuilds from after
 * a restart).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { CommandRecord } from './commands.js';
import type { ConformanceFixture } from './conformance.js';
import type { Store } from './store.js';

const T0 = 1_700_000_000_000;

const cmd = (id: string, over: Partial<CommandRecord> = {}): CommandRecord => ({
  commandId: id,
  deviceId: 'node-1',
  command: 'set_led',
  params: '{"state":"on","brightness":128}',
  state: 'queued',
  attempts: 0,
  queuedAt: T0,
  sentAt: null,
  lastSentAt: null,
  deliveredAt: null,
  finishedAt: null,
  expiresAt: T0 + 60_000,
  cause: null,
  result: null,
  ...over,
});

export function commandConformance(
  withStore: (fn: (f: ConformanceFixture) => Promise<void>) => Promise<void>,
  reopenMigrated: (f: ConformanceFixture) => Promise<Store>,
): void {
  it('commands: stores a command and walks it through its lifecycle with a time per step', () =>
    withStore(async ({ store }) => {
      await store.commands.create(cmd('c1'));
      assert.deepEqual(await store.commands.get('c1'), cmd('c1'));
      const sent = await store.commands.transition('c1', ['queued', 'sent'], { state: 'sent', sentAt: T0 + 1, lastSentAt: T0 + 1, attempt: true });
      assert.equal(sent?.attempts, 1);
      // A resend keeps the first sent_at and counts the attempt.
      const again = await store.commands.transition('c1', ['queued', 'sent'], { state: 'sent', sentAt: T0 + 5, lastSentAt: T0 + 5, attempt: true });
      assert.deepEqual([again?.attempts, again?.sentAt, again?.lastSentAt], [2, T0 + 1, T0 + 5]);
      await store.commands.transition('c1', ['sent'], { state: 'delivered', deliveredAt: T0 + 6 });
      await store.commands.transition('c1', ['sent', 'delivered'], { state: 'succeeded', deliveredAt: T0 + 7, finishedAt: T0 + 8, result: '{"ok":true}' });
      assert.deepEqual(await store.commands.get('c1'), cmd('c1', {
        state: 'succeeded', attempts: 2, sentAt: T0 + 1, lastSentAt: T0 + 5, deliveredAt: T0 + 6, finishedAt: T0 + 8, result: '{"ok":true}',
      }));
      assert.equal(await store.commands.get('missing'), undefined);
    }));

  it('commands: a transition from a state the command is not in changes nothing', () =>
    withStore(async ({ store }) => {
      await store.commands.create(cmd('c2'));
      await store.commands.transition('c2', ['queued', 'sent', 'delivered'], { state: 'cancelled', finishedAt: T0 + 1, cause: 'cancelled' });
      assert.equal(await store.commands.transition('c2', ['queued', 'sent'], { state: 'sent', sentAt: T0 + 2, attempt: true }), undefined);
      assert.equal(await store.commands.transition('c2', ['sent', 'delivered'], { state: 'succeeded', finishedAt: T0 + 3 }), undefined);
      const c = await store.commands.get('c2');
      assert.deepEqual([c?.state, c?.attempts, c?.sentAt, c?.finishedAt, c?.cause], ['cancelled', 0, null, T0 + 1, 'cancelled']);
    }));

  it('commands: of an answer and a cancel racing from two connections exactly one wins', () =>
    withStore(async (f) => {
      const other = await reopenMigrated(f);
      for (let round = 0; round < 10; round++) {
        const id = `race-${round}`;
        await f.store.commands.create(cmd(id, { state: 'sent', attempts: 1, sentAt: T0, lastSentAt: T0 }));
        const [a, b] = await Promise.all([
          f.store.commands.transition(id, ['sent', 'delivered'], { state: 'succeeded', finishedAt: T0 + 1 }),
          other.commands.transition(id, ['queued', 'sent', 'delivered'], { state: 'cancelled', finishedAt: T0 + 2, cause: 'cancelled' }),
        ]);
        assert.equal([a, b].filter((x) => x !== undefined).length, 1, `round ${round}: both or neither won`);
        const stored = await f.store.commands.get(id);
        assert.equal(stored?.state, (a ?? b)!.state);
      }
    }));

  it('commands: open commands come back oldest first after a reopen; lists are per device, newest first', () =>
    withStore(async (f) => {
      await f.store.commands.create(cmd('b', { deviceId: 'node-2', queuedAt: T0 + 10 }));
      await f.store.commands.create(cmd('a', { queuedAt: T0 + 20 }));
      await f.store.commands.create(cmd('done', { state: 'succeeded', finishedAt: T0 + 30 }));
      await f.store.commands.create(cmd('c', { state: 'sent', attempts: 1, sentAt: T0 + 40, lastSentAt: T0 + 40 }));
      const reopened = await reopenMigrated(f);
      assert.deepEqual((await reopened.commands.open()).map((c) => c.commandId), ['b', 'a', 'c']);
      assert.deepEqual((await reopened.commands.listByDevice('node-1', 10)).map((c) => c.commandId), ['c', 'done', 'a']);
      assert.deepEqual((await reopened.commands.listByDevice('node-1', 1)).map((c) => c.commandId), ['c']);
      await assert.rejects(reopened.commands.create(cmd('a')), 'a command_id is unique');
    }));

  it('commands: firstOpen is the device\'s oldest open command, past the ended ones, and follows as they end', () =>
    withStore(async ({ store }) => {
      await store.commands.create(cmd('ended', { state: 'failed', finishedAt: T0 + 1, cause: 'timeout' }));
      await store.commands.create(cmd('other-device', { deviceId: 'node-2' }));
      await store.commands.create(cmd('first', { state: 'delivered', attempts: 1, sentAt: T0 + 2, lastSentAt: T0 + 2, deliveredAt: T0 + 3 }));
      await store.commands.create(cmd('second'));
      assert.equal((await store.commands.firstOpen('node-1'))?.commandId, 'first');
      assert.deepEqual(await store.commands.firstOpen('node-1'), await store.commands.get('first'));
      await store.commands.transition('first', ['delivered'], { state: 'succeeded', finishedAt: T0 + 4 });
      assert.equal((await store.commands.firstOpen('node-1'))?.commandId, 'second');
      await store.commands.transition('second', ['queued'], { state: 'expired', finishedAt: T0 + 5, cause: 'ttl' });
      assert.equal(await store.commands.firstOpen('node-1'), undefined);
      assert.equal((await store.commands.firstOpen('node-2'))?.commandId, 'other-device');
      assert.equal(await store.commands.firstOpen('never-seen'), undefined);
    }));
}

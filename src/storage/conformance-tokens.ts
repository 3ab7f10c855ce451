/**
 * Conformance cases for API token names (part of `storeConformance`): a name
 * stands for one active token, enforced by the database (so two processes
 * racing cannot both win), and the upgrade that introduced the rule keeps
 * every existing token working.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { newToken } from '../auth/tokens.js';
import type { ConformanceFixture } from './conformance.js';
import { MIGRATIONS } from './migrations/index.js';
import { TokenNameTakenError, type Store } from './store.js';

const T0 = 1_700_000_000_000;

const names = async (store: Store) => (await store.tokens.list()).map((t) => ({ id: t.id, name: t.name, revoked: t.revokedAt !== null }));

export function tokenConformance(
  withStore: (fn: (f: ConformanceFixture) => Promise<void>) => Promise<void>,
  reopenMigrated: (f: ConformanceFixture) => Promise<Store>,
  makeStore: () => Promise<ConformanceFixture>,
): void {
  it('refuses a second active token with the same name, and allows the name again after a revoke', () =>
    withStore(async ({ store }) => {
      const first = newToken({ name: 'garage', scope: 'ingest', now: T0 });
      await store.tokens.create(first.record);
      const before = await names(store);
      await assert.rejects(store.tokens.create(newToken({ name: 'garage', scope: 'read', now: T0 + 1 }).record), (err: unknown) => err instanceof TokenNameTakenError && err.tokenName === 'garage');
      assert.deepEqual(await names(store), before, 'the refused token was stored anyway');
      // Names are compared exactly: another case is another name.
      await store.tokens.create(newToken({ name: 'Garage', scope: 'ingest', now: T0 + 2 }).record);
      assert.equal(await store.tokens.revoke('garage', T0 + 3), 1);
      const again = newToken({ name: 'garage', scope: 'read', now: T0 + 4 });
      await store.tokens.create(again.record);
      assert.deepEqual(
        (await names(store)).map((t) => [t.name, t.revoked]),
        [
          ['garage', true],
          ['Garage', false],
          ['garage', false],
        ],
      );
      assert.equal(await store.tokens.revoke('garage', T0 + 5), 1, 'revoke by name finds the one active token');
      assert.notEqual((await store.tokens.get(again.record.id))!.revokedAt, null);
    }));

  it('lets exactly one of two writers racing for a name win', () =>
    withStore(async (f) => {
      const other = await reopenMigrated(f);
      for (let round = 0; round < 5; round++) {
        const name = `race-${round}`;
        const results = await Promise.allSettled([f.store.tokens.create(newToken({ name, scope: 'ingest' }).record), other.tokens.create(newToken({ name, scope: 'ingest' }).record)]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: ${JSON.stringify(results.map((r) => r.status))}`);
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        assert.ok(lost.reason instanceof TokenNameTakenError, String(lost.reason));
        assert.equal((await f.store.tokens.list()).filter((t) => t.name === name).length, 1);
      }
    }));

  it('upgrades a store whose active tokens share names: the oldest keeps the name, the others become <name>-<id>', async () => {
    const f = await makeStore();
    try {
      const rule = MIGRATIONS.find((m) => m.name === 'unique active token names');
      assert.ok(rule, 'the migration that makes token names unique');
      await f.store.migrate(rule.version - 1);
      // Out of creation order on purpose; two share a creation time (the id breaks the tie).
      const middle = newToken({ name: 'garage', scope: 'ingest', devices: ['esp32-01'], now: T0 + 10 });
      const oldest = newToken({ name: 'garage', scope: 'read', now: T0 });
      const tieA = newToken({ name: 'garage', scope: 'ingest', now: T0 + 20 });
      const tieB = newToken({ name: 'garage', scope: 'ingest', now: T0 + 20 });
      const revoked = newToken({ name: 'garage', scope: 'admin', now: T0 - 5 });
      const alone = newToken({ name: 'grafana', scope: 'read', now: T0 + 30 });
      const all = [middle, oldest, tieA, tieB, revoked, alone];
      for (const t of all) await f.store.tokens.create(t.record);
      await f.store.tokens.revoke(revoked.record.id, T0 + 1);

      await f.store.migrate();
      const [firstTie, secondTie] = [tieA, tieB].sort((a, b) => (a.record.id < b.record.id ? -1 : 1));
      const expected = new Map([
        [oldest.record.id, 'garage'],
        [middle.record.id, `garage-${middle.record.id}`],
        [firstTie.record.id, `garage-${firstTie.record.id}`],
        [secondTie.record.id, `garage-${secondTie.record.id}`],
        [revoked.record.id, 'garage'],
        [alone.record.id, 'grafana'],
      ]);
      for (const t of all) {
        const got = await f.store.tokens.get(t.record.id);
        assert.ok(got, `token ${t.record.id} survives the upgrade`);
        assert.equal(got.name, expected.get(t.record.id));
        // Still the same token: secret, scope and devices untouched.
        assert.ok(got.secretHash.equals(t.record.secretHash));
        assert.equal(got.scope, t.record.scope);
        assert.deepEqual(got.devices, t.record.devices);
      }
      assert.equal((await f.store.tokens.get(oldest.record.id))!.revokedAt, null);
      await assert.rejects(f.store.tokens.create(newToken({ name: 'garage', scope: 'ingest' }).record), TokenNameTakenError);
    } finally {
      await f.cleanup();
    }
  });
}

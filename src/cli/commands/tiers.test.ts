/**
 * `telehub tiers` on both real stores: after events, the rollups processor
 * and one refresh, the command reports per tier what the store holds (rows,
 * oldest bucket, no dirty bucket left, the sealed watermark, the refresh
 * time) and the raw tier's oldest event; a custom ladder from TELEHUB_CONFIG
 * shows as configured.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { TelemetryEvent } from '../../core/event.js';
import { rollups, ROLLUPS } from '../../processors/rollups/index.js';
import { RollupRefresher } from '../../processors/rollups/refresher.js';
import type { TierConfig } from '../../processors/rollups/tiers.js';
import { PostgresStore } from '../../storage/postgres/index.js';
import { SqliteStore } from '../../storage/sqlite/index.js';
import type { Store } from '../../storage/store.js';
import { stopTestPostgres, testDatabase } from '../../../test/helpers/postgres.js';
import { loadConfig } from '../../core/config.js';
import { runCli } from '../run.js';

after(() => stopTestPostgres());

const MIN = 60_000;

async function openStore(kind: 'sqlite' | 'postgres', dir: string): Promise<{ store: Store; env: Record<string, string>; cleanup: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const store = new SqliteStore(path.join(dir, 'telehub.db'));
    await store.migrate();
    return { store, env: { TELEHUB_DATA_DIR: dir }, cleanup: async () => store.close() };
  }
  const db = await testDatabase();
  const store = new PostgresStore({ connectionString: db.url, poolSize: 2 });
  await store.migrate();
  return { store, env: { DATABASE_URL: db.url }, cleanup: async () => (await store.close(), await db.drop()) };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`telehub tiers on ${kind}`, () => {
    it('reports each tier of the configured ladder as the store holds it', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'telehub-tiers-cli-'));
      const { store, env, cleanup } = await openStore(kind, dir);
      try {
        const config = path.join(dir, 'telehub.yaml');
        writeFileSync(config, 'tiers:\n  raw_retention: 10d\n  aggregates:\n    - { width: 1m, retention: 30d }\n    - { width: 15m, retention: 1y }\n');
        env.TELEHUB_CONFIG = config;
        const tiers: TierConfig = loadConfig(env).tiers;
        // 40 minutes of one event a minute, ending an hour ago.
        const t0 = Math.floor(Date.now() / MIN) * MIN - 100 * MIN;
        const events: TelemetryEvent[] = Array.from({ length: 40 }, (_, i) => ({
          eventId: `e-${i}`, deviceId: 'd1', schema: 1, eventType: 'temp', valueNum: i, valueText: null, unit: null, tsDevice: t0 + i * MIN, tsServer: t0 + i * MIN, meta: '{}',
        }));
        await store.writeBatch({ events, deadLetters: [] });
        const p = rollups(tiers);
        const at = await store.processors.register(ROLLUPS);
        const entries = await store.log.read(at, 1000);
        await store.processors.commit(ROLLUPS, at, entries[entries.length - 1].seq, await p.apply(entries, store.kind));
        await new RollupRefresher(store.processors, store.kind, tiers).refreshOnce();

        let out = '';
        let err = '';
        const code = await runCli(['tiers', '--json'], { env, out: (t) => (out += t), err: (t) => (err += t) });
        assert.equal(code, 0, err);
        const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.deepEqual(lines.map((l) => [l.tier, l.retention]), [['raw', '10d'], ['1m', '30d'], ['15m', '1y']]);
        assert.equal(lines[0].oldest, new Date(t0).toISOString());
        assert.equal(lines[1].rows, 40);
        assert.equal(lines[1].oldest_bucket, new Date(t0).toISOString());
        // 40 one-minute buckets span 3 or 4 quarter hours, depending on where t0 falls.
        const quarters = new Set(events.map((e) => Math.floor(e.tsDevice! / (15 * MIN)))).size;
        assert.equal(lines[2].rows, quarters);
        for (const l of lines.slice(1)) {
          assert.equal(l.dirty_buckets, 0);
          assert.equal(typeof l.refresh_age_s, 'number');
          assert.ok(Date.parse(String(l.sealed_before)) < Date.now() - 7 * 86_400_000 + MIN);
        }
        // The table names every tier too.
        out = '';
        assert.equal(await runCli(['tiers'], { env, out: (t) => (out += t), err: () => {} }), 0);
        assert.match(out, /^TIER\s+RETENTION\s+ROWS/);
        assert.match(out, /^15m\s+1y\s+\d+/m);
        assert.match(out, /Lateness window 7d, refresh every 10s\./);
      } finally {
        await cleanup();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

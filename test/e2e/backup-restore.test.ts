/**
 * `telehub backup` under load, then `telehub restore`, on SQLite and on real
 * PostgreSQL (pg_dump/pg_restore). telehub runs as `telehub start` (embedded
 * broker); a device publishes seed-001 events at QoS 1 without pause and
 * collects the ACKs telehub publishes after each commit. When 300 ACKs have
 * arrived, `telehub backup` is started as its own process, while publishing
 * goes on; publishing stops only after more ACKs came in after the backup
 * finished. The backup is restored into a new store (a new data folder, a
 * new throw-away database) and must hold every event whose ACK the device
 * had received before the backup command was started: those were committed
 * before it began. Events acknowledged while the backup ran may or may not
 * be in it (counted in a diagnostic, not asserted).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { PostgresStore } from '../../src/storage/postgres/index.js';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import type { Store } from '../../src/storage/store.js';
import { stopTestPostgres, testDatabase, type TestDatabase } from '../helpers/postgres.js';
import { skipUnless } from '../helpers/skip.js';
import { runTelehubCli, startTelehubProcess } from '../helpers/telehub.js';

after(() => stopTestPostgres());

const hasPgTools = ['pg_dump', 'pg_restore'].every((t) => spawnSync(t, ['--version']).status === 0);

/** Publishes without pause until stopped; resolves ACK waits as ACKs arrive. */
async function loadGenerator(mqttPort: number, device: string) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: `${device}-${process.pid}`, clean: true, reconnectPeriod: 0 });
  await client.subscribeAsync(`qs/v1/${device}/acks`, { qos: 1 });
  const acked = new Set<string>();
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  // Device times in the last day: within raw retention (7 days), so the
  // retention job (first run 30 s after start) never removes what the test counts.
  const base = Date.now() - 86_400_000;
  client.on('message', (_topic, payload) => {
    const a = JSON.parse(payload.toString()) as { event_id: string; status: string };
    if (a.status === 'stored' || a.status === 'duplicate') acked.add(a.event_id);
    for (const w of waiters.filter((x) => acked.size >= x.n)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  let stop = false;
  let i = 0;
  const worker = async () => {
    while (!stop) {
      const n = i++;
      const id = `${device}-${process.pid}-${n}`;
      const body = { schema: 1, event_id: id, device_id: device, event_type: n % 2 ? 'temperature' : 'humidity', value: n % 100, unit: 'C', ts_device: new Date(base + n * 1000).toISOString() };
      await client.publishAsync(`qs/v1/${device}/events`, JSON.stringify(body), { qos: 1 });
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  return {
    acked,
    /** Resolves once `n` events have been acknowledged. */
    ackedAtLeast: (n: number) => new Promise<void>((resolve) => (acked.size >= n ? resolve() : waiters.push({ n, resolve }))),
    async stop() {
      stop = true;
      await Promise.all(workers);
      await client.endAsync();
    },
  };
}

async function backupUnderLoadThenRestore(t: TestContext, kind: 'sqlite' | 'postgres') {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'telehub-backup-'));
  const dbs: TestDatabase[] = [];
  let hub: Awaited<ReturnType<typeof startTelehubProcess>> | undefined;
  let restored: Store | undefined;
  try {
    const source = kind === 'postgres' ? (dbs.push(await testDatabase()), dbs[0]) : undefined;
    const storeEnv: Record<string, string> = source ? { DATABASE_URL: source.url } : {};
    hub = await startTelehubProcess(storeEnv);
    await hub.ready();
    const env = source ? storeEnv : { TELEHUB_DATA_DIR: hub.dataDir };
    const load = await loadGenerator(hub.mqttPort, `backup-${kind}`);

    await load.ackedAtLeast(300);
    const ackedBeforeBackup = new Set(load.acked);
    const file = path.join(tmp, kind === 'sqlite' ? 'telehub-backup.db' : 'telehub.pgdump');
    const backup = await runTelehubCli(env, 'backup', file);
    const ackedBeforeBackupEnded = new Set(load.acked);
    // Load goes on past the end of the backup, then stops.
    await load.ackedAtLeast(ackedBeforeBackupEnded.size + 100);
    await load.stop();
    assert.equal(backup.status, 0, backup.stderr);
    assert.match(backup.stderr, /^Backed up /);
    assert.ok(ackedBeforeBackupEnded.size > ackedBeforeBackup.size, 'events were acknowledged while the backup ran (it ran under load)');

    // Restore into a new, empty store.
    let restoreEnv: Record<string, string>;
    if (kind === 'sqlite') {
      const dir = path.join(tmp, 'restored');
      restoreEnv = { TELEHUB_DATA_DIR: dir };
    } else {
      dbs.push(await testDatabase());
      restoreEnv = { DATABASE_URL: dbs[1].url };
    }
    const r = await runTelehubCli(restoreEnv, 'restore', file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^Restored /);

    restored = kind === 'sqlite' ? new SqliteStore(path.join(restoreEnv.TELEHUB_DATA_DIR, 'telehub.db')) : new PostgresStore({ connectionString: dbs[1].url, poolSize: 2 });
    await restored.migrate();
    const missing: string[] = [];
    for (const id of ackedBeforeBackup) if ((await restored.getEvent(id)) === undefined) missing.push(id);
    assert.deepEqual(missing, [], 'every event acknowledged before the backup began is in the restored store');
    let duringPresent = 0;
    for (const id of ackedBeforeBackupEnded) if (!ackedBeforeBackup.has(id) && (await restored.getEvent(id)) !== undefined) duringPresent++;
    t.diagnostic(`${ackedBeforeBackup.size} ACKs before the backup (all restored), ${ackedBeforeBackupEnded.size - ackedBeforeBackup.size} during it (${duringPresent} restored), ${load.acked.size} in all; restored store holds ${await restored.countEvents()} events`);
    assert.ok((await restored.countEvents()) < load.acked.size, 'the backup is a snapshot: events acknowledged after it are not in it');
    await restored.close();
    restored = undefined;

    // A second restore into the now non-empty store is refused without --force, and done with it.
    const again = await runTelehubCli(restoreEnv, 'restore', file);
    assert.equal(again.status, 65, again.stderr);
    assert.match(again.stderr, /already holds a telehub store .*--force/);
    const forced = await runTelehubCli(restoreEnv, 'restore', '--force', file);
    assert.equal(forced.status, 0, forced.stderr);
  } finally {
    await restored?.close();
    await hub?.stop().catch(() => undefined);
    hub?.cleanup();
    for (const db of dbs) await db.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

describe('telehub backup under load, then telehub restore', () => {
  it('SQLite: the restored store holds every event acknowledged before the backup began', (t) => backupUnderLoadThenRestore(t, 'sqlite'));
  it('PostgreSQL: the restored store holds every event acknowledged before the backup began', { skip: skipUnless(hasPgTools, 'pg_dump and pg_restore are not on PATH') }, (t) =>
    backupUnderLoadThenRestore(t, 'postgres'),
  );
});

describe('telehub backup and restore: mistakes', () => {
  it('refuses a backup of the other kind (65) and needs a FILE (64)', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'telehub-backup-'));
    try {
      const notBackup = path.join(tmp, 'notes.txt');
      (await import('node:fs')).writeFileSync(notBackup, 'hello');
      const r = await runTelehubCli({ TELEHUB_DATA_DIR: tmp }, 'restore', notBackup);
      assert.equal(r.status, 65);
      assert.match(r.stderr, /^telehub restore: .*is not a telehub backup/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      const u = await runTelehubCli({ TELEHUB_DATA_DIR: tmp }, 'backup');
      assert.equal(u.status, 64);
      assert.match(u.stderr, /^telehub backup: missing FILE/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

/**
 * Chaos: telehub (a child process, embedded broker) takes QoS 1 events from
 * 20 devices while device-counters follows the commit log in small steps,
 * and is killed with SIGKILL at random moments, then started again on the
 * same store, several times. Afterwards its state must equal, exactly, what
 * the events table says: COUNT(*), first and last seen per device, and the
 * newest value per device and type. A lost entry would show as a count too
 * low, one applied twice as a count too high.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { stopTestPostgres, testDatabase, withPgClient } from '../helpers/postgres.js';
import { startTelehubProcess } from '../helpers/telehub.js';

after(() => stopTestPostgres());

const ROUNDS = 5;
const DEVICES = 20;

/** Rows as [device, events, first, last] and [device, type, value, time]: the state, and what it must be. */
const QUERIES = {
  sqlite: {
    state: 'SELECT device_id, events, first_seen, last_seen FROM device_counters ORDER BY device_id',
    truth: 'SELECT device_id, COUNT(*) AS events, MIN(ts_server) AS first_seen, MAX(ts_server) AS last_seen FROM events GROUP BY device_id ORDER BY device_id',
    values: 'SELECT device_id, event_type, value_num, time FROM device_last_values ORDER BY device_id, event_type',
    newest: `SELECT device_id, event_type, value_num, t AS time FROM (
        SELECT device_id, event_type, value_num, COALESCE(ts_device, ts_server) AS t,
               ROW_NUMBER() OVER (PARTITION BY device_id, event_type ORDER BY COALESCE(ts_device, ts_server) DESC, seq DESC) AS r FROM events)
      WHERE r = 1 ORDER BY device_id, event_type`,
    progress: "SELECT (SELECT seq FROM processor_checkpoints WHERE name = 'device-counters') AS cp, (SELECT seq FROM telehub_log_head) AS head",
  },
  postgres: {
    state: `SELECT device_id, events::int8::text AS events, (extract(epoch FROM first_seen) * 1000)::int8::text AS first_seen, (extract(epoch FROM last_seen) * 1000)::int8::text AS last_seen
      FROM device_counters ORDER BY device_id`,
    truth: `SELECT device_id, count(*)::int8::text AS events, (extract(epoch FROM min(ts_server)) * 1000)::int8::text AS first_seen, (extract(epoch FROM max(ts_server)) * 1000)::int8::text AS last_seen
      FROM events GROUP BY device_id ORDER BY device_id`,
    values: 'SELECT device_id, event_type, value_num, (extract(epoch FROM time) * 1000)::int8::text AS time FROM device_last_values ORDER BY device_id, event_type',
    newest: `SELECT device_id, event_type, value_num, (extract(epoch FROM t) * 1000)::int8::text AS time FROM (
        SELECT device_id, event_type, value_num, COALESCE(ts_device, ts_server) AS t,
               row_number() OVER (PARTITION BY device_id, event_type ORDER BY COALESCE(ts_device, ts_server) DESC, seq DESC) AS r FROM events) x
      WHERE r = 1 ORDER BY device_id, event_type`,
    progress: `SELECT (SELECT seq FROM processor_checkpoints WHERE name = 'device-counters')::text AS cp,
      COALESCE(GREATEST((SELECT max(seq) FROM events), (SELECT max(seq) FROM deadletters), (SELECT max(seq) FROM presence_transitions)), 0)::text AS head`,
  },
} as const;

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`device-counters under kill -9 (${kind})`, () => {
    it('counters and last values stay exact across random SIGKILLs under load', async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'telehub-pkill-'));
      const db = kind === 'postgres' ? await testDatabase() : undefined;
      const q = QUERIES[kind];
      // Device times in the last hour: within raw retention (7 days), so the
      // retention job (first run 30 s after each start) never removes rows the
      // counters are compared with (it would, rightly, for 2025 dates).
      const base = Date.now() - 3_600_000;
      const sql = async (text: string): Promise<Record<string, unknown>[]> => {
        if (db) return withPgClient(db.url, async (c) => (await c.query(text)).rows);
        const s = new Database(path.join(dataDir, 'telehub.db'), { readonly: true });
        try {
          return s.prepare(text).all() as Record<string, unknown>[];
        } finally {
          s.close();
        }
      };
      const env: Record<string, string> = {
        TELEHUB_DATA_DIR: dataDir,
        TELEHUB_PROCESSOR_BATCH: '37',
        TELEHUB_LOG_POLL_MS: '20',
        TELEHUB_LOG_LEVEL: 'warn',
        ...(db ? { DATABASE_URL: db.url } : {}),
      };
      let n = 0;
      let killsWhileBehind = 0;
      try {
        for (let round = 0; round <= ROUNDS; round++) {
          const hub = await startTelehubProcess(env);
          try {
            await hub.ready();
            if (round === ROUNDS) {
              // The last run is not killed: let device-counters catch up, then stop cleanly.
              const end = Date.now() + 60_000;
              for (;;) {
                const [p] = await sql(q.progress);
                if (String(p.cp) === String(p.head)) break;
                if (Date.now() > end) throw new Error(`device-counters did not catch up: ${JSON.stringify(p)}`);
                await new Promise((r) => setTimeout(r, 50));
              }
              assert.equal(await hub.stop(), 0);
              break;
            }
            const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, { clientId: `pkill-${round}`, reconnectPeriod: 0 });
            device.on('error', () => {});
            const killAt = Date.now() + 400 + Math.random() * 1500;
            // Keep 200 publishes in flight until the kill; what was not acknowledged is simply not counted.
            const inflight = new Set<Promise<unknown>>();
            while (Date.now() < killAt) {
              while (inflight.size < 200) {
                const i = n++;
                const d = `dev-${String(i % DEVICES).padStart(2, '0')}`;
                const body = JSON.stringify({ schema: 1, event_id: `k-${i}`, device_id: d, event_type: i % 3 ? 'temp' : 'hum', value: i, ts_device: new Date(base + (i % 997) * 1000).toISOString() });
                const p = device.publishAsync(`qs/v1/${d}/events`, body, { qos: 1 }).catch(() => {});
                inflight.add(p);
                void p.finally(() => inflight.delete(p));
              }
              await Promise.race(inflight);
            }
            const [p] = await sql(q.progress);
            if (Number(p.cp) < Number(p.head)) killsWhileBehind++;
            await hub.kill9();
            device.end(true);
          } finally {
            hub.cleanup();
          }
        }
        assert.ok(n > 1000, `published ${n}`);
        assert.ok(killsWhileBehind >= 1, 'at least one kill hit while device-counters had entries to apply');
        const state = await sql(q.state);
        const truth = await sql(q.truth);
        assert.equal(truth.length, DEVICES);
        assert.deepEqual(state.map((r) => ({ ...r })), truth.map((r) => ({ ...r })));
        assert.deepEqual((await sql(q.values)).map((r) => ({ ...r })), (await sql(q.newest)).map((r) => ({ ...r })));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
        await db?.drop();
      }
    });
  });
}

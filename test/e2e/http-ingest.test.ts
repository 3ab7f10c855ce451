/**
 * `POST /ingest` end to end: telehub as a child process, tokens made with the
 * `telehub tokens` command, requests with fetch, rows and dead letters read
 * back from the store. Runs against SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PostgresStore } from '../../src/storage/postgres/index.js';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import type { Store } from '../../src/storage/store.js';
import { stopTestPostgres, testDatabase, withPgClient } from '../helpers/postgres.js';
import { startTelehubProcess, telehubCli, type TelehubProcess } from '../helpers/telehub.js';

after(() => stopTestPostgres());


const ev = (id: string, device = 'esp32-01', extra: Record<string, unknown> = {}) => ({ schema: 1, event_id: id, device_id: device, event_type: 'temperature', value: 21.5, ...extra });

async function scenario(hub: TelehubProcess, env: Record<string, string>, store: Store) {
  const base = `http://127.0.0.1:${hub.httpPort}`;
  const ingestToken = await telehubCli(env, 'tokens', 'create', '--name', 'ingest-any');
  const boundToken = await telehubCli(env, 'tokens', 'create', '--name', 'garage', '--device', 'esp32-01');
  const readToken = await telehubCli(env, 'tokens', 'create', '--name', 'grafana', '--scope', 'read');
  const revoked = await telehubCli(env, 'tokens', 'create', '--name', 'old');
  await telehubCli(env, 'tokens', 'revoke', 'old');
  assert.match(ingestToken, /^thk_[0-9a-f]{16}_/);
  const listed = (await telehubCli(env, 'tokens', 'list')).split('\n').map((l) => JSON.parse(l));
  // The first start made the dashboard's admin token (docs/dashboard.md).
  assert.match(listed[0].name, /^admin \(first start /);
  assert.deepEqual([listed[0].scope, listed[0].revoked_at], ['admin', null]);
  assert.deepEqual(listed.map((t) => [t.name, t.scope, t.revoked_at === null]).slice(1), [['ingest-any', 'ingest', true], ['garage', 'ingest', true], ['grafana', 'read', true], ['old', 'ingest', false]]);
  assert.ok(!JSON.stringify(listed).includes(ingestToken.slice(21)), 'tokens list never shows a secret');

  const post = (body: string | Buffer, headers: Record<string, string> = {}, token: string | null = ingestToken) =>
    fetch(`${base}/ingest`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });

  // 401 / 403
  let r = await post(JSON.stringify(ev('h-1')), {}, null);
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error.code, 'unauthorized');
  assert.equal((await post(JSON.stringify(ev('h-1')), {}, 'thk_0000000000000000_' + 'a'.repeat(43))).status, 401);
  assert.equal((await post(JSON.stringify(ev('h-1')), {}, revoked)).status, 401);
  r = await post(JSON.stringify(ev('h-1')), {}, readToken);
  assert.equal(r.status, 403);
  assert.equal((await r.json()).error.code, 'forbidden');
  r = await post(JSON.stringify([ev('h-2'), ev('h-3', 'esp32-99')]), {}, boundToken);
  assert.equal(r.status, 403);
  assert.equal(await store.getEvent('h-2'), undefined, 'a refused request stores nothing');

  // 202 single, then duplicate
  r = await post(JSON.stringify(ev('h-1')));
  assert.equal(r.status, 202);
  assert.deepEqual(await r.json(), { accepted: 1, stored: 1, duplicate: 0, conflict: 0, rejected: 0, results: [{ index: 0, event_id: 'h-1', device_id: 'esp32-01', status: 'stored' }] });
  assert.equal((await store.getEvent('h-1'))?.valueNum, 21.5);
  r = await post(JSON.stringify(ev('h-1')), {}, boundToken);
  assert.equal(r.status, 202);
  assert.equal((await r.json()).results[0].status, 'duplicate');

  // The same id from another device: conflict (still 202), not stored, dead-lettered with its bytes.
  r = await post(JSON.stringify(ev('h-1', 'esp32-02')));
  assert.equal(r.status, 202);
  const conflicted = await r.json();
  assert.deepEqual([conflicted.accepted, conflicted.conflict, conflicted.results[0].status, conflicted.results[0].reason], [0, 1, 'conflict', 'event_id_conflict']);
  assert.match(conflicted.results[0].message, /already taken by an event of device "esp32-01"/);
  const [conflictDl] = await store.listDeadLetters({ reason: 'event_id_conflict' });
  assert.deepEqual(JSON.parse(conflictDl.payload.toString()), ev('h-1', 'esp32-02'));
  assert.equal((await store.getEvent('h-1'))?.deviceId, 'esp32-01');

  // A batch with one bad event: 202, per-event results, the bad one dead-lettered
  r = await post(JSON.stringify([ev('h-10'), ev('h-11', 'esp32-02', { ts_device: 'yesterday' }), ev('h-12')]));
  assert.equal(r.status, 202);
  const mixed = await r.json();
  assert.deepEqual(mixed.results.map((x: { status: string; reason?: string }) => [x.status, x.reason]), [['stored', undefined], ['rejected', 'invalid_timestamp'], ['stored', undefined]]);
  const [dl] = await store.listDeadLetters({ reason: 'invalid_timestamp' });
  assert.equal(dl.source, 'http');
  assert.equal(dl.topic, 'POST /ingest');
  assert.deepEqual(JSON.parse(dl.payload.toString()), ev('h-11', 'esp32-02', { ts_device: 'yesterday' }));

  // Everything refused: 400 with the reasons
  r = await post(JSON.stringify({ schema: 2, event_id: 'h-20', device_id: 'd', event_type: 't' }));
  assert.equal(r.status, 400);
  assert.equal((await r.json()).results[0].reason, 'unsupported_schema');

  // NDJSON, gzipped, with a line that is not JSON
  const nd = [ev('h-30'), ev('h-31')].map((e) => JSON.stringify(e)).join('\n') + '\n{"schema":\n';
  r = await post(gzipSync(nd), { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' });
  assert.equal(r.status, 202);
  assert.deepEqual((await r.json()).results.map((x: { status: string; reason?: string }) => x.reason ?? x.status), ['stored', 'stored', 'invalid_json']);

  // 400 unreadable body, 413 too large (also when gzip expands past the limit), 415
  r = await post('{"schema":1,');
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, 'invalid_json');
  r = await post(JSON.stringify(Array.from({ length: 200 }, (_, i) => ev(`big-${i}`))));
  assert.equal(r.status, 413);
  assert.equal((await r.json()).error.code, 'payload_too_large');
  r = await post(gzipSync(JSON.stringify([ev('bomb', 'esp32-01', { meta: { pad: 'x'.repeat(100_000) } })])), { 'content-encoding': 'gzip' });
  assert.equal(r.status, 413);
  r = await post('a,b,c', { 'content-type': 'text/csv' });
  assert.equal(r.status, 415);
  assert.equal((await r.json()).error.code, 'unsupported_media_type');
  assert.equal(await store.getEvent('big-0'), undefined);

  // Query API (read scope): page through the stored events with a cursor, filter, list dead letters.
  const get = (q: string, token: string = readToken) => fetch(`${base}${q}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await get('/api/v1/events', ingestToken)).status, 403, 'an ingest token cannot read');
  const seen: string[] = [];
  let url = '/api/v1/events?device=esp32-01&limit=2';
  for (let i = 0; i < 10; i++) {
    const page = await (await get(url)).json();
    seen.push(...page.events.map((e: { event_id: string }) => e.event_id));
    if (page.next_cursor === null) break;
    url = `/api/v1/events?device=esp32-01&limit=2&cursor=${page.next_cursor}`;
  }
  assert.deepEqual([...seen].sort(), ['h-1', 'h-10', 'h-12', 'h-30', 'h-31']);
  assert.equal(new Set(seen).size, seen.length, 'no event repeated across pages');
  const typed = await (await get('/api/v1/events?type=temperature&from=2000-01-01T00:00:00Z&limit=100')).json();
  assert.equal(typed.events.length, 5);
  assert.ok(typed.events.every((e: { event_type: string; value_num: number }) => e.event_type === 'temperature' && e.value_num === 21.5));
  assert.equal((await get('/api/v1/events?from=yesterday')).status, 400);
  assert.equal((await get('/api/v1/events?cursor=bogus')).status, 400);
  const devices = (await (await get('/api/v1/devices')).json()).devices;
  assert.deepEqual(devices.map((d: { device_id: string; events: number }) => [d.device_id, d.events]), [['esp32-01', 5]]);
  const series = await (await get('/api/v1/series?device=esp32-01&type=temperature&from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&bucket=1d')).json();
  assert.equal((await get('/api/v1/series?device=esp32-01&type=temperature&from=2020-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&bucket=1m')).status, 400, 'too many buckets');
  assert.equal(series.buckets.reduce((n: number, b: { count: number }) => n + b.count, 0), 5);
  assert.ok(series.buckets.every((b: { avg: number; min: number; max: number }) => b.avg === 21.5 && b.min === 21.5 && b.max === 21.5));
  const dls = await (await get('/api/v1/deadletters?reason=invalid_timestamp')).json();
  assert.equal(dls.deadletters.length, 1);
  assert.equal(dls.deadletters[0].source, 'http');
  assert.equal(dls.next_cursor, null);
}

describe('HTTP ingest', () => {
  it('SQLite: tokens, 202/400/401/403/413/415, results per event, dead letters', async () => {
    const hub = await startTelehubProcess({ TELEHUB_HTTP_MAX_BODY_BYTES: '8192' });
    const env = { TELEHUB_DATA_DIR: hub.dataDir };
    let store: SqliteStore | undefined;
    try {
      await hub.ready();
      store = new SqliteStore(path.join(hub.dataDir, 'telehub.db'));
      await store.migrate();
      await scenario(hub, env, store);
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-4000));
      throw err;
    } finally {
      await store?.close();
      hub.cleanup();
    }
  });

  it('PostgreSQL: the same, plus 503 with Retry-After while the store is down', { timeout: 120_000 }, async () => {
    const db = await testDatabase();
    const hub = await startTelehubProcess({ DATABASE_URL: db.url, TELEHUB_HTTP_MAX_BODY_BYTES: '8192', TELEHUB_RETRY_MIN_MS: '50', TELEHUB_RETRY_MAX_MS: '200' });
    const env = { DATABASE_URL: db.url };
    const store = new PostgresStore({ connectionString: db.url, poolSize: 1 });
    try {
      await hub.ready();
      await scenario(hub, env, store);

      const token = await telehubCli(env, 'tokens', 'create', '--name', 'outage');
      const post = (id: string) => fetch(`http://127.0.0.1:${hub.httpPort}/ingest`, { method: 'POST', body: JSON.stringify(ev(id)), headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
      assert.equal((await post('o-0')).status, 202, 'token cached while the store is up');
      const name = new URL(db.url).pathname.slice(1);
      const admin = new URL(db.url);
      admin.pathname = '/postgres';
      await withPgClient(admin.toString(), async (c) => {
        await c.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      });
      const first = post('o-1'); // waits: its batch is retried until the store returns
      // Once that batch's writes are failing (not merely a failed ping), new requests are refused at once.
      const end = Date.now() + 20_000;
      for (;;) {
        const ready = await (await fetch(`http://127.0.0.1:${hub.httpPort}/readyz`, { signal: AbortSignal.timeout(5000) })).json();
        if (JSON.stringify(ready).includes('writes are failing')) break;
        assert.ok(Date.now() < end, `the store never showed as failing: ${JSON.stringify(ready)}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      const refused = await post('o-2');
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '5');
      assert.equal((await refused.json()).error.code, 'store_unavailable');
      await withPgClient(admin.toString(), (c) => c.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`));
      const late = await first;
      assert.equal(late.status, 202, 'the waiting request is answered once committed');
      assert.ok(await store.getEvent('o-1'));
      assert.equal(await store.getEvent('o-2'), undefined, 'a 503 stored nothing');
      assert.equal(await hub.stop('SIGTERM', 20_000), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-4000));
      throw err;
    } finally {
      hub.cleanup();
      await store.close();
      await db.drop();
    }
  });
});

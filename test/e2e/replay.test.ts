/**
 * Dead-letter replay after fixing a limit: an event refused under a tight
 * TELEHUB_MAX_ID_LENGTH is replayed after a restart with the default limit
 * and is stored; replaying it again is a duplicate; a still-invalid one is
 * dead-lettered again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTelehubProcess, telehubCli } from '../helpers/telehub.js';


describe('dead-letter replay', () => {
  it('replays selected dead letters through the pipeline', async () => {
    const first = await startTelehubProcess({ TELEHUB_MAX_ID_LENGTH: '8' });
    const env = { TELEHUB_DATA_DIR: first.dataDir };
    const token = (...a: string[]) => telehubCli(env, 'tokens', 'create', ...a);
    let second: Awaited<ReturnType<typeof startTelehubProcess>> | undefined;
    try {
      await first.ready();
      const ingest = await token('--name', 'ingest');
      const admin = await token('--name', 'admin', '--scope', 'admin');
      const read = await token('--name', 'read', '--scope', 'read');
      const post = (port: number, body: unknown) =>
        fetch(`http://127.0.0.1:${port}/ingest`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest}` } });
      const r = await post(first.httpPort, [
        { schema: 1, event_id: 'a-much-longer-id', device_id: 'car-1', event_type: 'speed', value: 50 },
        { schema: 1, event_id: 'bad-ts', device_id: 'car-1', event_type: 'speed', ts_device: 'noon' },
      ]);
      assert.equal(r.status, 400);
      assert.deepEqual((await r.json()).results.map((x: { reason: string }) => x.reason), ['field_too_long', 'invalid_timestamp']);
      assert.equal(await first.stop(), 0);

      // The limit is fixed: default TELEHUB_MAX_ID_LENGTH (128).
      second = await startTelehubProcess({ TELEHUB_DATA_DIR: first.dataDir });
      await second.ready();
      const replay = (body: unknown, t = admin) =>
        fetch(`http://127.0.0.1:${second!.httpPort}/api/v1/deadletters/replay`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` } });
      assert.equal((await replay({ reason: 'field_too_long' }, read)).status, 403, 'replay needs an admin token');
      assert.equal((await replay({})).status, 400, 'a selection is required');
      let res = await (await replay({ reason: 'field_too_long' })).json();
      assert.deepEqual(res.results.map((x: { status: string; event_id: string }) => [x.status, x.event_id]), [['stored', 'a-much-longer-id']]);
      res = await (await replay({ reason: 'field_too_long' })).json();
      assert.equal(res.results[0].status, 'duplicate');
      const dls = await (await fetch(`http://127.0.0.1:${second.httpPort}/api/v1/deadletters?reason=invalid_timestamp`, { headers: { authorization: `Bearer ${read}` } })).json();
      res = await (await replay({ ids: [dls.deadletters[0].id] })).json();
      assert.deepEqual(res.results.map((x: { status: string; reason: string }) => [x.status, x.reason]), [['rejected', 'invalid_timestamp']]);
      const after = await (await fetch(`http://127.0.0.1:${second.httpPort}/api/v1/deadletters?reason=invalid_timestamp`, { headers: { authorization: `Bearer ${read}` } })).json();
      assert.deepEqual(after.deadletters.map((d: { source: string }) => d.source), ['http', 'replay']);
      const events = await (await fetch(`http://127.0.0.1:${second.httpPort}/api/v1/events?device=car-1`, { headers: { authorization: `Bearer ${read}` } })).json();
      assert.deepEqual(events.events.map((e: { event_id: string; value_num: number }) => [e.event_id, e.value_num]), [['a-much-longer-id', 50]]);
      assert.equal(await second.stop(), 0);
    } catch (err) {
      process.stderr.write((second ?? first).output().slice(-4000));
      throw err;
    } finally {
      second?.cleanup();
      first.cleanup();
    }
  });
});

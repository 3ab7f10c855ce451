/**
 * InfluxDB line-protocol writes with the real InfluxDB client library
 * (@influxdata/influxdb-client) and plain v1 requests, against telehub as a
 * child process on SQLite.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { InfluxDB, Point } from '@influxdata/influxdb-client';
import { SqliteStore } from '../../src/storage/sqlite/index.js';
import { startTelehubProcess, telehubCli } from '../helpers/telehub.js';


describe('InfluxDB line-protocol writes', () => {
  it('client library and v1 writes: 204, partial writes 400 with dead letters, retries are duplicates, 401 in InfluxDB shape', async () => {
    const hub = await startTelehubProcess();
    let store: SqliteStore | undefined;
    try {
      await hub.ready();
      const token = await telehubCli({ TELEHUB_DATA_DIR: hub.dataDir }, 'tokens', 'create', '--name', 'telegraf');
      const url = `http://127.0.0.1:${hub.httpPort}`;
      store = new SqliteStore(path.join(hub.dataDir, 'telehub.db'));
      await store.migrate();

      // The official client (v2 API, Authorization: Token, ms precision).
      const writeApi = new InfluxDB({ url, token }).getWriteApi('home', 'telemetry', 'ms', { maxRetries: 0 });
      writeApi.writePoints([
        new Point('climate').tag('device', 'esp32-01').tag('room', 'kitchen').floatField('temperature', 21.5).intField('humidity', 45).timestamp(new Date(1_700_000_000_000)),
        new Point('climate').tag('host', 'pi-4').booleanField('door_open', true).stringField('state', 'ok').timestamp(new Date(1_700_000_001_000)),
      ]);
      await writeApi.close();
      const rows = await store.recentEvents(10);
      const byType = Object.fromEntries(rows.map((r) => [r.eventType, r]));
      assert.equal(rows.length, 4);
      assert.equal(byType['climate.temperature'].valueNum, 21.5);
      assert.equal(byType['climate.temperature'].deviceId, 'esp32-01');
      assert.equal(byType['climate.temperature'].tsDevice, 1_700_000_000_000);
      assert.deepEqual(JSON.parse(byType['climate.temperature'].meta), { measurement: 'climate', room: 'kitchen' });
      assert.equal(byType['climate.humidity'].valueNum, 45);
      assert.equal(byType['climate.door_open'].deviceId, 'pi-4');
      assert.equal(byType['climate.door_open'].valueNum, 1);
      assert.equal(byType['climate.state'].valueText, 'ok');

      // A retried write is a duplicate: nothing new stored.
      const again = new InfluxDB({ url, token }).getWriteApi('home', 'telemetry', 'ms', { maxRetries: 0 });
      again.writePoint(new Point('climate').tag('device', 'esp32-01').tag('room', 'kitchen').floatField('temperature', 21.5).intField('humidity', 45).timestamp(new Date(1_700_000_000_000)));
      await again.close();
      assert.equal(await store.countEvents(), 4);

      // v1 /write with the token as p=, seconds precision, one bad line among good ones.
      const body = 'power,device=meter-1 watts=512i 1700000100\npower,device=meter-1 watts=\npower,device=meter-1 watts=498i 1700000101\n';
      const r = await fetch(`${url}/write?db=home&p=${token}&precision=s`, { method: 'POST', body });
      assert.equal(r.status, 400);
      const err = await r.json();
      assert.equal(err.code, 'invalid');
      assert.match(err.message, /^partial write: line 2: .* dropped=1$/);
      const power = (await store.recentEvents(10, 'meter-1')).map((e) => [e.valueNum, e.tsDevice]).sort();
      assert.deepEqual(power, [[498, 1_700_000_101_000], [512, 1_700_000_100_000]]);
      const [dl] = await store.listDeadLetters({ reason: 'invalid_line_protocol' });
      assert.equal(dl.payload.toString(), 'power,device=meter-1 watts=');
      assert.equal(dl.topic, 'POST /write');

      // The same point again with another value: not overwritten, a conflict (dead-lettered, a partial write).
      const rewrite = await fetch(`${url}/write?db=home&p=${token}&precision=s`, { method: 'POST', body: 'power,device=meter-1 watts=999i 1700000100\n' });
      assert.equal(rewrite.status, 400);
      assert.match((await rewrite.json()).message, /^partial write: event_id "lp:[^"]+" is already taken by another event of this device \(differs in value\).* dropped=1$/);
      assert.deepEqual((await store.recentEvents(10, 'meter-1')).map((e) => e.valueNum).sort(), [498, 512]);
      const [conflictDl] = await store.listDeadLetters({ reason: 'event_id_conflict' });
      assert.equal(conflictDl.payload.toString(), 'power,device=meter-1 watts=999i 1700000100');

      // Unauthorised, in InfluxDB's shape; an unknown precision is refused whole.
      const noToken = await fetch(`${url}/api/v2/write?org=a&bucket=b`, { method: 'POST', body: 'm,device=d f=1' });
      assert.equal(noToken.status, 401);
      assert.equal((await noToken.json()).code, 'unauthorized');
      const before = await store.countEvents();
      const badPrecision = await fetch(`${url}/api/v2/write?org=a&bucket=b&precision=fortnight`, { method: 'POST', body: 'm,device=d f=1', headers: { authorization: `Token ${token}` } });
      assert.equal(badPrecision.status, 400);
      assert.equal(await store.countEvents(), before, 'a refused request writes nothing');
      assert.equal(await hub.stop(), 0);
    } catch (err) {
      process.stderr.write(hub.output().slice(-4000));
      throw err;
    } finally {
      await store?.close();
      hub.cleanup();
    }
  });
});

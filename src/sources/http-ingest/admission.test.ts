/**
 * HTTP requests at TELEHUB_MAX_INFLIGHT, against a real SQLite store whose
 * commits are held: a request that finds no room within its wait is refused
 * whole with 503 (`overloaded`, Retry-After: 1) and nothing of it is stored;
 * one that finds room while it waits goes through.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { newToken } from '../../auth/tokens.js';
import { ApiError } from '../../core/http-error.js';
import { DEFAULT_CODEC_DEFAULTS, DEFAULT_LIMITS, defaultRoute } from '../../core/config.js';
import { BatchWriter } from '../../pipeline/batch-writer.js';
import { Ingest } from '../../pipeline/ingest.js';
import { RouteTable } from '../../pipeline/routes.js';
import { SqliteStore } from '../../storage/sqlite/index.js';
import type { Store, WriteBatch } from '../../storage/store.js';
import { HttpIngest } from './index.js';
import { InfluxWrite } from './influx.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(path.join(tmpdir(), 'telehub-admission-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const body = (...ids: string[]) => Buffer.from(JSON.stringify(ids.map((id) => ({ schema: 1, event_id: id, device_id: 'esp32-01', event_type: 'temperature', value: 1 }))));

describe('HTTP admission at TELEHUB_MAX_INFLIGHT', () => {
  it('refuses a request that finds no room in time (503 overloaded, nothing stored) and admits one that does', async () => {
    const sqlite = new SqliteStore(path.join(dir, 'a.db'));
    await sqlite.migrate();
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const held = { ...sqlite, kind: sqlite.kind, isRetriable: (e: unknown) => sqlite.isRetriable(e), writeBatch: async (b: WriteBatch) => (await gate, sqlite.writeBatch(b)) } as unknown as Store;
    const writer = new BatchWriter(held, { batchMax: 3, batchWaitMs: 1, maxInflight: 3, writeConcurrency: 1, retryMinMs: 1, retryMaxMs: 10 }, log);
    const { record } = newToken({ name: 't', scope: 'ingest' });
    const topics = { events: 'qs/v1/+/events', deadLetter: 'qs/v1/deadletter', ackTemplate: 'qs/v1/{device_id}/acks', ackQos: 1 as const };
    const ingest = new Ingest(writer, new RouteTable([defaultRoute(topics.events, topics.ackTemplate)], DEFAULT_CODEC_DEFAULTS), { topics, limits: DEFAULT_LIMITS }, log);
    const impatient = new HttpIngest(ingest, writer, () => true, 20);
    const patient = new HttpIngest(ingest, writer, () => true, 60_000);
    const influx = new InfluxWrite(ingest, writer, DEFAULT_CODEC_DEFAULTS.lineProtocol, () => true, 20);

    const first = impatient.ingest(body('a1', 'a2', 'a3'), 'application/json', record);
    while (writer.inflight < 3) await new Promise((r) => setImmediate(r)); // the first request fills the cap

    await assert.rejects(impatient.ingest(body('b1'), 'application/json', record), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.statusCode, 503);
      assert.equal(err.code, 'overloaded');
      assert.equal(err.headers?.['retry-after'], '1');
      return true;
    });
    const lp = await influx.write(Buffer.from('env,device=esp32-01 temp=1 1700000000000000000\n'), undefined, 'POST /api/v2/write', record);
    assert.equal(lp.statusCode, 503);
    assert.equal(writer.inflight, 3, 'refused requests took nothing');

    let settled = false;
    const waiting = patient.ingest(body('c1'), 'application/json', record).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'a patient request waits at the cap rather than failing');
    openGate();
    assert.equal((await first).body.stored, 3);
    const admitted = await waiting;
    assert.equal(admitted.statusCode, 202);
    assert.equal(admitted.body.stored, 1);

    await writer.close();
    assert.equal(await sqlite.countEvents(), 4);
    assert.equal(await sqlite.getEvent('b1'), undefined);
    assert.equal(await sqlite.countDeadLetters(), 0);
    await sqlite.close();
  });
});

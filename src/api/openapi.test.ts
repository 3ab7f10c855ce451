/**
 * The OpenAPI document is generated from the route schemas: every public
 * route is in it, with its responses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { DEFAULT_LIMITS } from '../core/config.js';
import { createMetrics } from '../core/metrics.js';
import { BatchWriter } from '../pipeline/batch-writer.js';
import { HttpIngest } from '../sources/http-ingest/index.js';
import { InfluxWrite } from '../sources/http-ingest/influx.js';
import { DeadLetterReplay } from '../sources/http-ingest/replay.js';
import { SqliteStore } from '../storage/sqlite/index.js';
import { buildHttpServer } from './server.js';

describe('OpenAPI document', () => {
  it('is OpenAPI 3.1 and lists every public route with its responses', async () => {
    const store = new SqliteStore(':memory:');
    await store.migrate();
    const log = pino({ level: 'silent' });
    const writer = new BatchWriter(store, { batchMax: 10, batchWaitMs: 1, maxInflight: 100, writeConcurrency: 1, retryMinMs: 1, retryMaxMs: 2 }, log);
    const app = await buildHttpServer({
      metrics: createMetrics(),
      readiness: { problems: async () => [] },
      tokens: store.tokens,
      ingest: new HttpIngest(writer, DEFAULT_LIMITS, 'qs/v1/deadletter', 1, log),
      store,
      replay: new DeadLetterReplay(writer, DEFAULT_LIMITS, 'qs/v1/+/events'),
      influx: new InfluxWrite(writer, DEFAULT_LIMITS, { deviceTag: 'device', fallbackDeviceTags: ['host'], eventType: 'measurement.field' }, () => true),
    });
    const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.openapi, '3.1.0');
    const routes = app.printRoutes({ commonPrefix: false });
    for (const [p, method, statuses] of [
      ['/ingest', 'post', ['202', '400', '401', '403', '413', '415', '503']],
      ['/api/v2/write', 'post', ['204', '400', '401', '403', '413', '503']],
      ['/write', 'post', ['204', '400', '401', '403', '413', '503']],
      ['/api/v1/events', 'get', ['200', '400', '401', '403', '503']],
      ['/api/v1/deadletters', 'get', ['200', '400', '401', '403', '503']],
      ['/api/v1/devices', 'get', ['200', '400', '401', '403', '503']],
      ['/api/v1/series', 'get', ['200', '400', '401', '403', '503']],
      ['/api/v1/deadletters/replay', 'post', ['200', '400', '401', '403', '503']],
    ] as const) {
      assert.ok(routes.includes(p.split('/').pop()!), `${p} is routed`);
      const op = doc.paths[p]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${p} is documented`);
      assert.deepEqual(Object.keys(op.responses).sort(), [...statuses].sort(), `${p} responses`);
    }
    // Internal endpoints stay out of the document.
    for (const hidden of ['/healthz', '/readyz', '/metrics', '/api/openapi.json']) assert.equal(doc.paths[hidden], undefined);
    await app.close();
    await writer.close();
    await store.close();
  });
});

/**
 * The OpenAPI document is generated from the route schemas: it is a valid
 * OpenAPI 3.1 document (checked against the official OAS 3.1 schema by
 * @apidevtools/swagger-parser), and every public route the running app
 * registered is in it with its method. That every documented response is
 * what the routes really answer is openapi-responses.test.ts.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type InProcessTelehub } from '../../test/helpers/inprocess.js';

/** Internal endpoints, kept out of the document on purpose. */
const INTERNAL = ['/healthz', '/readyz', '/metrics', '/api/openapi.json'];

describe('OpenAPI document', () => {
  let app: InProcessTelehub;
  let doc: { openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  before(async () => {
    app = await startInProcess('sqlite');
    const res = await fetch(`${app.base}/api/openapi.json`);
    assert.equal(res.status, 200);
    doc = await res.json();
  });
  after(() => app?.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    // validate() checks the document against the OAS 3.1 JSON schema, then its
    // own rules (unique operation ids, path parameters declared, ...).
    const api = await SwaggerParser.validate(structuredClone(doc) as never);
    assert.equal((api as { openapi: string }).openapi, '3.1.0');
  });

  it('lists every route the app registered, with its method', () => {
    const routes = app.routes.flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((m) => ({ method: m.toLowerCase(), url: r.url, hide: r.schema?.hide })));
    const gets = new Set(routes.filter((r) => r.method === 'get').map((r) => r.url));
    let checked = 0;
    for (const r of routes) {
      if (INTERNAL.includes(r.url)) {
        assert.equal(r.hide, true, `${r.url} is internal and hidden`);
        assert.equal(doc.paths[r.url], undefined, `${r.url} is not documented`);
        continue;
      }
      // Fastify adds HEAD to every GET; the document lists the GET.
      if (r.method === 'head' && gets.has(r.url)) continue;
      assert.ok(doc.paths[r.url]?.[r.method], `${r.method.toUpperCase()} ${r.url} is in the document`);
      checked++;
    }
    assert.ok(checked >= 9, `the public routes were walked (${checked})`);
    // And nothing is documented that is not routed.
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const m of Object.keys(ops)) assert.ok(routes.some((r) => r.url === p && r.method === m), `${m.toUpperCase()} ${p} is routed`);
    }
  });

  it('documents the statuses docs/http-api.md promises', () => {
    for (const [p, method, statuses] of [
      ['/ingest', 'post', ['202', '400', '401', '403', '413', '415', '503']],
      ['/api/v2/write', 'post', ['204', '400', '401', '403', '413', '503']],
      ['/write', 'post', ['204', '400', '401', '403', '413', '503']],
      ['/api/v1/events', 'get', ['200', '400', '401', '403', '503']],
      ['/api/v1/deadletters', 'get', ['200', '400', '401', '403', '503']],
      ['/api/v1/devices', 'get', ['200', '401', '403', '503']],
      ['/api/v1/series', 'get', ['200', '400', '401', '403', '503']],
      ['/api/v1/deadletters/replay', 'post', ['200', '400', '401', '403', '503']],
      ['/api/v1/stream', 'get', ['101', '401', '403']],
    ] as const) {
      const op = doc.paths[p]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${p} is documented`);
      assert.deepEqual(Object.keys(op.responses).sort(), [...statuses].sort(), `${p} responses`);
    }
  });
});

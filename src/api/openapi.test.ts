/**
 * The OpenAPI document is generated from the route schemas: it is a valid
 * OpenAPI 3.1 document (checked against the official OAS 3.1 schema by
 * @apidevtools/swagger-parser), every public route the running app
 * registered is in it with its method, and it agrees with docs/http-api.md:
 * the routes and statuses of the doc's "API routes" table are exactly the
 * document's, and the doc's "Service routes" are registered and kept out of
 * it. That every documented response is what the routes really answer is
 * openapi-responses.test.ts.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type InProcessTelehub } from '../../test/helpers/inprocess.js';
import { parseRouteTable, type DocumentedRoute } from '../../test/helpers/route-table.js';

/** Fastify's `/devices/:id` as OpenAPI and the docs write it: `/devices/{id}`. */
const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');
const httpApiMd = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
const API = parseRouteTable(httpApiMd, 'API routes');
const SERVICE = parseRouteTable(httpApiMd, 'Service routes');
const label = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${r.path}`;

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
    const routes = app.routes.flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).// Fastify writes path parameters as :id, OpenAPI as {id}.
      map((m) => ({ method: m.toLowerCase(), url: r.url.replace(/:(\w+)/g, '{$1}'), hide: r.schema?.hide })));
    const gets = new Set(routes.filter((r) => r.method === 'get').map((r) => r.url));
    const service = (method: string, url: string) => SERVICE.some((s) => s.path === url && (s.method === method || (method === 'head' && s.method === 'get')));
    let checked = 0;
    for (const r of routes) {
      if (service(r.method, r.url)) {
        assert.equal(r.hide, true, `${r.url} is a service route (docs/http-api.md) and hidden`);
        assert.equal(doc.paths[r.url], undefined, `${r.url} is not in the OpenAPI document`);
        continue;
      }
      // Fastify adds HEAD to every GET; the document lists the GET.
      if (r.method === 'head' && gets.has(r.url)) continue;
      assert.ok(doc.paths[r.url]?.[r.method], `${r.method.toUpperCase()} ${r.url} is in the OpenAPI document, or a service route of docs/http-api.md`);
      checked++;
    }
    assert.ok(checked >= 9, `the public routes were walked (${checked})`);
    // And nothing is documented that is not routed.
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const m of Object.keys(ops)) assert.ok(routes.some((r) => r.url === p && r.method === m), `${m.toUpperCase()} ${p} is routed`);
    }
  });

  it('docs/http-api.md lists the routes and statuses of the document, and only those', () => {
    const inDocument: DocumentedRoute[] = Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => ({ method: m, path: p, statuses: Object.keys(op.responses).sort() })));
    const find = (list: DocumentedRoute[], r: DocumentedRoute) => list.find((x) => x.method === r.method && x.path === r.path);
    for (const r of inDocument) {
      const row = find(API, r);
      assert.ok(row, `${label(r)} is in the OpenAPI document but not in docs/http-api.md's API routes`);
      assert.deepEqual(r.statuses, row.statuses, `${label(r)}: statuses of the OpenAPI document (actual) and docs/http-api.md (expected)`);
    }
    for (const row of API) assert.ok(find(inDocument, row), `${label(row)} is in docs/http-api.md's API routes but not in the OpenAPI document`);
    // And the tables were really read (parseRouteTable throws on a malformed row).
    assert.ok(API.length >= 9 && SERVICE.length >= 4, `the doc's tables were read (${API.length} API, ${SERVICE.length} service routes)`);
  });

  it("docs/http-api.md's service routes are registered and answer", async () => {
    for (const row of SERVICE) {
      assert.ok(app.routes.some((r) => openApiPath(r.url) === row.path && [r.method].flat().includes(row.method.toUpperCase())), `${label(row)} is registered`);
      // Each answers one of its documented statuses (the store is up: /readyz is 200).
      const res = await fetch(`${app.base}${row.path}`, { method: row.method.toUpperCase() });
      await res.arrayBuffer();
      assert.ok(row.statuses.includes(String(res.status)), `${label(row)} answered ${res.status}, documented ${row.statuses.join(', ')}`);
    }
  });
});

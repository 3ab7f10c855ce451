/**
 * `GET /` through the running app (real socket): the HTML page and the JSON
 * links lead to the service routes, which answer, and list exactly the API
 * routes that docs/http-api.md and the OpenAPI document list.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type InProcessTelehub } from '../../../test/helpers/inprocess.js';
import { parseRouteTable } from '../../../test/helpers/route-table.js';
import { SERVICE_LINKS, wantsJson } from './home.js';

const documented = parseRouteTable(readFileSync(new URL('../../../docs/http-api.md', import.meta.url), 'utf8'), 'API routes')
  .map((r) => `${r.method.toUpperCase()} ${r.path}`)
  .sort();

describe('GET /', () => {
  let app: InProcessTelehub;
  before(async () => {
    app = await startInProcess('sqlite');
  });
  after(() => app?.close());

  it('a browser gets an HTML page linking the service routes and naming every API route', async () => {
    const res = await fetch(`${app.base}/`, { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    const hrefs = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
    for (const link of Object.values(SERVICE_LINKS)) assert.ok(hrefs.includes(link.url), `links ${link.url}`);
    const named = [...html.matchAll(/<code>(GET|POST|PUT|PATCH|DELETE) ([^<]+)<\/code>/g)].map((m) => `${m[1]} ${m[2]}`).sort();
    assert.deepEqual(named, documented);
    // Each link it gives answers.
    for (const href of new Set(hrefs)) {
      const r = await fetch(`${app.base}${href}`);
      await r.arrayBuffer();
      assert.equal(r.status, 200, href);
    }
  });

  it('Accept: application/json gets the same as JSON', async () => {
    const res = await fetch(`${app.base}/`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as { links: Record<string, string>; api: { method: string; url: string; summary?: string }[] };
    assert.deepEqual(body.links, { openapi: '/api/openapi.json', health: '/healthz', ready: '/readyz', metrics: '/metrics' });
    assert.deepEqual(body.api.map((r) => `${r.method} ${r.url}`).sort(), documented);
    assert.ok(body.api.every((r) => typeof r.summary === 'string' && r.summary.length > 0), 'every API route has its summary');
  });

  it('curl (Accept: */*) and no Accept get HTML; JSON only when asked for and HTML is not', () => {
    assert.equal(wantsJson(undefined), false);
    assert.equal(wantsJson('*/*'), false);
    assert.equal(wantsJson('text/html, application/json'), false);
    assert.equal(wantsJson('application/json'), true);
    assert.equal(wantsJson('application/json;q=0.9, */*;q=0.1'), true);
  });
});

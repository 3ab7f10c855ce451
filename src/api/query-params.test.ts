/**
 * Unknown query parameters: the pure check, then through the running app
 * (real Fastify, real socket): authentication answers first, every route
 * in the OpenAPI document refuses a parameter it does not declare and takes
 * every one it does, and the service routes ignore their query.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type InProcessTelehub } from '../../test/helpers/inprocess.js';
import { declaredQueryParams, unknownQueryError } from './query-params.js';

describe('unknownQueryError', () => {
  it('names every unknown parameter and what the route takes', () => {
    const err = unknownQueryError({ device: 'a', devise: 'b', lmit: '2' }, ['device', 'limit'])!;
    assert.equal(err.statusCode, 400);
    assert.equal(err.code, 'unknown_parameter');
    assert.equal(err.message, 'unknown query parameters "devise", "lmit"; this route takes device, limit');
    assert.deepEqual(err.details, [
      { path: '/devise', message: 'is not a query parameter of this route' },
      { path: '/lmit', message: 'is not a query parameter of this route' },
    ]);
    assert.equal(unknownQueryError({ x: '' }, [])!.message, 'unknown query parameter "x"; this route takes none');
    assert.equal(unknownQueryError({ device: 'a' }, ['device']), undefined);
    assert.equal(unknownQueryError({}, []), undefined);
  });

  it('reads the parameters from the route schema', () => {
    assert.deepEqual(declaredQueryParams({ schema: { querystring: { type: 'object', properties: { a: {}, b: {} } } } }), ['a', 'b']);
    assert.deepEqual(declaredQueryParams({ schema: {} }), []);
    assert.deepEqual(declaredQueryParams({}), []);
  });
});

describe('unknown query parameters in the running app', () => {
  let app: InProcessTelehub;
  let read: string;
  before(async () => {
    app = await startInProcess('sqlite');
    read = await app.token('read');
  });
  after(() => app?.close());

  it('a caller without a token gets 401, not a list of parameters', async () => {
    const res = await fetch(`${app.base}/api/v1/events?devise=x`);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error.code, 'unauthorized');
  });

  it('every query route takes each parameter the OpenAPI document lists for it, and refuses one it does not', async () => {
    const doc = (await (await fetch(`${app.base}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> };
    let routes = 0;
    for (const path of ['/api/v1/events', '/api/v1/deadletters', '/api/v1/devices']) {
      const listed = (doc.paths[path].get.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      // Each listed parameter with an empty value passes the unknown-parameter check (it may fail its own schema).
      for (const name of listed) {
        const res = await fetch(`${app.base}${path}?${name}=`, { headers: { authorization: `Bearer ${read}` } });
        const body = await res.json();
        assert.notEqual(body.error?.code, 'unknown_parameter', `${path} takes ${name}`);
      }
      const res = await fetch(`${app.base}${path}?${[...listed.map((n) => `${n}=`), 'nope=1'].join('&')}`, { headers: { authorization: `Bearer ${read}` } });
      assert.equal(res.status, 400);
      const body = await res.json();
      assert.equal(body.error.code, 'unknown_parameter');
      assert.match(body.error.message, /^unknown query parameter "nope"; this route takes /);
      routes++;
    }
    assert.equal(routes, 3);
  });

  it('the service routes ignore their query string', async () => {
    for (const path of ['/?x=1', '/healthz?x=1', '/readyz?x=1', '/metrics?x=1', '/api/openapi.json?x=1']) {
      const res = await fetch(`${app.base}${path}`);
      await res.arrayBuffer();
      assert.equal(res.status, 200, path);
    }
  });
});

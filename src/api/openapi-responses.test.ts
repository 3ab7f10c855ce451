/**
 * Every response in the OpenAPI document is one the running app really
 * gives. The table below maps each documented (method, path, status) to
 * requests that produce it; each request is sent over a real socket (fetch,
 * or a ws client for the stream's upgrade) to telehub started in-process on
 * SQLite and on PostgreSQL, and the answer is checked against the document:
 * the body with Ajv (draft 2020-12, the dialect of OpenAPI 3.1) against the
 * schema declared for that status and content type, an empty body where no
 * content is declared, and every declared header present and valid.
 *
 * A documented response without an entry here fails the test, and so does
 * an entry for a response the document does not declare.
 *
 * 503s are produced for real: the store is made to fail (SQLite: another
 * connection holds the write lock; PostgreSQL: the database stops accepting
 * connections and telehub's sessions are terminated).
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import WebSocket from 'ws';
import { startInProcess, type InProcessTelehub, type StoreKind } from '../../test/helpers/inprocess.js';
import { stopTestPostgres } from '../../test/helpers/postgres.js';

after(() => stopTestPostgres());

const MAX_BODY = 4096;

interface Got {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Ctx {
  app: InProcessTelehub;
  tokens: { ingest: string; read: string; admin: string; bound: string; revoked: string };
  /** Never used before the outage, so the outage is the first time auth looks them up. */
  fresh: { ingest: string; read: string; admin: string };
  /** Dead letter ids from the seed data. */
  deadLetterIds: number[];
}

interface Case {
  method: 'get' | 'post' | 'delete' | 'patch';
  path: string;
  status: number;
  /** What this request shows. */
  what: string;
  /** Cases run on both stores unless limited here (with the reason). */
  only?: StoreKind;
  /** Sent while the store is failing. */
  outage?: boolean;
  send: (c: Ctx) => Promise<Got>;
  /** More than the schema says: that the request did what it was meant to. */
  expect?: (body: any, c: Ctx) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function request(c: Ctx, method: string, url: string, opts: { token?: string; auth?: string; headers?: Record<string, string>; body?: string | Buffer; json?: unknown } = {}): Promise<Got> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.auth) headers.authorization = opts.auth;
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${c.app.base}${url}`, { method: method.toUpperCase(), headers, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body) });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** Queues a command (nothing answers it: it stays open for the test). */
function newCommand(c: Ctx, device = 'node-1'): Promise<Got> {
  return request(c, 'post', `/api/v1/devices/${device}/commands`, { token: c.tokens.admin, json: { command: 'set_led', params: { state: 'on' }, ttl_s: 600 } });
}
async function newCommandId(c: Ctx): Promise<string> {
  const r = await newCommand(c);
  assert.equal(r.status, 201, r.body);
  return (JSON.parse(r.body) as { command_id: string }).command_id;
}

/** Opens a WebSocket to the stream; resolves with the upgrade's answer (101, or the refusal). */
function upgrade(c: Ctx, query: string, headers?: Record<string, string>): Promise<Got> {
  const ws = new WebSocket(`${c.app.base.replace('http', 'ws')}/api/v1/stream${query}`, { headers });
  return new Promise<Got>((resolve, reject) => {
    ws.once('upgrade', (res) => {
      ws.once('open', () => {
        ws.close();
        ws.once('close', () => resolve({ status: res.statusCode!, headers: res.headers as Record<string, string>, body: '' }));
      });
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode!, headers: res.headers as Record<string, string>, body });
      });
    });
    ws.once('error', (err) => reject(err));
  });
}

const ev = (id: string, device = 'esp32-01', extra: Record<string, unknown> = {}) => ({ schema: 1, event_id: id, device_id: device, event_type: 'temperature', value: 21.5, ...extra });
/**
 * Ingests one 5-minute drive of car `oa-car` (once per app) and waits for the
 * trips processor to show it (polling its result: the processor runs beside
 * intake); returns the trip's id.
 */
const drives = new WeakMap<Ctx, Promise<string>>();
function driveOneTrip(c: Ctx): Promise<string> {
  let p = drives.get(c);
  if (p === undefined) {
    p = (async () => {
      const t0 = Date.now() - 3_600_000;
      const lines: string[] = [];
      for (let i = 0; i < 60; i++) {
        const ts = new Date(t0 + i * 5000).toISOString();
        lines.push(JSON.stringify(ev(`oa-car-${i}-s`, 'oa-car', { event_type: 'speed', value: 50, ts_device: ts })));
        lines.push(JSON.stringify(ev(`oa-car-${i}-p`, 'oa-car', { event_type: 'position', value: undefined, ts_device: ts, meta: { latitude: 48 + i * 0.0006, longitude: 11.5 } })));
      }
      // In small requests: this app refuses bodies over MAX_BODY.
      for (let i = 0; i < lines.length; i += 16) {
        const r = await request(c, 'post', '/ingest', { token: c.tokens.ingest, headers: { 'content-type': 'application/x-ndjson' }, body: lines.slice(i, i + 16).join('\n') });
        assert.equal(r.status, 202, r.body);
      }
      for (const end = Date.now() + 30_000; Date.now() < end; ) {
        const got = await request(c, 'get', '/api/v1/trips?device=oa-car', { token: c.tokens.read });
        const trips = JSON.parse(got.body).trips as Array<{ id: string }>;
        if (trips.length > 0) return trips[0].id;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error('the trips processor did not show the drive');
    })();
    drives.set(c, p);
  }
  return p;
}

const LINE = 'climate,device=esp32-01,room=kitchen temperature=21.5,humidity=45i 1700000000';
const basic = (token: string) => `Basic ${Buffer.from(`telegraf:${token}`).toString('base64')}`;
const big = 'x'.repeat(MAX_BODY + 1);
const T0 = '2026-11-22T10:00:00Z';
const T1 = '2026-11-22T11:00:00Z';

/** A 400 unknown_parameter naming exactly these parameters. */
function unknownParams(b: { error: { code: string; message: string; details: { path: string }[] } }, names: string[]): void {
  assert.equal(b.error.code, 'unknown_parameter');
  for (const n of names) assert.ok(b.error.message.includes(`"${n}"`), `${n} is named: ${b.error.message}`);
  assert.deepEqual(b.error.details.map((d) => d.path), names.map((n) => `/${n}`));
}

/** A 400 naming both from and to. */
function fromAfterTo(b: { error: { code: string; message: string; details: { path: string }[] } }): void {
  assert.equal(b.error.code, 'invalid_request');
  assert.match(b.error.message, /^from \(2026-11-22T11:00:00\.000Z\) must be before to \(2026-11-22T10:00:00\.000Z\)$/);
  assert.deepEqual(b.error.details.map((d) => d.path), ['/from', '/to']);
}

const CASES: Case[] = [
  // POST /ingest
  { method: 'post', path: '/ingest', status: 202, what: 'stored', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, json: ev(`ok-${c.app.kind}-1`) }) },
  { method: 'post', path: '/ingest', status: 202, what: 'gzip NDJSON, one line rejected', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' }, body: gzipSync(`${JSON.stringify(ev('ok-nd-1'))}\n{"schema":\n`) }) },
  { method: 'post', path: '/ingest', status: 400, what: 'every event refused (results body)', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, json: { schema: 2, event_id: 'x', device_id: 'd', event_type: 't' } }), expect: (b) => assert.equal(b.results[0].reason, 'unsupported_schema') },
  { method: 'post', path: '/ingest', status: 400, what: 'unreadable body (error body)', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, headers: { 'content-type': 'application/json' }, body: '{"schema":1,' }), expect: (b) => assert.equal(b.error.code, 'invalid_json') },
  { method: 'post', path: '/ingest', status: 400, what: 'a query parameter (it takes none)', send: (c) => request(c, 'post', '/ingest?device=esp32-01', { token: c.tokens.ingest, json: ev('no-q') }), expect: (b) => unknownParams(b, ['device']) },
  { method: 'post', path: '/ingest', status: 401, what: 'no token', send: (c) => request(c, 'post', '/ingest', { json: ev('no-1') }) },
  { method: 'post', path: '/ingest', status: 401, what: 'revoked token', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.revoked, json: ev('no-1') }) },
  { method: 'post', path: '/ingest', status: 403, what: 'read scope', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.read, json: ev('no-1') }) },
  { method: 'post', path: '/ingest', status: 403, what: 'device not allowed', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.bound, json: ev('no-1', 'car-9') }) },
  { method: 'post', path: '/ingest', status: 413, what: 'body over the limit', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, headers: { 'content-type': 'application/json' }, body: big }) },
  { method: 'post', path: '/ingest', status: 413, what: 'gzip expanding past the limit', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(big) }) },
  { method: 'post', path: '/ingest', status: 415, what: 'text/plain', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, headers: { 'content-type': 'text/plain' }, body: '{}' }) },
  { method: 'post', path: '/ingest', status: 415, what: 'brotli', send: (c) => request(c, 'post', '/ingest', { token: c.tokens.ingest, headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: '{}' }) },
  { method: 'post', path: '/ingest', status: 503, what: 'store failing', outage: true, send: (c) => request(c, 'post', '/ingest', { token: c.fresh.ingest, json: ev('during-outage') }) },

  // InfluxDB line protocol, v2 and v1
  { method: 'post', path: '/api/v2/write', status: 204, what: 'every line written', send: (c) => request(c, 'post', '/api/v2/write?org=o&bucket=b&precision=s', { auth: `Token ${c.tokens.ingest}`, body: LINE }) },
  { method: 'post', path: '/api/v2/write', status: 400, what: 'partial write', send: (c) => request(c, 'post', '/api/v2/write?precision=s', { auth: `Token ${c.tokens.ingest}`, body: `${LINE}\nnot line protocol` }) },
  { method: 'post', path: '/api/v2/write', status: 400, what: 'precision fails its schema', send: (c) => request(c, 'post', '/api/v2/write?precision=fortnight', { auth: `Token ${c.tokens.ingest}`, body: LINE }) },
  { method: 'post', path: '/api/v2/write', status: 400, what: 'unknown query parameter (InfluxDB shape)', send: (c) => request(c, 'post', '/api/v2/write?org=o&bukket=b', { auth: `Token ${c.tokens.ingest}`, body: LINE }), expect: (b) => assert.match(b.message, /unknown query parameter "bukket"/) },
  { method: 'post', path: '/api/v2/write', status: 401, what: 'no token', send: (c) => request(c, 'post', '/api/v2/write', { body: LINE }) },
  { method: 'post', path: '/api/v2/write', status: 403, what: 'read scope', send: (c) => request(c, 'post', '/api/v2/write', { auth: `Token ${c.tokens.read}`, body: LINE }) },
  { method: 'post', path: '/api/v2/write', status: 413, what: 'body over the limit', send: (c) => request(c, 'post', '/api/v2/write', { auth: `Token ${c.tokens.ingest}`, body: big }) },
  { method: 'post', path: '/api/v2/write', status: 503, what: 'store failing', outage: true, send: (c) => request(c, 'post', '/api/v2/write?precision=s', { auth: `Token ${c.fresh.ingest}`, body: LINE }) },
  { method: 'post', path: '/write', status: 204, what: 'token as p=', send: (c) => request(c, 'post', `/write?db=x&precision=s&p=${c.tokens.ingest}`, { body: LINE }) },
  { method: 'post', path: '/write', status: 204, what: 'token as the Basic password', send: (c) => request(c, 'post', '/write?db=x&precision=s', { auth: basic(c.tokens.ingest), body: LINE }) },
  { method: 'post', path: '/write', status: 400, what: 'partial write', send: (c) => request(c, 'post', '/write?precision=s', { auth: basic(c.tokens.ingest), body: `${LINE}\nbad line` }) },
  { method: 'post', path: '/write', status: 400, what: 'unknown query parameter (InfluxDB shape)', send: (c) => request(c, 'post', `/write?db=x&p=${c.tokens.ingest}&retention=1d`, { body: LINE }), expect: (b) => assert.match(b.message, /unknown query parameter "retention"/) },
  { method: 'post', path: '/write', status: 401, what: 'wrong Basic password', send: (c) => request(c, 'post', '/write', { auth: basic('nope'), body: LINE }) },
  { method: 'post', path: '/write', status: 403, what: 'read scope', send: (c) => request(c, 'post', `/write?p=${c.tokens.read}`, { body: LINE }) },
  { method: 'post', path: '/write', status: 413, what: 'body over the limit', send: (c) => request(c, 'post', `/write?p=${c.tokens.ingest}`, { body: big }) },
  { method: 'post', path: '/write', status: 503, what: 'store failing', outage: true, send: (c) => request(c, 'post', `/write?precision=s&p=${c.fresh.ingest}`, { body: LINE }) },

  // Query API. SQLite reads do not fail while another connection holds the
  // write lock (WAL), and nothing else makes them fail on demand: their 503
  // is produced on PostgreSQL.
  { method: 'get', path: '/api/v1/events', status: 200, what: 'a full page with a cursor', send: (c) => request(c, 'get', '/api/v1/events?limit=2', { token: c.tokens.read }), expect: (b) => assert.ok(b.events.length === 2 && typeof b.next_cursor === 'string') },
  { method: 'get', path: '/api/v1/events', status: 200, what: 'filtered, last page', send: (c) => request(c, 'get', `/api/v1/events?device=esp32-01&from=${T0}&to=${Date.parse(T1)}`, { token: c.tokens.read }), expect: (b) => assert.deepEqual([b.events.map((e: { event_id: string }) => e.event_id), b.next_cursor], [['seed-1', 'seed-2', 'seed-3'], null]) },
  { method: 'get', path: '/api/v1/events', status: 400, what: 'limit out of range', send: (c) => request(c, 'get', '/api/v1/events?limit=0', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/events', status: 400, what: 'a cursor this API did not return', send: (c) => request(c, 'get', '/api/v1/events?cursor=bm9wZQ', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/events', status: 400, what: 'unknown query parameters, all named', send: (c) => request(c, 'get', '/api/v1/events?devise=esp32-01&limit=2&lmit=3', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['devise', 'lmit']) },
  { method: 'get', path: '/api/v1/events', status: 400, what: 'from after to', send: (c) => request(c, 'get', `/api/v1/events?from=${T1}&to=${T0}`, { token: c.tokens.read }), expect: fromAfterTo },
  { method: 'get', path: '/api/v1/events', status: 200, what: 'date-only from and to (UTC midnight)', send: (c) => request(c, 'get', '/api/v1/events?device=esp32-01&from=2026-11-22&to=2026-11-23', { token: c.tokens.read }), expect: (b) => assert.deepEqual(b.events.map((e: { event_id: string }) => e.event_id), ['seed-1', 'seed-2', 'seed-3']) },
  { method: 'get', path: '/api/v1/events', status: 200, what: 'a date-only to is exclusive', send: (c) => request(c, 'get', '/api/v1/events?device=esp32-01&from=2026-11-21&to=2026-11-22', { token: c.tokens.read }), expect: (b) => assert.deepEqual(b.events, []) },
  { method: 'get', path: '/api/v1/events', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/events') },
  { method: 'get', path: '/api/v1/events', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/events', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/events', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/events', { token: c.fresh.read }) },
  { method: 'get', path: '/api/v1/devices', status: 200, what: 'devices', send: (c) => request(c, 'get', '/api/v1/devices', { token: c.tokens.read }), expect: (b) => assert.ok(['car-1', 'esp32-01'].every((d) => b.devices.some((x: { device_id: string }) => x.device_id === d))) },
  { method: 'get', path: '/api/v1/devices', status: 400, what: 'a query parameter (it takes none)', send: (c) => request(c, 'get', '/api/v1/devices?device=esp32-01', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['device']) },
  { method: 'get', path: '/api/v1/devices', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/devices') },
  { method: 'get', path: '/api/v1/devices', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/devices', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/devices', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/devices', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/devices/{id}', status: 200, what: 'a known device', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01', { token: c.tokens.read }), expect: (b) => (assert.equal(b.device_id, 'esp32-01'), assert.ok(['online', 'silent', 'offline', 'unknown'].includes(b.presence))) },
  { method: 'get', path: '/api/v1/devices/{id}', status: 400, what: 'a query parameter (it takes none)', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01?x=1', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['x']) },
  { method: 'get', path: '/api/v1/devices/{id}', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01') },
  { method: 'get', path: '/api/v1/devices/{id}', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/devices/{id}', status: 404, what: 'a device never seen', send: (c) => request(c, 'get', '/api/v1/devices/no-such-device', { token: c.tokens.read }), expect: (b) => assert.equal(b.error.code, 'not_found') },
  { method: 'get', path: '/api/v1/devices/{id}', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01', { token: c.tokens.read }) },
  {
    method: 'patch',
    path: '/api/v1/devices/{id}',
    status: 200,
    what: 'an expected interval set, then cleared',
    send: async (c) => {
      const set = await request(c, 'patch', '/api/v1/devices/car-1', { token: c.tokens.admin, json: { expected_interval_s: 45 } });
      assert.equal(set.status, 200);
      const d = JSON.parse(set.body) as { interval_ms: number; interval_source: string };
      assert.deepEqual([d.interval_ms, d.interval_source], [45_000, 'override']);
      return request(c, 'patch', '/api/v1/devices/car-1', { token: c.tokens.admin, json: { expected_interval_s: null } });
    },
    expect: (b) => assert.notEqual(b.interval_source, 'override'),
  },
  { method: 'patch', path: '/api/v1/devices/{id}', status: 400, what: 'an interval out of range', send: (c) => request(c, 'patch', '/api/v1/devices/car-1', { token: c.tokens.admin, json: { expected_interval_s: 0 } }) },
  { method: 'patch', path: '/api/v1/devices/{id}', status: 400, what: 'an unknown field', send: (c) => request(c, 'patch', '/api/v1/devices/car-1', { token: c.tokens.admin, json: { expected_interval_s: 5, colour: 'red' } }) },
  { method: 'patch', path: '/api/v1/devices/{id}', status: 401, what: 'no token', send: (c) => request(c, 'patch', '/api/v1/devices/car-1', { json: { expected_interval_s: 5 } }) },
  { method: 'patch', path: '/api/v1/devices/{id}', status: 403, what: 'read scope', send: (c) => request(c, 'patch', '/api/v1/devices/car-1', { token: c.tokens.read, json: { expected_interval_s: 5 } }) },
  { method: 'patch', path: '/api/v1/devices/{id}', status: 404, what: 'a device never seen', send: (c) => request(c, 'patch', '/api/v1/devices/no-such-device', { token: c.tokens.admin, json: { expected_interval_s: 5 } }), expect: (b) => assert.equal(b.error.code, 'not_found') },
  { method: 'patch', path: '/api/v1/devices/{id}', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'patch', '/api/v1/devices/car-1', { token: c.fresh.admin, json: { expected_interval_s: 5 } }) },
  { method: 'get', path: '/api/v1/devices/{id}/presence', status: 200, what: 'its transitions', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01/presence?limit=5', { token: c.tokens.read }), expect: (b) => (assert.ok(Array.isArray(b.transitions)), assert.ok(b.transitions.every((t: { presence: string; seq: number }) => typeof t.seq === 'number' && ['online', 'silent', 'offline', 'unknown'].includes(t.presence)))) },
  { method: 'get', path: '/api/v1/devices/{id}/presence', status: 400, what: 'an unknown query parameter', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01/presence?lim=1', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['lim']) },
  { method: 'get', path: '/api/v1/devices/{id}/presence', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01/presence') },
  { method: 'get', path: '/api/v1/devices/{id}/presence', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01/presence', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/devices/{id}/presence', status: 404, what: 'a device never seen', send: (c) => request(c, 'get', '/api/v1/devices/no-such-device/presence', { token: c.tokens.read }), expect: (b) => assert.equal(b.error.code, 'not_found') },
  { method: 'get', path: '/api/v1/devices/{id}/presence', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/devices/esp32-01/presence', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/series', status: 200, what: 'buckets', send: (c) => request(c, 'get', `/api/v1/series?device=esp32-01&type=temperature&from=${T0}&to=${T1}&bucket=1m`, { token: c.tokens.read }), expect: (b) => assert.deepEqual(b.buckets.map((x: { count: number }) => x.count), [2, 1]) },
  { method: 'get', path: '/api/v1/series', status: 400, what: 'parameters missing', send: (c) => request(c, 'get', '/api/v1/series?device=esp32-01', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/series', status: 400, what: 'too many buckets', send: (c) => request(c, 'get', '/api/v1/series?device=d&type=t&from=0&to=1000000000000&bucket=1s', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/series', status: 400, what: 'from after to', send: (c) => request(c, 'get', `/api/v1/series?device=d&type=t&from=${T1}&to=${T0}`, { token: c.tokens.read }), expect: fromAfterTo },
  { method: 'get', path: '/api/v1/series', status: 400, what: 'unknown query parameter', send: (c) => request(c, 'get', '/api/v1/series?device=d&type=t&step=1m', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['step']) },
  {
    method: 'get', path: '/api/v1/series', status: 200, what: 'defaults: the last 24 h in 5m buckets',
    send: (c) => request(c, 'get', '/api/v1/series?device=esp32-01&type=temperature', { token: c.tokens.read }),
    expect: (b) => {
      assert.equal(Date.parse(b.to) - Date.parse(b.from), 86_400_000);
      assert.ok(Math.abs(Date.parse(b.to) - Date.now()) < 60_000, `to is now: ${b.to}`);
      assert.equal(b.bucket_seconds, 300);
    },
  },
  {
    method: 'get', path: '/api/v1/series', status: 200, what: 'date-only range, bucket chosen for it',
    send: (c) => request(c, 'get', '/api/v1/series?device=esp32-01&type=temperature&from=2026-11-22&to=2026-11-23', { token: c.tokens.read }),
    expect: (b) => assert.deepEqual([b.from, b.to, b.bucket_seconds, b.buckets.map((x: { time: string; count: number }) => [x.time, x.count])], ['2026-11-22T00:00:00.000Z', '2026-11-23T00:00:00.000Z', 300, [['2026-11-22T10:00:00.000Z', 3]]]),
  },
  { method: 'get', path: '/api/v1/series', status: 401, what: 'no token', send: (c) => request(c, 'get', `/api/v1/series?device=d&type=t&from=${T0}&to=${T1}&bucket=1m`) },
  { method: 'get', path: '/api/v1/series', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', `/api/v1/series?device=d&type=t&from=${T0}&to=${T1}&bucket=1m`, { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/series', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', `/api/v1/series?device=esp32-01&type=temperature&from=${T0}&to=${T1}&bucket=1m`, { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/deadletters', status: 200, what: 'a full page with a cursor', send: (c) => request(c, 'get', '/api/v1/deadletters?limit=1', { token: c.tokens.read }), expect: (b) => assert.ok(b.deadletters.length === 1 && typeof b.next_cursor === 'string') },
  { method: 'get', path: '/api/v1/deadletters', status: 200, what: 'by received time: text and binary payloads', send: (c) => request(c, 'get', `/api/v1/deadletters?from=${Date.now() - 3_600_000}`, { token: c.tokens.admin }), expect: (b) => assert.deepEqual([...new Set(b.deadletters.map((d: { payload_encoding: string }) => d.payload_encoding))].sort(), ['base64', 'utf8']) },
  { method: 'get', path: '/api/v1/deadletters', status: 200, what: 'by reason', send: (c) => request(c, 'get', '/api/v1/deadletters?reason=invalid_timestamp', { token: c.tokens.read }), expect: (b) => assert.deepEqual(b.deadletters.map((d: { reason: string }) => d.reason), ['invalid_timestamp']) },
  { method: 'get', path: '/api/v1/deadletters', status: 400, what: 'a time that is not one', send: (c) => request(c, 'get', '/api/v1/deadletters?from=yesterday', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/deadletters', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/deadletters') },
  { method: 'get', path: '/api/v1/deadletters', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/deadletters', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/deadletters', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/deadletters', { token: c.tokens.read }) },
  { method: 'post', path: '/api/v1/deadletters/replay', status: 200, what: 'by ids', send: (c) => request(c, 'post', '/api/v1/deadletters/replay', { token: c.tokens.admin, json: { ids: c.deadLetterIds } }), expect: (b, c) => assert.deepEqual(b.results.map((r: { id: number }) => r.id).sort(), [...c.deadLetterIds].sort()) },
  { method: 'post', path: '/api/v1/deadletters/replay', status: 400, what: 'no selection', send: (c) => request(c, 'post', '/api/v1/deadletters/replay', { token: c.tokens.admin, json: {} }) },
  { method: 'post', path: '/api/v1/deadletters/replay', status: 400, what: 'unknown field', send: (c) => request(c, 'post', '/api/v1/deadletters/replay', { token: c.tokens.admin, json: { everything: true } }) },
  { method: 'post', path: '/api/v1/deadletters/replay', status: 400, what: 'from after to', send: (c) => request(c, 'post', '/api/v1/deadletters/replay', { token: c.tokens.admin, json: { from: T1, to: T0 } }), expect: fromAfterTo },
  { method: 'post', path: '/api/v1/deadletters/replay', status: 401, what: 'no token', send: (c) => request(c, 'post', '/api/v1/deadletters/replay', { json: { ids: [1] } }) },
  { method: 'post', path: '/api/v1/deadletters/replay', status: 403, what: 'read scope', send: (c) => request(c, 'post', '/api/v1/deadletters/replay', { token: c.tokens.read, json: { ids: [1] } }) },
  { method: 'post', path: '/api/v1/deadletters/replay', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'post', '/api/v1/deadletters/replay', { token: c.fresh.admin, json: { reason: 'invalid_json' } }) },

  // Commands (the dispatcher stores them; no node answers here)
  { method: 'post', path: '/api/v1/devices/{id}/commands', status: 201, what: 'queued', send: (c) => newCommand(c), expect: (b) => assert.ok(['queued', 'sent'].includes(b.state)) },
  { method: 'post', path: '/api/v1/devices/{id}/commands', status: 400, what: 'unknown field', send: (c) => request(c, 'post', '/api/v1/devices/node-1/commands', { token: c.tokens.admin, json: { command: 'x', everything: true } }) },
  { method: 'post', path: '/api/v1/devices/{id}/commands', status: 400, what: 'a device id that is no topic level', send: (c) => request(c, 'post', '/api/v1/devices/node+1/commands', { token: c.tokens.admin, json: { command: 'x' } }) },
  { method: 'post', path: '/api/v1/devices/{id}/commands', status: 401, what: 'no token', send: (c) => request(c, 'post', '/api/v1/devices/node-1/commands', { json: { command: 'x' } }) },
  { method: 'post', path: '/api/v1/devices/{id}/commands', status: 403, what: 'read scope', send: (c) => request(c, 'post', '/api/v1/devices/node-1/commands', { token: c.tokens.read, json: { command: 'x' } }) },
  { method: 'post', path: '/api/v1/devices/{id}/commands', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'post', '/api/v1/devices/node-1/commands', { token: c.fresh.admin, json: { command: 'x' } }) },
  { method: 'get', path: '/api/v1/devices/{id}/commands', status: 200, what: 'list', send: async (c) => (await newCommand(c, 'node-list'), request(c, 'get', '/api/v1/devices/node-list/commands', { token: c.tokens.read })), expect: (b) => assert.ok(b.commands.length >= 1) },
  { method: 'get', path: '/api/v1/devices/{id}/commands', status: 400, what: 'unknown query parameter', send: (c) => request(c, 'get', '/api/v1/devices/node-1/commands?lim=1', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['lim']) },
  { method: 'get', path: '/api/v1/devices/{id}/commands', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/devices/node-1/commands') },
  { method: 'get', path: '/api/v1/devices/{id}/commands', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/devices/node-1/commands', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/devices/{id}/commands', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/devices/node-1/commands', { token: c.fresh.read }) },
  { method: 'get', path: '/api/v1/commands/{command_id}', status: 200, what: 'one command', send: async (c) => request(c, 'get', `/api/v1/commands/${await newCommandId(c)}`, { token: c.tokens.read }), expect: (b) => assert.equal(b.command, 'set_led') },
  { method: 'get', path: '/api/v1/commands/{command_id}', status: 404, what: 'unknown id', send: (c) => request(c, 'get', '/api/v1/commands/no-such-command', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/commands/{command_id}', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/commands/x') },
  { method: 'get', path: '/api/v1/commands/{command_id}', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/commands/x', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/commands/{command_id}', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/commands/x', { token: c.fresh.read }) },
  { method: 'delete', path: '/api/v1/commands/{command_id}', status: 200, what: 'cancelled', send: async (c) => request(c, 'delete', `/api/v1/commands/${await newCommandId(c)}`, { token: c.tokens.admin }), expect: (b) => assert.deepEqual([b.state, b.cause], ['cancelled', 'cancelled']) },
  { method: 'delete', path: '/api/v1/commands/{command_id}', status: 404, what: 'unknown id', send: (c) => request(c, 'delete', '/api/v1/commands/no-such-command', { token: c.tokens.admin }) },
  {
    method: 'delete', path: '/api/v1/commands/{command_id}', status: 409, what: 'already cancelled',
    send: async (c) => {
      const id = await newCommandId(c);
      assert.equal((await request(c, 'delete', `/api/v1/commands/${id}`, { token: c.tokens.admin })).status, 200);
      return request(c, 'delete', `/api/v1/commands/${id}`, { token: c.tokens.admin });
    },
    expect: (b) => assert.equal(b.error.code, 'command_ended'),
  },
  { method: 'delete', path: '/api/v1/commands/{command_id}', status: 401, what: 'no token', send: (c) => request(c, 'delete', '/api/v1/commands/x') },
  { method: 'delete', path: '/api/v1/commands/{command_id}', status: 403, what: 'read scope', send: (c) => request(c, 'delete', '/api/v1/commands/x', { token: c.tokens.read }) },
  { method: 'delete', path: '/api/v1/commands/{command_id}', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'delete', '/api/v1/commands/x', { token: c.fresh.admin }) },

  // The stream's upgrade
  { method: 'get', path: '/api/v1/processors', status: 200, what: 'device-counters with checkpoint and lag', send: (c) => request(c, 'get', '/api/v1/processors', { token: c.tokens.read }), expect: (b) => assert.ok(b.head > 0 && b.processors.some((p: { name: string }) => p.name === 'device-counters')) },
  { method: 'get', path: '/api/v1/processors', status: 400, what: 'a query parameter (it takes none)', send: (c) => request(c, 'get', '/api/v1/processors?name=x', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['name']) },
  { method: 'get', path: '/api/v1/processors', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/processors') },
  { method: 'get', path: '/api/v1/processors', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/processors', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/processors', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/processors', { token: c.tokens.read }) },
  // Alerts: a config-file rule `file-rule` (ALERTS_FILE below) is read-only through the API (409).
  { method: 'get', path: '/api/v1/alerts/rules', status: 200, what: 'the config-file rule', send: (c) => request(c, 'get', '/api/v1/alerts/rules', { token: c.tokens.read }), expect: (b) => assert.deepEqual(b.rules.map((r: { name: string; origin: string }) => [r.name, r.origin]), [['file-rule', 'config']]) },
  { method: 'get', path: '/api/v1/alerts/rules', status: 400, what: 'a query parameter (it takes none)', send: (c) => request(c, 'get', '/api/v1/alerts/rules?x=1', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['x']) },
  { method: 'get', path: '/api/v1/alerts/rules', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/alerts/rules') },
  { method: 'get', path: '/api/v1/alerts/rules', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/alerts/rules', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/alerts/rules', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/alerts/rules', { token: c.tokens.read }) },
  { method: 'post', path: '/api/v1/alerts/rules', status: 201, what: 'a threshold rule', send: (c) => request(c, 'post', '/api/v1/alerts/rules', { token: c.tokens.admin, json: { name: 'api-rule', devices: 'esp32-*', event_type: 'temperature', above: 100, clear: 90, for: '1m' } }), expect: (b) => assert.deepEqual([b.rule.name, b.rule.above, b.rule.clear, b.rule.for, b.rule.origin], ['api-rule', 100, 90, '1m', 'api']) },
  { method: 'post', path: '/api/v1/alerts/rules', status: 400, what: 'above and below both', send: (c) => request(c, 'post', '/api/v1/alerts/rules', { token: c.tokens.admin, json: { name: 'bad', event_type: 't', above: 1, below: 0 } }), expect: (b) => assert.match(b.error.message, /exactly one of above or below/) },
  { method: 'post', path: '/api/v1/alerts/rules', status: 400, what: 'unknown field', send: (c) => request(c, 'post', '/api/v1/alerts/rules', { token: c.tokens.admin, json: { name: 'bad', event_type: 't', above: 1, treshold: 2 } }), expect: (b) => assert.match(b.error.message, /unknown field "treshold"/) },
  { method: 'post', path: '/api/v1/alerts/rules', status: 401, what: 'no token', send: (c) => request(c, 'post', '/api/v1/alerts/rules', { json: { name: 'x', event_type: 't', above: 1 } }) },
  { method: 'post', path: '/api/v1/alerts/rules', status: 403, what: 'read scope', send: (c) => request(c, 'post', '/api/v1/alerts/rules', { token: c.tokens.read, json: { name: 'x', event_type: 't', above: 1 } }) },
  { method: 'post', path: '/api/v1/alerts/rules', status: 409, what: 'the name of a config-file rule', send: (c) => request(c, 'post', '/api/v1/alerts/rules', { token: c.tokens.admin, json: { name: 'file-rule', event_type: 't', above: 1 } }), expect: (b) => assert.equal(b.error.code, 'conflict') },
  { method: 'post', path: '/api/v1/alerts/rules', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'post', '/api/v1/alerts/rules', { token: c.fresh.admin, json: { name: 'x', event_type: 't', above: 1 } }) },
  { method: 'get', path: '/api/v1/alerts', status: 200, what: 'current states', send: (c) => request(c, 'get', '/api/v1/alerts?state=firing', { token: c.tokens.read }), expect: (b) => assert.ok(Array.isArray(b.alerts)) },
  { method: 'get', path: '/api/v1/alerts', status: 400, what: 'unknown state', send: (c) => request(c, 'get', '/api/v1/alerts?state=burning', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/alerts', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/alerts') },
  { method: 'get', path: '/api/v1/alerts', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/alerts', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/alerts', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/alerts', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/alerts/events', status: 200, what: 'history', send: (c) => request(c, 'get', '/api/v1/alerts/events?limit=10', { token: c.tokens.read }), expect: (b) => assert.ok(Array.isArray(b.events)) },
  { method: 'get', path: '/api/v1/alerts/events', status: 400, what: 'limit out of range', send: (c) => request(c, 'get', '/api/v1/alerts/events?limit=0', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/alerts/events', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/alerts/events') },
  { method: 'get', path: '/api/v1/alerts/events', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/alerts/events', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/alerts/events', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/alerts/events', { token: c.tokens.read }) },
  { method: 'delete', path: '/api/v1/alerts/rules/{name}', status: 204, what: 'the API rule made above', send: (c) => request(c, 'delete', '/api/v1/alerts/rules/api-rule', { token: c.tokens.admin }) },
  { method: 'delete', path: '/api/v1/alerts/rules/{name}', status: 400, what: 'a query parameter (it takes none)', send: (c) => request(c, 'delete', '/api/v1/alerts/rules/api-rule?force=1', { token: c.tokens.admin }), expect: (b) => unknownParams(b, ['force']) },
  { method: 'delete', path: '/api/v1/alerts/rules/{name}', status: 401, what: 'no token', send: (c) => request(c, 'delete', '/api/v1/alerts/rules/api-rule') },
  { method: 'delete', path: '/api/v1/alerts/rules/{name}', status: 403, what: 'read scope', send: (c) => request(c, 'delete', '/api/v1/alerts/rules/api-rule', { token: c.tokens.read }) },
  { method: 'delete', path: '/api/v1/alerts/rules/{name}', status: 404, what: 'no such rule (deleted above)', send: (c) => request(c, 'delete', '/api/v1/alerts/rules/api-rule', { token: c.tokens.admin }) },
  { method: 'delete', path: '/api/v1/alerts/rules/{name}', status: 409, what: 'a config-file rule', send: (c) => request(c, 'delete', '/api/v1/alerts/rules/file-rule', { token: c.tokens.admin }), expect: (b) => assert.equal(b.error.code, 'conflict') },
  { method: 'delete', path: '/api/v1/alerts/rules/{name}', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'delete', '/api/v1/alerts/rules/x', { token: c.fresh.admin }) },
  { method: 'get', path: '/api/v1/trips', status: 200, what: 'a car\'s trips and state', send: async (c) => (await driveOneTrip(c), request(c, 'get', '/api/v1/trips?device=oa-car', { token: c.tokens.read })), expect: (b) => assert.ok(b.trips.length === 1 && b.state.device_id === 'oa-car') },
  { method: 'get', path: '/api/v1/trips', status: 400, what: 'a bad time', send: (c) => request(c, 'get', '/api/v1/trips?from=yesterday', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/trips', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/trips') },
  { method: 'get', path: '/api/v1/trips', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/trips', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/trips', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/trips', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/trips/{id}', status: 200, what: 'a trip with its track', send: async (c) => request(c, 'get', `/api/v1/trips/${await driveOneTrip(c)}`, { token: c.tokens.read }), expect: (b) => assert.ok(b.track.length >= 2 && b.track.length <= 1000) },
  { method: 'get', path: '/api/v1/trips/{id}', status: 400, what: 'a query parameter (it takes none)', send: (c) => request(c, 'get', '/api/v1/trips/x?device=y', { token: c.tokens.read }), expect: (b) => unknownParams(b, ['device']) },
  { method: 'get', path: '/api/v1/trips/{id}', status: 401, what: 'no token', send: (c) => request(c, 'get', '/api/v1/trips/x') },
  { method: 'get', path: '/api/v1/trips/{id}', status: 403, what: 'ingest scope', send: (c) => request(c, 'get', '/api/v1/trips/x', { token: c.tokens.ingest }) },
  { method: 'get', path: '/api/v1/trips/{id}', status: 404, what: 'unknown id', send: (c) => request(c, 'get', '/api/v1/trips/t_nope', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/trips/{id}', status: 503, what: 'store down', outage: true, only: 'postgres', send: (c) => request(c, 'get', '/api/v1/trips/x', { token: c.tokens.read }) },
  { method: 'get', path: '/api/v1/stream', status: 101, what: 'since a log number', send: (c) => upgrade(c, `?token=${c.tokens.read}&since=0`) },
  { method: 'get', path: '/api/v1/stream', status: 400, what: 'since is not a number', send: (c) => upgrade(c, `?token=${c.tokens.read}&since=last`) },
  { method: 'get', path: '/api/v1/stream', status: 101, what: 'token in Authorization', send: (c) => upgrade(c, '?device=esp32-*', { authorization: `Bearer ${c.tokens.read}` }) },
  { method: 'get', path: '/api/v1/stream', status: 101, what: 'token as ?token=', send: (c) => upgrade(c, `?token=${c.tokens.read}&type=temperature,humidity`) },
  { method: 'get', path: '/api/v1/stream', status: 400, what: 'unknown query parameter, before the upgrade', send: (c) => upgrade(c, `?token=${c.tokens.read}&devices=esp32-*`), expect: (b) => unknownParams(b, ['devices']) },
  { method: 'get', path: '/api/v1/stream', status: 401, what: 'no token', send: (c) => upgrade(c, '') },
  { method: 'get', path: '/api/v1/stream', status: 401, what: 'revoked token', send: (c) => upgrade(c, `?token=${c.tokens.revoked}`) },
  { method: 'get', path: '/api/v1/stream', status: 403, what: 'ingest scope', send: (c) => upgrade(c, `?token=${c.tokens.ingest}`) },
];

type Doc = { paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>> };
type ResponseObject = { content?: Record<string, { schema: object }>; headers?: Record<string, { schema: { type?: string } }> };

/** A config file holding one alert rule (read-only through the API). */
function alertsFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'telehub-oa-')), 'telehub.yaml');
  writeFileSync(file, 'alerts:\n  rules:\n    - { name: file-rule, devices: "*", event_type: temperature, above: 1000 }\n');
  return file;
}

const key = (method: string, path: string, status: number | string) => `${method.toUpperCase()} ${path} ${status}`;

function documentedResponses(doc: Doc): string[] {
  return Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).flatMap(([m, op]) => Object.keys(op.responses).map((s) => key(m, p, s))));
}

/** Checks one answer against the document: status, content type, body schema, headers. */
function checkAgainstDocument(ajv: Ajv2020, doc: Doc, c: Case, got: Got, ctx: Ctx): void {
  const label = `${key(c.method, c.path, c.status)} (${c.what})`;
  assert.equal(got.status, c.status, `${label}: status; body ${got.body.slice(0, 300)}`);
  const documented = doc.paths[c.path][c.method].responses[String(c.status)];
  for (const [name, header] of Object.entries(documented.headers ?? {})) {
    const value = got.headers[name.toLowerCase()];
    assert.ok(value !== undefined, `${label}: header ${name} is present`);
    const typed = header.schema.type === 'integer' || header.schema.type === 'number' ? Number(value) : value;
    assert.ok(ajv.validate(header.schema, typed), `${label}: header ${name}: ${value}: ${ajv.errorsText()}`);
  }
  if (!documented.content) {
    assert.equal(got.body, '', `${label}: no body is documented`);
    return;
  }
  const mediaType = (got.headers['content-type'] ?? '').split(';')[0].trim();
  const media = documented.content[mediaType];
  assert.ok(media, `${label}: content type ${mediaType || '(none)'} is documented (${Object.keys(documented.content).join(', ')})`);
  const body = JSON.parse(got.body);
  const validate = ajv.compile(media.schema);
  assert.ok(validate(body), `${label}: body does not match the documented schema: ${ajv.errorsText(validate.errors)}\n${got.body.slice(0, 500)}`);
  c.expect?.(body, ctx);
}

/** Makes the store fail for real; resolves once the app has seen it. */
async function failStore(c: Ctx): Promise<{ restore: () => Promise<void> }> {
  const { app } = c;
  if (app.kind === 'sqlite') {
    // Another connection holds the write lock; the app's writes get SQLITE_BUSY
    // after its busy timeout, lowered here (the writer thread follows this connection).
    const db = (app.hub.store as unknown as { db: Database.Database }).db;
    db.pragma('busy_timeout = 20');
    const other = new Database((app.hub.store as unknown as { file: string }).file);
    other.exec('BEGIN IMMEDIATE');
    return {
      restore: async () => {
        other.exec('ROLLBACK');
        other.close();
        db.pragma('busy_timeout = 5000');
      },
    };
  }
  const name = new URL(app.db!.url).pathname.slice(1);
  const admin = async (sql: string) => {
    const u = new URL(app.db!.url);
    u.pathname = '/postgres';
    const client = new pg.Client({ connectionString: u.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
  await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
  return { restore: () => admin(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`) };
}

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('every documented response is what the app answers', () => {
  for (const kind of ['sqlite', 'postgres'] as const) {
    describe(kind, () => {
      let ctx: Ctx;
      let doc: Doc;
      let ajv: Ajv2020;
      before(async () => {
        const app = await startInProcess(kind, { TELEHUB_CONFIG: alertsFile(), TELEHUB_HTTP_MAX_BODY_BYTES: String(MAX_BODY), TELEHUB_BATCH_WAIT_MS: '1', TELEHUB_RETRY_MIN_MS: '20', TELEHUB_RETRY_MAX_MS: '100' });
        const revoked = await app.token('ingest');
        await app.hub.store.tokens.revoke(revoked.split('_')[1], Date.now());
        ctx = {
          app,
          tokens: { ingest: await app.token('ingest'), read: await app.token('read'), admin: await app.token('admin'), bound: await app.token('ingest', ['esp32-01']), revoked },
          fresh: { ingest: await app.token('ingest'), read: await app.token('read'), admin: await app.token('admin') },
          deadLetterIds: [],
        };
        // Seed data, so the 200s carry rows of every shape: device and server
        // time, number and text values, units, meta; dead letters as text and as base64.
        const seed = await request(ctx, 'post', '/ingest', {
          token: ctx.tokens.ingest,
          json: [
            ev('seed-1', 'esp32-01', { ts_device: '2026-11-22T10:00:05Z', unit: 'C', meta: { room: 'kitchen' } }),
            ev('seed-2', 'esp32-01', { ts_device: '2026-11-22T10:00:35Z' }),
            ev('seed-3', 'esp32-01', { ts_device: '2026-11-22T10:01:10Z', value: 19 }),
            ev('seed-4', 'car-1', { event_type: 'state', value: 'parked' }),
            ev('seed-5', 'car-1', { ts_device: 'yesterday' }),
          ],
        });
        assert.equal(seed.status, 202, seed.body);
        // A payload that is not UTF-8 (over MQTT; HTTP refuses the whole body): stored as base64.
        const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${app.hub.mqttPort}`, { clientId: `oas-${kind}` });
        await device.publishAsync('qs/v1/esp32-01/events', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { qos: 1 }); // PUBACK after commit
        await device.endAsync();
        const dls = await app.hub.store.queries.deadLetters({ limit: 100 });
        ctx.deadLetterIds = dls.map((d) => d.id);
        assert.deepEqual(dls.map((d) => d.payload.toString('utf8').startsWith('{') && d.payload.toString('utf8').includes('\ufffd')), [false, true], 'seed dead letters: one text, one binary');

        const res = await fetch(`${app.base}/api/openapi.json`);
        doc = (await SwaggerParser.dereference((await res.json()) as never)) as unknown as Doc;
        ajv = new Ajv2020({ strict: false, allErrors: true });
        // ajv-formats is CommonJS: its function is the module and also its `default`.
        addFormats.default(ajv);
      });
      after(() => ctx?.app.close());

      it('every documented (method, path, status) has a request in the table, and no entry is undocumented', () => {
        const documented = documentedResponses(doc);
        const tabled = new Set(CASES.map((c) => key(c.method, c.path, c.status)));
        assert.deepEqual(documented.filter((k) => !tabled.has(k)), [], 'documented responses without a request in CASES');
        assert.deepEqual([...tabled].filter((k) => !documented.includes(k)), [], 'CASES entries the document does not declare');
      });

      it('each request gets its documented response', async () => {
        let n = 0;
        for (const c of CASES.filter((c) => !c.outage && (c.only ?? kind) === kind)) {
          checkAgainstDocument(ajv, doc, c, await c.send(ctx), ctx);
          n++;
        }
        assert.ok(n > 40, `${n} requests`);
      });

      it('while the store fails: 503 with Retry-After, then everything resumes', async () => {
        const outage = await failStore(ctx);
        let restored = false;
        try {
          // A write that arrives as the store goes down waits (retried) rather than failing...
          const pending = request(ctx, 'post', '/ingest', { token: ctx.tokens.ingest, json: ev(`across-outage-${kind}`) });
          // ...and once a write has failed, new requests are refused with 503.
          await until(() => !ctx.app.hub.writer.storeHealthy, 'the writer to see the store fail');
          const cases = CASES.filter((c) => c.outage && (c.only ?? kind) === kind);
          assert.ok(cases.length >= 3);
          for (const c of cases) checkAgainstDocument(ajv, doc, c, await c.send(ctx), ctx);
          await outage.restore();
          restored = true;
          const resumed = await pending;
          assert.equal(resumed.status, 202, resumed.body);
          assert.equal(JSON.parse(resumed.body).stored, 1);
        } finally {
          if (!restored) await outage.restore();
        }
        const after = await request(ctx, 'get', '/api/v1/devices', { token: ctx.tokens.read });
        assert.equal(after.status, 200);
      });
    });
  }

});

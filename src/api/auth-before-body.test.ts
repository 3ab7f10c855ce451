/**
 * The token is checked before the body is read. A client sends a 10 MB body
 * (under the default TELEHUB_HTTP_MAX_BODY_BYTES) over a raw socket, 64 KiB
 * at a time as the socket takes it, to each route that takes a body; without
 * a valid token it must be answered 401/403 with `Connection: close`, and the
 * server's side of the connection must have read only a small part of the
 * body when it closes (Node stops reading a request stream nobody consumes,
 * so what it read is bounded by its buffers, not by the body).
 *
 * A control request with a valid token reads the whole body on the same
 * measurement, so the measurement can tell the two apart. A small body that
 * arrives whole keeps the connection usable (keep-alive).
 *
 * Run on SQLite and PostgreSQL: the 403 cases look the token up in the store.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startInProcess, type InProcessTelehub } from '../../test/helpers/inprocess.js';
import { stopTestPostgres } from '../../test/helpers/postgres.js';

after(() => stopTestPostgres());

const BODY = 10_000_000;
/** Far below the body: what Node may read ahead before it stops (a few 64 KiB chunks). */
const READ_BOUND = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x20); // spaces: whitespace-only JSON is unreadable, so nothing gets stored

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Bytes the server's socket had read when it closed. */
  serverBytesRead: number;
  /** Whether the client was still sending when the answer's headers arrived. */
  answeredMidBody: boolean;
}

/** Sockets of the app's HTTP server by the client's port, so the test can read the server side's counters. */
function serverSockets(app: InProcessTelehub): Map<number, net.Socket> {
  const byPort = new Map<number, net.Socket>();
  app.hub.http.server.on('connection', (s: net.Socket) => byPort.set(s.remotePort!, s));
  return byPort;
}

/** Reads one HTTP/1.1 response (headers, then content-length bytes) from what arrived so far. */
function parseResponse(raw: Buffer): { status: number; headers: Record<string, string>; body: string } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const length = Number(headers['content-length'] ?? 0);
  if (raw.length < end + 4 + length) return undefined;
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.subarray(end + 4, end + 4 + length).toString('utf8') };
}

/**
 * POSTs a BODY-byte body over a raw socket, sending it as the socket takes
 * it, until the whole body is sent or the server has answered or closed.
 * Resolves once both sides of the connection are closed.
 */
async function postBigBody(app: InProcessTelehub, sockets: Map<number, net.Socket>, path: string, headers: Record<string, string>, size = BODY): Promise<Answer> {
  const client = net.connect(app.hub.httpPort, '127.0.0.1');
  await once(client, 'connect');
  const server = sockets.get(client.localPort!);
  assert.ok(server, 'the server side of the connection is known');
  // Not events.once: it rejects on 'error', and EPIPE/ECONNRESET are expected here.
  const serverClosed = new Promise((resolve) => server.once('close', resolve));
  const clientClosed = new Promise((resolve) => client.once('close', resolve));
  let raw = Buffer.alloc(0);
  let answered = false;
  let answeredMidBody = false;
  let sent = 0;
  client.on('data', (d: Buffer) => {
    raw = Buffer.concat([raw, d]);
    if (!answered && raw.includes('\r\n\r\n')) {
      answered = true;
      answeredMidBody = sent < size;
    }
  });
  client.on('error', () => {}); // EPIPE/ECONNRESET once the server closes mid-body: expected
  const head = Object.entries({ host: '127.0.0.1', 'content-length': String(size), ...headers }).map(([k, v]) => `${k}: ${v}`);
  client.write(`POST ${path} HTTP/1.1\r\n${head.join('\r\n')}\r\n\r\n`);
  while (sent < size && !answered && !client.destroyed) {
    const n = Math.min(CHUNK.length, size - sent);
    sent += n;
    if (!client.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
      // Wait for room, for the answer, or for the close, whichever comes first.
      await new Promise<void>((resolve) => {
        const done = () => {
          client.off('drain', done).off('data', done).off('close', done);
          resolve();
        };
        client.on('drain', done).on('data', done).on('close', done);
      });
    }
  }
  // Read the answer; if the server keeps the connection open (keep-alive), end it from this side.
  while (!parseResponse(raw) && !client.destroyed) await Promise.race([new Promise((resolve) => client.once('data', resolve)), clientClosed]);
  const res = parseResponse(raw);
  assert.ok(res, `an HTTP answer arrived: ${raw.subarray(0, 200).toString('latin1')}`);
  if (res.headers.connection !== 'close') client.end();
  await Promise.all([serverClosed, clientClosed]);
  return { ...res, serverBytesRead: server.bytesRead, answeredMidBody };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`the token is checked before the body is read (${kind})`, { timeout: 120_000 }, () => {
    let app: InProcessTelehub;
    let sockets: Map<number, net.Socket>;
    const tokens = { ingest: '', read: '', admin: '' };
    before(async () => {
      app = await startInProcess(kind);
      sockets = serverSockets(app);
      tokens.ingest = await app.token('ingest');
      tokens.read = await app.token('read');
      tokens.admin = await app.token('admin');
    });
    after(() => app?.close());

    const refused: { route: string; status: number; code: string; headers: () => Record<string, string> }[] = [
      { route: '/ingest', status: 401, code: 'unauthorized', headers: () => ({ 'content-type': 'application/json' }) },
      { route: '/ingest', status: 403, code: 'forbidden', headers: () => ({ 'content-type': 'application/json', authorization: `Bearer ${tokens.read}` }) },
      { route: '/api/v2/write?org=o&bucket=b', status: 401, code: 'unauthorized', headers: () => ({ 'content-type': 'text/plain' }) },
      { route: '/api/v2/write', status: 403, code: 'forbidden', headers: () => ({ 'content-type': 'text/plain', authorization: `Token ${tokens.read}` }) },
      { route: '/write?db=x', status: 401, code: 'unauthorized', headers: () => ({ 'content-type': 'text/plain', authorization: `Basic ${Buffer.from('u:wrong').toString('base64')}` }) },
      { route: `/write?db=x&p=PLACEHOLDER`, status: 403, code: 'forbidden', headers: () => ({ 'content-type': 'text/plain' }) },
      { route: '/api/v1/deadletters/replay', status: 401, code: 'unauthorized', headers: () => ({ 'content-type': 'application/json' }) },
      { route: '/api/v1/deadletters/replay', status: 403, code: 'forbidden', headers: () => ({ 'content-type': 'application/json', authorization: `Bearer ${tokens.ingest}` }) },
    ];
    for (const c of refused) {
      it(`POST ${c.route.split('?')[0]} → ${c.status} with a 10 MB body unread`, async () => {
        const route = c.route.replace('PLACEHOLDER', tokens.read);
        const a = await postBigBody(app, sockets, route, c.headers());
        assert.equal(a.status, c.status, a.body);
        const body = JSON.parse(a.body);
        assert.equal(body.error?.code ?? body.code, c.code, a.body);
        assert.ok(a.serverBytesRead < READ_BOUND, `the server read ${a.serverBytesRead} bytes of a ${BODY}-byte body`);
        assert.ok(a.answeredMidBody, 'answered while the body was still being sent');
        assert.equal(a.headers.connection, 'close', 'the server closes instead of reading the rest');
      });
    }

    it('control: with a valid token the same body is read whole (the measurement sees a read body)', async () => {
      // Spaces are not JSON: read whole, then refused 400 by the JSON parser.
      const a = await postBigBody(app, sockets, '/api/v1/deadletters/replay', { 'content-type': 'application/json', authorization: `Bearer ${tokens.admin}` });
      assert.equal(a.status, 400, a.body);
      assert.ok(a.serverBytesRead >= BODY, `the server read ${a.serverBytesRead} bytes`);
    });

    it('a body over TELEHUB_HTTP_MAX_BODY_BYTES by its Content-Length → 413, unread, with a valid token', async () => {
      const size = 11 * 1024 * 1024; // the default limit is 10 MiB
      for (const [route, headers] of [
        ['/ingest', { 'content-type': 'application/json', authorization: `Bearer ${tokens.ingest}` }],
        ['/api/v2/write', { 'content-type': 'text/plain', authorization: `Token ${tokens.ingest}` }],
      ] as const) {
        const a = await postBigBody(app, sockets, route, headers, size);
        assert.equal(a.status, 413, a.body);
        assert.ok(a.serverBytesRead < READ_BOUND, `${route}: the server read ${a.serverBytesRead} bytes of a ${size}-byte body`);
        assert.equal(a.headers.connection, 'close', route);
      }
    });

    it('a small body refused 401 leaves the connection open for the next request', async () => {
      const client = net.connect(app.hub.httpPort, '127.0.0.1');
      await once(client, 'connect');
      let raw = Buffer.alloc(0);
      client.on('data', (d: Buffer) => (raw = Buffer.concat([raw, d])));
      const body = '{"schema":1,"event_id":"k-1","device_id":"d","event_type":"t"}';
      client.write(`POST /ingest HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      while (!parseResponse(raw)) await once(client, 'data');
      const first = parseResponse(raw)!;
      assert.equal(first.status, 401);
      assert.notEqual(first.headers.connection, 'close');
      raw = Buffer.alloc(0);
      client.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      while (!parseResponse(raw)) await once(client, 'data');
      assert.equal(parseResponse(raw)!.status, 200, 'the same connection answered the next request');
      client.end();
      await once(client, 'close');
      const events = await app.hub.store.queries.events({ limit: 10 });
      assert.deepEqual(events, [], 'nothing was stored by the refused requests');
    });
  });
}

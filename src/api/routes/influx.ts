/**
 * InfluxDB-compatible write endpoints: `POST /api/v2/write` (Telegraf's
 * outputs.influxdb_v2, InfluxDB client libraries) and v1 `POST /write`
 * (outputs.influxdb). Errors use InfluxDB's body shape, `{"code","message"}`.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { InfluxWrite } from '../../sources/http-ingest/influx.js';
import type { TokenAuth } from '../auth.js';
import { ApiError, closeIfBodyUnread } from '../errors.js';
import { acceptGzip } from './ingest.js';

const InfluxError = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const;

/** v1 clients send the token as `?p=`, as Basic auth's password, or as `Authorization: Token`. */
function v1Token(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && /^basic /i.test(h)) {
    const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  const p = (req.query as Record<string, unknown>).p;
  return typeof p === 'string' ? p : undefined;
}

/** InfluxDB's error codes for the statuses these routes answer. */
const INFLUX_CODES: Record<number, string> = { 401: 'unauthorized', 403: 'forbidden', 413: 'request too large', 503: 'unavailable' };

export const registerInfluxRoutes: FastifyPluginAsync<{ auth: TokenAuth; influx: InfluxWrite }> = async (app, { auth, influx }) => {
  acceptGzip(app);
  // Errors here (token, readiness, validation, body too large, bad encoding) in InfluxDB's shape.
  app.setErrorHandler((err, req, reply) => {
    closeIfBodyUnread(req, reply);
    const e = err as { statusCode?: number; validation?: unknown; code?: string; message: string };
    const status = e instanceof ApiError ? e.statusCode : e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 413 : e.validation ? 400 : (e.statusCode ?? 500);
    if (e instanceof ApiError && e.headers) reply.headers(e.headers);
    const code = INFLUX_CODES[status] ?? (status < 500 ? 'invalid' : 'internal error');
    if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '5');
    reply.code(status).send({ code, message: status < 500 || status === 503 ? e.message : 'internal error' });
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const handle = (route: string) => async (req: FastifyRequest, reply: import('fastify').FastifyReply) => {
    const q = req.query as Record<string, string | undefined>;
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    const answer = await influx.write(body, q.precision, route, auth.tokenOf(req));
    if (answer.statusCode === 204) return reply.code(204).send();
    if (answer.headers) reply.headers(answer.headers);
    return reply.code(answer.statusCode).send(answer.body);
  };

  // Readiness and the token are checked before the body is read (TokenAuth.hook).
  const ready = () => influx.isReady();
  const responses = { 204: { type: 'null', description: 'Every line was written' }, 400: InfluxError, 401: InfluxError, 403: InfluxError, 413: InfluxError, 503: InfluxError };
  app.post(
    '/api/v2/write',
    {
      schema: {
        summary: 'Write InfluxDB line protocol (v2 API)',
        description: 'Each field of each line becomes an event (see the line-protocol mapping). `org`, `orgID` and `bucket` are accepted and ignored; other query parameters are refused (400). Lines that fail are dead-lettered; the others are written (400 partial write).',
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          properties: { org: { type: 'string' }, orgID: { type: 'string' }, bucket: { type: 'string' }, precision: { type: 'string', enum: ['ns', 'us', 'ms', 's'] } },
        },
        response: responses,
      },
      onRequest: auth.hook('ingest', { ready }),
    },
    handle('POST /api/v2/write'),
  );
  app.post(
    '/write',
    {
      schema: {
        summary: 'Write InfluxDB line protocol (v1 API)',
        description: 'v1-compatible write. The token may be given as `p`, as the password of Basic auth, or as `Authorization: Token`. `db`, `rp`, `consistency` and `u` are accepted and ignored; other query parameters are refused (400).',
        querystring: {
          type: 'object',
          properties: { db: { type: 'string' }, rp: { type: 'string' }, consistency: { type: 'string' }, u: { type: 'string' }, p: { type: 'string' }, precision: { type: 'string', enum: ['n', 'ns', 'u', 'us', 'ms', 's', 'm', 'h'] } },
        },
        response: responses,
      },
      // v1 clients' token: `?p=`, Basic auth's password, else the Authorization header.
      onRequest: auth.hook('ingest', { ready, presented: v1Token }),
    },
    handle('POST /write'),
  );
};

/**
 * `POST /ingest`: seed-001 events over HTTP (one object, a JSON array, or
 * NDJSON; gzip bodies accepted). 202 after commit with a result per event.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { createGunzip } from 'node:zlib';
import type { HttpIngest } from '../../sources/http-ingest/index.js';
import type { TokenAuth } from '../auth.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, IngestAnswerSchema } from '../schemas.js';

const BODY_TYPES = ['application/json', 'application/x-ndjson', 'application/ndjson', 'application/jsonl'];

/**
 * Decompresses gzip request bodies. Fastify applies bodyLimit to what this
 * returns (via receivedEncodedLength), so a zip bomb is cut at the limit.
 */
export function acceptGzip(app: FastifyInstance): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    const enc = (req.headers['content-encoding'] ?? 'identity').toString().toLowerCase();
    if (enc === 'identity') return payload;
    if (enc !== 'gzip' && enc !== 'x-gzip') throw new ApiError(415, 'unsupported_media_type', `Content-Encoding ${enc} is not supported (gzip or identity)`);
    const unzip = createGunzip();
    Object.defineProperty(unzip, 'receivedEncodedLength', { get: () => unzip.bytesWritten });
    payload.on('error', (err) => unzip.destroy(err));
    unzip.on('error', () => {});
    payload.pipe(unzip);
    return unzip;
  });
}

export const registerIngestRoutes: FastifyPluginAsync<{ auth: TokenAuth; ingest: HttpIngest }> = async (app, { auth, ingest }) => {
  acceptGzip(app);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(BODY_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('*', (req, _payload, done) => {
    done(new ApiError(415, 'unsupported_media_type', `Content-Type ${req.headers['content-type'] ?? '(none)'} is not accepted; use application/json or application/x-ndjson`), undefined);
  });

  app.post(
    '/ingest',
    {
      schema: {
        summary: 'Ingest seed-001 events',
        description:
          'One event object, a JSON array of events, or NDJSON (Content-Type: application/x-ndjson). Content-Encoding: gzip accepted. Answers after the events are committed: 202 with a result per event, 400 when every event was refused (each is dead-lettered).',
        security: [{ bearer: [] }],
        consumes: BODY_TYPES,
        response: {
          202: IngestAnswerSchema,
          400: { oneOf: [IngestAnswerSchema, ErrorSchema] },
          401: ErrorSchema,
          403: ErrorSchema,
          413: ErrorSchema,
          415: ErrorSchema,
          503: ErrorSchema,
        },
      },
      // Readiness and the token are checked before the body is read.
      onRequest: auth.hook('ingest', { ready: () => ingest.isReady() }),
    },
    async (req, reply) => {
      const answer = await ingest.ingest(req.body as Buffer, req.headers['content-type'], auth.tokenOf(req));
      return reply.code(answer.statusCode).send(answer.body);
    },
  );
};

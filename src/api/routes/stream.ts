/**
 * `GET /api/v1/stream` (WebSocket): stored events as JSON, one message per
 * event, read from the commit log as they are committed, each with its log
 * number `seq`, filtered by device and type glob patterns
 * (`?device=esp32-*,car-1&type=temperature`). `?since=<seq>` first sends the
 * events committed after that number (a client that reconnects passes the
 * last `seq` it got), then goes on live, with no gap and no duplicate. The token comes in the
 * Authorization header or, for browsers, `?token=`. A client whose send
 * buffer passes TELEHUB_STREAM_MAX_BUFFER_BYTES is closed with code 4008.
 */
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { LiveHub } from '../../sinks/live/hub.js';
import type { TokenAuth } from '../auth.js';
import { ErrorSchema } from '../schemas.js';

const StreamQuery = Type.Object({
  device: Type.Optional(Type.String({ description: 'Comma-separated device id patterns (`*` matches any run of characters)' })),
  type: Type.Optional(Type.String({ description: 'Comma-separated event type patterns' })),
  token: Type.Optional(Type.String({ description: 'For browsers, which cannot set headers on a WebSocket' })),
  since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Send the events with a log number (`seq`) above this first, then live ones. 0: the whole log.' })),
});

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

export const registerStreamRoutes: FastifyPluginAsync<{ auth: TokenAuth; hub: LiveHub }> = async (app, { auth, hub }) => {
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  app.get<{ Querystring: Static<typeof StreamQuery> }>(
    '/api/v1/stream',
    {
      websocket: true,
      schema: {
        summary: 'Live stream of stored events (WebSocket)',
        description:
          'Each message is one stored event as JSON: `seq` (its commit log number) and the events row. With `since`, the events after that number come first, then live ones. Close code 4008: the client read too slowly and its send buffer overflowed.',
        security: [{ bearer: [] }],
        querystring: StreamQuery,
        response: {
          101: { type: 'null', description: 'Switching Protocols: the WebSocket is open. Requires the WebSocket upgrade headers; a plain GET is answered 404.' },
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
        },
      },
      // Authenticate before the upgrade, so a bad token gets a plain 401/403
      // (and an unknown query parameter a plain 400: query-params.ts).
      onRequest: auth.hook('read', { allowQuery: true }),
    },
    (socket, req) => {
      const remove = hub.add(socket, { devices: list(req.query.device), types: list(req.query.type) }, req.query.since);
      socket.on('close', remove);
      socket.on('error', remove);
      // Clients only listen; anything they send is ignored.
      socket.on('message', () => {});
    },
  );
};

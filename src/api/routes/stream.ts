/**
 * `GET /api/v1/stream` (WebSocket): stored events as JSON, one message per
 * event, as they are committed, filtered by device and type glob patterns
 * (`?device=esp32-*,car-1&type=temperature`). The token comes in the
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
        description: 'Each message is one stored event as JSON (the events row). Close code 4008: the client read too slowly and its send buffer overflowed.',
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
      const remove = hub.add(socket, { devices: list(req.query.device), types: list(req.query.type) });
      socket.on('close', remove);
      socket.on('error', remove);
      // Clients only listen; anything they send is ignored.
      socket.on('message', () => {});
    },
  );
};

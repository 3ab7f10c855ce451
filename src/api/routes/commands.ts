/**
 * Commands to devices (src/commands/): sending and cancelling need an
 * `admin` token (a command acts on the physical world; a separate scope can
 * come later without changing the routes), reading needs `read`.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { CommandDispatcher } from '../../commands/dispatcher.js';
import { storeUnavailable } from '../../core/http-error.js';
import type { CommandRecord, CommandRepository } from '../../storage/commands.js';
import { COMMAND_STATES } from '../../storage/commands.js';
import type { TokenAuth } from '../auth.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas.js';

/** A device id that is one MQTT topic level (it becomes iot/node/{id}/command). */
const DeviceParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^/+#\\u0000]+$' }) });
const CommandParams = Type.Object({ command_id: Type.String({ minLength: 1, maxLength: 64 }) });
const NewCommandBody = Type.Object(
  {
    command: Type.String({ minLength: 1, maxLength: 200 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Passed to the node as given' })),
    ttl_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000, description: 'Seconds until it expires; default TELEHUB_COMMAND_TTL_S' })),
  },
  { additionalProperties: false },
);
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);
const CommandSchema = Type.Object({
  command_id: Type.String(),
  device_id: Type.String(),
  command: Type.String(),
  params: Type.Unknown(),
  state: Type.Union(COMMAND_STATES.map((s) => Type.Literal(s)), { description: 'queued, sent, delivered, succeeded, failed, expired or cancelled' }),
  attempts: Type.Integer({ description: 'How many times it was published (same command_id each time)' }),
  queued_at: Type.String({ format: 'date-time' }),
  sent_at: Time,
  delivered_at: Time,
  finished_at: Time,
  expires_at: Type.String({ format: 'date-time' }),
  cause: Type.Union([Type.String({ description: 'node (the node said failed), timeout, ttl or cancelled' }), Type.Null()]),
  result: Type.Unknown({ description: "The node's result, or null" }),
});
const CommandList = Type.Object({ commands: Type.Array(CommandSchema) });
const ListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) });

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** A command as the API and the CLI show it. */
export function commandToJson(c: CommandRecord): Static<typeof CommandSchema> {
  return {
    command_id: c.commandId,
    device_id: c.deviceId,
    command: c.command,
    params: JSON.parse(c.params) as unknown,
    state: c.state as never,
    attempts: c.attempts,
    queued_at: new Date(c.queuedAt).toISOString(),
    sent_at: iso(c.sentAt),
    delivered_at: iso(c.deliveredAt),
    finished_at: iso(c.finishedAt),
    expires_at: new Date(c.expiresAt).toISOString(),
    cause: c.cause,
    result: c.result === null ? null : (JSON.parse(c.result) as unknown),
  };
}

export const registerCommandRoutes: FastifyPluginAsync<{ auth: TokenAuth; commands: CommandDispatcher; repo: CommandRepository; isRetriable: (err: unknown) => boolean }> = async (
  app,
  { auth, commands, repo, isRetriable },
) => {
  const errors = { 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema };
  const store = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err) => {
      throw isRetriable(err) ? storeUnavailable() : err;
    });
  const security = [{ bearer: [] }];

  app.post<{ Params: Static<typeof DeviceParams>; Body: Static<typeof NewCommandBody> }>(
    '/api/v1/devices/:id/commands',
    {
      onRequest: auth.hook('admin'),
      // Fastify's Ajv strips unknown properties instead of refusing them; a
      // misspelt `ttl` must not silently become the default expiry.
      preValidation: async (req) => {
        const body = req.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
        const unknown = Object.keys(body).filter((k) => !(k in NewCommandBody.properties));
        if (unknown.length > 0) throw new ApiError(400, 'invalid_request', `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the body takes command, params, ttl_s`);
      },
      schema: {
        summary: 'Send a command to a device',
        description: 'Stored (`queued`) before the answer; published to `iot/node/{id}/command` as `{"command","params","command_id"}`, one command at a time per device, in order, resent with the same `command_id` until the node answers on its status topic.',
        security,
        params: DeviceParams,
        body: NewCommandBody,
        response: { 201: CommandSchema, 400: ErrorSchema, ...errors },
      },
    },
    async (req, reply) => {
      const c = await store(commands.submit({ deviceId: req.params.id, command: req.body.command, params: req.body.params ?? {}, ttlS: req.body.ttl_s }));
      return reply.code(201).send(commandToJson(c));
    },
  );

  app.get<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof ListQuery> }>(
    '/api/v1/devices/:id/commands',
    { onRequest: auth.hook('read'), schema: { summary: "A device's commands, newest first", security, params: DeviceParams, querystring: ListQuery, response: { 200: CommandList, 400: ErrorSchema, ...errors } } },
    async (req) => ({ commands: (await store(repo.listByDevice(req.params.id, req.query.limit ?? 100))).map(commandToJson) }),
  );

  app.get<{ Params: Static<typeof CommandParams> }>(
    '/api/v1/commands/:command_id',
    { onRequest: auth.hook('read'), schema: { summary: 'One command and its lifecycle', security, params: CommandParams, response: { 200: CommandSchema, 404: ErrorSchema, ...errors } } },
    async (req) => {
      const c = await store(repo.get(req.params.command_id));
      if (!c) throw new ApiError(404, 'not_found', `no command ${req.params.command_id}`);
      return commandToJson(c);
    },
  );

  app.delete<{ Params: Static<typeof CommandParams> }>(
    '/api/v1/commands/:command_id',
    {
      onRequest: auth.hook('admin'),
      schema: {
        summary: 'Cancel a command not yet answered',
        description: 'A cancelled command is not published again; one already sent may still have reached the node.',
        security,
        params: CommandParams,
        response: { 200: CommandSchema, 404: ErrorSchema, 409: ErrorSchema, ...errors },
      },
    },
    async (req) => {
      const r = await store(commands.cancel(req.params.command_id));
      if (!r) throw new ApiError(404, 'not_found', `no command ${req.params.command_id}`);
      if (!r.cancelled) throw new ApiError(409, 'command_ended', `command ${req.params.command_id} has already ended (${r.record.state})`, commandToJson(r.record));
      return commandToJson(r.record);
    },
  );
};

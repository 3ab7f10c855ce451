/**
 * Query API (read scope): stored events and dead letters, paged by a keyset
 * cursor so a page never skips or repeats a row while data keeps arriving.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { parseIsoTimestamp } from '../../codecs/seed001-json/timestamp.js';
import { deadLetterToJson } from '../../core/event.js';
import { eventToJson } from '../../sinks/live/hub.js';
import type { Store } from '../../storage/store.js';
import type { DeadLetterReplay } from '../../sources/http-ingest/replay.js';
import type { TokenAuth } from '../auth.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas.js';
import { storeUnavailable } from '../../core/http-error.js';

const TimeParam = Type.String({ description: 'ISO-8601 date-time or epoch milliseconds' });
const EventsQuery = Type.Object({
  device: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  from: Type.Optional(TimeParam),
  to: Type.Optional(TimeParam),
  cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000 })),
});
const DeadLettersQuery = Type.Object({
  reason: Type.Optional(Type.String()),
  from: Type.Optional(TimeParam),
  to: Type.Optional(TimeParam),
  cursor: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000 })),
});
const EventRow = Type.Object({
  event_id: Type.String(),
  device_id: Type.String(),
  schema: Type.Integer(),
  event_type: Type.String(),
  value_num: Type.Union([Type.Number(), Type.Null()]),
  value_text: Type.Union([Type.String(), Type.Null()]),
  unit: Type.Union([Type.String(), Type.Null()]),
  ts_device: Type.Union([Type.String(), Type.Null()]),
  ts_server: Type.String(),
  meta: Type.Record(Type.String(), Type.Unknown()),
});
const EventsPage = Type.Object({ events: Type.Array(EventRow), next_cursor: Type.Union([Type.String(), Type.Null()]) });
const DeadLetterRow = Type.Object({
  id: Type.Integer(),
  schema: Type.Integer(),
  reason: Type.String(),
  message: Type.String(),
  topic: Type.String(),
  device_id: Type.Union([Type.String(), Type.Null()]),
  source: Type.String(),
  payload: Type.String(),
  payload_encoding: Type.String(),
  received_at: Type.String(),
});
const DeadLettersPage = Type.Object({ deadletters: Type.Array(DeadLetterRow), next_cursor: Type.Union([Type.String(), Type.Null()]) });

const SeriesQuery = Type.Object({
  device: Type.String(),
  type: Type.String(),
  from: TimeParam,
  to: TimeParam,
  bucket: Type.String({ pattern: '^[0-9]+[smhd]$', description: 'Bucket width from 1s to 1d, e.g. 10s, 1m, 5m, 1h, 1d' }),
});
const SeriesPage = Type.Object({
  device: Type.String(),
  type: Type.String(),
  bucket_seconds: Type.Integer(),
  buckets: Type.Array(
    Type.Object({ time: Type.String(), count: Type.Integer(), avg: Type.Number(), min: Type.Number(), max: Type.Number(), first: Type.Number(), last: Type.Number() }),
  ),
});
const DevicesPage = Type.Object({
  devices: Type.Array(Type.Object({ device_id: Type.String(), first_seen: Type.String(), last_seen: Type.String(), events: Type.Integer() })),
});
const ReplayBody = Type.Object(
  {
    ids: Type.Optional(Type.Array(Type.Integer(), { maxItems: 1000 })),
    reason: Type.Optional(Type.String()),
    from: Type.Optional(TimeParam),
    to: Type.Optional(TimeParam),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);
const ReplayAnswer = Type.Object({
  results: Type.Array(
    Type.Object({
      id: Type.Integer(),
      status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate'), Type.Literal('rejected'), Type.Literal('skipped')]),
      event_id: Type.Optional(Type.String()),
      reason: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
    }),
  ),
});
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_BUCKETS = 100_000;

function time(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (/^-?\d{1,15}$/.test(v)) return Number(v);
  const ms = parseIsoTimestamp(v);
  if (ms === undefined) throw new ApiError(400, 'invalid_request', `${name} must be an ISO-8601 date-time or epoch milliseconds`);
  return ms;
}

function decodeCursor<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (check(v)) return v;
  } catch {
    // fall through
  }
  throw new ApiError(400, 'invalid_request', 'cursor is not one this API returned');
}
const encodeCursor = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export const registerQueryRoutes: FastifyPluginAsync<{ auth: TokenAuth; store: Store; replay?: DeadLetterReplay }> = async (app, { auth, store, replay }) => {
  const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema };
  // A store that is down or restarting answers 503 (with Retry-After), not 500.
  const read = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err) => {
      throw store.isRetriable(err) ? storeUnavailable() : err;
    });

  app.get<{ Querystring: Static<typeof EventsQuery> }>(
    '/api/v1/events',
    { schema: { summary: 'Stored events, oldest first', description: 'Time is ts_device, or ts_server when the device sent none. `from` inclusive, `to` exclusive.', security: [{ bearer: [] }], querystring: EventsQuery, response: { 200: EventsPage, ...errors } } },
    async (req, reply) => {
      await auth.require(req, 'read');
      const q = req.query;
      const limit = q.limit ?? 1000;
      const after = decodeCursor(q.cursor, (v): v is [number, string] => Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string');
      const rows = await read(store.queries.events({ deviceId: q.device, eventType: q.type, from: time('from', q.from), to: time('to', q.to), after: after && { time: after[0], eventId: after[1] }, limit }));
      const last = rows[rows.length - 1];
      // Rows go out as the pre-serialised JSON the live stream uses.
      const body = `{"events":[${rows.map(eventToJson).join(',')}],"next_cursor":${rows.length === limit ? JSON.stringify(encodeCursor([last.time, last.eventId])) : 'null'}}`;
      return reply.type('application/json').serializer((p) => p as string).send(body);
    },
  );

  app.get(
    '/api/v1/devices',
    // No parameters, so nothing to refuse with 400.
    { schema: { summary: 'Devices with stored events', description: 'First and last seen (server time) and event count per device.', security: [{ bearer: [] }], response: { 200: DevicesPage, 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema } } },
    async (req) => {
      await auth.require(req, 'read');
      const devices = await read(store.queries.devices());
      return { devices: devices.map((d) => ({ device_id: d.deviceId, first_seen: new Date(d.firstSeen).toISOString(), last_seen: new Date(d.lastSeen).toISOString(), events: d.events })) };
    },
  );

  app.get<{ Querystring: Static<typeof SeriesQuery> }>(
    '/api/v1/series',
    {
      schema: {
        summary: 'A time series in buckets',
        description: 'avg, min, max, count, first and last of value_num per bucket, for one device and event type. Buckets without events are omitted.',
        security: [{ bearer: [] }],
        querystring: SeriesQuery,
        response: { 200: SeriesPage, ...errors },
      },
    },
    async (req) => {
      await auth.require(req, 'read');
      const q = req.query;
      const m = /^([0-9]+)([smhd])$/.exec(q.bucket)!;
      const bucketMs = Number(m[1]) * UNIT_MS[m[2]];
      if (bucketMs < 1000 || bucketMs > 86_400_000) throw new ApiError(400, 'invalid_request', 'bucket must be between 1s and 1d');
      const from = time('from', q.from)!;
      const to = time('to', q.to)!;
      if (to <= from) throw new ApiError(400, 'invalid_request', 'to must be after from');
      if ((to - from) / bucketMs > MAX_BUCKETS) throw new ApiError(400, 'invalid_request', `at most ${MAX_BUCKETS} buckets per request; widen the bucket or narrow the range`);
      const buckets = await read(store.queries.series({ deviceId: q.device, eventType: q.type, from, to, bucketMs }));
      return {
        device: q.device,
        type: q.type,
        bucket_seconds: bucketMs / 1000,
        buckets: buckets.map((b) => ({ time: new Date(b.bucket).toISOString(), count: b.count, avg: b.avg, min: b.min, max: b.max, first: b.first, last: b.last })),
      };
    },
  );

  app.get<{ Querystring: Static<typeof DeadLettersQuery> }>(
    '/api/v1/deadletters',
    { schema: { summary: 'Dead letters, oldest first', description: 'Filter by reason code and received time; payload as UTF-8 text or base64.', security: [{ bearer: [] }], querystring: DeadLettersQuery, response: { 200: DeadLettersPage, ...errors } } },
    async (req) => {
      await auth.require(req, 'read');
      const q = req.query;
      const limit = q.limit ?? 1000;
      const afterId = decodeCursor(q.cursor, (v): v is number => Number.isInteger(v));
      const rows = await read(store.queries.deadLetters({ reason: q.reason, from: time('from', q.from), to: time('to', q.to), afterId, limit }));
      return {
        deadletters: rows.map((d) => ({ id: d.id, ...deadLetterToJson(d, { full: true }) })),
        next_cursor: rows.length === limit ? encodeCursor(rows[rows.length - 1].id) : null,
      };
    },
  );

  if (replay) {
    app.post<{ Body: Static<typeof ReplayBody> }>(
      '/api/v1/deadletters/replay',
      {
        schema: {
          summary: 'Replay dead letters through the pipeline',
          description: 'Selects dead letters by ids, or by reason and received time (oldest first, up to limit), and ingests their payloads again. Each ends stored, duplicate, rejected (dead-lettered again, source replay) or skipped. Needs an admin token.',
          security: [{ bearer: [] }],
          body: ReplayBody,
          response: { 200: ReplayAnswer, ...errors },
        },
      },
      async (req) => {
        await auth.require(req, 'admin');
        const b = req.body;
        if (b.ids === undefined && b.reason === undefined && b.from === undefined) {
          throw new ApiError(400, 'invalid_request', 'select dead letters with ids, or with reason and/or from/to');
        }
        const dls = await read(store.queries.deadLetters({ ids: b.ids, reason: b.reason, from: time('from', b.from), to: time('to', b.to), limit: b.ids?.length || (b.limit ?? 100) }));
        return { results: await replay.replay(dls) };
      },
    );
  }
};

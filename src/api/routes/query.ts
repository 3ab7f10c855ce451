/**
 * Query API (read scope): stored events and dead letters, paged by a keyset
 * cursor so a page never skips or repeats a row while data keeps arriving.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { deadLetterToJson } from '../../core/event.js';
import { eventToJson } from '../../sinks/live/hub.js';
import type { Store } from '../../storage/store.js';
import type { DeadLetterReplay } from '../../sources/http-ingest/replay.js';
import type { TokenAuth } from '../auth.js';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas.js';
import { storeUnavailable } from '../../core/http-error.js';
import { AUTO_BUCKETS_LABEL, parseRange, resolveSeriesRange, TARGET_POINTS } from '../time-range.js';

const TIME = 'ISO-8601 date-time (UTC when it has no offset), a date alone (YYYY-MM-DD: UTC midnight), or epoch milliseconds';
const TimeParam = Type.String({ description: TIME });
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
  from: Type.Optional(Type.String({ description: `${TIME}. Default: 24 h before to` })),
  to: Type.Optional(Type.String({ description: `${TIME}. Default: now` })),
  bucket: Type.Optional(
    Type.String({
      pattern: '^[0-9]+[smhd]$',
      description: `Bucket width from 1s to 1d, e.g. 10s, 1m, 5m, 1h, 1d. Default: the smallest of ${AUTO_BUCKETS_LABEL} that gives at most ${TARGET_POINTS} buckets (1d beyond ${TARGET_POINTS} days)`,
    }),
  ),
});
const SeriesPage = Type.Object({
  device: Type.String(),
  type: Type.String(),
  from: Type.String({ description: 'The range used (inclusive), after defaults' }),
  to: Type.String({ description: 'The range used (exclusive), after defaults' }),
  bucket_seconds: Type.Integer(),
  buckets: Type.Array(
    Type.Object({ time: Type.String(), count: Type.Integer(), avg: Type.Number(), min: Type.Number(), max: Type.Number(), first: Type.Number(), last: Type.Number() }),
  ),
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
      status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate'), Type.Literal('conflict'), Type.Literal('rejected'), Type.Literal('skipped')]),
      event_id: Type.Optional(Type.String()),
      reason: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
    }),
  ),
});
const MAX_BUCKETS = 100_000;

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
  // Authenticated in onRequest, before any body is read (TokenAuth.hook).
  const readScope = auth.hook('read');
  // A store that is down or restarting answers 503 (with Retry-After), not 500.
  const read = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err) => {
      throw store.isRetriable(err) ? storeUnavailable() : err;
    });

  app.get<{ Querystring: Static<typeof EventsQuery> }>(
    '/api/v1/events',
    { onRequest: readScope, schema: { summary: 'Stored events, oldest first', description: 'Time is ts_device, or ts_server when the device sent none. `from` inclusive, `to` exclusive; `from` after `to` is refused.', security: [{ bearer: [] }], querystring: EventsQuery, response: { 200: EventsPage, ...errors } } },
    async (req, reply) => {
      const q = req.query;
      const limit = q.limit ?? 1000;
      const { from, to } = parseRange(q);
      const after = decodeCursor(q.cursor, (v): v is [number, string] => Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string');
      const rows = await read(store.queries.events({ deviceId: q.device, eventType: q.type, from, to, after: after && { time: after[0], eventId: after[1] }, limit }));
      const last = rows[rows.length - 1];
      // Rows go out as the pre-serialised JSON the live stream uses.
      const body = `{"events":[${rows.map(eventToJson).join(',')}],"next_cursor":${rows.length === limit ? JSON.stringify(encodeCursor([last.time, last.eventId])) : 'null'}}`;
      return reply.type('application/json').serializer((p) => p as string).send(body);
    },
  );

  app.get<{ Querystring: Static<typeof SeriesQuery> }>(
    '/api/v1/series',
    {
      schema: {
        summary: 'A time series in buckets',
        description:
          'avg, min, max, count, first and last of value_num per bucket, for one device and event type. Buckets without events are omitted. Without from/to: the last 24 h; without bucket: about 300 buckets over the range. The answer says the range and bucket used.',
        security: [{ bearer: [] }],
        querystring: SeriesQuery,
        response: { 200: SeriesPage, ...errors },
      },
      onRequest: readScope,
    },
    async (req) => {
      const q = req.query;
      const { from, to, bucketMs } = resolveSeriesRange(q, Date.now());
      if ((to - from) / bucketMs > MAX_BUCKETS) throw new ApiError(400, 'invalid_request', `at most ${MAX_BUCKETS} buckets per request; widen the bucket or narrow the range`);
      const buckets = await read(store.queries.series({ deviceId: q.device, eventType: q.type, from, to, bucketMs }));
      return {
        device: q.device,
        type: q.type,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        bucket_seconds: bucketMs / 1000,
        buckets: buckets.map((b) => ({ time: new Date(b.bucket).toISOString(), count: b.count, avg: b.avg, min: b.min, max: b.max, first: b.first, last: b.last })),
      };
    },
  );

  app.get<{ Querystring: Static<typeof DeadLettersQuery> }>(
    '/api/v1/deadletters',
    { onRequest: readScope, schema: { summary: 'Dead letters, oldest first', description: 'Filter by reason code and received time; payload as UTF-8 text or base64.', security: [{ bearer: [] }], querystring: DeadLettersQuery, response: { 200: DeadLettersPage, ...errors } } },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 1000;
      const { from, to } = parseRange(q);
      const afterId = decodeCursor(q.cursor, (v): v is number => Number.isInteger(v));
      const rows = await read(store.queries.deadLetters({ reason: q.reason, from, to, afterId, limit }));
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
          description: 'Selects dead letters by ids, or by reason and received time (oldest first, up to limit), and ingests their payloads again. Each ends stored, duplicate, conflict (its event_id is still taken by other content; dead-lettered again as event_id_conflict), rejected (dead-lettered again, source replay) or skipped. Needs an admin token.',
          security: [{ bearer: [] }],
          body: ReplayBody,
          response: { 200: ReplayAnswer, ...errors },
        },
        onRequest: auth.hook('admin'),
      },
      async (req) => {
        const b = req.body;
        if (b.ids === undefined && b.reason === undefined && b.from === undefined) {
          throw new ApiError(400, 'invalid_request', 'select dead letters with ids, or with reason and/or from/to');
        }
        const { from, to } = parseRange(b);
        const dls = await read(store.queries.deadLetters({ ids: b.ids, reason: b.reason, from, to, limit: b.ids?.length || (b.limit ?? 100) }));
        return { results: await replay.replay(dls) };
      },
    );
  }
};

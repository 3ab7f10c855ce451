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
import type { TierConfig } from '../../processors/rollups/tiers.js';
import { tieredSeries } from '../../processors/rollups/series.js';
import { dayBoundaries, isTimeZone } from '../../processors/rollups/day-buckets.js';
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
  tz: Type.Optional(Type.String({ description: 'IANA time zone (e.g. Europe/Berlin) for bucket=1d: days run from local midnight to local midnight (23 or 25 hours across a DST change). Default: UTC' })),
  fill: Type.Optional(Type.Boolean({ description: 'List every bucket of the range with its state (data, empty, outside_retention); statistics are null where there are no numeric values. Default: only buckets with numeric values' })),
});
const SeriesPage = Type.Object({
  device: Type.String(),
  type: Type.String(),
  from: Type.String({ description: 'The range used (inclusive), after defaults' }),
  to: Type.String({ description: 'The range used (exclusive), after defaults' }),
  bucket_seconds: Type.Integer(),
  tiers_used: Type.Optional(Type.Array(Type.String(), { description: 'Where the answer came from: aggregate tiers (1m, 5m, 1h) and/or raw (what is not rolled up yet, edges not aligned to a tier)' })),
  retained_from: Type.Optional(Type.String({ description: 'Earliest time the serving tier keeps: buckets before it are outside retention, later ones without events are empty' })),
  buckets: Type.Array(
    Type.Object({
      time: Type.String(),
      state: Type.Optional(Type.Union([Type.Literal('data'), Type.Literal('empty'), Type.Literal('outside_retention')])),
      count: Type.Integer(),
      avg: Type.Union([Type.Number(), Type.Null()]),
      min: Type.Union([Type.Number(), Type.Null()]),
      max: Type.Union([Type.Number(), Type.Null()]),
      first: Type.Union([Type.Number(), Type.Null()]),
      last: Type.Union([Type.Number(), Type.Null()]),
    }),
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

/** Epoch-aligned bucket starts covering [from, to), then the end of the last. */
function uniformBoundaries(from: number, to: number, w: number): number[] {
  const out: number[] = [];
  for (let b = Math.floor(from / w) * w; b < to; b += w) out.push(b);
  out.push(out.length === 0 ? Math.floor(from / w) * w + w : out[out.length - 1] + w);
  return out;
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

export const registerQueryRoutes: FastifyPluginAsync<{ auth: TokenAuth; store: Store; replay?: DeadLetterReplay; tiers?: TierConfig }> = async (app, { auth, store, replay, tiers }) => {
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
      if (q.tz !== undefined && (!isTimeZone(q.tz) || bucketMs % 86_400_000 !== 0)) {
        throw new ApiError(400, 'invalid_request', isTimeZone(q.tz) ? 'tz applies to daily buckets only (bucket=1d)' : `tz must be an IANA time zone such as Europe/Berlin; got ${JSON.stringify(q.tz.slice(0, 64))}`, [{ path: '/tz', message: 'is not usable here' }]);
      }
      if (tiers !== undefined) {
        const boundaries = q.tz !== undefined ? dayBoundaries(from, to, q.tz, bucketMs / 86_400_000) : uniformBoundaries(from, to, bucketMs);
        const s = await read(tieredSeries(store.processors, store.kind, tiers, { deviceId: q.device, eventType: q.type, boundaries, from, to }, Date.now()));
        const shown = q.fill === true ? s.buckets : s.buckets.filter((b) => b.stats.n > 0);
        return {
          device: q.device,
          type: q.type,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          bucket_seconds: bucketMs / 1000,
          tiers_used: s.tiersUsed,
          retained_from: new Date(s.retainedFrom).toISOString(),
          buckets: shown.map((b) => ({
            time: new Date(b.start).toISOString(),
            ...(q.fill === true ? { state: b.state } : {}),
            count: b.stats.n,
            avg: b.stats.avg,
            min: b.stats.min,
            max: b.stats.max,
            first: b.stats.first,
            last: b.stats.last,
          })),
        };
      }
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

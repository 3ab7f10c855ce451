/**
 * Alert routes (docs/alerts.md): current states (`GET /api/v1/alerts`), the
 * history of changes with their deliveries (`GET /api/v1/alerts/events`),
 * and the rules: `GET /api/v1/alerts/rules` (config file and API),
 * `POST /api/v1/alerts/rules` (admin: add or replace an API rule),
 * `DELETE /api/v1/alerts/rules/:name` (admin). A config-file rule is
 * changed in the file only (409 here).
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { AlertsRepository, RuleConflictError } from '../../alerts/repository.js';
import { parseRule, RULE_KEYS, ruleToJson } from '../../alerts/rules.js';
import type { AlertsConfig } from '../../alerts/config.js';
import { ApiError, storeUnavailable } from '../../core/http-error.js';
import type { Store } from '../../storage/store.js';
import type { TokenAuth } from '../auth.js';
import { ErrorSchema } from '../schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const RuleSchema = Type.Object(
  {
    name: Type.String({ description: 'Unique; letters, digits, _ . - (an MQTT topic level)' }),
    devices: Type.Optional(Type.String({ description: 'Device id or glob (`*`, `?`); default `*`' })),
    event_type: Type.Optional(Type.String({ description: 'Threshold rules: the series watched' })),
    above: Type.Optional(Type.Number({ description: 'Fires when the value goes above this' })),
    below: Type.Optional(Type.Number({ description: 'Fires when the value goes below this' })),
    clear: Type.Optional(Type.Number({ description: 'Resolves only once the value is back past this (hysteresis); default: above/below' })),
    presence: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Presence rules: the presence states that fire, e.g. ["silent","offline"]' })),
    for: Type.Optional(Type.Union([Type.String(), Type.Number()], { description: 'Minimum duration, e.g. 90s, 5m (a number: seconds); default 0' })),
    notify: Type.Optional(Type.Array(Type.String(), { description: 'Webhook names; default all' })),
  },
  { additionalProperties: false },
);

const RuleOut = Type.Object({
  name: Type.String(),
  devices: Type.String(),
  event_type: Type.Optional(Type.String()),
  above: Type.Optional(Type.Number()),
  below: Type.Optional(Type.Number()),
  clear: Type.Optional(Type.Number()),
  presence: Type.Optional(Type.Array(Type.String())),
  for: Type.String(),
  notify: Type.Optional(Type.Array(Type.String())),
  origin: Type.Union([Type.Literal('config'), Type.Literal('api')]),
});

const StateOut = Type.Object({
  rule: Type.String(),
  device_id: Type.String(),
  state: Type.Union([Type.Literal('ok'), Type.Literal('pending'), Type.Literal('firing')], { description: 'pending: the condition holds, not yet for its duration' }),
  since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Event time the condition started to hold' }),
  changed_at: Type.String({ format: 'date-time' }),
  value: Type.Union([Type.Number(), Type.Null()]),
  value_text: Type.Union([Type.String(), Type.Null()]),
  last_time: Type.String({ format: 'date-time', description: 'Event time of the last reading applied' }),
});

const EventOut = Type.Object({
  id: Type.Integer(),
  key: Type.String({ description: 'Idempotency key of the change (the notification id)' }),
  rule: Type.String(),
  device_id: Type.String(),
  state: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
  value: Type.Union([Type.Number(), Type.Null()]),
  value_text: Type.Union([Type.String(), Type.Null()]),
  at: Type.String({ format: 'date-time', description: 'Event time of the change' }),
  seq: Type.Union([Type.Integer(), Type.Null()], { description: 'Commit-log entry that caused it; null when the clock did' }),
  deliveries: Type.Array(Type.Object({ target: Type.String(), delivered_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]), attempts: Type.Integer(), last_error: Type.Union([Type.String(), Type.Null()]) })),
});

const StatesQuery = Type.Object(
  {
    state: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('pending'), Type.Literal('firing')])),
    rule: Type.Optional(Type.String()),
    device: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const EventsQuery = Type.Object(
  {
    rule: Type.Optional(Type.String()),
    device: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'Only changes with a smaller id (paging, newest first)' })),
  },
  { additionalProperties: false },
);

export const registerAlertRoutes: FastifyPluginAsync<{ auth: TokenAuth; store: Store; alerts: AlertsConfig }> = async (app, { auth, store, alerts }) => {
  const repo = new AlertsRepository(store.processors, store.kind, alerts);
  const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema };
  const guard = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (err) {
      if (err instanceof RuleConflictError) throw new ApiError(409, 'conflict', err.message);
      throw store.isRetriable(err) ? storeUnavailable() : err;
    }
  };

  app.get<{ Querystring: Static<typeof StatesQuery> }>(
    '/api/v1/alerts',
    {
      onRequest: auth.hook('read'),
      schema: {
        summary: 'Current alert states',
        description: 'Each (rule, device) pair the rules have seen, with its state (ok, pending, firing). Filter by state, rule or device.',
        security: [{ bearer: [] }],
        querystring: StatesQuery,
        response: { 200: Type.Object({ alerts: Type.Array(StateOut) }), ...errors },
      },
    },
    async (req) => {
      const states = await guard(repo.states(req.query));
      return {
        alerts: states.map((s) => ({ rule: s.rule, device_id: s.deviceId, state: s.state, since: iso(s.since), changed_at: iso(s.changedAt)!, value: s.valueNum, value_text: s.valueText, last_time: iso(s.lastTime)! })),
      };
    },
  );

  app.get<{ Querystring: Static<typeof EventsQuery> }>(
    '/api/v1/alerts/events',
    {
      onRequest: auth.hook('read'),
      schema: {
        summary: 'History of alert changes',
        description: 'Firing and resolved changes, newest first, each with its deliveries per target (webhooks, mqtt).',
        security: [{ bearer: [] }],
        querystring: EventsQuery,
        response: { 200: Type.Object({ events: Type.Array(EventOut) }), ...errors },
      },
    },
    async (req) => {
      const rows = await guard(repo.history({ rule: req.query.rule, device: req.query.device, before: req.query.before, limit: req.query.limit ?? 100 }));
      return {
        events: rows.map((e) => ({
          id: e.id, key: e.key, rule: e.rule, device_id: e.deviceId, state: e.state, value: e.valueNum, value_text: e.valueText, at: iso(e.at)!, seq: e.seq,
          deliveries: e.deliveries.map((d) => ({ target: d.target, delivered_at: iso(d.deliveredAt), attempts: d.attempts, last_error: d.lastError })),
        })),
      };
    },
  );

  app.get(
    '/api/v1/alerts/rules',
    {
      onRequest: auth.hook('read'),
      schema: {
        summary: 'Alert rules',
        description: 'Rules from the config file (origin config) and from this API (origin api).',
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ rules: Type.Array(RuleOut) }), ...errors },
      },
    },
    async () => ({ rules: (await guard(repo.rules())).map(ruleToJson) }),
  );

  app.post<{ Body: Static<typeof RuleSchema> }>(
    '/api/v1/alerts/rules',
    {
      onRequest: auth.hook('admin'),
      // Fastify's Ajv drops unknown properties silently (removeAdditional): refuse them before it does.
      preValidation: async (req) => {
        const body = req.body as Record<string, unknown> | null;
        if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
        const unknown = Object.keys(body).filter((k) => !(RULE_KEYS as readonly string[]).includes(k));
        if (unknown.length > 0) {
          throw new ApiError(400, 'invalid_request', `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; a rule takes ${RULE_KEYS.join(', ')}`, unknown.map((k) => ({ path: `/${k}`, message: 'is not a field of a rule' })));
        }
      },
      schema: {
        summary: 'Add or replace an alert rule',
        description: 'Adds a rule (or replaces the API rule of that name). It applies to entries the alerts processor reads from now on. A config-file rule of that name: 409. Needs an admin token.',
        security: [{ bearer: [] }],
        body: RuleSchema,
        response: { 201: Type.Object({ rule: RuleOut }), 409: ErrorSchema, ...errors },
      },
    },
    async (req, reply) => {
      const problems: string[] = [];
      const rule = parseRule(req.body, 'rule', problems, 'api');
      if (rule === undefined) throw new ApiError(400, 'invalid_request', problems.join('; '), problems);
      const hooks = alerts.webhooks.map((h) => h.name);
      const unknown = (rule.notify ?? []).filter((n) => !hooks.includes(n));
      if (unknown.length > 0) throw new ApiError(400, 'invalid_request', `rule.notify: no webhook is named ${unknown.join(', ')} (configured: ${hooks.join(', ') || 'none'})`);
      await guard(repo.putRule(rule));
      return reply.code(201).send({ rule: ruleToJson(rule) });
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/alerts/rules/:name',
    {
      onRequest: auth.hook('admin'),
      schema: {
        summary: 'Delete an alert rule',
        description: 'Deletes an API rule and its current states (its history stays). A config-file rule: 409. Needs an admin token.',
        security: [{ bearer: [] }],
        params: Type.Object({ name: Type.String() }),
        response: { 204: Type.Null(), 404: ErrorSchema, 409: ErrorSchema, ...errors },
      },
    },
    async (req, reply) => {
      if (!(await guard(repo.deleteRule(req.params.name)))) throw new ApiError(404, 'not_found', `no API rule is named ${req.params.name}`);
      return reply.code(204).send();
    },
  );
};

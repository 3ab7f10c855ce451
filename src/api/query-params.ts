/**
 * Unknown query parameters are refused (400 `unknown_parameter`, naming
 * them), not ignored: `?devise=esp32-01` would otherwise quietly answer for
 * every device. A route takes the parameters its querystring schema lists
 * (the same list the OpenAPI document shows), none when it has no such
 * schema. Applies to the routes in the OpenAPI document; the hidden service
 * routes (`/`, health, readiness, metrics) ignore their query string, so
 * probes and cache-busting parameters keep working.
 *
 * Ajv cannot do this as it is set up in Fastify: its `removeAdditional`
 * drops unknown properties silently, and with `allErrors` off it would name
 * only the first one. So the names are compared here, once, for every route.
 */
import type { FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import { ApiError } from './errors.js';

/** The query parameters a route takes, from its querystring schema. */
export function declaredQueryParams(route: Pick<RouteOptions, 'schema'>): string[] {
  const qs = route.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
  return Object.keys(qs?.properties ?? {});
}

/** The error for a request's unknown parameters, or undefined when there are none. */
export function unknownQueryError(query: Record<string, unknown>, allowed: readonly string[]): ApiError | undefined {
  const unknown = Object.keys(query).filter((k) => !allowed.includes(k));
  if (unknown.length === 0) return undefined;
  const names = unknown.map((k) => JSON.stringify(k)).join(', ');
  const takes = allowed.length > 0 ? `this route takes ${allowed.join(', ')}` : 'this route takes none';
  return new ApiError(
    400,
    'unknown_parameter',
    `unknown query parameter${unknown.length > 1 ? 's' : ''} ${names}; ${takes}`,
    unknown.map((k) => ({ path: `/${k}`, message: 'is not a query parameter of this route' })),
  );
}

/**
 * Fastify onRoute hook: appends the check to the route's onRequest hooks,
 * so it runs after the route's own (authentication: a caller without a
 * token learns nothing about parameters) and before the body is read.
 */
export function rejectUnknownQuery(route: RouteOptions): void {
  if (route.schema?.hide) return;
  const allowed = declaredQueryParams(route);
  const check: onRequestHookHandler = (req: FastifyRequest, _reply, done) => done(unknownQueryError(req.query as Record<string, unknown>, allowed));
  const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
  route.onRequest = [...own, check];
}

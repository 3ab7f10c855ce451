/**
 * The one error type for refusals answered over HTTP, carrying a stable code
 * and a status. It lives in `core/` so the HTTP source (`sources/http-ingest`)
 * and the API (`api/`) share it without the source reaching into the API.
 *
 *   { "error": { "code": "unauthorized", "message": "...", "details": [...] } }
 *
 * Codes are the reason codes of errors.ts where an input was refused, plus
 * the HTTP-level codes below (docs/errors.md lists both; errors.test.ts checks).
 *
 * @example
 * throw new ApiError(503, 'store_unavailable', 'the store is not available', undefined, { 'retry-after': '5' });
 */
import type { ReasonCode } from './errors.js';

export const HTTP_ERROR_CODES = {
  invalid_request: 'The request is malformed: a parameter or body field fails its schema, or the body cannot be read.',
  unknown_parameter: 'A query parameter the route does not take (a typo would otherwise be ignored silently).',
  unauthorized: 'No token, or a token that is unknown or revoked.',
  forbidden: 'The token is valid but may not do this (scope, or a device it may not write for).',
  not_found: 'No such route or resource.',
  conflict: 'The resource is managed elsewhere: an alert rule from the config file is changed or removed in the file, not through the API.',
  command_ended: 'The command has already ended (succeeded, failed, expired or cancelled), so it cannot be cancelled; `details` is the command.',
  unsupported_media_type: 'The Content-Type or Content-Encoding is not one this route accepts.',
  store_unavailable: 'The store is down or failing; nothing was acknowledged. Retry after the Retry-After header.',
  overloaded: 'TELEHUB_MAX_INFLIGHT events are waiting for their commit; nothing of the request was taken. Retry after the Retry-After header.',
  internal_error: 'An unexpected error; the log has the details.',
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERROR_CODES | ReasonCode;

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 503 while the store is starting, failing or shutting down. */
export function storeUnavailable(): ApiError {
  return new ApiError(503, 'store_unavailable', 'the store is not available (starting, failing or shutting down); nothing was acknowledged', undefined, { 'retry-after': '5' });
}

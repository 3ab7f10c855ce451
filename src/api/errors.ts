/**
 * One JSON shape for every HTTP error, carrying a stable code:
 *
 *   { "error": { "code": "unauthorized", "message": "...", "details": [...] } }
 *
 * Codes are the reason codes of src/core/errors.ts where an input was
 * refused, plus the HTTP-level codes below.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ReasonCode } from '../core/errors.js';

export const HTTP_ERROR_CODES = {
  invalid_request: 'The request is malformed: a parameter or body field fails its schema, or the body cannot be read.',
  unknown_parameter: 'A query parameter the route does not take (a typo would otherwise be ignored silently).',
  unauthorized: 'No token, or a token that is unknown or revoked.',
  forbidden: 'The token is valid but may not do this (scope, or a device it may not write for).',
  not_found: 'No such route or resource.',
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

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/** Unread body bytes that Node may drain to keep a connection alive; past this it is closed. */
export const DRAIN_MAX_BYTES = 64 * 1024;

/**
 * Asks Node to close the connection after an error answer sent while much
 * of the request body has yet to arrive: a 401/403/503 from an onRequest
 * hook, before the body is read. Otherwise Node reads and discards the rest
 * of the body to keep the connection alive, which for a 10 MB body from a
 * caller without a token is 10 MB read for nothing. A body that is (nearly)
 * all here is left alone: Node drops the rest and the connection stays
 * usable for the next request. A chunked body of unknown length is cut.
 */
export function closeIfBodyUnread(req: FastifyRequest, reply: FastifyReply): void {
  const raw = req.raw;
  if (raw.complete) return;
  const chunked = req.headers['transfer-encoding'] !== undefined;
  // Nothing reads the body before the hooks answer, so what arrived of it is still buffered.
  const remaining = Number(req.headers['content-length'] ?? 0) - raw.readableLength;
  if (chunked || remaining > DRAIN_MAX_BYTES) reply.header('connection', 'close');
}

/** Fastify error handler: our errors as they are, Fastify's mapped to stable codes. */
export function handleError(err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply): void {
  closeIfBodyUnread(req, reply);
  if (err instanceof ApiError) {
    if (err.headers) reply.headers(err.headers);
    reply.code(err.statusCode).send(errorBody(err.code, err.message, err.details));
    return;
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    reply.code(400).send(errorBody('invalid_request', fe.message, fe.validation.map((v) => ({ path: v.instancePath || v.params?.missingProperty, message: v.message }))));
    return;
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      reply.code(413).send(errorBody('payload_too_large', fe.message));
      return;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      reply.code(415).send(errorBody('unsupported_media_type', fe.message));
      return;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      reply.code(400).send(errorBody('invalid_request', fe.message));
      return;
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    reply.code(fe.statusCode).send(errorBody('invalid_request', fe.message));
    return;
  }
  req.log.error({ err }, 'Unhandled error in an HTTP route.');
  reply.code(500).send(errorBody('internal_error', 'internal error'));
}

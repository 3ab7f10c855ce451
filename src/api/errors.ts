/**
 * One JSON shape for every HTTP error, carrying a stable code:
 *
 *   { "error": { "code": "unauthorized", "message": "...", "details": [...] } }
 *
 * Codes are the reason codes of src/core/errors.ts where an input was
 * refused, plus the HTTP-level codes of src/core/http-error.ts (ApiError).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../core/http-error.js';

export { ApiError, HTTP_ERROR_CODES, type HttpErrorCode } from '../core/http-error.js';

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

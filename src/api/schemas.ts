/**
 * JSON schemas (TypeBox) shared by route validation and the OpenAPI document.
 */
import { Type } from 'typebox';

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code (docs/errors.md, docs/http-api.md)' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { description: 'Every error has this shape.' },
);

/** Documented on every 503 (see documentRoute in server.ts). */
export const RetryAfterHeader = { type: 'integer', minimum: 0, description: 'Seconds to wait before retrying' } as const;

export const IngestResultSchema = Type.Object({
  index: Type.Integer({ description: 'Position of the event in the request' }),
  event_id: Type.Union([Type.String(), Type.Null()]),
  device_id: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('stored'), Type.Literal('duplicate'), Type.Literal('conflict'), Type.Literal('rejected')]),
  reason: Type.Optional(Type.String({ description: 'Reason code when rejected or conflict (event_id_conflict)' })),
  message: Type.Optional(Type.String()),
});

export const IngestAnswerSchema = Type.Object({
  accepted: Type.Integer({ description: 'stored + duplicate' }),
  stored: Type.Integer(),
  duplicate: Type.Integer(),
  conflict: Type.Integer({ description: 'events whose event_id is taken by another device or other content: not stored, dead-lettered as event_id_conflict' }),
  rejected: Type.Integer(),
  results: Type.Array(IngestResultSchema),
});

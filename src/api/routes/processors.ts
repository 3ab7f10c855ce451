/**
 * `GET /api/v1/processors`: each processor following the commit log, with its
 * checkpoint, its lag (entries and seconds), its state and its last error;
 * and the log's head. The same figures are on /metrics and `telehub processors`.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { ProcessorRunner, ProcessorStatus } from '../../log/runner.js';
import type { Store } from '../../storage/store.js';
import type { TokenAuth } from '../auth.js';
import { storeUnavailable } from '../../core/http-error.js';
import { ErrorSchema } from '../schemas.js';

const ProcessorSchema = Type.Object({
  name: Type.String(),
  checkpoint: Type.Integer({ description: 'Commit-log number up to which it has applied entries' }),
  lag_entries: Type.Integer({ description: 'Entries after its checkpoint (counted up to 1,000,000)' }),
  lag_seconds: Type.Number({ description: 'Age of the oldest entry not yet applied; 0 when caught up' }),
  state: Type.Union([Type.Literal('running'), Type.Literal('retrying'), Type.Literal('stopped')], {
    description: 'running: following the log; retrying: its last attempt failed and is being retried; stopped: not run by this process',
  }),
  errors: Type.Integer({ description: 'Failed attempts since this process started' }),
  last_error: Type.Union([Type.Object({ message: Type.String(), at: Type.String({ format: 'date-time' }) }), Type.Null()]),
});

export const ProcessorsPage = Type.Object({
  head: Type.Integer({ description: 'The highest commit-log number committed' }),
  processors: Type.Array(ProcessorSchema),
});

/** A status as the API, the CLI and the docs show it. */
export function processorToJson(s: ProcessorStatus) {
  return {
    name: s.name,
    checkpoint: s.checkpoint,
    lag_entries: s.lagEntries,
    lag_seconds: Math.round(s.lagSeconds * 1000) / 1000,
    state: s.state,
    errors: s.errors,
    last_error: s.lastError === null ? null : { message: s.lastError.message, at: new Date(s.lastError.at).toISOString() },
  };
}

export const registerProcessorRoutes: FastifyPluginAsync<{ auth: TokenAuth; store: Store; processors: ProcessorRunner }> = async (app, { auth, store, processors }) => {
  app.get(
    '/api/v1/processors',
    // No parameters: any query parameter is refused (400 unknown_parameter, query-params.ts).
    {
      onRequest: auth.hook('read'),
      schema: {
        summary: 'Processors following the commit log',
        description: 'Checkpoint, lag (entries and seconds), state and last error of each processor, and the head of the commit log.',
        security: [{ bearer: [] }],
        response: { 200: ProcessorsPage, 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 503: ErrorSchema },
      },
    },
    async () => {
      try {
        const [head, list] = await Promise.all([store.log.head(), processors.status()]);
        return { head, processors: list.map(processorToJson) };
      } catch (err) {
        throw store.isRetriable(err) ? storeUnavailable() : err;
      }
    },
  );
};

/**
 * The HTTP server: liveness, readiness and Prometheus metrics. Later issues
 * add the ingest, query and stream routes here.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from '../core/metrics.js';

export interface Readiness {
  /** Names of the parts that are not ready, empty when all are. */
  problems(): Promise<string[]>;
}

export function buildHttpServer(metrics: Metrics, readiness: Readiness): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const problems = await readiness.problems();
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', problems });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  return app;
}

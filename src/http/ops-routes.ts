// Operations endpoints: liveness, readiness (the database answers), Prometheus metrics.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface OpsRoutesOptions {
  /** Resolves when the server can serve devices (e.g. the database answers a query). */
  ready: () => Promise<void>;
  metrics: Registry;
}

export async function opsRoutes(app: FastifyInstance, options: OpsRoutesOptions): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    try {
      await options.ready();
      return { status: 'ready' };
    } catch (err) {
      request.log.warn({ err }, 'not ready');
      return reply.code(503).send({ status: 'not ready' });
    }
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(options.metrics.contentType);
    return options.metrics.metrics();
  });
}

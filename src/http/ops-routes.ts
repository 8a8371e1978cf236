// Operations endpoints: liveness, readiness (the database answers), Prometheus metrics.
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface OpsRoutesOptions {
  /** Resolves when the server can serve devices (e.g. the database answers a query). */
  ready: () => Promise<void>;
  metrics: Registry;
}

// Probes and scrapers carry no token.
const opsDoc = (summary: string, operationId: string, description: string) =>
  ({ tags: ['Operations'], summary, operationId, description, security: [] });
const statusBody = (status: string) =>
  ({ type: 'object', required: ['status'], properties: { status: { type: 'string', enum: [status] } } });

export async function opsRoutes(app: FastifyInstance, options: OpsRoutesOptions): Promise<void> {
  app.get('/healthz', {
    schema: {
      ...opsDoc('Liveness', 'healthz', 'Answers while the process serves HTTP; checks nothing else.'),
      response: { 200: { description: 'Alive', ...statusBody('ok') } },
    },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: {
      ...opsDoc('Readiness', 'readyz', 'Ready when the database answers a query.'),
      response: {
        200: { description: 'Ready to serve devices', ...statusBody('ready') },
        503: { description: 'The database does not answer', ...statusBody('not ready') },
      },
    },
  }, async (request, reply) => {
    try {
      await options.ready();
      return { status: 'ready' };
    } catch (err) {
      request.log.warn({ err }, 'not ready');
      return reply.code(503).send({ status: 'not ready' });
    }
  });

  app.get('/metrics', {
    schema: {
      ...opsDoc('Prometheus metrics', 'metrics', 'The Prometheus text exposition format.'),
      response: { 200: { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  }, async (_request, reply) => {
    reply.type(options.metrics.contentType);
    return options.metrics.metrics();
  });
}

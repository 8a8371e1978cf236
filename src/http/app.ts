// The Fastify application: one plugin per surface (Apple endpoints, operations), each in its own
// encapsulated scope. Logs are JSON (pino) and never carry signatures, tokens or bodies.
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../services/runtime.ts';
import { appleRoutes } from './apple-routes.ts';
import { deviceIdentityReader } from './device-identity.ts';
import { opsRoutes } from './ops-routes.ts';
import { adminRoutes } from './admin-routes.ts';
import { nanoMdmCompatRoutes } from './nanomdm-compat-routes.ts';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["mdm-signature"]',
  'req.headers.cookie',
  '*.UnlockToken',
  '*.unlockToken',
  '*.BootstrapToken',
  '*.token',
];

export async function buildApp(runtime: Runtime, options: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const { config } = runtime;
  const app = Fastify({
    logger: options.logger === false ? false : { level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    bodyLimit: config.bodyLimit,
    // Device requests are small and frequent; a slow client must not hold a socket forever.
    requestTimeout: 60_000,
    // One log line per device request would dominate an Idle check-in's cost; refusals, failures
    // and enrollment events are logged where they happen instead. Admin requests are logged.
    logController: new LogController({ disableRequestLogging: (request) => request.url.startsWith('/mdm/') }),
    trustProxy: Boolean(config.certHeader),
  });
  if (config.certHeader && app.log) app.log.info({ header: config.certHeader }, 'device identity from a TLS proxy header');

  await app.register(appleRoutes, {
    identify: deviceIdentityReader(runtime.trust, config.certHeader),
    checkin: runtime.checkin,
    commands: runtime.commands,
    bodyLimit: config.bodyLimit,
  });
  await app.register(adminRoutes, {
    store: runtime.store,
    ...(config.publicUrl && { publicUrl: config.publicUrl }),
    ...(runtime.push && { push: runtime.push }),
  });
  await app.register(nanoMdmCompatRoutes, {
    store: runtime.store,
    bodyLimit: config.bodyLimit,
    ...(runtime.push && { push: runtime.push }),
  });
  await app.register(opsRoutes, {
    ready: async () => { await runtime.store.ping(); },
    metrics: runtime.metrics.registry,
  });
  return app;
}

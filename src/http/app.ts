// The Fastify application: one plugin per surface (Apple endpoints, operations), each in its own
// encapsulated scope. Logs are JSON (pino) and never carry signatures, tokens or bodies.
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Runtime } from '../services/runtime.ts';
import { appleRoutes } from './apple-routes.ts';
import { deviceIdentityReader } from './device-identity.ts';
import { opsRoutes } from './ops-routes.ts';
import { adminRoutes } from './admin-routes.ts';
import { nanoMdmCompatRoutes } from './nanomdm-compat-routes.ts';
import { auditRoutes } from './audit-routes.ts';
import { policyRoutes } from './policy-routes.ts';
import { enrollRoutes, enrollRoutesOptions } from './enroll-routes.ts';
import { registerOpenApi } from './openapi.ts';


export async function buildApp(runtime: Runtime, options: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const { config } = runtime;
  const app = Fastify({
    ...(options.logger === false ? { logger: false } : { loggerInstance: runtime.log as FastifyBaseLogger }),
    bodyLimit: config.bodyLimit,
    // Device requests are small and frequent; a slow client must not hold a socket forever.
    requestTimeout: 60_000,
    // One log line per device request would dominate an Idle check-in's cost; refusals, failures
    // and enrollment events are logged where they happen instead. Admin requests are logged.
    // /mdm/enroll?token=… and /scep carry enrollment secrets in the URL: never logged.
    logController: new LogController({ disableRequestLogging: (request) => request.url.startsWith('/mdm/') || request.url.startsWith('/scep') }),
    trustProxy: Boolean(config.certHeader),
    // NanoMDM's /v1/enqueue/{id,id,…} names many devices in one path parameter; Fastify's default
    // of 100 characters refuses three UDIDs. Node's 16 KiB header limit bounds the URL anyway.
    routerOptions: { maxParamLength: 16 * 1024 },
  });
  if (config.certHeader && app.log) app.log.info({ header: config.certHeader }, 'device identity from a TLS proxy header');

  // First: the OpenAPI document collects the routes registered after it.
  await registerOpenApi(app);
  await app.register(appleRoutes, {
    identify: deviceIdentityReader(runtime.trust, config.certHeader),
    checkin: runtime.checkin,
    commands: runtime.commands,
    bodyLimit: config.bodyLimit,
    // Results are dated by the server's clock, the one compliance and its grace deadlines use.
    now: runtime.now,
  });
  await app.register(adminRoutes, {
    store: runtime.store,
    ...(config.publicUrl && { publicUrl: config.publicUrl }),
    push: runtime.push,
    importPushCertificate: (input, opts) => runtime.importPushCertificate(input, opts),
    audit: runtime.audit,
  });
  await app.register(nanoMdmCompatRoutes, {
    store: runtime.store,
    bodyLimit: config.bodyLimit,
    push: runtime.push,
    audit: runtime.audit,
  });
  await app.register(auditRoutes, { store: runtime.store, audit: runtime.audit, apiTokens: runtime.apiTokens });
  await app.register(policyRoutes, { store: runtime.store, policies: runtime.policies });
  if (runtime.deviceCa) {
    // With an external device CA there is nothing to issue identities with.
    await app.register(enrollRoutes, enrollRoutesOptions({
      deviceCa: runtime.deviceCa,
      store: runtime.store,
      masterKey: runtime.masterKey,
      topic: runtime.topic,
      ...(config.publicUrl && { publicUrl: config.publicUrl }),
      ...(runtime.signingIdentity && { signWith: runtime.signingIdentity }),
      log: runtime.log,
    }));
  }
  await app.register(opsRoutes, {
    ready: async () => { await runtime.store.ping(); },
    metrics: runtime.metrics.registry,
  });
  return app;
}

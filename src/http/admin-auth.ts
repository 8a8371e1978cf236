// Admin API authentication: a bearer API token (or HTTP Basic with the token as the password,
// which is how NanoMDM-era tooling sends its API key), looked up by its SHA-256, with a role
// that each route names. Failures are application/problem+json, never a hint which part was wrong.
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditActor } from '../services/audit-log.ts';
import type { ApiToken, ApiTokenRole } from '../store/types.ts';
import type { Store } from '../store/database.ts';
import { hashApiToken } from '../services/runtime.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiToken?: ApiToken;
  }
}

export function problem(reply: FastifyReply, status: number, title: string, detail?: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).type('application/problem+json').send({ type: 'about:blank', title, status, ...(detail && { detail }), ...extra });
}

function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (!value) return undefined;
  if (scheme?.toLowerCase() === 'bearer') return value.trim();
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

/**
 * A preHandler that admits a live API token holding one of `roles`. It carries `roles` so that
 * a route's documentation names the roles it enforces (api-schemas.ts apiTokenRoute).
 */
export function requireRole(store: Store, roles: readonly ApiTokenRole[], now: () => number = Date.now) {
  const check = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = presentedToken(request);
    const found = token ? await store.tokens.findApiToken(hashApiToken(token)) : undefined;
    if (!found) {
      request.log.warn({ route: request.routeOptions.url }, 'admin request without a valid API token');
      reply.header('WWW-Authenticate', 'Bearer realm="lockwarden"');
      return problem(reply, 401, 'Unauthorized', 'a valid API token is required');
    }
    if (!roles.includes(found.role)) {
      request.log.warn({ route: request.routeOptions.url, token: found.id, role: found.role }, 'API token lacks the role for this route');
      return problem(reply, 403, 'Forbidden', `this route needs one of the roles: ${roles.join(', ')}`);
    }
    request.apiToken = found;
    await store.tokens.touchApiToken(found.id, now());
  };
  return Object.assign(check, { roles });
}

/** Who an audit event names for this request: the API token that requireRole admitted. */
export function requestActor(request: FastifyRequest): AuditActor {
  if (!request.apiToken) throw new Error('requestActor: the route has no requireRole preHandler');
  return { id: request.apiToken.id, name: request.apiToken.name };
}

/**
 * A route plugin's error handler: every error as problem+json. A server-side failure (an audit
 * event that could not be written among them) is logged and answered 500 without its message.
 */
export function problemErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status < 500) return problem(reply, status, STATUS_CODES[status] ?? 'Bad Request', err.message);
  request.log.error({ err }, 'admin request failed');
  return problem(reply, 500, 'Internal Server Error');
}

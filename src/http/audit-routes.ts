// Admin API (/api/v1) for the audit log and the API tokens whose actions it records. Reading the
// log needs admin or auditor; managing tokens needs admin. A new token's secret is in the
// creation response only; listings never carry a secret or a hash.
import type { FastifyInstance } from 'fastify';
import type { ApiTokenService } from '../services/api-tokens.ts';
import { ISSUABLE_ROLES } from '../services/api-tokens.ts';
import type { AuditLog } from '../services/audit-log.ts';
import type { Store } from '../store/database.ts';
import type { ApiToken, AuditEvent } from '../store/types.ts';
import { problem, problemErrorHandler, requestActor, requireRole } from './admin-auth.ts';
import { apiTokenRoute, AUTH_PROBLEMS, problemResponses } from './api-schemas.ts';

// Response schemas also serialize: a property they leave out is dropped from the response.
const isoOrNull = { type: ['string', 'null'], format: 'date-time' } as const;
const tokenViewSchema = {
  type: 'object',
  required: ['id', 'name', 'role', 'createdAt', 'lastUsedAt', 'revokedAt'],
  properties: {
    id: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' },
    createdAt: isoOrNull, lastUsedAt: isoOrNull, revokedAt: isoOrNull,
  },
} as const;
const eventViewSchema = {
  type: 'object',
  required: ['seq', 'at', 'actor', 'actorName', 'action', 'target', 'details', 'prevMac', 'mac'],
  properties: {
    seq: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string', description: 'API token id, or system / cli' },
    actorName: { type: 'string' },
    action: { type: 'string', description: 'e.g. enrollment-token.create, command.enqueue, api-token.revoke' },
    target: { type: ['string', 'null'] },
    // Free-form per action (never secrets); without additionalProperties it would serialize empty.
    details: { type: 'object', additionalProperties: true },
    prevMac: { type: 'string' },
    mac: { type: 'string' },
  },
} as const;

export interface AuditRoutesOptions {
  store: Store;
  audit: AuditLog;
  apiTokens: ApiTokenService;
  now?: () => number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function eventView(event: AuditEvent) {
  return {
    seq: event.seq,
    at: new Date(event.at).toISOString(),
    actor: event.actor,
    actorName: event.actorName,
    action: event.action,
    target: event.target,
    details: event.details,
    prevMac: event.prevMac,
    mac: event.mac,
  };
}

/** What the API shows of a token: never its secret, nor its hash. */
function tokenView(token: ApiToken) {
  return { id: token.id, name: token.name, role: token.role, createdAt: iso(token.createdAt), lastUsedAt: iso(token.lastUsedAt), revokedAt: iso(token.revokedAt) };
}

export async function auditRoutes(app: FastifyInstance, options: AuditRoutesOptions): Promise<void> {
  const { store, audit, apiTokens } = options;
  const now = options.now ?? Date.now;
  const admin = requireRole(store, ['admin'], now);
  const auditReader = requireRole(store, ['admin', 'auditor'], now);

  app.setErrorHandler(problemErrorHandler);

  app.get('/api/v1/audit', {
    preHandler: auditReader,
    schema: {
      ...apiTokenRoute(auditReader.roles, {
        tags: ['Audit'],
        summary: 'List audit events',
        description: 'Newest first by default. Pass `next` from a page as `after` (with the same filters and order) for the next page; there is no `next` on the last page. `since` is inclusive, `until` exclusive.',
        operationId: 'listAuditEvents',
      }),
      response: {
        200: {
          description: 'A page of events',
          type: 'object',
          required: ['events'],
          properties: { events: { type: 'array', items: eventViewSchema }, next: { type: 'string' } },
        },
        ...problemResponses({ 400: 'The query is invalid.', ...AUTH_PROBLEMS }),
      },
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          after: { type: 'string', pattern: '^[0-9]{1,15}$', description: 'cursor: `next` of the previous page' },
          order: { type: 'string', enum: ['desc', 'asc'], default: 'desc' },
          action: { type: 'string', minLength: 1, maxLength: 100, description: 'e.g. command.enqueue' },
          target: { type: 'string', minLength: 1, maxLength: 256, description: 'a UDID, token id, topic…' },
          since: { type: 'string', format: 'date-time' },
          until: { type: 'string', format: 'date-time' },
        },
      },
    },
  }, async (request) => {
    const q = request.query as { limit: number; after?: string; order: 'asc' | 'desc'; action?: string; target?: string; since?: string; until?: string };
    // One more than asked: whether there is a next page, without a count.
    const events = await audit.list({
      limit: q.limit + 1,
      order: q.order,
      ...(q.after !== undefined && { after: Number(q.after) }),
      ...(q.action !== undefined && { action: q.action }),
      ...(q.target !== undefined && { target: q.target }),
      ...(q.since !== undefined && { since: Date.parse(q.since) }),
      ...(q.until !== undefined && { until: Date.parse(q.until) }),
    });
    const page = events.slice(0, q.limit);
    return { events: page.map(eventView), ...(events.length > q.limit && { next: String(page.at(-1)!.seq) }) };
  });

  app.post('/api/v1/api-tokens', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['API tokens'],
        summary: 'Create an API token',
        description: 'The token is in this response only: the server keeps its hash.',
        operationId: 'createApiToken',
      }),
      response: {
        201: {
          description: 'The token, shown this once',
          type: 'object',
          required: [...tokenViewSchema.required, 'token'],
          properties: { ...tokenViewSchema.properties, token: { type: 'string' } },
        },
        ...problemResponses({ 400: 'The body is invalid.', ...AUTH_PROBLEMS }),
      },
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'role'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 200 },
          role: { type: 'string', enum: [...ISSUABLE_ROLES] },
        },
      },
    },
  }, async (request, reply) => {
    const body = request.body as { name: string; role: (typeof ISSUABLE_ROLES)[number] };
    const { token, record } = await apiTokens.issue(requestActor(request), body);
    return reply.code(201).send({ ...tokenView(record), token });
  });

  app.get('/api/v1/api-tokens', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['API tokens'],
        summary: 'List API tokens',
        description: 'Every token, revoked ones included, without secrets.',
        operationId: 'listApiTokens',
      }),
      response: {
        200: { description: 'Every token', type: 'object', required: ['tokens'], properties: { tokens: { type: 'array', items: tokenViewSchema } } },
        ...problemResponses(AUTH_PROBLEMS),
      },
    },
  }, async () => ({ tokens: (await apiTokens.list()).map(tokenView) }));

  app.delete('/api/v1/api-tokens/:id', {
    preHandler: admin,
    schema: {
      ...apiTokenRoute(admin.roles, {
        tags: ['API tokens'],
        summary: 'Revoke an API token',
        description: 'Takes effect at the next request made with it. A token may revoke itself, but the last live admin token cannot be revoked.',
        operationId: 'revokeApiToken',
      }),
      response: {
        200: { description: 'The revoked token', ...tokenViewSchema },
        ...problemResponses({ 400: 'The id is invalid.', ...AUTH_PROBLEMS, 404: 'No such token.', 409: 'Already revoked, or the last live admin token.' }),
      },
      params: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
      },
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const outcome = await apiTokens.revoke(requestActor(request), id);
    if (outcome.ok) return tokenView(outcome.token);
    if (outcome.reason === 'unknown') return problem(reply, 404, 'Not Found', `no API token ${id}`);
    if (outcome.reason === 'already-revoked') return problem(reply, 409, 'Conflict', `API token ${id} is already revoked`);
    return problem(reply, 409, 'Conflict', 'this is the last live admin token: create another admin token before revoking it');
  });
}

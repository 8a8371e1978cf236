// Compatibility for tooling written against NanoMDM's API: `PUT /v1/enqueue/{id[,id…]}` with a
// raw command plist as the body, and `GET /v1/push/{id[,id…]}`. Same auth as the admin API
// (NanoMDM's HTTP Basic with the API key as the password works too).
import type { FastifyInstance } from 'fastify';
import { parseRawCommand } from '../mdm/commands.ts';
import { MdmProtocolError } from '../mdm/protocol-error.ts';
import { decodePlist, PlistError } from '../plist/plist-codec.ts';
import { DuplicateCommandError, UnknownEnrollmentError } from '../store/errors.ts';
import type { Store } from '../store/database.ts';
import { problem, problemErrorHandler, requestActor, requireRole } from './admin-auth.ts';
import type { AuditLog } from '../services/audit-log.ts';
import { enqueueAudited } from '../services/command-enqueue.ts';
import { apiTokenRoute, AUTH_PROBLEMS, documentedRawBody, problemResponses, pushSummarySchema, ref } from './api-schemas.ts';

export interface NanoMdmCompatOptions {
  store: Store;
  push?: (enrollmentIds: string[]) => Promise<unknown>;
  bodyLimit: number;
  /** Records command.enqueue in the enqueue's transaction. */
  audit: AuditLog;
  now?: () => number;
}

const MAX_IDS = 10_000;

function idsOf(param: string): string[] | undefined {
  const ids = [...new Set(param.split(',').map((s) => s.trim()).filter(Boolean))];
  return ids.length === 0 || ids.length > MAX_IDS || ids.some((id) => id.length > 256) ? undefined : ids;
}

// A type and a description, no limits: idsOf() checks the list and answers with a problem.
const idsParams = {
  type: 'object',
  properties: { ids: { type: 'string', description: `1–${MAX_IDS} comma-separated enrollment ids (UDID, or \`deviceId:userId\` for a user channel)` } },
  required: ['ids'],
} as const;

export async function nanoMdmCompatRoutes(app: FastifyInstance, options: NanoMdmCompatOptions): Promise<void> {
  const { store } = options;
  const now = options.now ?? Date.now;
  const operator = requireRole(store, ['admin', 'operator'], now);

  // Problem details for failures too, e.g. an audit event that could not be written (500).
  app.setErrorHandler(problemErrorHandler);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (_request, body, done) => done(null, body));

  app.put('/v1/enqueue/:ids', {
    preHandler: operator,
    config: { swaggerTransform: documentedRawBody('application/xml', 'a command plist with CommandUUID and Command, sent to the devices byte for byte') },
    schema: {
      ...apiTokenRoute(operator.roles, {
        tags: ['NanoMDM compatibility'],
        summary: 'Enqueue a raw command plist',
        description: "NanoMDM's `PUT /v1/enqueue/{ids}`: the body is the command plist, queued for every enrollment listed, which are then pushed.",
        operationId: 'nanomdmEnqueue',
      }),
      params: idsParams,
      response: {
        200: {
          description: 'Queued for every listed enrollment; `push` is there when a push service is configured',
          type: 'object',
          required: ['command_uuid', 'request_type', 'enqueued'],
          properties: {
            command_uuid: { type: 'string' },
            request_type: { type: 'string' },
            enqueued: { type: 'integer' },
            push: ref(pushSummarySchema),
          },
        },
        ...problemResponses({
          400: 'The id list or the command plist is invalid.',
          ...AUTH_PROBLEMS,
          404: 'Some enrollments are unknown or checked out (listed in `unknown`, at most 100); nothing was queued.',
          409: 'A command with this CommandUUID exists already.',
        }),
      },
    },
  }, async (request, reply) => {
    const ids = idsOf((request.params as { ids: string }).ids);
    if (!ids) return problem(reply, 400, 'Bad Request', `give 1–${MAX_IDS} comma-separated enrollment ids`);
    const body = request.body instanceof Buffer ? request.body : Buffer.alloc(0);
    let command;
    try {
      command = parseRawCommand(decodePlist(body, { maxBytes: options.bodyLimit }));
    } catch (err) {
      if (err instanceof PlistError || err instanceof MdmProtocolError) return problem(reply, 400, 'Bad Request', err.message);
      throw err;
    }
    try {
      // The posted bytes are what the device receives, exactly as NanoMDM does.
      await enqueueAudited(store, options.audit, requestActor(request), { uuid: command.commandUuid, requestType: command.requestType, body }, ids, { now: now() });
    } catch (err) {
      if (err instanceof DuplicateCommandError) return problem(reply, 409, 'Conflict', err.message);
      if (err instanceof UnknownEnrollmentError) return problem(reply, 404, 'Not Found', err.message, { unknown: err.enrollmentIds.slice(0, 100) });
      throw err;
    }
    request.log.info({ commandUuid: command.commandUuid, requestType: command.requestType, count: ids.length }, 'command enqueued (v1 API)');
    const pushed = options.push ? await options.push(ids) : undefined;
    return { command_uuid: command.commandUuid, request_type: command.requestType, enqueued: ids.length, ...(pushed !== undefined && { push: pushed }) };
  });

  app.get('/v1/push/:ids', {
    preHandler: operator,
    schema: {
      ...apiTokenRoute(operator.roles, {
        tags: ['NanoMDM compatibility'],
        summary: 'Wake enrollments over APNs',
        description: "NanoMDM's `GET /v1/push/{ids}`.",
        operationId: 'nanomdmPush',
      }),
      params: idsParams,
      response: {
        200: { description: 'What each push did', type: 'object', required: ['push'], properties: { push: ref(pushSummarySchema) } },
        ...problemResponses({ 400: 'The id list is invalid.', ...AUTH_PROBLEMS, 503: 'No push service is configured.' }),
      },
    },
  }, async (request, reply) => {
    const ids = idsOf((request.params as { ids: string }).ids);
    if (!ids) return problem(reply, 400, 'Bad Request', `give 1–${MAX_IDS} comma-separated enrollment ids`);
    if (!options.push) return problem(reply, 503, 'Service Unavailable', 'no push service is configured');
    return { push: await options.push(ids) };
  });
}

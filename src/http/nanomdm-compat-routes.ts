// Compatibility for tooling written against NanoMDM's API: `PUT /v1/enqueue/{id[,id…]}` with a
// raw command plist as the body, and `GET /v1/push/{id[,id…]}`. Same auth as the admin API
// (NanoMDM's HTTP Basic with the API key as the password works too).
import type { FastifyInstance } from 'fastify';
import { parseRawCommand } from '../mdm/commands.ts';
import { MdmProtocolError } from '../mdm/protocol-error.ts';
import { decodePlist, PlistError } from '../plist/plist-codec.ts';
import { DuplicateCommandError, UnknownEnrollmentError } from '../store/errors.ts';
import type { Store } from '../store/database.ts';
import { problem, requireRole } from './admin-auth.ts';

export interface NanoMdmCompatOptions {
  store: Store;
  push?: (enrollmentIds: string[]) => Promise<unknown>;
  bodyLimit: number;
  now?: () => number;
}

const MAX_IDS = 10_000;

function idsOf(param: string): string[] | undefined {
  const ids = [...new Set(param.split(',').map((s) => s.trim()).filter(Boolean))];
  return ids.length === 0 || ids.length > MAX_IDS || ids.some((id) => id.length > 256) ? undefined : ids;
}

export async function nanoMdmCompatRoutes(app: FastifyInstance, options: NanoMdmCompatOptions): Promise<void> {
  const { store } = options;
  const now = options.now ?? Date.now;
  const operator = requireRole(store, ['admin', 'operator'], now);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (_request, body, done) => done(null, body));

  app.put('/v1/enqueue/:ids', { preHandler: operator }, async (request, reply) => {
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
      await store.commands.enqueue({ uuid: command.commandUuid, requestType: command.requestType, body }, ids, { now: now() });
    } catch (err) {
      if (err instanceof DuplicateCommandError) return problem(reply, 409, 'Conflict', err.message);
      if (err instanceof UnknownEnrollmentError) return problem(reply, 404, 'Not Found', err.message, { unknown: err.enrollmentIds.slice(0, 100) });
      throw err;
    }
    request.log.info({ commandUuid: command.commandUuid, requestType: command.requestType, count: ids.length }, 'command enqueued (v1 API)');
    const pushed = options.push ? await options.push(ids) : undefined;
    return { command_uuid: command.commandUuid, request_type: command.requestType, enqueued: ids.length, ...(pushed !== undefined && { push: pushed }) };
  });

  app.get('/v1/push/:ids', { preHandler: operator }, async (request, reply) => {
    const ids = idsOf((request.params as { ids: string }).ids);
    if (!ids) return problem(reply, 400, 'Bad Request', `give 1–${MAX_IDS} comma-separated enrollment ids`);
    if (!options.push) return problem(reply, 503, 'Service Unavailable', 'no push service is configured');
    return { push: await options.push(ids) };
  });
}

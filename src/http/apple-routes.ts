// The device-facing MDM endpoints: PUT /mdm/checkin and PUT /mdm/connect. Thin: authenticate
// the device, decode the plist, hand the message to the protocol handlers, encode the answer.
// Every refusal is a 4xx with a log line; nothing a device sends can cause a 500.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decodePlist, encodePlist, PlistError } from '../plist/plist-codec.ts';
import { parseCheckinMessage } from '../mdm/checkin-messages.ts';
import { parseCommandReport } from '../mdm/command-report.ts';
import { MdmProtocolError } from '../mdm/protocol-error.ts';
import { dispatchCheckin, dispatchCommandReport } from '../mdm/handler.ts';
import type { CheckinHandler, CommandHandler, RequestContext } from '../mdm/handler.ts';
import { MdmSignatureError } from '../crypto/mdm-signature.ts';
import type { DeviceIdentityReader } from './device-identity.ts';
import { DeviceRefusedError } from '../services/device-refusal.ts';

export interface AppleRoutesOptions {
  identify: DeviceIdentityReader;
  checkin: CheckinHandler;
  commands: CommandHandler;
  bodyLimit: number;
  now?: () => number;
}

const PLIST_TYPE = 'application/xml; charset=utf-8';

/** Maps what a device did wrong to the status Apple's clients and proxies understand. */
function refusalStatus(err: unknown): number | undefined {
  if (err instanceof MdmSignatureError) return err.reason === 'missing' || err.reason === 'malformed' ? 401 : 403;
  if (err instanceof DeviceRefusedError) return err.status;
  if (err instanceof MdmProtocolError || err instanceof PlistError) return 400;
  return undefined;
}

export async function appleRoutes(app: FastifyInstance, options: AppleRoutesOptions): Promise<void> {
  const now = options.now ?? Date.now;

  // Devices send application/x-apple-aspen-mdm(-checkin); proxies sometimes drop or rewrite it.
  // The body is taken as raw bytes: the signature covers exactly these bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const clientError = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : undefined;
    const status = refusalStatus(err) ?? clientError;
    if (status !== undefined) {
      request.log.warn({ status, reason: err.message, code: err.code }, 'device request refused');
      return reply.code(status).type('text/plain; charset=utf-8').send(`${err.message}\n`);
    }
    request.log.error({ err }, 'device request failed');
    return reply.code(500).type('text/plain; charset=utf-8').send('internal error\n');
  });

  const contextOf = (request: FastifyRequest): RequestContext => {
    const body = request.body instanceof Buffer ? request.body : Buffer.alloc(0);
    const identity = options.identify(request.headers, body, now());
    return { identity, now: now(), log: request.log, body };
  };

  const bodyOf = (request: FastifyRequest): Buffer => {
    if (!(request.body instanceof Buffer) || request.body.length === 0) throw new MdmProtocolError('the request has no body');
    return request.body;
  };

  const sendPlist = (reply: FastifyReply, value: unknown) => reply.code(200).type(PLIST_TYPE).send(encodePlist(value));

  // Hidden from the OpenAPI document: Apple's MDM protocol for devices, not the admin API; and no
  // body schema, the handlers decode the signed plist bytes themselves.
  const deviceProtocol = { schema: { hide: true } };

  app.put('/mdm/checkin', deviceProtocol, async (request, reply) => {
    const ctx = contextOf(request);
    const message = parseCheckinMessage(decodePlist(bodyOf(request), { maxBytes: options.bodyLimit }));
    const answer = await dispatchCheckin(options.checkin, ctx, message);
    if (answer === undefined) return reply.code(200).send();
    if (answer.kind === 'gone') return reply.code(410).send();
    if (answer.kind === 'json') return reply.code(200).type('application/json').send(Buffer.from(answer.json));
    return sendPlist(reply, answer.plist);
  });

  app.put('/mdm/connect', deviceProtocol, async (request, reply) => {
    const ctx = contextOf(request);
    const report = parseCommandReport(decodePlist(bodyOf(request), { maxBytes: options.bodyLimit }));
    const next = await dispatchCommandReport(options.commands, ctx, report);
    if (next === undefined) return reply.code(200).send();
    return reply.code(200).type(PLIST_TYPE).send(Buffer.from(next));
  });
}

// Enrollment endpoints: GET /mdm/enroll (the enrollment profile for a token) and the built-in
// SCEP service at /scep (RFC 8894: GetCACaps, GetCACert, PKIOperation by GET and POST). Thin:
// the use cases are services/enrollment-profile.ts and services/scep-service.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SigningIdentity } from '../crypto/cms-signer.ts';
import type { DeviceCa } from '../crypto/device-ca.ts';
import { MAX_PKI_MESSAGE_BYTES } from '../crypto/scep-message.ts';
import { createEnrollmentProfileService } from '../services/enrollment-profile.ts';
import type { EnrollmentProfileService } from '../services/enrollment-profile.ts';
import { createScepService, ScepRequestError } from '../services/scep-service.ts';
import type { ScepService } from '../services/scep-service.ts';
import type { Store } from '../store/database.ts';

export interface EnrollRoutesOptions {
  scep: ScepService;
  profiles: EnrollmentProfileService;
  /** LOCKWARDEN_PUBLIC_URL; unset means https:// + the request's Host. */
  publicUrl?: string;
}

export interface EnrollServicesInput {
  deviceCa: DeviceCa;
  store: Store;
  masterKey: Buffer;
  publicUrl?: string;
  /** The APNs topic profiles carry (com.apple.mgmt.…), or how to look it up per request. */
  topic: string | (() => string | Promise<string>);
  signWith?: SigningIdentity;
  organization?: string;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  now?: () => number;
}

/** The plugin's options from what a Runtime holds. */
export function enrollRoutesOptions(input: EnrollServicesInput): EnrollRoutesOptions {
  const scep = createScepService({
    ca: input.deviceCa,
    store: input.store,
    masterKey: input.masterKey,
    ...(input.log !== undefined && { log: input.log }),
    ...(input.now !== undefined && { now: input.now }),
  });
  const profiles = createEnrollmentProfileService({
    store: input.store,
    ca: input.deviceCa,
    scep,
    topic: input.topic,
    ...(input.signWith !== undefined && { signWith: input.signWith }),
    ...(input.organization !== undefined && { organization: input.organization }),
    ...(input.now !== undefined && { now: input.now }),
  });
  return { scep, profiles, ...(input.publicUrl !== undefined && { publicUrl: input.publicUrl }) };
}

const PKI_MESSAGE_TYPE = 'application/x-pki-message';
const REFUSALS: Record<string, string> = {
  unknown: 'this enrollment link is not valid',
  expired: 'this enrollment link has expired',
  exhausted: 'this enrollment link has been used as many times as it allows',
  revoked: 'this enrollment link has been revoked',
};
// host or host:port, or a bracketed IPv6 literal: nothing that could change the URL's meaning.
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

interface ScepQuery { operation?: string; message?: string }
interface EnrollQuery { token?: string; identity?: string }

export async function enrollRoutes(app: FastifyInstance, options: EnrollRoutesOptions): Promise<void> {
  // SCEP clients post the pkiMessage as application/x-pki-message, some with no type at all;
  // it is DER either way. Scoped to this plugin.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_PKI_MESSAGE_BYTES }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const status = err instanceof ScepRequestError ? 400 : typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : undefined;
    if (status !== undefined) {
      request.log.warn({ status, reason: err.message }, 'enrollment request refused');
      return reply.code(status).type('text/plain; charset=utf-8').send(`${err.message}\n`);
    }
    request.log.error({ err }, 'enrollment request failed');
    return reply.code(500).type('text/plain; charset=utf-8').send('internal error\n');
  });

  const pkiOperation = async (message: Uint8Array) => {
    const outcome = await options.scep.pkiOperation(message);
    return outcome.reply;
  };

  // Hidden from the OpenAPI document: device-facing (Apple's enrollment, RFC 8894 SCEP), not the
  // admin API; the handlers read the query and the DER body themselves.
  const deviceProtocol = { schema: { hide: true } };

  app.get<{ Querystring: ScepQuery }>('/scep', deviceProtocol, async (request, reply) => {
    const operation = request.query.operation;
    switch (operation) {
      case 'GetCACaps':
        return reply.code(200).type('text/plain; charset=utf-8').send(options.scep.capabilities());
      case 'GetCACert':
        // One certificate, no RA: the CA decrypts requests itself (RFC 8894 §4.2.1.1).
        return reply.code(200).type('application/x-x509-ca-cert').send(options.scep.caCertificateDer());
      case 'PKIOperation': {
        const message = request.query.message;
        if (typeof message !== 'string' || message.length === 0) throw new ScepRequestError('PKIOperation by GET needs a message parameter');
        // Base64 in a query string: a "+" that was not percent-encoded arrives as a space.
        const der = Buffer.from(message.replace(/ /g, '+'), 'base64');
        return reply.code(200).type(PKI_MESSAGE_TYPE).send(await pkiOperation(der));
      }
      default:
        throw new ScepRequestError(`unsupported SCEP operation ${JSON.stringify(operation ?? '')}`);
    }
  });

  app.post<{ Querystring: ScepQuery }>('/scep', deviceProtocol, async (request, reply) => {
    if (request.query.operation !== 'PKIOperation') throw new ScepRequestError(`unsupported SCEP operation ${JSON.stringify(request.query.operation ?? '')} for POST`);
    const body = request.body instanceof Buffer ? request.body : Buffer.alloc(0);
    return reply.code(200).type(PKI_MESSAGE_TYPE).send(await pkiOperation(body));
  });

  app.get<{ Querystring: EnrollQuery }>('/mdm/enroll', deviceProtocol, async (request, reply) => {
    const { token, identity } = request.query;
    if (identity !== undefined && identity !== 'scep' && identity !== 'pkcs12') throw Object.assign(new Error('identity must be scep or pkcs12'), { statusCode: 400 });
    if (typeof token !== 'string' || token.length === 0 || token.length > 512) {
      return reply.code(403).type('text/plain; charset=utf-8').send(`${REFUSALS.unknown}\n`);
    }
    // An EnrollmentProfileError here is a server misconfiguration (topic, public URL): a 500, logged.
    const served = await options.profiles.serve(token, { baseUrl: baseUrlOf(request, options.publicUrl), ...(identity !== undefined && { identity }) });
    if (!served.ok) {
      request.log.warn({ reason: served.reason }, 'enrollment profile refused');
      const message = served.reason === 'identity-not-allowed' ? `this enrollment link only allows identity=${served.allowed}` : REFUSALS[served.reason];
      return reply.code(403).type('text/plain; charset=utf-8').send(`${message}\n`);
    }
    request.log.info({ enrollmentTokenId: served.tokenId, identity: served.identity, serialNumber: served.serialNumber }, 'enrollment profile served');
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .header('content-disposition', 'attachment; filename="enroll.mobileconfig"')
      .type('application/x-apple-aspen-config')
      .send(served.profile);
  });
}

function baseUrlOf(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl !== undefined) return publicUrl.replace(/\/+$/, '');
  const host = request.host;
  if (typeof host !== 'string' || !HOST.test(host)) throw Object.assign(new Error('the request has no usable Host header'), { statusCode: 400 });
  return `https://${host}`;
}

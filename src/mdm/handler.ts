// The device-facing MDM protocol as two interfaces (NanoMDM's habit): one method per check-in
// message, one for "here is the result of the last command, what next?". services/ implements
// them; identity checks, webhooks and metrics wrap them (a CheckinHandler in, a CheckinHandler
// out) instead of being sprinkled through them. http/ only decodes, dispatches and encodes.

import type {
  AuthenticateMessage,
  CheckinMessage,
  CheckOutMessage,
  DeclarativeManagementMessage,
  GetBootstrapTokenMessage,
  GetTokenMessage,
  SetBootstrapTokenMessage,
  TokenUpdateMessage,
  UserAuthenticateMessage,
} from './checkin-messages.ts';
import type { CommandReport } from './command-report.ts';
import { enrollmentOf } from './enrollment-id.ts';
import type { EnrollmentRef } from './enrollment-id.ts';
import type { PlistDict } from './wire-fields.ts';

/** Who sent the request: the device certificate, already verified against a trusted device CA. */
export interface DeviceIdentity {
  /** SHA-256 of the certificate's DER, hex. */
  certHash: string;
  subject: string;
}

/** The subset of pino's logger the protocol layer uses (Fastify's request.log satisfies it). */
export interface MdmLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RequestContext {
  identity: DeviceIdentity;
  /** The enrollment the message names; dispatchCheckin / dispatchCommandReport fill it in. */
  enrollment?: EnrollmentRef;
  /** Milliseconds since the epoch, read once per request. */
  now: number;
  log: MdmLogger;
  /** The request body as received (signed bytes), for handlers that keep results verbatim. */
  body?: Uint8Array;
}

export interface GetBootstrapTokenResponse {
  /** Absent: no token escrowed. */
  BootstrapToken?: Uint8Array;
}

export interface GetTokenResponse {
  /** The token; a string token goes as its UTF-8 bytes (mdm/checkin/gettoken.yaml). */
  TokenData: Uint8Array;
}

/**
 * The answer to UserAuthenticate (macOS user channel), from Apple's UserAuthenticate discussion
 * (developer.apple.com/documentation/devicemanagement/user-authenticate):
 * - decline: HTTP 410 to the first request. "If the server isn't going to manage the user, it
 *   returns a 410 status code to the initial UserAuthenticate request"; the Mac then stops asking
 *   for that user until the next login.
 * - challenge: 200 with `DigestChallenge`. A zero-length challenge is not a decline: it ACCEPTS
 *   the user without an AuthToken (the user channel gets managed).
 * - authenticated: 200 with `AuthToken`, the answer to the second request; an empty AuthToken
 *   means the password (DigestResponse) was rejected.
 */
export type UserAuthenticateResponse =
  | { kind: 'decline' }
  | { kind: 'challenge'; DigestChallenge: string }
  | { kind: 'authenticated'; AuthToken: string };

/**
 * Declarative Management answers are JSON: bytes as they are, an object to serialise, or nothing
 * (an empty 200, e.g. after a status report).
 */
export type DeclarativeManagementResponse = Uint8Array | Record<string, unknown> | undefined;

export interface CheckinHandler {
  authenticate(ctx: RequestContext, message: AuthenticateMessage): Promise<void>;
  tokenUpdate(ctx: RequestContext, message: TokenUpdateMessage): Promise<void>;
  checkOut(ctx: RequestContext, message: CheckOutMessage): Promise<void>;
  setBootstrapToken(ctx: RequestContext, message: SetBootstrapTokenMessage): Promise<void>;
  getBootstrapToken(ctx: RequestContext, message: GetBootstrapTokenMessage): Promise<GetBootstrapTokenResponse>;
  userAuthenticate(ctx: RequestContext, message: UserAuthenticateMessage): Promise<UserAuthenticateResponse>;
  declarativeManagement(ctx: RequestContext, message: DeclarativeManagementMessage): Promise<DeclarativeManagementResponse>;
  getToken(ctx: RequestContext, message: GetTokenMessage): Promise<GetTokenResponse>;
}

/**
 * The next command, as the encoded plist that goes on the wire. Bytes rather than a dictionary:
 * queued commands are stored encoded (raw NanoMDM-style commands arrive that way), and the
 * connect endpoint is hot enough that decoding them only to encode them again is waste.
 */
export type CommandToSend = Uint8Array;

export interface CommandHandler {
  /** Record the report (unless Idle) and return the next command, or undefined for none. */
  reportAndNext(ctx: RequestContext, report: CommandReport): Promise<CommandToSend | undefined>;
}

/** What the check-in endpoint sends back; undefined (from dispatchCheckin) is an empty 200. */
export type CheckinReply =
  | { status: 200; kind: 'plist'; plist: PlistDict }
  | { status: 200; kind: 'json'; json: Uint8Array }
  | { status: 410; kind: 'gone' };

/**
 * The default for a server that does not offer per-user connections (no
 * com.apple.mdm.per-user-connections in the enrollment profile's ServerCapabilities): decline
 * every macOS user the way Apple specifies, with 410 to the first request. Not an empty
 * DigestChallenge, which would accept the user. See UserAuthenticateResponse.
 */
export async function declineUserAuthenticate(
  _ctx: RequestContext,
  _message: UserAuthenticateMessage,
): Promise<UserAuthenticateResponse> {
  return { kind: 'decline' };
}

/** Calls the handler method for the message and turns its result into what goes back. */
export async function dispatchCheckin(
  handler: CheckinHandler,
  ctx: RequestContext,
  message: CheckinMessage,
): Promise<CheckinReply | undefined> {
  const context = withEnrollment(ctx, message);
  switch (message.MessageType) {
    case 'Authenticate':
      await handler.authenticate(context, message);
      return undefined;
    case 'TokenUpdate':
      await handler.tokenUpdate(context, message);
      return undefined;
    case 'CheckOut':
      await handler.checkOut(context, message);
      return undefined;
    case 'SetBootstrapToken':
      await handler.setBootstrapToken(context, message);
      return undefined;
    case 'GetBootstrapToken': {
      const { BootstrapToken } = await handler.getBootstrapToken(context, message);
      return plist(BootstrapToken === undefined ? {} : { BootstrapToken });
    }
    case 'UserAuthenticate': {
      const answer = await handler.userAuthenticate(context, message);
      switch (answer.kind) {
        case 'decline':
          return { status: 410, kind: 'gone' };
        case 'challenge':
          return plist({ DigestChallenge: answer.DigestChallenge });
        case 'authenticated':
          return plist({ AuthToken: answer.AuthToken });
      }
      return unreachable(answer);
    }
    case 'DeclarativeManagement': {
      const answer = await handler.declarativeManagement(context, message);
      if (answer === undefined) return undefined;
      const json = answer instanceof Uint8Array ? answer : new TextEncoder().encode(JSON.stringify(answer));
      return { status: 200, kind: 'json', json };
    }
    case 'GetToken': {
      const { TokenData } = await handler.getToken(context, message);
      return plist({ TokenData });
    }
  }
  return unreachable(message);
}

/** reportAndNext with ctx.enrollment filled in from the report. */
export async function dispatchCommandReport(
  handler: CommandHandler,
  ctx: RequestContext,
  report: CommandReport,
): Promise<CommandToSend | undefined> {
  return handler.reportAndNext({ ...ctx, enrollment: ctx.enrollment ?? enrollmentOf(report) }, report);
}

function withEnrollment(ctx: RequestContext, message: CheckinMessage): RequestContext {
  if (ctx.enrollment !== undefined) return ctx;
  const keys = message as { UDID?: string; EnrollmentID?: string };
  // Bootstrap-token messages may carry no identity (see checkin-messages.ts); the certificate
  // binding identifies the enrollment then.
  if (keys.UDID === undefined && keys.EnrollmentID === undefined) return ctx;
  return { ...ctx, enrollment: enrollmentOf(message) };
}

function plist(body: PlistDict): CheckinReply {
  return { status: 200, kind: 'plist', plist: body };
}

function unreachable(value: never): never {
  throw new Error(`unhandled variant ${JSON.stringify(value)}`);
}

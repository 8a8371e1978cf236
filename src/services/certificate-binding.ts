// One device certificate, one enrollment (DESIGN "Contract"): at Authenticate the certificate's
// SHA-256 is bound to the enrollment; every later message for that device must come from the same
// certificate. A wrapper around the protocol handlers, so no handler can forget the check.
import type { EnrollmentType } from '../mdm/enrollment-id.ts';
import type { TokenUpdateMessage } from '../mdm/checkin-messages.ts';
import type { CheckinHandler, CommandHandler, CommandToSend, RequestContext } from '../mdm/handler.ts';
import type { Store } from '../store/database.ts';
import { DeviceRefusedError } from './device-refusal.ts';

/**
 * A command handler may answer Idle with the binding read in the same statement as its queue
 * read (one round trip instead of two). It must call `check` with the hash bound to the device
 * channel before it answers, and must neither write nor return a command unless that hash is the
 * presented certificate's. Offered as a non-enumerable property, so a wrapper that spreads a
 * handler to override reportAndNext does not carry it along (and keeps the ordinary path).
 */
export const IDLE_WITH_BINDING = Symbol('lockwarden.idleWithBinding');
export type IdleWithBinding = (ctx: RequestContext, check: (boundCertHash: string | undefined) => void) => Promise<CommandToSend | undefined>;

export function offerIdleWithBinding<H extends CommandHandler>(handler: H, idle: IdleWithBinding): H {
  return Object.defineProperty(handler, IDLE_WITH_BINDING, { value: idle, enumerable: false });
}

/**
 * Likewise for a device channel's TokenUpdate: the handler may make the binding a condition of
 * its write (one statement), and must call `check` with the hash bound to the device channel
 * before it returns; it must write nothing unless that hash is the presented certificate's.
 */
export const TOKEN_UPDATE_WITH_BINDING = Symbol('lockwarden.tokenUpdateWithBinding');
export type TokenUpdateWithBinding = (ctx: RequestContext, message: TokenUpdateMessage, check: (boundCertHash: string | undefined) => void) => Promise<void>;

export function offerTokenUpdateWithBinding<H extends CheckinHandler>(handler: H, tokenUpdate: TokenUpdateWithBinding): H {
  return Object.defineProperty(handler, TOKEN_UPDATE_WITH_BINDING, { value: tokenUpdate, enumerable: false });
}

/** Runs a handler's own binding-checked variant; refuses if it returned without the check. */
async function withCheck<T>(run: (check: (hash: string | undefined) => void) => Promise<T>, checkBound: (hash: string | undefined) => void): Promise<T> {
  let checked = false;
  const answer = await run((hash) => {
    checkBound(hash);
    checked = true;
  });
  // A handler that skipped the check (a bug) gets no answer through.
  if (!checked) throw new Error('answered without the certificate binding check');
  return answer;
}

export function certificateBinding(store: Store) {
  /** Refuses unless `hash`, the one bound to the device channel, is the presented certificate's. */
  const checkBound = (ctx: RequestContext, deviceId: string, hash: string | undefined): void => {
    if (hash === undefined) {
      throw new DeviceRefusedError(403, `${deviceId} is not enrolled: no Authenticate was accepted for it, or it checked out since`);
    }
    if (hash !== ctx.identity.certHash) {
      ctx.log.warn({ deviceId, presented: ctx.identity.certHash, subject: ctx.identity.subject }, 'certificate does not match the enrollment: possible impersonation');
      throw new DeviceRefusedError(403, `the certificate presented is not the one enrolled for ${deviceId}`);
    }
  };

  /**
   * The device channel carries the binding; user channels of a device share its certificate.
   * Messages that name no device (bootstrap-token messages may not) are identified by it.
   */
  const bound = async (ctx: RequestContext): Promise<RequestContext> => {
    if (ctx.enrollment === undefined) {
      const deviceId = await store.enrollments.deviceIdForCertHash(ctx.identity.certHash);
      const enrollment = deviceId === undefined ? undefined : await store.enrollments.get(deviceId);
      if (deviceId === undefined || enrollment === undefined || !enrollment.enabled) {
        throw new DeviceRefusedError(403, 'this certificate is not enrolled');
      }
      return { ...ctx, enrollment: { deviceId, enrollmentId: deviceId, channel: 'device', type: enrollment.type as EnrollmentType } };
    }
    const { deviceId } = ctx.enrollment;
    checkBound(ctx, deviceId, await store.enrollments.boundCertHash(deviceId));
    return ctx;
  };

  const checkins = (inner: CheckinHandler): CheckinHandler => {
    const tokenUpdateWithBinding = (inner as { [TOKEN_UPDATE_WITH_BINDING]?: TokenUpdateWithBinding })[TOKEN_UPDATE_WITH_BINDING];
    return {
      async authenticate(ctx, message) {
        // Re-enrollment (a new profile install) legitimately brings a new certificate for the same
        // device; what is never allowed is one certificate speaking for two devices.
        const owner = await store.enrollments.deviceIdForCertHash(ctx.identity.certHash);
        const deviceId = ctx.enrollment?.deviceId;
        if (owner !== undefined && owner !== deviceId) {
          ctx.log.warn({ deviceId, owner, subject: ctx.identity.subject }, 'certificate already enrolled for another device');
          throw new DeviceRefusedError(403, 'this certificate is already enrolled for another device');
        }
        return inner.authenticate(ctx, message);
      },
      async tokenUpdate(ctx, m) {
        const { enrollment } = ctx;
        if (tokenUpdateWithBinding !== undefined && enrollment !== undefined && enrollment.channel === 'device' && enrollment.enrollmentId === enrollment.deviceId) {
          return withCheck((check) => tokenUpdateWithBinding.call(inner, ctx, m, check), (hash) => checkBound(ctx, enrollment.deviceId, hash));
        }
        return inner.tokenUpdate(await bound(ctx), m);
      },
      checkOut: async (ctx, m) => inner.checkOut(await bound(ctx), m),
      setBootstrapToken: async (ctx, m) => inner.setBootstrapToken(await bound(ctx), m),
      getBootstrapToken: async (ctx, m) => inner.getBootstrapToken(await bound(ctx), m),
      userAuthenticate: async (ctx, m) => inner.userAuthenticate(await bound(ctx), m),
      declarativeManagement: async (ctx, m) => inner.declarativeManagement(await bound(ctx), m),
      getToken: async (ctx, m) => inner.getToken(await bound(ctx), m),
    };
  };

  const commands = (inner: CommandHandler): CommandHandler => {
    const idleWithBinding = (inner as { [IDLE_WITH_BINDING]?: IdleWithBinding })[IDLE_WITH_BINDING];
    return {
      async reportAndNext(ctx, report) {
        const { enrollment } = ctx;
        if (report.status === 'Idle' && idleWithBinding !== undefined && enrollment !== undefined) {
          return withCheck((check) => idleWithBinding.call(inner, ctx, check), (hash) => checkBound(ctx, enrollment.deviceId, hash));
        }
        return inner.reportAndNext(await bound(ctx), report);
      },
    };
  };

  return { checkins, commands };
}

// One device certificate, one enrollment (DESIGN "Contract"): at Authenticate the certificate's
// SHA-256 is bound to the enrollment; every later message for that device must come from the same
// certificate. A wrapper around the protocol handlers, so no handler can forget the check.
import type { EnrollmentType } from '../mdm/enrollment-id.ts';
import type { CheckinHandler, CommandHandler, RequestContext } from '../mdm/handler.ts';
import type { Store } from '../store/database.ts';
import { DeviceRefusedError } from './device-refusal.ts';

export function certificateBinding(store: Store) {
  /**
   * The device channel carries the binding; user channels of a device share its certificate.
   * Messages that name no device (bootstrap-token messages may not) are identified by it.
   */
  const bound = async (ctx: RequestContext): Promise<RequestContext> => {
    if (ctx.enrollment === undefined) {
      const deviceId = await store.enrollments.deviceIdForCertHash(ctx.identity.certHash);
      const enrollment = deviceId === undefined ? undefined : await store.enrollments.get(deviceId);
      if (deviceId === undefined || enrollment === undefined) {
        throw new DeviceRefusedError(403, 'this certificate is not enrolled');
      }
      return { ...ctx, enrollment: { deviceId, enrollmentId: deviceId, channel: 'device', type: enrollment.type as EnrollmentType } };
    }
    const { deviceId } = ctx.enrollment;
    const hash = await store.enrollments.boundCertHash(deviceId);
    if (hash === undefined) {
      throw new DeviceRefusedError(403, `unknown enrollment ${deviceId}: no Authenticate was accepted for it`);
    }
    if (hash !== ctx.identity.certHash) {
      ctx.log.warn({ deviceId, presented: ctx.identity.certHash, subject: ctx.identity.subject }, 'certificate does not match the enrollment: possible impersonation');
      throw new DeviceRefusedError(403, `the certificate presented is not the one enrolled for ${deviceId}`);
    }
    return ctx;
  };

  const checkins = (inner: CheckinHandler): CheckinHandler => ({
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
    tokenUpdate: async (ctx, m) => inner.tokenUpdate(await bound(ctx), m),
    checkOut: async (ctx, m) => inner.checkOut(await bound(ctx), m),
    setBootstrapToken: async (ctx, m) => inner.setBootstrapToken(await bound(ctx), m),
    getBootstrapToken: async (ctx, m) => inner.getBootstrapToken(await bound(ctx), m),
    userAuthenticate: async (ctx, m) => inner.userAuthenticate(await bound(ctx), m),
    declarativeManagement: async (ctx, m) => inner.declarativeManagement(await bound(ctx), m),
    getToken: async (ctx, m) => inner.getToken(await bound(ctx), m),
  });

  const commands = (inner: CommandHandler): CommandHandler => ({
    reportAndNext: async (ctx, report) => inner.reportAndNext(await bound(ctx), report),
  });

  return { checkins, commands };
}

// The check-in messages, as lockwarden answers them: enrollment state in the store, secrets
// (UnlockToken, bootstrap token) sealed with the master key before they reach it.
import { sealSecret, openSecret } from '../crypto/envelope.ts';
import type { TokenUpdateMessage } from '../mdm/checkin-messages.ts';
import type { CheckinHandler, RequestContext } from '../mdm/handler.ts';
import { platformOfProductName } from '../mdm/device-information-response.ts';
import { declineUserAuthenticate } from '../mdm/handler.ts';
import type { Store } from '../store/database.ts';
import { UnknownEnrollmentError } from '../store/errors.ts';
import type { Enrollment } from '../store/types.ts';
import { offerTokenUpdateWithBinding } from './certificate-binding.ts';
import { DeviceRefusedError } from './device-refusal.ts';
import { createDeclarativeService, noDeclarations } from './declarative-service.ts';
import type { DeclarativeService } from './declarative-service.ts';

/** AAD contexts: a sealed token opens only for the device it was sealed for (decision 9). */
export const unlockTokenContext = (deviceId: string) => `unlock-token:${deviceId}`;
const bootstrapTokenContext = (deviceId: string) => `bootstrap-token:${deviceId}`;

/** The enrollment the message belongs to, resolved by dispatch and the certificate binding. */
function enrollmentIn(ctx: RequestContext) {
  if (!ctx.enrollment) throw new DeviceRefusedError(400, 'the message names no enrollment');
  return ctx.enrollment;
}

/** The platform, when the product name tells it; otherwise the stored value stays. */
function platformFact(productName: string | undefined): { platform?: string } {
  const platform = productName ? platformOfProductName(productName) : undefined;
  return platform ? { platform } : {};
}

const unknownDevice = (deviceId: string) => new DeviceRefusedError(403, `unknown device ${deviceId}: it never sent Authenticate`);

export interface CheckinServiceDeps {
  store: Store;
  masterKey: Buffer;
  /** Answers DeclarativeManagement; default: no declarations for anyone. */
  declarative?: Pick<DeclarativeService, 'answer'>;
  /**
   * Told when a device channel completes enrollment (its first TokenUpdate since Authenticate),
   * so the passcode policy can be delivered. In-memory and synchronous: the TokenUpdate never
   * waits for delivery.
   */
  onEnrolled?: (deviceId: string) => void;
}

/**
 * The first TokenUpdate after Authenticate completes an enrollment (Enrollment.tokenUpdateCount).
 * A Shared iPad user's first one counts too: only then does the server learn the iPad is shared,
 * which changes what may be delivered to it.
 */
function completesEnrollment(enrollment: Enrollment): boolean {
  return enrollment.tokenUpdateCount === 1 && (enrollment.channel === 'device' || enrollment.type === 'Shared iPad');
}

export function checkinService(deps: CheckinServiceDeps): CheckinHandler {
  const { store } = deps;
  const { handler, tokenUpdate } = createCheckinService(deps);
  // TokenUpdate on the device channel with the certificate binding as a condition of the write
  // (see certificate-binding.ts): one statement fewer than the binding read before the update.
  return offerTokenUpdateWithBinding(handler, async (ctx, message, check) => {
    const { deviceId } = enrollmentIn(ctx);
    let enrollment: Enrollment;
    try {
      enrollment = await tokenUpdate(ctx, message, ctx.identity.certHash);
    } catch (err) {
      if (!(err instanceof UnknownEnrollmentError)) throw err;
      // Not bound to this certificate, or no such enrollment: the binding says which (and refuses).
      check(await store.enrollments.boundCertHash(deviceId));
      // Bound to it after all (re-bound in between): the ordinary TokenUpdate, binding checked.
      await handler.tokenUpdate(ctx, message);
      return;
    }
    check(enrollment.certHash);
    if (completesEnrollment(enrollment)) deps.onEnrolled?.(enrollment.deviceId);
  });
}

function createCheckinService({ store, masterKey, declarative = createDeclarativeService({ store, declarationsFor: noDeclarations }), onEnrolled }: CheckinServiceDeps) {
  const requireDevice = async (deviceId: string) => {
    const device = await store.enrollments.getDevice(deviceId);
    if (!device) throw unknownDevice(deviceId);
    return device;
  };

  /**
   * With `presentedCertHash` (device channel), the store writes only if the enrollment is bound to
   * that certificate, in the same statement; UnknownEnrollmentError then means "not bound to it".
   */
  const tokenUpdate = async (ctx: RequestContext, message: TokenUpdateMessage, presentedCertHash?: string): Promise<Enrollment> => {
    const e = enrollmentIn(ctx);
    // Apple sends UnlockToken only on a Device Enrollment's device channel (decision 9; the store
    // also drops one from a platform or Shared iPad that cannot have it). It is sealed before it
    // is stored, and an absent one leaves the stored token alone (the store guarantees that).
    const mayCarry = e.channel === 'device' && e.type === 'Device';
    if (message.UnlockToken && !mayCarry) ctx.log.warn({ enrollmentId: e.enrollmentId, type: e.type }, 'UnlockToken from an enrollment that cannot have one: not kept');
    const unlockToken = message.UnlockToken && mayCarry
      ? sealSecret(masterKey, Buffer.from(message.UnlockToken), unlockTokenContext(e.deviceId))
      : undefined;
    let enrollment: Enrollment;
    try {
      enrollment = await store.enrollments.tokenUpdate({
        enrollmentId: e.enrollmentId,
        deviceId: e.deviceId,
        channel: e.channel,
        type: e.type,
        topic: message.Topic,
        pushToken: Buffer.from(message.Token),
        pushMagic: message.PushMagic,
        ...(unlockToken && { unlockToken }),
        ...(presentedCertHash !== undefined && { boundCertHash: presentedCertHash }),
        now: ctx.now,
      });
    } catch (err) {
      // The store refuses an enrollment whose device never authenticated (no device channel to
      // update, no parent for a user channel) without writing anything: the same answer a
      // separate device lookup first would give, one read fewer.
      if (err instanceof UnknownEnrollmentError && presentedCertHash === undefined) throw unknownDevice(e.deviceId);
      throw err;
    }
    ctx.log.info({ enrollmentId: e.enrollmentId, unlockToken: unlockToken ? 'received' : 'absent' }, 'token update');
    return enrollment;
  };

  const handler: CheckinHandler = {
    async authenticate(ctx, message) {
      const e = enrollmentIn(ctx);
      await store.enrollments.authenticate({
        deviceId: e.deviceId,
        enrollmentId: e.enrollmentId,
        channel: e.channel,
        type: e.type,
        topic: message.Topic,
        certHash: ctx.identity.certHash,
        ...platformFact(message.ProductName ?? message.Model),
        serialNumber: message.SerialNumber,
        model: message.Model,
        modelName: message.ModelName,
        productName: message.ProductName,
        osVersion: message.OSVersion,
        buildVersion: message.BuildVersion,
        deviceName: message.DeviceName,
        now: ctx.now,
      });
      ctx.log.info({ enrollmentId: e.enrollmentId, type: e.type }, 'device authenticated');
    },

    async tokenUpdate(ctx, message) {
      const enrollment = await tokenUpdate(ctx, message);
      if (completesEnrollment(enrollment)) onEnrolled?.(enrollment.deviceId);
    },

    async checkOut(ctx) {
      const e = enrollmentIn(ctx);
      await store.enrollments.checkOut(e.enrollmentId, ctx.now);
      ctx.log.info({ enrollmentId: e.enrollmentId }, 'device checked out');
    },

    async setBootstrapToken(ctx, message) {
      const e = enrollmentIn(ctx);
      await requireDevice(e.deviceId);
      // Apple: a missing or empty BootstrapToken means "delete the escrowed token".
      const token = message.BootstrapToken && message.BootstrapToken.length > 0
        ? sealSecret(masterKey, Buffer.from(message.BootstrapToken), bootstrapTokenContext(e.deviceId))
        : null;
      await store.enrollments.setBootstrapToken(e.deviceId, token);
    },

    async getBootstrapToken(ctx) {
      const e = enrollmentIn(ctx);
      await requireDevice(e.deviceId);
      const sealed = await store.enrollments.getBootstrapToken(e.deviceId);
      if (!sealed) return {};
      return { BootstrapToken: openSecret(masterKey, sealed, bootstrapTokenContext(e.deviceId)) };
    },

    userAuthenticate: declineUserAuthenticate,

    async declarativeManagement(ctx, message) {
      const e = enrollmentIn(ctx);
      await requireDevice(e.deviceId);
      return declarative.answer(ctx, message);
    },

    async getToken(_ctx, message) {
      throw new DeviceRefusedError(400, `GetToken for ${message.TokenServiceType} is not supported by this server`);
    },
  };
  return { handler, tokenUpdate };
}

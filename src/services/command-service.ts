// The command queue as devices see it (PUT /mdm/connect): record the result of the last command,
// hand out the next one. Apple's NotNow semantics live in the store's `next`.
import type { CommandHandler } from '../mdm/handler.ts';
import type { Store } from '../store/database.ts';
import { offerIdleWithBinding } from './certificate-binding.ts';

export interface CommandServiceDeps {
  store: Store;
  /**
   * Told after a result (not Idle) was stored: compliance takes in the results of its own
   * commands. In-memory and synchronous; it must not do I/O on the device's request.
   */
  onResult?: (enrollmentId: string, commandUuid: string, status: string) => void;
}

export function commandService({ store, onResult }: CommandServiceDeps): CommandHandler {
  const handler: CommandHandler = {
    async reportAndNext(ctx, report) {
      const enrollmentId = ctx.enrollment!.enrollmentId;
      if (report.status !== 'Idle') {
        const found = await store.commands.report(enrollmentId, report.commandUuid!, report.status, ctx.body, ctx.now);
        if (!found) {
          // A result for a command this enrollment was never sent: log it, keep the queue moving.
          ctx.log.warn({ enrollmentId, commandUuid: report.commandUuid, status: report.status }, 'result for an unknown command ignored');
        } else {
          onResult?.(enrollmentId, report.commandUuid!, report.status);
        }
      }
      // After NotNow the device is busy with something; offer deferred commands again only at Idle.
      const next = await store.commands.next(enrollmentId, { skipNotNow: report.status !== 'Idle', now: ctx.now });
      return next?.body;
    },
  };
  // Idle, the most frequent request, with the certificate binding read in the same statement as
  // the queue (see certificate-binding.ts): what reportAndNext does for Idle, one round trip fewer.
  return offerIdleWithBinding(handler, async (ctx, check) => {
    const { deviceId, enrollmentId } = ctx.enrollment!;
    const { boundCertHash, next } = await store.commands.nextForCertificate(enrollmentId, {
      deviceId,
      certHash: ctx.identity.certHash,
      skipNotNow: false,
      now: ctx.now,
    });
    check(boundCertHash);
    return next?.body;
  });
}

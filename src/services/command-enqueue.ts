// Queuing a command on an admin's behalf (admin API and NanoMDM's /v1/enqueue): the command and
// its audit event are written in one transaction. A device fetches whatever is queued at its next
// check-in, pushed or not, so a queued command must never exist without its event.

import type { Store } from '../store/database.ts';
import type { EnqueueOptions, NewCommand } from '../store/types.ts';
import type { AuditActor, AuditLog } from './audit-log.ts';

/** Enrollment ids listed in one event; the count is always exact. */
const LISTED_IDS = 1000;

/** Queues `command` for the enrollments and records command.enqueue; returns the enrollments queued for. */
export async function enqueueAudited(
  store: Store, audit: AuditLog, actor: AuditActor, command: NewCommand, enrollmentIds: readonly string[], opts: EnqueueOptions,
): Promise<number> {
  const ids = [...new Set(enrollmentIds)];
  return store.transaction(async (tx) => {
    const count = await tx.commands.enqueue(command, ids, opts);
    // The request type and uuid identify the command; its body never enters the log.
    await audit.record(actor, 'command.enqueue', ids.length === 1 ? ids[0]! : null, {
      requestType: command.requestType,
      commandUuid: command.uuid,
      deviceCount: ids.length,
      deviceIds: ids.slice(0, LISTED_IDS),
      ...(ids.length > LISTED_IDS && { deviceIdsTruncated: true }),
    }, tx);
    return count;
  });
}

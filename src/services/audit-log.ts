// The audit log of sensitive admin actions: who created an enrollment or API token, imported the
// push certificate, queued a command, revoked a token. Events are chained by HMAC-SHA256 under a
// key derived from the master key (audit-store.ts has the chain): the key never reaches the
// database, so someone who can write the database but does not hold the master key cannot
// rewrite the history without `lockwarden audit verify` noticing.
//
// Details say what was done, never with what secret: no token, password, private key or command
// body (a command can carry a passcode or an UnlockToken). record() refuses such keys outright.

import { createHmac, hkdfSync } from 'node:crypto';
import type { Repositories, Store } from '../store/database.ts';
import type { AuditEvent, AuditMac, AuditQuery, AuditVerification } from '../store/types.ts';

/** HKDF info: a key for this purpose only, independent of the envelope encryption's use of the master key. */
export const AUDIT_KEY_INFO = 'lockwarden audit log v1';

export type AuditAction =
  | 'api-token.create'
  | 'api-token.revoke'
  | 'enrollment-token.create'
  | 'push-certificate.import'
  | 'command.enqueue'
  | 'policy.create'
  | 'policy.update'
  | 'policy.delete'
  | 'policy.assign'
  | 'policy.unassign'
  | 'device.groups';

export interface AuditActor {
  /** An API token id, or 'system' (the server itself) / 'cli'. */
  id: string;
  name: string;
}

export const SYSTEM_ACTOR: AuditActor = { id: 'system', name: 'lockwarden' };

export type AuditDetails = Record<string, string | number | boolean | null | readonly string[]>;

export interface AuditLog {
  /**
   * Appends an event. Given `within` (the repositories of a Store.transaction), the event commits
   * or rolls back with the action done in that transaction. A failure throws: the action must
   * fail with it.
   */
  record(actor: AuditActor, action: AuditAction, target: string | null, details: AuditDetails, within?: Pick<Repositories, 'audit'>): Promise<AuditEvent>;
  list(query: AuditQuery): Promise<AuditEvent[]>;
  /** Walks the whole chain; the first broken seq, or the count of intact events. */
  verify(): Promise<AuditVerification>;
}

/** Detail names that would hold a secret; a guard against a careless caller, not a redactor. */
const SECRET_DETAIL = /^(token|secret|password|passcode|pin|key|privatekey|privatekeypem|p12|body|command|unlocktoken|bootstraptoken)$/i;

export function auditMac(masterKey: Buffer): AuditMac {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), AUDIT_KEY_INFO, 32));
  return (input) => createHmac('sha256', key).update(input).digest('hex');
}

export function createAuditLog(store: Store, masterKey: Buffer, now: () => number = Date.now): AuditLog {
  const mac = auditMac(masterKey);
  return {
    async record(actor, action, target, details, within = store) {
      const secret = Object.keys(details).find((name) => SECRET_DETAIL.test(name));
      if (secret !== undefined) throw new Error(`audit details must not carry secrets: "${secret}" refused for ${action}`);
      return within.audit.append({ at: now(), actor: actor.id, actorName: actor.name, action, target, details }, mac);
    },
    list: (query) => store.audit.list(query),
    verify: () => store.audit.verify(mac),
  };
}

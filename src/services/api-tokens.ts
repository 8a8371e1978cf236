// API tokens of the admin API: issued with a role and shown once, kept as a SHA-256 hash,
// revoked. Each issue and revocation is audited in the same transaction as the change itself.

import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/database.ts';
import type { ApiToken, ApiTokenRole } from '../store/types.ts';
import type { AuditActor, AuditLog } from './audit-log.ts';

/** The roles an admin can hand out; 'device-api' is reserved for device-facing integrations. */
export const ISSUABLE_ROLES = ['admin', 'operator', 'auditor'] as const satisfies readonly ApiTokenRole[];
export type IssuableRole = (typeof ISSUABLE_ROLES)[number];

export type RevokeOutcome =
  | { ok: true; token: ApiToken }
  | { ok: false; reason: 'unknown' | 'already-revoked' | 'last-admin' };

export interface ApiTokenService {
  /** A new token (or `token`, the bootstrap one from the environment); the secret is returned once. */
  issue(actor: AuditActor, input: { name: string; role: ApiTokenRole; token?: string }): Promise<{ token: string; record: ApiToken }>;
  /** Revokes a live token, unless it is the last live admin token. */
  revoke(actor: AuditActor, id: string): Promise<RevokeOutcome>;
  list(): Promise<ApiToken[]>;
}

export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newApiTokenSecret(): string {
  return `lw_${randomBytes(24).toString('base64url')}`;
}

/** Thrown inside the transaction to roll the revocation's event back, then turned into an outcome. */
class Refused extends Error {
  constructor(readonly reason: 'already-revoked' | 'last-admin') {
    super(reason);
  }
}

export function createApiTokenService(store: Store, audit: AuditLog, now: () => number = Date.now): ApiTokenService {
  return {
    async issue(actor, { name, role, token = newApiTokenSecret() }) {
      const record = await store.transaction(async (tx) => {
        const created = await tx.tokens.createApiToken({ tokenHash: hashApiToken(token), name, role, now: now() });
        await audit.record(actor, 'api-token.create', created.id, { name, role }, tx);
        return created;
      });
      return { token, record };
    },

    async revoke(actor, id) {
      const existing = await store.tokens.getApiToken(id);
      if (!existing) return { ok: false, reason: 'unknown' };
      if (existing.revokedAt !== null) return { ok: false, reason: 'already-revoked' };
      try {
        const token = await store.transaction(async (tx) => {
          // The event first: appending takes the audit chain's lock, which serialises this
          // revocation with every other audited action, so the "another admin stays" check in the
          // revoking statement cannot race two admins revoking each other. Refused, the event is
          // rolled back with the transaction.
          await audit.record(actor, 'api-token.revoke', id, { name: existing.name, role: existing.role }, tx);
          const at = now();
          if (!(await tx.tokens.revokeApiToken(id, at, { keepAnAdmin: true }))) {
            const current = await tx.tokens.getApiToken(id);
            throw new Refused(current?.revokedAt == null ? 'last-admin' : 'already-revoked');
          }
          return { ...existing, revokedAt: at };
        });
        return { ok: true, token };
      } catch (err) {
        if (err instanceof Refused) return { ok: false, reason: err.reason };
        throw err;
      }
    },

    list: () => store.tokens.listApiTokens(),
  };
}

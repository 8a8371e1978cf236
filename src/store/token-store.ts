// Enrollment tokens (who may enroll, how often, until when) and API bearer tokens. Only SHA-256
// hashes of tokens reach the store: a database dump reveals no usable token.

import { randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { DuplicateKeyError, isUniqueViolation, StoreError } from './errors.ts';
import type { ApiTokensTable, Database, EnrollmentTokensTable } from './schema.ts';
import type { ApiToken, ConsumeResult, EnrollmentToken, NewApiToken, NewEnrollmentToken } from './types.ts';

export interface TokenStore {
  createEnrollmentToken(t: Omit<NewEnrollmentToken, 'id'> & { id?: string }): Promise<EnrollmentToken>;
  findEnrollmentToken(tokenHash: string): Promise<EnrollmentToken | undefined>;
  getEnrollmentToken(id: string): Promise<EnrollmentToken | undefined>;
  listEnrollmentTokens(): Promise<EnrollmentToken[]>;
  /**
   * Uses the token once, atomically: one conditional UPDATE checks revocation, expiry and
   * uses < max_uses and increments, so of two enrollments racing for the last use exactly one wins.
   */
  consumeEnrollmentToken(tokenHash: string, now: number): Promise<ConsumeResult>;
  revokeEnrollmentToken(id: string, now: number): Promise<boolean>;

  createApiToken(t: Omit<NewApiToken, 'id'> & { id?: string }): Promise<ApiToken>;
  /** The token with this hash unless it is revoked. */
  findApiToken(tokenHash: string): Promise<ApiToken | undefined>;
  /** The token with this id, revoked or not. */
  getApiToken(id: string): Promise<ApiToken | undefined>;
  touchApiToken(id: string, now: number): Promise<void>;
  /**
   * Revokes a live token; false when there is none with this id. With `keepAnAdmin`, also false
   * when it is the last live admin token (checked in the same statement): nobody could
   * administer the server any more.
   */
  revokeApiToken(id: string, now: number, opts?: { keepAnAdmin?: boolean }): Promise<boolean>;
  /** Tokens not revoked. */
  countApiTokens(): Promise<number>;
  listApiTokens(): Promise<ApiToken[]>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A guard against a caller handing over the token itself instead of its hash. */
function checkHash(tokenHash: string): void {
  if (!SHA256_HEX.test(tokenHash)) throw new StoreError('token hashes are lowercase hex SHA-256 (64 characters)');
}

function toEnrollmentToken(row: Selectable<EnrollmentTokensTable>): EnrollmentToken {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    label: row.label,
    expiresAt: row.expires_at,
    maxUses: row.max_uses,
    uses: row.uses,
    identity: row.identity,
    createdBy: row.created_by,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

function toApiToken(row: Selectable<ApiTokensTable>): ApiToken {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    name: row.name,
    role: row.role,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export function createTokenStore(db: Kysely<Database>): TokenStore {
  return {
    async createEnrollmentToken(t) {
      checkHash(t.tokenHash);
      try {
        const row = await db
          .insertInto('enrollment_tokens')
          .values({
            id: t.id ?? randomUUID(),
            token_hash: t.tokenHash,
            label: t.label,
            expires_at: t.expiresAt ?? null,
            max_uses: t.maxUses ?? null,
            uses: 0,
            identity: t.identity,
            created_by: t.createdBy ?? null,
            created_at: t.now,
            revoked_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toEnrollmentToken(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw new DuplicateKeyError('enrollment token');
        throw err;
      }
    },

    async findEnrollmentToken(tokenHash) {
      const row = await db.selectFrom('enrollment_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
      return row === undefined ? undefined : toEnrollmentToken(row);
    },

    async getEnrollmentToken(id) {
      const row = await db.selectFrom('enrollment_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : toEnrollmentToken(row);
    },

    async listEnrollmentTokens() {
      const rows = await db.selectFrom('enrollment_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toEnrollmentToken);
    },

    async consumeEnrollmentToken(tokenHash, now) {
      // PostgreSQL re-checks the WHERE clause on the latest row version after waiting for a
      // concurrent updater's row lock; SQLite serialises writers. Either way the check and the
      // increment are one step.
      const row = await db
        .updateTable('enrollment_tokens')
        .set((eb) => ({ uses: eb('uses', '+', 1) }))
        .where('token_hash', '=', tokenHash)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
        .returningAll()
        .executeTakeFirst();
      if (row !== undefined) return { ok: true, token: toEnrollmentToken(row) };
      // Refused: say why (a cold path, so a second read is fine).
      const token = await db.selectFrom('enrollment_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
      if (token === undefined) return { ok: false, reason: 'unknown' };
      if (token.revoked_at !== null) return { ok: false, reason: 'revoked' };
      if (token.expires_at !== null && token.expires_at <= now) return { ok: false, reason: 'expired' };
      return { ok: false, reason: 'exhausted' };
    },

    async revokeEnrollmentToken(id, now) {
      const result = await db
        .updateTable('enrollment_tokens')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async createApiToken(t) {
      checkHash(t.tokenHash);
      try {
        const row = await db
          .insertInto('api_tokens')
          .values({
            id: t.id ?? randomUUID(),
            token_hash: t.tokenHash,
            name: t.name,
            role: t.role,
            created_at: t.now,
            last_used_at: null,
            revoked_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return toApiToken(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw new DuplicateKeyError('API token');
        throw err;
      }
    },

    async findApiToken(tokenHash) {
      const row = await db
        .selectFrom('api_tokens')
        .selectAll()
        .where('token_hash', '=', tokenHash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return row === undefined ? undefined : toApiToken(row);
    },

    async getApiToken(id) {
      const row = await db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : toApiToken(row);
    },

    async touchApiToken(id, now) {
      await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
    },

    async revokeApiToken(id, now, opts = {}) {
      let update = db
        .updateTable('api_tokens')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where('revoked_at', 'is', null);
      if (opts.keepAnAdmin) {
        update = update.where((eb) => eb.or([
          eb('role', '!=', 'admin'),
          eb.exists(eb.selectFrom('api_tokens as other').select('other.id')
            .where('other.role', '=', 'admin').where('other.revoked_at', 'is', null).where('other.id', '!=', id)),
        ]));
      }
      const result = await update.executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async countApiTokens() {
      const row = await db
        .selectFrom('api_tokens')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    async listApiTokens() {
      const rows = await db.selectFrom('api_tokens').selectAll().orderBy('created_at').orderBy('id').execute();
      return rows.map(toApiToken);
    },
  };
}

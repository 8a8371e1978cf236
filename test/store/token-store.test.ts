// TokenStore on both databases: enrollment tokens (consume is atomic under a race) and API tokens.
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/database.ts';
import { DuplicateKeyError, StoreError } from '../../src/store/errors.ts';
import { databases } from '../support/databases.ts';

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

for (const database of databases) {
  describe.skipIf(!database.available)(`TokenStore (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => { store = await database.open(); });
    afterEach(async () => { await store.close(); });

    it('creates and finds an enrollment token by hash', async () => {
      const created = await store.tokens.createEnrollmentToken({
        id: 'et-1', tokenHash: hash('t1'), label: 'Lab iPads', expiresAt: 10_000, maxUses: 3, identity: 'scep', createdBy: 'admin', now: 1_000,
      });
      expect(created).toEqual({
        id: 'et-1', tokenHash: hash('t1'), label: 'Lab iPads', expiresAt: 10_000, maxUses: 3, uses: 0, identity: 'scep',
        createdBy: 'admin', createdAt: 1_000, revokedAt: null,
      });
      expect(await store.tokens.findEnrollmentToken(hash('t1'))).toEqual(created);
      expect(await store.tokens.getEnrollmentToken('et-1')).toEqual(created);
      expect(await store.tokens.findEnrollmentToken(hash('other'))).toBeUndefined();
      expect(await store.tokens.listEnrollmentTokens()).toEqual([created]);
    });

    it('refuses a token that is not a SHA-256 hash, and a duplicate hash', async () => {
      await expect(store.tokens.createEnrollmentToken({ tokenHash: 'plaintext-token', label: 'x', identity: 'any', now: 1 })).rejects.toBeInstanceOf(StoreError);
      await store.tokens.createEnrollmentToken({ tokenHash: hash('t'), label: 'x', identity: 'any', now: 1 });
      await expect(store.tokens.createEnrollmentToken({ tokenHash: hash('t'), label: 'y', identity: 'any', now: 1 })).rejects.toBeInstanceOf(DuplicateKeyError);
    });

    it('consume counts uses and refuses with the reason', async () => {
      await store.tokens.createEnrollmentToken({ id: 'twice', tokenHash: hash('twice'), label: 'x', maxUses: 2, expiresAt: 5_000, identity: 'any', now: 1 });
      expect(await store.tokens.consumeEnrollmentToken(hash('twice'), 1_000)).toMatchObject({ ok: true, token: { uses: 1 } });
      expect(await store.tokens.consumeEnrollmentToken(hash('twice'), 5_000)).toEqual({ ok: false, reason: 'expired' });
      expect(await store.tokens.consumeEnrollmentToken(hash('twice'), 4_999)).toMatchObject({ ok: true, token: { uses: 2 } });
      expect(await store.tokens.consumeEnrollmentToken(hash('twice'), 4_999)).toEqual({ ok: false, reason: 'exhausted' });
      expect(await store.tokens.consumeEnrollmentToken(hash('nope'), 1)).toEqual({ ok: false, reason: 'unknown' });
      expect((await store.tokens.getEnrollmentToken('twice'))?.uses).toBe(2);

      await store.tokens.createEnrollmentToken({ id: 'open', tokenHash: hash('open'), label: 'x', identity: 'any', now: 1 });
      for (let i = 0; i < 5; i++) expect((await store.tokens.consumeEnrollmentToken(hash('open'), 9e12)).ok).toBe(true);
      expect(await store.tokens.revokeEnrollmentToken('open', 10)).toBe(true);
      expect(await store.tokens.revokeEnrollmentToken('open', 11)).toBe(false);
      expect(await store.tokens.consumeEnrollmentToken(hash('open'), 20)).toEqual({ ok: false, reason: 'revoked' });
    });

    it('of many consumers racing for the last use on separate connections, exactly one wins', async () => {
      await store.tokens.createEnrollmentToken({ id: 'last', tokenHash: hash('last'), label: 'x', maxUses: 3, identity: 'any', now: 1 });
      await store.tokens.consumeEnrollmentToken(hash('last'), 2);
      await store.tokens.consumeEnrollmentToken(hash('last'), 2);
      const peers = [store, await database.openPeer(store), await database.openPeer(store), await database.openPeer(store)];
      const attempts = await Promise.all(
        Array.from({ length: 24 }, (_, i) => peers[i % peers.length]!.tokens.consumeEnrollmentToken(hash('last'), 3)),
      );
      expect(attempts.filter((a) => a.ok)).toHaveLength(1);
      expect(attempts.filter((a) => !a.ok && a.reason === 'exhausted')).toHaveLength(23);
      expect((await store.tokens.getEnrollmentToken('last'))?.uses).toBe(3);
      for (const peer of peers.slice(1)) await peer.close();
    });

    it('API tokens: create, find, touch, revoke, count', async () => {
      const created = await store.tokens.createApiToken({ tokenHash: hash('api'), name: 'ci', role: 'operator', now: 1_000 });
      expect(created).toMatchObject({ tokenHash: hash('api'), name: 'ci', role: 'operator', createdAt: 1_000, lastUsedAt: null, revokedAt: null });
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(await store.tokens.findApiToken(hash('api'))).toEqual(created);
      await store.tokens.touchApiToken(created.id, 2_000);
      expect((await store.tokens.findApiToken(hash('api')))?.lastUsedAt).toBe(2_000);
      await store.tokens.createApiToken({ id: 'second', tokenHash: hash('api-2'), name: 'auditor', role: 'auditor', now: 1_500 });
      expect(await store.tokens.countApiTokens()).toBe(2);
      expect(await store.tokens.revokeApiToken(created.id, 3_000)).toBe(true);
      expect(await store.tokens.revokeApiToken(created.id, 4_000)).toBe(false);
      expect(await store.tokens.findApiToken(hash('api'))).toBeUndefined();
      expect(await store.tokens.countApiTokens()).toBe(1);
      expect((await store.tokens.listApiTokens()).map((t) => [t.id, t.revokedAt])).toEqual([[created.id, 3_000], ['second', null]]);
      await expect(store.tokens.createApiToken({ tokenHash: hash('api-2'), name: 'again', role: 'admin', now: 1 })).rejects.toBeInstanceOf(DuplicateKeyError);
    });

    it('API tokens: get by id, revoked or not; keepAnAdmin refuses to revoke the last live admin', async () => {
      await store.tokens.createApiToken({ id: 'a', tokenHash: hash('a'), name: 'a', role: 'admin', now: 1 });
      await store.tokens.createApiToken({ id: 'b', tokenHash: hash('b'), name: 'b', role: 'admin', now: 1 });
      await store.tokens.createApiToken({ id: 'o', tokenHash: hash('o'), name: 'o', role: 'operator', now: 1 });
      expect(await store.tokens.revokeApiToken('o', 2, { keepAnAdmin: true })).toBe(true);
      expect(await store.tokens.revokeApiToken('a', 3, { keepAnAdmin: true })).toBe(true);
      expect(await store.tokens.revokeApiToken('b', 4, { keepAnAdmin: true })).toBe(false);
      expect(await store.tokens.getApiToken('a')).toMatchObject({ role: 'admin', revokedAt: 3 });
      expect(await store.tokens.getApiToken('b')).toMatchObject({ role: 'admin', revokedAt: null });
      expect(await store.tokens.getApiToken('nope')).toBeUndefined();
      expect(await store.tokens.revokeApiToken('b', 5)).toBe(true);
    });
  });
}

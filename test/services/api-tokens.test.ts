// ApiTokenService on both databases: issuing and revoking audit themselves in the same
// transaction, and two admins revoking each other at once from separate connections cannot leave
// the server without an admin (the audit chain's lock serialises the two revocations).
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTokenService, hashApiToken } from '../../src/services/api-tokens.ts';
import { createAuditLog } from '../../src/services/audit-log.ts';
import type { Store } from '../../src/store/database.ts';
import { databases } from '../support/databases.ts';

const masterKey = randomBytes(32);

for (const database of databases) {
  describe.skipIf(!database.available)(`ApiTokenService (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => { store = await database.open(); });
    afterEach(async () => { await store.close(); });

    const service = (on: Store) => createApiTokenService(on, createAuditLog(on, masterKey));
    const alice = { id: 'actor-alice', name: 'alice' };

    it('issues a token shown once and stored as its hash, each issue and revocation audited', async () => {
      const tokens = service(store);
      const { token, record } = await tokens.issue(alice, { name: 'ci', role: 'operator' });
      expect(record.tokenHash).toBe(hashApiToken(token));
      expect(await tokens.revoke(alice, record.id)).toMatchObject({ ok: true, token: { id: record.id, revokedAt: expect.any(Number) } });
      expect(await tokens.revoke(alice, record.id)).toEqual({ ok: false, reason: 'already-revoked' });
      expect(await tokens.revoke(alice, 'nope')).toEqual({ ok: false, reason: 'unknown' });
      const events = await createAuditLog(store, masterKey).list({ limit: 10, order: 'asc' });
      expect(events.map((e) => [e.actor, e.action, e.target, e.details])).toEqual([
        ['actor-alice', 'api-token.create', record.id, { name: 'ci', role: 'operator' }],
        ['actor-alice', 'api-token.revoke', record.id, { name: 'ci', role: 'operator' }],
      ]);
      expect(JSON.stringify(events)).not.toContain(token);
    });

    it('of two admins revoking each other at once, exactly one succeeds and an admin remains', async () => {
      const peer = await database.openPeer(store);
      for (let round = 0; round < 5; round++) {
        const a = (await service(store).issue(alice, { name: `a${round}`, role: 'admin' })).record;
        const b = (await service(store).issue(alice, { name: `b${round}`, role: 'admin' })).record;
        const outcomes = await Promise.all([service(store).revoke(alice, a.id), service(peer).revoke(alice, b.id)]);
        expect(outcomes.filter((o) => o.ok)).toHaveLength(1);
        expect(outcomes.filter((o) => !o.ok && o.reason === 'last-admin')).toHaveLength(1);
        expect((await store.tokens.listApiTokens()).filter((t) => t.role === 'admin' && t.revokedAt === null)).toHaveLength(1);
        // Clear the survivor for the next round (without the guard).
        const survivor = (await store.tokens.listApiTokens()).find((t) => t.role === 'admin' && t.revokedAt === null)!;
        await store.tokens.revokeApiToken(survivor.id, Date.now());
      }
      expect(await createAuditLog(store, masterKey).verify()).toMatchObject({ ok: true, count: 15 });
      await peer.close();
    });
  });
}

// AuditStore on both databases: the chain, concurrent appends from separate connections, what
// verify catches (an edited row, a deleted one, a forged mac, a swapped pair), paging and filters,
// and events that commit or roll back with the action in one Store.transaction.
import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_GENESIS_MAC } from '../../src/store/audit-store.ts';
import type { Store } from '../../src/store/database.ts';
import { UnknownEnrollmentError } from '../../src/store/errors.ts';
import type { AuditMac, NewAuditEvent } from '../../src/store/types.ts';
import { databases } from '../support/databases.ts';

const keyed = (key: string): AuditMac => (input) => createHmac('sha256', key).update(input).digest('hex');
const mac = keyed('test audit key');

const event = (n: number, overrides: Partial<NewAuditEvent> = {}): NewAuditEvent => ({
  at: 1_000 + n, actor: 'token-1', actorName: 'ci', action: 'command.enqueue', target: `UDID-${n}`, details: { n }, ...overrides,
});

for (const database of databases) {
  describe.skipIf(!database.available)(`AuditStore (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => { store = await database.open(); });
    afterEach(async () => { await store.close(); });

    const appendMany = async (count: number) => {
      for (let n = 1; n <= count; n++) await store.audit.append(event(n), mac);
    };
    const rows = () => store.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();

    it('chains each event to the one before, from a genesis mac', async () => {
      const first = await store.audit.append(event(1, { details: { label: 'Lab iPads', maxUses: 3 } }), mac);
      const second = await store.audit.append(event(2, { target: null }), mac);
      expect(first).toMatchObject({ seq: 1, prevMac: AUDIT_GENESIS_MAC, details: { label: 'Lab iPads', maxUses: 3 }, actorName: 'ci' });
      expect(first.mac).toMatch(/^[0-9a-f]{64}$/);
      expect(second).toMatchObject({ seq: 2, prevMac: first.mac, target: null });
      expect(await store.audit.verify(mac)).toEqual({ ok: true, count: 2, head: { seq: 2, mac: second.mac } });
      expect(await store.audit.list({ limit: 10 })).toEqual([second, first]);
    });

    it('an empty log verifies, with no head', async () => {
      expect(await store.audit.verify(mac)).toEqual({ ok: true, count: 0, head: null });
    });

    it('concurrent appends from two peers on separate connections build one consistent chain', async () => {
      const peer = await database.openPeer(store);
      const writers = [store, peer];
      await Promise.all(Array.from({ length: 40 }, (_, i) => writers[i % 2]!.audit.append(event(i), mac)));
      const all = await rows();
      expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(new Set(all.map((r) => (r.details))).size).toBe(40);
      expect(await peer.audit.verify(mac)).toMatchObject({ ok: true, count: 40 });
      await peer.close();
    });

    it('verify names an edited event', async () => {
      await appendMany(4);
      await store.db.updateTable('audit_events').set({ details: '{"n":99}' }).where('seq', '=', 3).execute();
      expect(await store.audit.verify(mac)).toMatchObject({ ok: false, count: 2, seq: 3, problem: 'mac', message: expect.stringContaining('edited') });
    });

    it('verify names a deleted event, in the middle and at the start', async () => {
      await appendMany(4);
      await store.db.deleteFrom('audit_events').where('seq', '=', 2).execute();
      expect(await store.audit.verify(mac)).toMatchObject({ ok: false, count: 1, seq: 2, problem: 'missing' });
      await store.db.deleteFrom('audit_events').where('seq', '=', 1).execute();
      expect(await store.audit.verify(mac)).toMatchObject({ ok: false, count: 0, seq: 1, problem: 'missing' });
    });

    it('verify names a forged mac, and a chain rewritten without the key', async () => {
      await appendMany(3);
      await store.db.updateTable('audit_events').set({ mac: 'f'.repeat(64) }).where('seq', '=', 2).execute();
      expect(await store.audit.verify(mac)).toMatchObject({ ok: false, seq: 2, problem: 'mac' });

      // Someone who can write the database rebuilds the whole chain consistently, with a key of
      // their own: the first event already fails under the real key.
      await store.db.deleteFrom('audit_events').execute();
      const forger = keyed('not the master key');
      for (let n = 1; n <= 3; n++) await store.audit.append(event(n), forger);
      expect(await store.audit.verify(forger)).toMatchObject({ ok: true, count: 3 });
      expect(await store.audit.verify(mac)).toMatchObject({ ok: false, count: 0, seq: 1, problem: 'mac' });
    });

    it('verify names two swapped events', async () => {
      await appendMany(4);
      // Exchange the seq of events 2 and 3 (through a free number: seq is the primary key).
      await store.db.updateTable('audit_events').set({ seq: 1000 }).where('seq', '=', 2).execute();
      await store.db.updateTable('audit_events').set({ seq: 2 }).where('seq', '=', 3).execute();
      await store.db.updateTable('audit_events').set({ seq: 3 }).where('seq', '=', 1000).execute();
      expect(await store.audit.verify(mac)).toMatchObject({ ok: false, count: 1, seq: 2, problem: 'link', message: expect.stringContaining('reordered') });
    });

    it('verify walks in batches and finds a break in a later batch', async () => {
      await appendMany(7);
      expect(await store.audit.verify(mac, { batchSize: 2 })).toMatchObject({ ok: true, count: 7, head: { seq: 7 } });
      await store.db.updateTable('audit_events').set({ actor_name: 'someone else' }).where('seq', '=', 6).execute();
      expect(await store.audit.verify(mac, { batchSize: 2 })).toMatchObject({ ok: false, count: 5, seq: 6, problem: 'mac' });
    });

    it('lists newest or oldest first with a seq cursor, filtered by action, target and time', async () => {
      for (let n = 1; n <= 7; n++) {
        await store.audit.append(event(n, { action: n % 2 === 0 ? 'api-token.create' : 'command.enqueue', target: n <= 3 ? 'A' : 'B', at: n * 100 }), mac);
      }
      const seqs = async (q: Parameters<Store['audit']['list']>[0]) => (await store.audit.list(q)).map((e) => e.seq);
      expect(await seqs({ limit: 3 })).toEqual([7, 6, 5]);
      expect(await seqs({ limit: 3, after: 5 })).toEqual([4, 3, 2]);
      expect(await seqs({ limit: 3, after: 2 })).toEqual([1]);
      expect(await seqs({ limit: 3, order: 'asc' })).toEqual([1, 2, 3]);
      expect(await seqs({ limit: 3, order: 'asc', after: 6 })).toEqual([7]);
      expect(await seqs({ limit: 10, action: 'api-token.create' })).toEqual([6, 4, 2]);
      expect(await seqs({ limit: 10, target: 'A', order: 'asc' })).toEqual([1, 2, 3]);
      expect(await seqs({ limit: 10, since: 300, until: 600 })).toEqual([5, 4, 3]);
      expect(await seqs({ limit: 10, action: 'command.enqueue', target: 'B', after: 7 })).toEqual([5]);
    });

    it('an event appended in a Store.transaction commits with the action, or rolls back with it', async () => {
      const hash = 'a'.repeat(64);
      await store.transaction(async (tx) => {
        const token = await tx.tokens.createApiToken({ tokenHash: hash, name: 'ci', role: 'operator', now: 1 });
        await tx.audit.append(event(1, { action: 'api-token.create', target: token.id }), mac);
      });
      const failing = store.transaction(async (tx) => {
        await tx.tokens.createApiToken({ tokenHash: 'b'.repeat(64), name: 'other', role: 'operator', now: 2 });
        await tx.audit.append(event(2), mac);
        throw new Error('the action failed after its event was written');
      });
      await expect(failing).rejects.toThrow('the action failed');
      expect((await store.tokens.listApiTokens()).map((t) => t.name)).toEqual(['ci']);
      expect((await rows()).map((r) => r.action)).toEqual(['api-token.create']);
      expect(await store.audit.verify(mac)).toMatchObject({ ok: true, count: 1 });
    });

    it('an enqueue refused inside a Store.transaction still names the unknown enrollments, and the transaction carries on', async () => {
      await store.enrollments.authenticate({ deviceId: 'KNOWN', type: 'Device', topic: 't', certHash: 'h', now: 1 });
      const outcome = await store.transaction(async (tx) => {
        const refused = await tx.commands.enqueue({ uuid: 'u1', requestType: 'ProfileList', body: Buffer.from('b') }, ['KNOWN', 'NOBODY'], { now: 1 }).catch((err: unknown) => err);
        await tx.commands.enqueue({ uuid: 'u2', requestType: 'ProfileList', body: Buffer.from('b') }, ['KNOWN'], { now: 1 });
        await tx.audit.append(event(1), mac);
        return refused;
      });
      expect(outcome).toBeInstanceOf(UnknownEnrollmentError);
      expect((outcome as UnknownEnrollmentError).enrollmentIds).toEqual(['NOBODY']);
      expect(await store.commands.get('KNOWN', 'u1')).toBeUndefined();
      expect(await store.commands.get('KNOWN', 'u2')).toMatchObject({ status: 'pending' });
    });

    it('stores details as the JSON text the mac covers', async () => {
      await store.audit.append(event(1, { details: { b: 1, a: 'x' } }), mac);
      const { rows: raw } = await sql<{ details: string }>`select details from audit_events`.execute(store.db);
      expect(raw[0]?.details).toBe('{"b":1,"a":"x"}');
    });
  });
}

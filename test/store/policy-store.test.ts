// PolicyStore on both databases: versions and optimistic concurrency, soft delete, assignments to a
// device, a group and everyone, the one-statement policiesForDevice across all three routes, and
// devicesForPolicy paged through the fleet.
import { CompiledQuery } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Store } from '../../src/store/database.ts';
import { DuplicateKeyError, PolicyVersionConflictError, UnknownPolicyError } from '../../src/store/errors.ts';
import type { NewPolicyVersion } from '../../src/store/types.ts';
import { databases } from '../support/databases.ts';

const version = (minLength: number, now = 1_000, createdBy: string | null = 'token-1'): NewPolicyVersion => ({
  document: { minLength },
  requirements: { minLength },
  meta: { identifier: 'com.example.p' },
  createdBy,
  now,
});

for (const database of databases) {
  describe.skipIf(!database.available)(`PolicyStore (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => { store = await database.open(); });
    afterEach(async () => { await store.close(); });

    const device = (id: string) => store.enrollments.authenticate({ deviceId: id, type: 'Device', topic: 't', certHash: `cert-${id}`, now: 1 });
    const policy = (name: string, minLength = 4, now = 1_000) => store.policies.create({ name, identifier: `com.example.${name}`, ...version(minLength, now) });

    it('creates a policy at version 1 and reads it back whole', async () => {
      const created = await store.policies.create({ id: 'p1', name: 'Corporate', identifier: 'com.example.corp', ...version(6) });
      expect(created).toEqual({
        id: 'p1', name: 'Corporate', identifier: 'com.example.corp', currentVersion: 1, createdAt: 1_000, updatedAt: 1_000,
        current: {
          policyId: 'p1', version: 1, document: { minLength: 6 }, requirements: { minLength: 6 }, meta: { identifier: 'com.example.p' },
          createdAt: 1_000, createdBy: 'token-1',
        },
      });
      expect(await store.policies.get('p1')).toEqual(created);
      expect(await store.policies.get('nope')).toBeUndefined();
      const generated = await policy('Generated id');
      expect(generated.id).toMatch(/^[0-9a-f]{16}$/);
    });

    it('keeps every version; an update makes the next one current', async () => {
      const created = await policy('versions', 4);
      const second = await store.policies.addVersion(created.id, version(6, 2_000, 'token-2'));
      expect(second).toMatchObject({ currentVersion: 2, createdAt: 1_000, updatedAt: 2_000, current: { version: 2, requirements: { minLength: 6 }, createdBy: 'token-2' } });
      const third = await store.policies.addVersion(created.id, { ...version(8, 3_000), expectedVersion: 2 });
      expect(third.currentVersion).toBe(3);
      expect(await store.policies.versions(created.id)).toEqual([
        { version: 1, createdAt: 1_000, createdBy: 'token-1' },
        { version: 2, createdAt: 2_000, createdBy: 'token-2' },
        { version: 3, createdAt: 3_000, createdBy: 'token-1' },
      ]);
      expect(await store.policies.version(created.id, 1)).toMatchObject({ version: 1, requirements: { minLength: 4 } });
      expect(await store.policies.version(created.id, 4)).toBeUndefined();
      expect((await store.policies.get(created.id))?.current.requirements).toEqual({ minLength: 8 });
    });

    it('refuses a stale expectedVersion, and an unknown policy, changing nothing', async () => {
      const created = await policy('stale');
      await store.policies.addVersion(created.id, version(5));
      const stale = store.policies.addVersion(created.id, { ...version(9), expectedVersion: 1 });
      await expect(stale).rejects.toBeInstanceOf(PolicyVersionConflictError);
      await expect(stale).rejects.toMatchObject({ expectedVersion: 1, currentVersion: 2 });
      await expect(store.policies.addVersion('missing', version(9))).rejects.toBeInstanceOf(UnknownPolicyError);
      expect((await store.policies.get(created.id))?.currentVersion).toBe(2);
      expect(await store.policies.versions(created.id)).toHaveLength(2);
    });

    it('of two updates racing from the same version on separate connections, exactly one wins', async () => {
      const peer = await database.openPeer(store);
      const created = await policy('race');
      const outcomes = await Promise.allSettled([
        store.policies.addVersion(created.id, { ...version(6), expectedVersion: 1 }),
        peer.policies.addVersion(created.id, { ...version(7), expectedVersion: 1 }),
      ]);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      expect(outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof PolicyVersionConflictError)).toHaveLength(1);
      // Without expectedVersion both land, as versions 3 and 4.
      const both = await Promise.all([store.policies.addVersion(created.id, version(8)), peer.policies.addVersion(created.id, version(9))]);
      expect(both.map((p) => p.currentVersion).sort()).toEqual([3, 4]);
      expect((await store.policies.versions(created.id)).map((v) => v.version)).toEqual([1, 2, 3, 4]);
      await peer.close();
    });

    it('keeps names unique among live policies; a deleted one frees its name', async () => {
      const first = await policy('Unique');
      await expect(policy('Unique')).rejects.toBeInstanceOf(DuplicateKeyError);
      expect(await store.policies.delete(first.id, 5_000)).toMatchObject({ id: first.id, name: 'Unique' });
      const again = await policy('Unique');
      expect(again.id).not.toBe(first.id);
    });

    it('soft-deletes: gone from reads, versions kept, assignments removed, no further changes', async () => {
      await device('D1');
      const created = await policy('doomed');
      await store.policies.addVersion(created.id, version(6));
      await store.policies.assign(created.id, { kind: 'device', udid: 'D1' }, { createdBy: null, now: 1 });
      await store.policies.assign(created.id, { kind: 'all' }, { createdBy: null, now: 1 });
      expect(await store.policies.delete(created.id, 9_000)).toMatchObject({ currentVersion: 2, updatedAt: 9_000 });
      expect(await store.policies.get(created.id)).toBeUndefined();
      expect(await store.policies.list({ limit: 10 })).toEqual([]);
      expect(await store.policies.versions(created.id)).toHaveLength(2);
      expect(await store.policies.assignmentsOf(created.id)).toEqual([]);
      expect(await store.policies.policiesForDevice('D1')).toEqual([]);
      expect(await store.policies.delete(created.id, 9_001)).toBeUndefined();
      await expect(store.policies.addVersion(created.id, version(8))).rejects.toBeInstanceOf(UnknownPolicyError);
      await expect(store.policies.assign(created.id, { kind: 'all' }, { createdBy: null, now: 1 })).rejects.toBeInstanceOf(UnknownPolicyError);
    });

    it('lists live policies by name, a page at a time', async () => {
      for (const name of ['delta', 'alpha', 'echo', 'charlie', 'bravo']) await policy(name);
      const first = await store.policies.list({ limit: 2 });
      expect(first.map((p) => p.name)).toEqual(['alpha', 'bravo']);
      const second = await store.policies.list({ limit: 2, afterName: 'bravo' });
      expect(second.map((p) => p.name)).toEqual(['charlie', 'delta']);
      expect((await store.policies.list({ limit: 2, afterName: 'delta' })).map((p) => p.name)).toEqual(['echo']);
    });

    it('assigns idempotently to a device, a group and everyone, and unassigns', async () => {
      await device('D1');
      const p = await policy('assigned');
      const first = await store.policies.assign(p.id, { kind: 'group', group: 'Sales' }, { createdBy: 'token-1', now: 10 });
      expect(first).toEqual({ created: true, assignment: { policyId: p.id, target: { kind: 'group', group: 'Sales' }, createdAt: 10, createdBy: 'token-1' } });
      expect(await store.policies.assign(p.id, { kind: 'group', group: 'Sales' }, { createdBy: 'token-2', now: 20 })).toEqual({ ...first, created: false });
      await store.policies.assign(p.id, { kind: 'device', udid: 'D1' }, { createdBy: null, now: 30 });
      await store.policies.assign(p.id, { kind: 'all' }, { createdBy: null, now: 40 });
      expect((await store.policies.assignmentsOf(p.id)).map((a) => a.target)).toEqual([
        { kind: 'all' }, { kind: 'group', group: 'Sales' }, { kind: 'device', udid: 'D1' },
      ]);
      expect(await store.policies.unassign(p.id, { kind: 'group', group: 'Sales' })).toBe(true);
      expect(await store.policies.unassign(p.id, { kind: 'group', group: 'Sales' })).toBe(false);
      expect(await store.policies.unassign(p.id, { kind: 'all' })).toBe(true);
      expect((await store.policies.assignmentsOf(p.id)).map((a) => a.target)).toEqual([{ kind: 'device', udid: 'D1' }]);
    });

    it('replaces a device\'s groups, reporting the sets before and after', async () => {
      await device('D1');
      expect(await store.policies.setDeviceGroups('D1', ['b', 'a', 'b'])).toEqual({ before: [], after: ['a', 'b'] });
      expect(await store.policies.setDeviceGroups('D1', ['c', 'a'])).toEqual({ before: ['a', 'b'], after: ['a', 'c'] });
      expect(await store.policies.groupsOf('D1')).toEqual(['a', 'c']);
      expect(await store.policies.setDeviceGroups('D1', [])).toEqual({ before: ['a', 'c'], after: [] });
      expect(await store.policies.groupsOf('D1')).toEqual([]);
      expect(await store.policies.setDeviceGroups('unknown', ['a'])).toBeUndefined();
    });

    it('finds every policy reaching a device, by each route, in one statement', async () => {
      for (const id of ['D1', 'D2', 'D3']) await device(id);
      await store.policies.setDeviceGroups('D1', ['g1', 'g2']);
      await store.policies.setDeviceGroups('D2', ['g2']);
      const everyone = await policy('everyone', 4, 1);
      const g1 = await policy('g1 only', 5, 2);
      const g2 = await policy('g2 only', 6, 3);
      const direct = await policy('D1 only', 7, 4);
      const many = await policy('many routes', 8, 5);
      const removed = await policy('deleted later', 9, 6);
      const at = { createdBy: null, now: 1 };
      await store.policies.assign(everyone.id, { kind: 'all' }, at);
      await store.policies.assign(g1.id, { kind: 'group', group: 'g1' }, at);
      await store.policies.assign(g2.id, { kind: 'group', group: 'g2' }, at);
      await store.policies.assign(direct.id, { kind: 'device', udid: 'D1' }, at);
      for (const target of [{ kind: 'device', udid: 'D1' }, { kind: 'group', group: 'g2' }, { kind: 'group', group: 'g1' }, { kind: 'group', group: 'nobody' }] as const) {
        await store.policies.assign(many.id, target, at);
      }
      await store.policies.assign(removed.id, { kind: 'all' }, at);
      await store.policies.delete(removed.id, 10);
      await store.policies.addVersion(g1.id, version(12));

      const executed = vi.spyOn(store.db, 'executeQuery');
      const forD1 = await store.policies.policiesForDevice('D1');
      expect(executed).toHaveBeenCalledTimes(1);
      executed.mockRestore();
      expect(forD1.map((p) => [p.name, p.version, p.requirements, p.via])).toEqual([
        ['everyone', 1, { minLength: 4 }, [{ kind: 'all' }]],
        ['g1 only', 2, { minLength: 12 }, [{ kind: 'group', group: 'g1' }]],
        ['g2 only', 1, { minLength: 6 }, [{ kind: 'group', group: 'g2' }]],
        ['D1 only', 1, { minLength: 7 }, [{ kind: 'device', udid: 'D1' }]],
        ['many routes', 1, { minLength: 8 }, [{ kind: 'group', group: 'g1' }, { kind: 'group', group: 'g2' }, { kind: 'device', udid: 'D1' }]],
      ]);
      expect(forD1[0]).toMatchObject({ policyId: everyone.id, identifier: 'com.example.everyone', meta: { identifier: 'com.example.p' } });
      expect((await store.policies.policiesForDevice('D2')).map((p) => [p.name, p.via])).toEqual([
        ['everyone', [{ kind: 'all' }]],
        ['g2 only', [{ kind: 'group', group: 'g2' }]],
        ['many routes', [{ kind: 'group', group: 'g2' }]],
      ]);
      expect((await store.policies.policiesForDevice('D3')).map((p) => p.name)).toEqual(['everyone']);
      await store.policies.unassign(everyone.id, { kind: 'all' });
      expect(await store.policies.policiesForDevice('D3')).toEqual([]);
      expect(await store.policies.policiesForDevice('never-enrolled')).toEqual([]);
    });

    // SQLite only: PostgreSQL's planner rightly prefers a sequential scan of a tiny test table, so
    // a plan check there would test the planner's statistics, not the query.
    if (database.name === 'sqlite') it('answers policiesForDevice from indexes, scanning no table', async () => {
      const { sql, parameters } = policiesForDeviceQuery(store);
      const plan = await store.db.executeQuery(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${sql}`, [...parameters]));
      const details = (plan.rows as Array<{ detail: string }>).map((row) => row.detail);
      expect(details.filter((d) => /^SCAN /.test(d))).toEqual([]);
      // Every branch: one equality range of the target index, never all assignments of a kind.
      const assignmentReads = details.filter((d) => /policy_assignments/.test(d));
      expect(assignmentReads.length).toBeGreaterThanOrEqual(3);
      for (const read of assignmentReads) expect(read).toMatch(/USING COVERING INDEX policy_assignments_target_idx \(target_kind=\? AND target=\?\)/);
      expect(details.some((d) => /device_groups.*\(device_id=\?\)/.test(d))).toBe(true);
    });

    it('pages through the devices a policy reaches, each once', async () => {
      const ids = Array.from({ length: 25 }, (_, i) => `DEV-${String(i).padStart(2, '0')}`);
      for (const id of ids) await device(id);
      for (const id of ids.slice(5, 20)) await store.policies.setDeviceGroups(id, Number(id.slice(4)) % 2 ? ['odd', 'mixed'] : ['even', 'mixed']);
      const p = await policy('fan-out');
      const at = { createdBy: null, now: 1 };
      await store.policies.assign(p.id, { kind: 'group', group: 'mixed' }, at);
      await store.policies.assign(p.id, { kind: 'group', group: 'odd' }, at);
      for (const id of ['DEV-01', 'DEV-03', 'DEV-06', 'DEV-24']) await store.policies.assign(p.id, { kind: 'device', udid: id }, at);

      const pageThrough = async (limit: number) => {
        const seen: string[] = [];
        for (let afterId: string | undefined; ;) {
          const page = await store.policies.devicesForPolicy(p.id, { limit, ...(afterId !== undefined && { afterId }) });
          expect(page.length).toBeLessThanOrEqual(limit);
          seen.push(...page);
          if (page.length < limit) return seen;
          afterId = page.at(-1);
        }
      };
      const expected = ['DEV-01', 'DEV-03', ...ids.slice(5, 20), 'DEV-24'];
      for (const limit of [1, 2, 4, 100]) expect(await pageThrough(limit)).toEqual(expected);

      await store.policies.assign(p.id, { kind: 'all' }, at);
      expect(await pageThrough(7)).toEqual(ids);
      await store.policies.delete(p.id, 2);
      expect(await store.policies.devicesForPolicy(p.id, { limit: 10 })).toEqual([]);
    });

    it('works inside a transaction: rolled back, nothing remains', async () => {
      await expect(store.transaction(async (tx) => {
        const created = await tx.policies.create({ name: 'rolled back', identifier: 'com.example.rb', ...version(6) });
        await tx.policies.addVersion(created.id, version(7));
        throw new Error('abort');
      })).rejects.toThrow('abort');
      expect(await store.policies.list({ limit: 10 })).toEqual([]);
      // A refused create inside a transaction leaves the transaction usable (a savepoint).
      const kept = await store.transaction(async (tx) => {
        await tx.policies.create({ name: 'taken', identifier: 'com.example.t', ...version(6) });
        await expect(tx.policies.create({ name: 'taken', identifier: 'com.example.t', ...version(6) })).rejects.toBeInstanceOf(DuplicateKeyError);
        return tx.policies.create({ name: 'other', identifier: 'com.example.o', ...version(6) });
      });
      expect((await store.policies.list({ limit: 10 })).map((p) => p.name)).toEqual(['other', 'taken']);
      expect(kept.currentVersion).toBe(1);
    });
  });
}

/** The statement policiesForDevice runs, captured as it is sent (the call issues it synchronously). */
function policiesForDeviceQuery(store: Store): CompiledQuery {
  let captured: CompiledQuery | undefined;
  const spy = vi.spyOn(store.db, 'executeQuery').mockImplementation(async (query) => {
    captured = query as CompiledQuery;
    return { rows: [] };
  });
  void store.policies.policiesForDevice('D1');
  spy.mockRestore();
  if (!captured) throw new Error('policiesForDevice sent no statement');
  return captured;
}

// Stored policies over HTTP against a real server with simulated devices, on SQLite and on
// PostgreSQL: create in either key style, every error of an invalid policy at once, versions and
// optimistic concurrency, the explain matrix, assignments to a device, a group and everyone, a
// device's groups, the effective policy of an enrolled iPhone (and why an Apple TV gets none),
// roles, the audit trail; and responses that lose nothing to their schemas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { effectiveView } from '../../src/http/policy-routes.ts';
import { explainPolicy } from '../../src/policy/index.ts';
import { EFFECTIVE_PROFILE_IDENTIFIER } from '../../src/services/policies.ts';
import type { SimulatedDevice } from '../../src/sim/simulated-device.ts';
import { databaseUrls } from '../support/databases.ts';
import { startFleet } from '../support/fleet-harness.ts';
import type { Fleet } from '../support/fleet-harness.ts';

interface PolicyBody {
  id: string;
  name: string;
  identifier: string;
  version: number;
  policy: Record<string, unknown>;
  requirements: Record<string, unknown>;
  notes?: Array<{ path: string; message: string }>;
  explain?: Array<{ name: string; platform: string; enrollment: string; deliverable: boolean; refused?: string; gaps: Array<{ requirement: string; status: string }> }>;
  versions?: Array<{ version: number; createdAt: string; createdBy: string | null }>;
}
interface Problem { type: string; title: string; status: number; detail?: string; errors?: Array<{ path: string; value?: unknown; message: string; allowed?: string }>; currentVersion?: number }
interface Effective { status: string; reason?: string; device: { udid: string; platform: string | null }; requirements?: Record<string, unknown>; sources?: Record<string, Array<{ policyId: string; version: number }>>; policies?: Array<{ policyId: string; via: unknown[] }>; profile?: { identifier: string; uuid: string; payloadUuids: string[]; sha256: string; size: number } }

const FRIENDLY = {
  DisplayName: 'Corporate passcode', AllowSimple: false, MinimumLength: 8,
  RequiredCharacters: { MinimumDigits: 1, MinimumUppercase: 1 }, MaxFailedAttempts: 10, AutoLockTimeout: 5, GracePeriod: '1 minute',
};
const APPLE = { PayloadIdentifier: 'com.example.sales-passcode', allowSimple: false, minLength: 6, maxFailedAttempts: 6, pinHistory: 5 };

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`policies and assignments over HTTP (${database.name})`, () => {
    let fleet: Fleet;
    let iphone: SimulatedDevice;
    let tv: SimulatedDevice;
    let corporate: PolicyBody;
    let sales: PolicyBody;

    /** An admin API call with any token (the fleet's admin token by default), JSON both ways. */
    const call = async <T>(method: string, path: string, body?: unknown, token = fleet.adminToken) => {
      const response = await fetch(`${fleet.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, type: response.headers.get('content-type') ?? '', body: (text === '' ? undefined : JSON.parse(text)) as T };
    };

    beforeAll(async () => {
      fleet = await startFleet({ database });
      iphone = await fleet.enroll('iphone');
      tv = await fleet.enroll('apple-tv');
    });
    afterAll(async () => {
      if (fleet) expect(await fleet.runtime.audit.verify()).toMatchObject({ ok: true });
      await fleet?.close();
    });

    it('creates a policy in the friendly style, stored in Apple keys, with the per-platform summary', async () => {
      const created = await call<PolicyBody>('POST', '/api/v1/policies', { name: 'Corporate', policy: { ...FRIENDLY, PasswordHistory: 0 } });
      expect(created.status).toBe(201);
      corporate = created.body;
      expect(corporate).toMatchObject({ name: 'Corporate', version: 1, identifier: `com.lockwarden.policy.${corporate.id}` });
      expect(corporate.policy).toEqual({
        PayloadIdentifier: corporate.identifier, PayloadDisplayName: 'Corporate passcode',
        allowSimple: false, minLength: 8, maxFailedAttempts: 10, maxInactivity: 5, maxGracePeriod: 1,
        RequiredCharacters: { MinimumDigits: 1, MinimumUppercase: 1 },
      });
      expect(corporate.notes).toEqual([expect.objectContaining({ path: 'PasswordHistory' })]);
      const column = (name: string) => corporate.explain!.find((c) => c.name === name);
      expect(column('iOS')).toMatchObject({ platform: 'ios', enrollment: 'device', deliverable: true, gaps: expect.arrayContaining([expect.objectContaining({ requirement: 'minDigits', status: 'not-enforceable' })]) });
      expect(column('macOS')).toMatchObject({ deliverable: true, gaps: [] });
      expect(column('tvOS')).toMatchObject({ deliverable: false, refused: expect.stringContaining('tvOS') });
      expect(column('iPadOS (Shared iPad)')).toMatchObject({ deliverable: false, refused: expect.stringContaining('Shared iPad') });
      expect(column('macOS (User Enrollment)')).toMatchObject({ deliverable: false });
    });

    it('creates a policy in Apple keys, keeping its identifier; a taken name is a conflict', async () => {
      const created = await call<PolicyBody>('POST', '/api/v1/policies', { name: 'Sales', policy: APPLE });
      expect(created.status).toBe(201);
      sales = created.body;
      expect(sales).toMatchObject({ identifier: 'com.example.sales-passcode', policy: APPLE, requirements: { minLength: 6, maxFailedAttempts: 6, pinHistory: 5 } });
      const taken = await call<Problem>('POST', '/api/v1/policies', { name: 'Sales', policy: FRIENDLY });
      expect(taken.status).toBe(409);
      expect(taken.type).toContain('application/problem+json');
    });

    it('refuses an invalid policy with 422, listing every error with path, value and allowed range', async () => {
      const refused = await call<Problem>('POST', '/api/v1/policies', {
        name: 'Broken', policy: { MaxFailedAttempts: 1, minLenght: 6, MinimumLength: 20, GracePeriod: '2 hours', RequiredCharacters: { MinimumDigit: 1 } },
      });
      expect(refused.status).toBe(422);
      expect(refused.type).toContain('application/problem+json');
      expect(refused.body).toMatchObject({ type: 'about:blank', title: 'Unprocessable Entity', status: 422, detail: 'the policy is invalid (5 problems)' });
      expect(refused.body.errors).toEqual(expect.arrayContaining([
        { path: 'MaxFailedAttempts', value: 1, message: expect.stringContaining("Apple's range"), allowed: expect.stringContaining('2–11') },
        { path: 'minLenght', value: 6, message: 'is not a known key; did you mean "minLength"?' },
        { path: 'MinimumLength', value: 20, message: expect.any(String), allowed: '0–16' },
        { path: 'GracePeriod', value: '2 hours', message: expect.any(String), allowed: expect.stringContaining('"1 hour"') },
        { path: 'RequiredCharacters.MinimumDigit', value: 1, message: expect.stringContaining('did you mean "MinimumDigits"') },
      ]));
      expect(refused.body.errors).toHaveLength(5);
      // YAML text is read as `lockwarden policy validate` reads a file.
      const yaml = await call<Problem>('POST', '/api/v1/policies', { name: 'YAML', policy: 'MinimumLength: 40\n' });
      expect(yaml.status).toBe(422);
      expect(yaml.body.errors).toEqual([expect.objectContaining({ path: 'MinimumLength', allowed: '0–16' })]);
      for (const body of [{ name: 'No policy' }, { policy: FRIENDLY }, { name: '', policy: FRIENDLY }]) {
        const bad = await call<Problem>('POST', '/api/v1/policies', body);
        expect(bad.status, JSON.stringify(body)).toBe(400);
        expect(bad.type).toContain('application/problem+json');
      }
      const names = (await call<{ policies: PolicyBody[] }>('GET', '/api/v1/policies')).body.policies.map((p) => p.name);
      expect(names).toEqual(['Corporate', 'Sales']);
    });

    it('updates to version 2, refuses a stale expectedVersion with 409, and keeps every version', async () => {
      const updated = await call<PolicyBody>('PUT', `/api/v1/policies/${sales.id}`, { policy: { ...APPLE, minLength: 10 }, expectedVersion: 1 });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ id: sales.id, version: 2, identifier: sales.identifier, requirements: { minLength: 10 }, explain: expect.any(Array) });
      const stale = await call<Problem>('PUT', `/api/v1/policies/${sales.id}`, { policy: APPLE, expectedVersion: 1 });
      expect(stale.status).toBe(409);
      expect(stale.body).toMatchObject({ status: 409, currentVersion: 2, detail: expect.stringContaining('version 2') });
      const renamed = await call<Problem>('PUT', `/api/v1/policies/${sales.id}`, { policy: { ...APPLE, PayloadIdentifier: 'com.example.other' } });
      expect(renamed.status).toBe(422);
      expect(renamed.body.errors).toEqual([expect.objectContaining({ path: 'PayloadIdentifier', allowed: sales.identifier })]);
      expect((await call('PUT', '/api/v1/policies/nope', { policy: APPLE })).status).toBe(404);

      const shown = await call<PolicyBody>('GET', `/api/v1/policies/${sales.id}`);
      expect(shown.status).toBe(200);
      expect(shown.body.version).toBe(2);
      expect(shown.body.versions).toEqual([
        { version: 1, createdAt: expect.any(String), createdBy: expect.any(String) },
        { version: 2, createdAt: expect.any(String), createdBy: expect.any(String) },
      ]);
      const first = await call<PolicyBody & { createdBy: string }>('GET', `/api/v1/policies/${sales.id}/versions/1`);
      expect(first.body).toEqual({ id: sales.id, version: 1, policy: APPLE, requirements: sales.requirements, createdAt: expect.any(String), createdBy: expect.any(String) });
      expect((await call('GET', `/api/v1/policies/${sales.id}/versions/3`)).status).toBe(404);
      expect((await call('GET', `/api/v1/policies/${sales.id}/versions/zero`)).status).toBe(400);
      expect((await call('GET', '/api/v1/policies/nope')).status).toBe(404);
      const page = await call<{ policies: PolicyBody[]; next: string | null }>('GET', '/api/v1/policies?limit=1');
      expect(page.body).toMatchObject({ policies: [{ name: 'Corporate' }], next: 'Corporate' });
      expect((await call<{ policies: PolicyBody[]; next: string | null }>('GET', '/api/v1/policies?limit=1&after=Corporate')).body.policies.map((p) => p.name)).toEqual(['Sales']);
    });

    it('explains the current version per platform, as the engine does', async () => {
      const explained = await call<{ id: string; version: number; hasGaps: boolean; columns: Array<{ name: string; refused?: string; lines: Array<{ requirement: string; status: string; detail: string }> }> }>('GET', `/api/v1/policies/${corporate.id}/explain`);
      expect(explained.status).toBe(200);
      const engine = explainPolicy(corporate.requirements);
      expect(explained.body).toMatchObject({ id: corporate.id, version: 1, hasGaps: engine.hasGaps });
      expect(explained.body.columns).toEqual(JSON.parse(JSON.stringify(engine.columns)));
      expect((await call('GET', '/api/v1/policies/nope/explain')).status).toBe(404);
    });

    it('assigns to the fleet, a group and one device; the iPhone\'s effective policy merges them all', async () => {
      const none = await call<Effective>('GET', `/api/v1/devices/${iphone.id}/effective-policy`);
      expect(none.body).toEqual({ status: 'none', device: { udid: iphone.id, platform: 'ios', enrollment: 'device', osVersion: '18.1' } });

      const toAll = await call<Record<string, unknown>>('POST', `/api/v1/policies/${corporate.id}/assignments`, { all: true });
      expect(toAll.status).toBe(201);
      expect(toAll.body).toEqual({ kind: 'all', createdAt: expect.any(String), createdBy: expect.any(String) });
      expect((await call('POST', `/api/v1/policies/${corporate.id}/assignments`, { all: true })).status).toBe(200);
      expect((await call('POST', `/api/v1/policies/${sales.id}/assignments`, { group: 'Sales team' })).status).toBe(201);
      const own = await create('iPhone only', { RequirePasscode: true, MinimumLength: 12 });
      expect((await call('POST', `/api/v1/policies/${own.id}/assignments`, { udid: iphone.id })).status).toBe(201);
      expect((await call('POST', `/api/v1/policies/${own.id}/assignments`, { udid: 'NO-SUCH-DEVICE' })).status).toBe(404);
      expect((await call('POST', '/api/v1/policies/nope/assignments', { all: true })).status).toBe(404);
      for (const body of [{}, { udid: iphone.id, group: 'x' }, { all: false }, { group: 'bad/name' }, { group: '' }]) {
        const bad = await call<Problem>('POST', `/api/v1/policies/${own.id}/assignments`, body);
        expect(bad.status, JSON.stringify(body)).toBe(400);
      }

      // Not in the group yet: the fleet baseline and its own policy.
      let effective = await call<Effective>('GET', `/api/v1/devices/${iphone.id}/effective-policy`);
      expect(effective.body.policies?.map((p) => p.policyId).sort()).toEqual([corporate.id, own.id].sort());
      expect((await call('PUT', `/api/v1/devices/${iphone.id}/groups`, { groups: ['Sales team', 'Field', 'Sales team'] })).body).toEqual({ udid: iphone.id, groups: ['Field', 'Sales team'] });
      expect((await call('GET', `/api/v1/devices/${iphone.id}/groups`)).body).toEqual({ udid: iphone.id, groups: ['Field', 'Sales team'] });

      effective = await call<Effective>('GET', `/api/v1/devices/${iphone.id}/effective-policy`);
      expect(effective.status).toBe(200);
      expect(effective.body).toMatchObject({
        status: 'compiled',
        device: { udid: iphone.id, platform: 'ios', enrollment: 'device' },
        requirements: { forcePIN: true, allowSimple: false, minLength: 12, maxFailedAttempts: 6, maxInactivity: 5, maxGracePeriod: 1, pinHistory: 5, minDigits: 1, minUppercase: 1 },
        sources: {
          minLength: [{ policyId: own.id, version: 1 }],
          maxFailedAttempts: [{ policyId: sales.id, version: 2 }],
          maxInactivity: [{ policyId: corporate.id, version: 1 }],
        },
        target: { platform: 'ios', enrollment: 'device', osVersion: '18.1' },
        profile: { identifier: EFFECTIVE_PROFILE_IDENTIFIER, payloadUuids: [expect.any(String)], sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      });
      // Oldest policy first; policies created in the same millisecond would come by id.
      expect(effective.body.policies).toHaveLength(3);
      expect(effective.body.policies).toEqual(expect.arrayContaining([
        expect.objectContaining({ policyId: corporate.id, version: 1, via: [{ kind: 'all' }] }),
        expect.objectContaining({ policyId: sales.id, version: 2, via: [{ kind: 'group', group: 'Sales team' }] }),
        expect.objectContaining({ policyId: own.id, version: 1, via: [{ kind: 'device', udid: iphone.id }] }),
      ]));
      // Every field the service computes reaches the client (the response schema drops nothing).
      expect(effective.body).toEqual(JSON.parse(JSON.stringify(effectiveView((await fleet.runtime.policies.effectivePolicy(iphone.id))!))));

      const assignments = await call<{ assignments: Array<Record<string, unknown>> }>('GET', `/api/v1/policies/${own.id}/assignments`);
      expect(assignments.body.assignments).toEqual([{ kind: 'device', udid: iphone.id, createdAt: expect.any(String), createdBy: expect.any(String) }]);
      expect((await call('DELETE', `/api/v1/policies/${own.id}/assignments`, { udid: iphone.id })).status).toBe(204);
      expect((await call('DELETE', `/api/v1/policies/${own.id}/assignments`, { udid: iphone.id })).status).toBe(404);
      expect((await call('GET', `/api/v1/devices/${iphone.id}/effective-policy`)).body).toMatchObject({ requirements: { minLength: 10 } });
    });

    it('changes the profile\'s payload UUIDs, never its identity, when the policy gets stricter', async () => {
      const before = (await call<Effective>('GET', `/api/v1/devices/${iphone.id}/effective-policy`)).body.profile!;
      expect((await call<Effective>('GET', `/api/v1/devices/${iphone.id}/effective-policy`)).body.profile).toEqual(before);
      expect((await call('PUT', `/api/v1/policies/${corporate.id}`, { policy: { ...FRIENDLY, AutoLockTimeout: 2 }, expectedVersion: 1 })).status).toBe(200);
      const after = (await call<Effective>('GET', `/api/v1/devices/${iphone.id}/effective-policy`)).body.profile!;
      expect(after).toMatchObject({ identifier: before.identifier, uuid: before.uuid });
      expect(after.payloadUuids[0]).not.toBe(before.payloadUuids[0]);
      expect(after.sha256).not.toBe(before.sha256);
    });

    it('says why an Apple TV gets no passcode profile, and 404s an unknown device', async () => {
      const result = await call<Effective>('GET', `/api/v1/devices/${tv.id}/effective-policy`);
      expect(result.body).toMatchObject({ status: 'not-applicable', device: { platform: 'tvos' }, reason: expect.stringContaining('tvOS does not support the Passcode payload') });
      expect(result.body.profile).toBeUndefined();
      expect((await call('GET', '/api/v1/devices/NOBODY/effective-policy')).status).toBe(404);
      expect((await call('PUT', '/api/v1/devices/NOBODY/groups', { groups: ['x'] })).status).toBe(404);
      expect((await call('PUT', `/api/v1/devices/${tv.id}/groups`, { groups: ['no/slashes'] })).status).toBe(400);
      expect((await call('PUT', `/api/v1/devices/${tv.id}/groups`, { groups: ['x'.repeat(65)] })).status).toBe(400);
    });

    it('lets only an admin change policies; operators and auditors read them', async () => {
      const token = async (role: string) => (await call<{ token: string }>('POST', '/api/v1/api-tokens', { name: `${role} for policies`, role })).body.token;
      const operator = await token('operator');
      const auditor = await token('auditor');
      for (const reader of [operator, auditor]) {
        expect((await call('POST', '/api/v1/policies', { name: 'Not mine', policy: FRIENDLY }, reader)).status).toBe(403);
        expect((await call('PUT', `/api/v1/policies/${sales.id}`, { policy: APPLE }, reader)).status).toBe(403);
        expect((await call('DELETE', `/api/v1/policies/${sales.id}`, undefined, reader)).status).toBe(403);
        expect((await call('POST', `/api/v1/policies/${sales.id}/assignments`, { all: true }, reader)).status).toBe(403);
        expect((await call('DELETE', `/api/v1/policies/${corporate.id}/assignments`, { all: true }, reader)).status).toBe(403);
        expect((await call('PUT', `/api/v1/devices/${iphone.id}/groups`, { groups: [] }, reader)).status).toBe(403);
        for (const path of ['/api/v1/policies', `/api/v1/policies/${sales.id}`, `/api/v1/policies/${sales.id}/explain`, `/api/v1/policies/${sales.id}/assignments`, `/api/v1/policies/${sales.id}/versions/1`, `/api/v1/devices/${iphone.id}/groups`, `/api/v1/devices/${iphone.id}/effective-policy`]) {
          expect((await call('GET', path, undefined, reader)).status, path).toBe(200);
        }
      }
      expect((await call('GET', '/api/v1/policies', undefined, 'not-a-token')).status).toBe(401);
      expect((await call('GET', `/api/v1/policies/${sales.id}`)).body).toMatchObject({ version: 2 });
    });

    it('records every change in the audit log, then deletes a policy out of every effective policy', async () => {
      expect((await call('DELETE', `/api/v1/policies/${sales.id}`)).status).toBe(204);
      expect((await call('DELETE', `/api/v1/policies/${sales.id}`)).status).toBe(404);
      expect((await call('GET', `/api/v1/policies/${sales.id}`)).status).toBe(404);
      const effective = await call<Effective>('GET', `/api/v1/devices/${iphone.id}/effective-policy`);
      expect(effective.body.policies?.map((p) => p.policyId)).toEqual([corporate.id]);

      const audit = await call<{ events: Array<{ action: string; target: string; details: Record<string, unknown> }> }>('GET', `/api/v1/audit?target=${sales.id}&order=asc`);
      expect(audit.body.events.map((e) => [e.action, e.details])).toEqual([
        ['policy.create', { name: 'Sales', identifier: 'com.example.sales-passcode', version: 1 }],
        ['policy.update', { name: 'Sales', fromVersion: 1, toVersion: 2 }],
        ['policy.assign', { name: 'Sales', kind: 'group', group: 'Sales team' }],
        ['policy.delete', { name: 'Sales', version: 2 }],
      ]);
      const groups = await call<{ events: Array<{ action: string; details: Record<string, unknown> }> }>('GET', `/api/v1/audit?target=${encodeURIComponent(iphone.id)}&action=device.groups`);
      expect(groups.body.events.map((e) => e.details)).toEqual([{ groups: ['Field', 'Sales team'], added: ['Field', 'Sales team'], removed: [] }]);
    });

    async function create(name: string, policy: unknown): Promise<PolicyBody> {
      const created = await call<PolicyBody>('POST', '/api/v1/policies', { name, policy });
      expect(created.status).toBe(201);
      return created.body;
    }
  });
}

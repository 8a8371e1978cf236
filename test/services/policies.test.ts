// PolicyService on both databases: policies in either key style validated by the engine, versions
// and optimistic concurrency, every change audited with the change; and the effective policy of
// real device rows: strictest-wins with its sources, compiled per platform and enrollment (the
// engine's refusals as reasons), one stable profile identity whose bytes follow the requirements.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodePlist } from '../../src/plist/plist-codec.ts';
import { compilePolicy } from '../../src/policy/index.ts';
import type { CompileTarget } from '../../src/policy/index.ts';
import { createAuditLog } from '../../src/services/audit-log.ts';
import type { AuditLog } from '../../src/services/audit-log.ts';
import { createPolicyService, EFFECTIVE_PROFILE_IDENTIFIER, PLATFORM_NOT_KNOWN } from '../../src/services/policies.ts';
import type { EffectivePolicy, PolicyService } from '../../src/services/policies.ts';
import type { Store } from '../../src/store/database.ts';
import type { AuthenticateInput, EnrollmentKind } from '../../src/store/types.ts';
import { databases } from '../support/databases.ts';

const masterKey = randomBytes(32);
const alice = { id: 'token-alice', name: 'alice' };

const FRIENDLY = { MinimumLength: 8, AllowSimple: false, MaxFailedAttempts: 10, AutoLockTimeout: 5, GracePeriod: '1 minute' };
const APPLE = { minLength: 6, allowSimple: false, maxFailedAttempts: 6, maxInactivity: 10, pinHistory: 3 };

/** The engine's own refusal for a target, so the service is held to it verbatim. */
function refusalOf(target: CompileTarget): string {
  const outcome = compilePolicy({}, target);
  if (outcome.ok) throw new Error(`${target.platform}/${target.enrollment} compiles`);
  return outcome.reason;
}

function compiled(result: EffectivePolicy | undefined) {
  if (result?.status !== 'compiled') throw new Error(`expected a compiled policy, got ${JSON.stringify(result)}`);
  return result;
}

for (const database of databases) {
  describe.skipIf(!database.available)(`PolicyService (${database.name})`, () => {
    let store: Store;
    let audit: AuditLog;
    let policies: PolicyService;
    beforeEach(async () => {
      store = await database.open();
      audit = createAuditLog(store, masterKey);
      // A clock that moves at every call: policies are listed oldest first, ties broken by id.
      let tick = 1_700_000_000_000;
      policies = createPolicyService(store, audit, () => tick++);
    });
    afterEach(async () => {
      expect(await audit.verify()).toMatchObject({ ok: true });
      await store.close();
    });

    const events = async () => (await audit.list({ limit: 100, order: 'asc' })).map((e) => [e.actor, e.action, e.target, e.details]);
    const enroll = (deviceId: string, facts: Partial<AuthenticateInput> & { enrollmentKind?: EnrollmentKind } = {}) =>
      store.enrollments.authenticate({ deviceId, type: 'Device', topic: 't', certHash: `cert-${deviceId}`, now: 1, ...facts });
    const create = async (name: string, policy: unknown) => {
      const outcome = await policies.create(alice, { name, policy });
      if (!outcome.ok) throw new Error(`create ${name}: ${JSON.stringify(outcome)}`);
      return outcome.policy;
    };

    it('stores a friendly-style policy normalised to Apple keys, with a stable identifier, and audits it', async () => {
      const outcome = await policies.create(alice, { name: 'Corporate', policy: { ...FRIENDLY, PasswordHistory: 0 } });
      expect(outcome).toMatchObject({ ok: true, notes: [expect.objectContaining({ path: 'PasswordHistory' })] });
      if (!outcome.ok) return;
      const { policy } = outcome;
      expect(policy.identifier).toBe(`com.lockwarden.policy.${policy.id}`);
      expect(policy.current.document).toEqual({
        PayloadIdentifier: policy.identifier, allowSimple: false, minLength: 8, maxFailedAttempts: 10, maxInactivity: 5, maxGracePeriod: 1,
      });
      expect(policy.current.requirements).toEqual({ allowSimple: false, minLength: 8, maxFailedAttempts: 10, maxInactivity: 5, maxGracePeriod: 1 });
      expect(policy.current.createdBy).toBe(alice.id);

      const apple = await create('Apple keys', { ...APPLE, PayloadIdentifier: 'com.example.apple' });
      expect(apple.identifier).toBe('com.example.apple');
      // YAML text goes through the same reader as `lockwarden policy validate`.
      const yaml = await create('From YAML', 'MinimumLength: 7\nRequiredCharacters: { MinimumDigits: 1 }\n');
      expect(yaml.current.document).toMatchObject({ minLength: 7, RequiredCharacters: { MinimumDigits: 1 } });

      expect(await events()).toEqual([
        [alice.id, 'policy.create', policy.id, { name: 'Corporate', identifier: policy.identifier, version: 1 }],
        [alice.id, 'policy.create', apple.id, { name: 'Apple keys', identifier: 'com.example.apple', version: 1 }],
        [alice.id, 'policy.create', yaml.id, { name: 'From YAML', identifier: yaml.identifier, version: 1 }],
      ]);
    });

    it('reports every error of an invalid policy and stores nothing', async () => {
      const outcome = await policies.create(alice, { name: 'Broken', policy: { MaxFailedAttempts: 1, minLenght: 6, MinimumLength: 20, GracePeriod: '2 hours' } });
      expect(outcome).toMatchObject({ ok: false, reason: 'invalid' });
      if (outcome.ok || outcome.reason !== 'invalid') return;
      expect(outcome.errors).toEqual(expect.arrayContaining([
        expect.objectContaining({ path: 'MaxFailedAttempts', value: 1, allowed: expect.stringContaining('2–11') }),
        expect.objectContaining({ path: 'minLenght', value: 6, message: expect.stringContaining('did you mean "minLength"') }),
        expect.objectContaining({ path: 'MinimumLength', value: 20, allowed: '0–16' }),
        expect.objectContaining({ path: 'GracePeriod', value: '2 hours' }),
      ]));
      expect(outcome.errors).toHaveLength(4);
      expect(await policies.create(alice, { name: 'Not a dictionary', policy: [1, 2] })).toMatchObject({ ok: false, reason: 'invalid' });
      expect(await policies.list({ limit: 10 })).toEqual([]);
      expect(await events()).toEqual([]);
    });

    it('refuses a name a live policy has', async () => {
      await create('Taken', FRIENDLY);
      expect(await policies.create(alice, { name: 'Taken', policy: APPLE })).toEqual({ ok: false, reason: 'name-taken' });
      expect(await events()).toHaveLength(1);
    });

    it('updates to a new version, refusing a stale expectedVersion and a changed identifier', async () => {
      const created = await create('Versioned', { ...FRIENDLY, Identifier: 'com.example.versioned' });
      const second = await policies.update(alice, created.id, { policy: { ...FRIENDLY, MinimumLength: 10 }, expectedVersion: 1 });
      expect(second).toMatchObject({ ok: true, policy: { currentVersion: 2, identifier: 'com.example.versioned', current: { requirements: { minLength: 10 } } } });
      if (second.ok) expect(second.policy.current.document.PayloadIdentifier).toBe('com.example.versioned');
      expect(await policies.update(alice, created.id, { policy: FRIENDLY, expectedVersion: 1 })).toEqual({ ok: false, reason: 'conflict', currentVersion: 2 });
      expect(await policies.update(alice, created.id, { policy: { ...FRIENDLY, Identifier: 'com.example.other' } })).toMatchObject({
        ok: false, reason: 'invalid', errors: [{ path: 'Identifier', value: 'com.example.other', allowed: 'com.example.versioned' }],
      });
      expect(await policies.update(alice, created.id, { policy: { MaxFailedAttempts: 1 } })).toMatchObject({ ok: false, reason: 'invalid' });
      expect(await policies.update(alice, 'missing', { policy: FRIENDLY })).toEqual({ ok: false, reason: 'unknown' });
      expect((await policies.get(created.id))?.versions.map((v) => v.version)).toEqual([1, 2]);
      expect((await policies.version(created.id, 1))?.requirements).toMatchObject({ minLength: 8 });
      expect((await events()).slice(1)).toEqual([[alice.id, 'policy.update', created.id, { name: 'Versioned', fromVersion: 1, toVersion: 2 }]]);
    });

    it('deletes, assigns, unassigns and sets groups, recording each change and only changes', async () => {
      await enroll('D1');
      const p = await create('Assigned', FRIENDLY);
      expect(await policies.assign(alice, p.id, { kind: 'device', udid: 'D1' })).toMatchObject({ ok: true, created: true });
      expect(await policies.assign(alice, p.id, { kind: 'device', udid: 'D1' })).toMatchObject({ ok: true, created: false });
      expect(await policies.assign(alice, p.id, { kind: 'group', group: 'Sales' })).toMatchObject({ ok: true, created: true });
      expect(await policies.assign(alice, p.id, { kind: 'all' })).toMatchObject({ ok: true, created: true });
      expect(await policies.assign(alice, p.id, { kind: 'device', udid: 'NOBODY' })).toEqual({ ok: false, reason: 'unknown-device' });
      expect(await policies.assign(alice, 'missing', { kind: 'all' })).toEqual({ ok: false, reason: 'unknown-policy' });
      expect(await policies.unassign(alice, p.id, { kind: 'all' })).toEqual({ ok: true });
      expect(await policies.unassign(alice, p.id, { kind: 'all' })).toEqual({ ok: false, reason: 'not-assigned' });
      expect(await policies.setDeviceGroups(alice, 'D1', ['Sales', 'Field'])).toEqual(['Field', 'Sales']);
      expect(await policies.setDeviceGroups(alice, 'D1', ['Field', 'Sales'])).toEqual(['Field', 'Sales']);
      expect(await policies.setDeviceGroups(alice, 'D1', ['Field'])).toEqual(['Field']);
      expect(await policies.setDeviceGroups(alice, 'NOBODY', ['Field'])).toBeUndefined();
      expect(await policies.delete(alice, p.id)).toMatchObject({ id: p.id });
      expect(await policies.delete(alice, p.id)).toBeUndefined();
      expect(await policies.assignments(p.id)).toBeUndefined();

      expect((await events()).slice(1)).toEqual([
        [alice.id, 'policy.assign', p.id, { name: 'Assigned', kind: 'device', udid: 'D1' }],
        [alice.id, 'policy.assign', p.id, { name: 'Assigned', kind: 'group', group: 'Sales' }],
        [alice.id, 'policy.assign', p.id, { name: 'Assigned', kind: 'all' }],
        [alice.id, 'policy.unassign', p.id, { name: 'Assigned', kind: 'all' }],
        [alice.id, 'device.groups', 'D1', { groups: ['Field', 'Sales'], added: ['Field', 'Sales'], removed: [] }],
        [alice.id, 'device.groups', 'D1', { groups: ['Field'], added: [], removed: ['Sales'] }],
        [alice.id, 'policy.delete', p.id, { name: 'Assigned', version: 1 }],
      ]);
    });

    it('merges everything assigned to a device strictest-wins, naming the source of each key', async () => {
      await enroll('PHONE', { platform: 'ios', osVersion: '18.1' });
      await enroll('OTHER', { platform: 'ios', osVersion: '18.1' });
      expect(await policies.effectivePolicy('PHONE')).toEqual({ status: 'none', device: { udid: 'PHONE', platform: 'ios', enrollment: 'device', osVersion: '18.1' } });
      expect(await policies.effectivePolicy('NOBODY')).toBeUndefined();

      const fleet = await create('Fleet baseline', FRIENDLY);
      const sales = await create('Sales', APPLE);
      const own = await create('This phone', { RequirePasscode: true, MinimumLength: 8 });
      await policies.assign(alice, fleet.id, { kind: 'all' });
      await policies.assign(alice, sales.id, { kind: 'group', group: 'sales' });
      await policies.assign(alice, own.id, { kind: 'device', udid: 'PHONE' });
      await policies.setDeviceGroups(alice, 'PHONE', ['sales']);
      await policies.update(alice, sales.id, { policy: { ...APPLE, maxFailedAttempts: 4 } });

      const result = compiled(await policies.effectivePolicy('PHONE'));
      expect(result.requirements).toEqual({
        forcePIN: true, allowSimple: false, minLength: 8, maxFailedAttempts: 4, maxInactivity: 5, maxGracePeriod: 1, pinHistory: 3,
      });
      const source = (p: { id: string; name: string }, version = 1) => ({ policyId: p.id, name: p.name, version });
      expect(result.sources).toEqual({
        forcePIN: [source(own)],
        allowSimple: [source(fleet), source(sales, 2)],
        minLength: [source(fleet), source(own)],
        maxFailedAttempts: [source(sales, 2)],
        maxInactivity: [source(fleet)],
        maxGracePeriod: [source(fleet)],
        pinHistory: [source(sales, 2)],
      });
      expect(result.policies).toEqual([
        { ...source(fleet), via: [{ kind: 'all' }] },
        { ...source(sales, 2), via: [{ kind: 'group', group: 'sales' }] },
        { ...source(own), via: [{ kind: 'device', udid: 'PHONE' }] },
      ]);
      expect(result.target).toEqual({ platform: 'ios', enrollment: 'device', osVersion: '18.1' });
      expect(result.compiled.payloads).toEqual([{ allowSimple: false, forcePIN: true, maxFailedAttempts: 4, maxInactivity: 5, minLength: 8, pinHistory: 3, maxGracePeriod: 1 }]);
      expect(result.compiled.lines.every((line) => line.status === 'enforced')).toBe(true);
      // The other phone is in no group: the fleet baseline alone.
      expect(compiled(await policies.effectivePolicy('OTHER')).requirements).toEqual(fleet.current.requirements);
    });

    it('compiles for every platform and enrollment, and says why where the payload cannot go', async () => {
      const policy = await create('Everywhere', { ...FRIENDLY, RequiredCharacters: { MinimumDigits: 1, MinimumUppercase: 1 } });
      await policies.assign(alice, policy.id, { kind: 'all' });
      const devices: Array<[string, Partial<AuthenticateInput>]> = [
        ['IPHONE', { platform: 'ios', osVersion: '18.1' }],
        ['IPHONE-UE', { platform: 'ios', type: 'User Enrollment (Device)' }],
        ['IPAD', { platform: 'ipados', osVersion: '18.1' }],
        ['IPAD-UE', { platform: 'ipados', type: 'User Enrollment (Device)' }],
        ['SHARED-IPAD', { platform: 'ipados', enrollmentKind: 'shared-ipad' }],
        ['MAC', { platform: 'macos', osVersion: '15.1' }],
        ['OLD-MAC', { platform: 'macos', osVersion: '13.6' }],
        ['MAC-UE', { platform: 'macos', type: 'User Enrollment (Device)' }],
        ['WATCH', { platform: 'watchos', osVersion: '11.1' }],
        ['VISION', { platform: 'visionos', osVersion: '2.1' }],
        ['VISION-UE', { platform: 'visionos', type: 'User Enrollment (Device)' }],
        ['TV', { platform: 'tvos', osVersion: '18.1' }],
        ['UNKNOWN', {}],
      ];
      for (const [id, facts] of devices) await enroll(id, facts);
      const effective = async (id: string) => (await policies.effectivePolicy(id))!;

      for (const id of ['IPHONE', 'IPAD', 'MAC', 'WATCH', 'VISION']) {
        const result = compiled(await effective(id));
        expect(result.profile.identifier, id).toBe(EFFECTIVE_PROFILE_IDENTIFIER);
        expect(result.target.enrollment, id).toBe('device');
      }
      // Compiled for the OS the device runs: macOS 14+ counts classes with a customRegex, macOS 13
      // cannot, and the gap is a line, not a silent omission.
      const statuses = async (id: string) => Object.fromEntries(compiled(await effective(id)).compiled.lines
        .filter((l) => l.requirement === 'minDigits' || l.requirement === 'minUppercase')
        .map((l) => [l.requirement, l.status]));
      expect(await statuses('MAC')).toEqual({ minDigits: 'enforced', minUppercase: 'enforced' });
      expect(await statuses('OLD-MAC')).toEqual({ minDigits: 'not-enforceable', minUppercase: 'approximated' });
      expect(await statuses('IPHONE')).toEqual({ minDigits: 'not-enforceable', minUppercase: 'approximated' });
      expect(await statuses('WATCH')).toEqual({ minDigits: 'not-enforceable', minUppercase: 'not-enforceable' });

      // User Enrollment: Apple's forced values, whatever the policy says.
      for (const id of ['IPHONE-UE', 'IPAD-UE', 'VISION-UE']) {
        const result = compiled(await effective(id));
        expect(result.target.enrollment, id).toBe('user');
        expect(result.compiled.effective, id).toEqual({ forcePIN: true, allowSimple: false, minLength: 6 });
        expect(result.compiled.lines.find((l) => l.requirement === 'minLength'), id).toMatchObject({ status: 'not-enforceable', written: 8 });
      }

      const notApplicable: Array<[string, string]> = [
        ['SHARED-IPAD', refusalOf({ platform: 'ipados', enrollment: 'shared-ipad' })],
        ['MAC-UE', refusalOf({ platform: 'macos', enrollment: 'user' })],
        ['TV', refusalOf({ platform: 'tvos', enrollment: 'device' })],
        ['UNKNOWN', PLATFORM_NOT_KNOWN],
      ];
      for (const [id, reason] of notApplicable) {
        const result = await effective(id);
        expect(result, id).toMatchObject({ status: 'not-applicable', reason, requirements: policy.current.requirements });
      }
      expect(notApplicable.map(([, reason]) => reason)).toEqual([
        expect.stringContaining('Shared iPad'), expect.stringContaining('User Enrollment on macOS'), expect.stringContaining('tvOS'), PLATFORM_NOT_KNOWN,
      ]);
    });

    it('gives the same bytes for the same requirements, and new payload UUIDs for stricter ones', async () => {
      await enroll('PHONE', { platform: 'ios', osVersion: '18.1' });
      await enroll('PHONE-2', { platform: 'ios', osVersion: '18.1' });
      const baseline = await create('Baseline', FRIENDLY);
      await policies.assign(alice, baseline.id, { kind: 'all' });
      const first = compiled(await policies.effectivePolicy('PHONE'));
      const again = compiled(await policies.effectivePolicy('PHONE'));
      expect(again.profile).toEqual(first.profile);
      // Nothing device-specific: another phone of the same platform gets the very same bytes.
      expect(compiled(await policies.effectivePolicy('PHONE-2')).profile.bytes.equals(first.profile.bytes)).toBe(true);

      // A weaker policy changes no requirement, so not the bytes either.
      const weaker = await create('Weaker', { MinimumLength: 4 });
      await policies.assign(alice, weaker.id, { kind: 'device', udid: 'PHONE' });
      const withWeaker = compiled(await policies.effectivePolicy('PHONE'));
      expect(withWeaker.policies).toHaveLength(2);
      expect(withWeaker.profile.sha256).toBe(first.profile.sha256);

      await policies.update(alice, baseline.id, { policy: { ...FRIENDLY, MinimumLength: 10 } });
      const stricter = compiled(await policies.effectivePolicy('PHONE'));
      expect(stricter.profile.identifier).toBe(first.profile.identifier);
      expect(stricter.profile.uuid).toBe(first.profile.uuid);
      expect(stricter.profile.payloadUuids).toHaveLength(1);
      expect(stricter.profile.payloadUuids[0]).not.toBe(first.profile.payloadUuids[0]);
      expect(stricter.profile.sha256).not.toBe(first.profile.sha256);

      const plist = decodePlist(stricter.profile.bytes) as { PayloadIdentifier: string; PayloadUUID: string; PayloadContent: Array<Record<string, unknown>> };
      expect(plist.PayloadIdentifier).toBe(EFFECTIVE_PROFILE_IDENTIFIER);
      expect(plist.PayloadUUID).toBe(stricter.profile.uuid);
      expect(plist.PayloadContent).toEqual([expect.objectContaining({
        PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadUUID: stricter.profile.payloadUuids[0], minLength: 10,
      })]);
    });
  });
}

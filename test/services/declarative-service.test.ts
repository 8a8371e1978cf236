// The Declarative Device Management service on both databases: what it serves around the provider's
// configurations (status subscriptions, one activation), the token rules (ServerTokens and the
// DeclarationsToken follow content, the SyncTokens Timestamp stays while nothing changes), each
// declaration by group and identifier, status reports (full, then incremental merged; malformed
// ones refused with nothing stored), the statusOf projection, and the audited sync request.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDeclarativeEndpoint } from '../../src/mdm/checkin-messages.ts';
import type { RequestContext } from '../../src/mdm/handler.ts';
import { decodePlist } from '../../src/plist/plist-codec.ts';
import { compileDeclaration, compilePolicy } from '../../src/policy/index.ts';
import type { PasscodeRequirements } from '../../src/policy/index.ts';
import { createAuditLog } from '../../src/services/audit-log.ts';
import type { AuditLog } from '../../src/services/audit-log.ts';
import {
  ACTIVATION_IDENTIFIER, createDeclarativeService, noDeclarations, SIMPLE_ACTIVATION_TYPE, STATUS_SUBSCRIPTIONS_IDENTIFIER, STATUS_SUBSCRIPTIONS_TYPE,
} from '../../src/services/declarative-service.ts';
import type { ConfigurationDeclaration, DeclarationSet, DeclarativeService } from '../../src/services/declarative-service.ts';
import { DeviceRefusedError } from '../../src/services/device-refusal.ts';
import type { Store } from '../../src/store/database.ts';
import { databases } from '../support/databases.ts';

const UDID = 'DDM-DEVICE';
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const ENROLLMENT = { deviceId: UDID, enrollmentId: UDID, channel: 'device', type: 'Device' } as const;
const T0 = Date.UTC(2026, 0, 15, 9, 30, 0);

const ctx = (now: number, enrollment: RequestContext['enrollment'] = ENROLLMENT): RequestContext => ({
  identity: { certHash: 'c'.repeat(64), subject: 'CN=test' }, enrollment, now, log: silent,
});

/** A passcode settings declaration as the policy engine compiles it for an iPhone. */
function passcodeDeclaration(requirements: PasscodeRequirements): ConfigurationDeclaration {
  const outcome = compilePolicy(requirements, { platform: 'ios', enrollment: 'device' });
  if (!outcome.ok) throw new Error(outcome.reason);
  const declaration = compileDeclaration(outcome.compiled, { identifier: 'com.example.passcode' });
  if (!declaration.ok) throw new Error(declaration.reason);
  return declaration.declaration;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

for (const database of databases) {
  describe.skipIf(!database.available)(`DeclarativeService (${database.name})`, () => {
    let store: Store;
    let audit: AuditLog;
    let set: DeclarationSet;
    let service: DeclarativeService;
    let pushed: string[][];
    beforeEach(async () => {
      store = await database.open();
      await store.enrollments.authenticate({ deviceId: UDID, type: 'Device', topic: 'topic', certHash: 'c'.repeat(64), now: 1_000 });
      audit = createAuditLog(store, randomBytes(32));
      set = { configurations: [passcodeDeclaration({ minLength: 6, forcePIN: true })] };
      pushed = [];
      service = createDeclarativeService({
        store, audit, now: () => T0,
        declarationsFor: async () => set,
        push: async (ids) => { pushed.push(ids); return { sent: ids.length }; },
      });
    });
    afterEach(async () => { await store.close(); });

    const call = (endpoint: string, now = T0, data?: Uint8Array) =>
      service.answer(ctx(now), { Endpoint: endpoint, endpoint: parseDeclarativeEndpoint(endpoint), ...(data !== undefined && { Data: data }) });
    const tokens = async (now = T0) => (await call('tokens', now)) as { SyncTokens: { DeclarationsToken: string; Timestamp: string } };
    type Item = { Identifier: string; ServerToken: string };
    const manifest = async (now = T0) => (await call('declaration-items', now)) as { Declarations: Record<'Activations' | 'Configurations' | 'Assets' | 'Management', Item[]>; DeclarationsToken: string };
    const status = (report: unknown, now = T0) => call('status', now, typeof report === 'string' ? Buffer.from(report) : json(report));

    it('keeps the DeclarationsToken and its Timestamp while nothing changes, and moves both when a declaration does', async () => {
      const first = await tokens(T0);
      expect(first.SyncTokens).toEqual({ DeclarationsToken: expect.stringMatching(/^[0-9a-f]{32}$/), Timestamp: '2026-01-15T09:30:00Z' });
      expect(await tokens(T0 + 60_000)).toEqual(first);
      expect((await manifest(T0 + 90_000)).DeclarationsToken).toBe(first.SyncTokens.DeclarationsToken);
      expect(await tokens(T0 + 120_000)).toEqual(first);

      set = { configurations: [passcodeDeclaration({ minLength: 8, forcePIN: true })] };
      const stricter = await tokens(T0 + 3_600_000);
      expect(stricter.SyncTokens.DeclarationsToken).not.toBe(first.SyncTokens.DeclarationsToken);
      expect(stricter.SyncTokens.Timestamp).toBe('2026-01-15T10:30:00Z');
      expect(await tokens(T0 + 7_200_000)).toEqual(stricter);

      // Content-derived: the same content again gives the same token, dated when it came back.
      set = { configurations: [passcodeDeclaration({ minLength: 6, forcePIN: true })] };
      expect((await tokens(T0 + 10_800_000)).SyncTokens).toEqual({ DeclarationsToken: first.SyncTokens.DeclarationsToken, Timestamp: '2026-01-15T12:30:00Z' });
    });

    it('lists the activation, the configuration and the status subscriptions, each with its ServerToken', async () => {
      const passcode = set.configurations[0]!;
      const served = await manifest();
      expect(served.Declarations.Activations).toEqual([{ Identifier: ACTIVATION_IDENTIFIER, ServerToken: expect.any(String) }]);
      expect(served.Declarations.Configurations).toEqual([
        { Identifier: 'com.example.passcode.passcode-settings', ServerToken: passcode.ServerToken },
        { Identifier: STATUS_SUBSCRIPTIONS_IDENTIFIER, ServerToken: expect.any(String) },
      ]);
      expect(served.Declarations.Assets).toEqual([]);
      expect(served.Declarations.Management).toEqual([]);

      // A stricter passcode changes its own token and the manifest's, nothing else.
      set = { configurations: [passcodeDeclaration({ minLength: 8, forcePIN: true })] };
      const after = await manifest();
      expect(after.Declarations.Configurations[0]!.ServerToken).not.toBe(passcode.ServerToken);
      expect(after.Declarations.Configurations[1]).toEqual(served.Declarations.Configurations[1]);
      expect(after.Declarations.Activations).toEqual(served.Declarations.Activations);
      expect(after.DeclarationsToken).not.toBe(served.DeclarationsToken);
    });

    it('serves each declaration by group and identifier, as the manifest lists it', async () => {
      const served = await manifest();
      const activation = await call(`declaration/activation/${ACTIVATION_IDENTIFIER}`);
      expect(activation).toEqual({
        Type: SIMPLE_ACTIVATION_TYPE, Identifier: ACTIVATION_IDENTIFIER, ServerToken: served.Declarations.Activations[0]!.ServerToken,
        Payload: { StandardConfigurations: ['com.example.passcode.passcode-settings', STATUS_SUBSCRIPTIONS_IDENTIFIER] },
      });
      expect(await call(`declaration/configuration/${STATUS_SUBSCRIPTIONS_IDENTIFIER}`)).toEqual({
        Type: STATUS_SUBSCRIPTIONS_TYPE, Identifier: STATUS_SUBSCRIPTIONS_IDENTIFIER, ServerToken: served.Declarations.Configurations[1]!.ServerToken,
        // Names as declarative/status/*.yaml spell them.
        Payload: { StatusItems: [{ Name: 'management.declarations' }, { Name: 'passcode.is-compliant' }, { Name: 'passcode.is-present' }] },
      });
      expect(await call('declaration/configuration/com.example.passcode.passcode-settings')).toEqual({
        Type: 'com.apple.configuration.passcode.settings', Identifier: 'com.example.passcode.passcode-settings',
        ServerToken: served.Declarations.Configurations[0]!.ServerToken, Payload: { RequirePasscode: true, MinimumLength: 6 },
      });
    });

    it('answers 404 for a declaration it does not serve, in another group, or of an unknown group', async () => {
      for (const endpoint of [
        'declaration/configuration/com.example.nothing',
        `declaration/configuration/${ACTIVATION_IDENTIFIER}`,
        `declaration/asset/${STATUS_SUBSCRIPTIONS_IDENTIFIER}`,
        `declaration/profile/${ACTIVATION_IDENTIFIER}`,
      ]) {
        const refused = await call(endpoint).catch((err: unknown) => err);
        expect(refused, endpoint).toBeInstanceOf(DeviceRefusedError);
        expect(refused, endpoint).toMatchObject({ status: 404 });
      }
    });

    it('serves the empty manifest when the provider has nothing: no activation, no subscription, the token it always had', async () => {
      service = createDeclarativeService({ store, declarationsFor: noDeclarations });
      const served = await manifest();
      expect(served).toEqual({ Declarations: { Activations: [], Configurations: [], Assets: [], Management: [] }, DeclarationsToken: '9dc704f8af7a62dd24e5c1c59fb34b43' });
      expect((await tokens()).SyncTokens.DeclarationsToken).toBe(served.DeclarationsToken);
    });

    it('stores a full report, merges an incremental one into it, and replaces it with the next full one', async () => {
      const passcodeToken = set.configurations[0]!.ServerToken!;
      const fetched = await manifest();
      const declarations = {
        activations: [{ identifier: ACTIVATION_IDENTIFIER, 'server-token': 'a1', active: true, valid: 'valid' }],
        configurations: [
          { identifier: 'com.example.passcode.passcode-settings', 'server-token': passcodeToken, active: true, valid: 'valid' },
          { identifier: STATUS_SUBSCRIPTIONS_IDENTIFIER, 'server-token': 's1', active: true, valid: 'valid' },
        ],
        assets: [],
        management: [],
      };
      expect(await status({
        StatusItems: { passcode: { 'is-compliant': false, 'is-present': true }, management: { declarations } },
        Errors: [{ StatusItem: 'device.model.family', Reasons: [{ Code: 'Error.NotSupported', Description: 'not here' }] }],
        FullReport: true,
      })).toBeUndefined();
      expect(await service.statusOf(UDID)).toEqual({
        passcodeIsCompliant: false,
        passcodeIsPresent: true,
        declarations: [
          { group: 'activation', identifier: ACTIVATION_IDENTIFIER, serverToken: 'a1', active: true, valid: 'valid' },
          { group: 'configuration', identifier: 'com.example.passcode.passcode-settings', serverToken: passcodeToken, active: true, valid: 'valid' },
          { group: 'configuration', identifier: STATUS_SUBSCRIPTIONS_IDENTIFIER, serverToken: 's1', active: true, valid: 'valid' },
        ],
        errors: [{ statusItem: 'device.model.family', reasons: [{ code: 'Error.NotSupported', description: 'not here' }] }],
        declarationsToken: fetched.DeclarationsToken,
        updatedAt: T0,
      });

      // Incremental: only what changed. The passcode became compliant; one configuration is now
      // invalid, another gone; the errored item reported after all. Everything else stays.
      await status({
        StatusItems: {
          passcode: { 'is-compliant': true },
          management: { declarations: { configurations: [
            { identifier: 'com.example.passcode.passcode-settings', 'server-token': 'p2', active: false, valid: 'invalid', reasons: [{ code: 'Error.ConfigurationCannotBeApplied', description: 'too weak' }] },
            { identifier: STATUS_SUBSCRIPTIONS_IDENTIFIER, _removed: true },
          ] } },
          'device.model.family': 'iPhone',
        },
        Errors: [],
      }, T0 + 5_000);
      const merged = await service.statusOf(UDID);
      expect(merged).toMatchObject({ passcodeIsCompliant: true, passcodeIsPresent: true, errors: [], updatedAt: T0 + 5_000 });
      expect(merged?.declarations).toEqual([
        { group: 'activation', identifier: ACTIVATION_IDENTIFIER, serverToken: 'a1', active: true, valid: 'valid' },
        {
          group: 'configuration', identifier: 'com.example.passcode.passcode-settings', serverToken: 'p2', active: false, valid: 'invalid',
          reasons: [{ code: 'Error.ConfigurationCannotBeApplied', description: 'too weak' }],
        },
      ]);
      expect((await store.declarative.storedStatus(UDID))?.statusItems).toMatchObject({ device: { model: { family: 'iPhone' } } });

      // A flat dotted name reads as the nested form.
      await status({ StatusItems: { 'passcode.is-present': false }, Errors: [] }, T0 + 6_000);
      expect(await service.statusOf(UDID)).toMatchObject({ passcodeIsCompliant: true, passcodeIsPresent: false });

      // The next full report is the whole truth: what it leaves out is gone.
      await status({ StatusItems: { passcode: { 'is-compliant': true, 'is-present': true } }, Errors: [], FullReport: true }, T0 + 7_000);
      expect(await store.declarative.storedStatus(UDID)).toEqual({
        statusItems: { passcode: { 'is-compliant': true, 'is-present': true } }, errors: [], declarationsToken: fetched.DeclarationsToken, updatedAt: T0 + 7_000,
      });
    });

    it('refuses a malformed report with 400 and the reason, and stores nothing', async () => {
      const cases: [string, Uint8Array | undefined, RegExp][] = [
        ['no Data', undefined, /Data is missing/],
        ['not JSON', Buffer.from('{"StatusItems": {'), /not UTF-8 JSON/],
        ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), /not UTF-8 JSON/],
        ['an array', json([]), /not a JSON object/],
        ['no StatusItems', json({ Errors: [] }), /StatusItems is required/],
        ['StatusItems a list', json({ StatusItems: [], Errors: [] }), /StatusItems is required/],
        ['no Errors', json({ StatusItems: {} }), /Errors is required/],
        ['an error without StatusItem', json({ StatusItems: {}, Errors: [{ Reasons: [] }] }), /Errors\[0\]\.StatusItem/],
        ['a reason without Code', json({ StatusItems: {}, Errors: [{ StatusItem: 'x', Reasons: [{ Description: 'd' }] }] }), /Reasons\[0\]/],
        ['FullReport a string', json({ StatusItems: {}, Errors: [], FullReport: 'yes' }), /FullReport must be a boolean/],
        ['too deep', Buffer.from(`{"StatusItems": ${'{"a":'.repeat(40)}1${'}'.repeat(40)}, "Errors": []}`), /nested deeper/],
      ];
      for (const [name, data, reason] of cases) {
        const refused = await call('status', T0, data).catch((err: unknown) => err);
        expect(refused, name).toBeInstanceOf(DeviceRefusedError);
        expect(refused, name).toMatchObject({ status: 400, message: expect.stringMatching(reason) });
      }
      expect(await service.statusOf(UDID)).toBeUndefined();

      // Nor does a malformed report touch what an earlier one stored.
      await status({ StatusItems: { passcode: { 'is-compliant': true } }, Errors: [] });
      await expect(status('{"StatusItems": 1, "Errors": []}', T0 + 1_000)).rejects.toMatchObject({ status: 400 });
      expect(await service.statusOf(UDID)).toMatchObject({ passcodeIsCompliant: true, updatedAt: T0 });
    });

    it('keeps a "__proto__" status key as data', async () => {
      await status('{"StatusItems": {"__proto__": {"polluted": true}, "passcode": {"is-present": true}}, "Errors": []}');
      await status('{"StatusItems": {"__proto__": {"more": 1}}, "Errors": []}', T0 + 1);
      const stored = await store.declarative.storedStatus(UDID);
      expect(Object.getPrototypeOf(stored!.statusItems)).toBe(Object.prototype);
      expect(Object.hasOwn(stored!.statusItems, '__proto__')).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(await service.statusOf(UDID)).toMatchObject({ passcodeIsPresent: true });
    });

    it('refuses a channel that never completed TokenUpdate with 403, storing nothing', async () => {
      const user = { deviceId: UDID, enrollmentId: `${UDID}:501`, channel: 'user', type: 'User' } as const;
      for (const endpoint of ['tokens', 'declaration-items', 'status']) {
        const data = endpoint === 'status' ? json({ StatusItems: {}, Errors: [] }) : undefined;
        const refused = await service.answer(ctx(T0, user), { Endpoint: endpoint, endpoint: parseDeclarativeEndpoint(endpoint), ...(data && { Data: data }) }).catch((err: unknown) => err);
        expect(refused, endpoint).toMatchObject({ status: 403 });
      }
      expect(await service.statusOf(user.enrollmentId)).toBeUndefined();
    });

    it('queues one audited DeclarativeManagement command for the enrollments, with no frozen tokens, and pushes them', async () => {
      await store.enrollments.authenticate({ deviceId: 'DDM-OTHER', type: 'Device', topic: 'topic', certHash: 'd'.repeat(64), now: 1_000 });
      const request = await service.requestSync([UDID, 'DDM-OTHER', UDID]);
      expect(request).toEqual({ commandUuid: expect.any(String), queued: 2, pushed: { sent: 2 } });
      expect(pushed).toEqual([[UDID, 'DDM-OTHER']]);
      for (const id of [UDID, 'DDM-OTHER']) {
        const queued = await store.commands.get(id, request.commandUuid);
        expect(queued).toMatchObject({ requestType: 'DeclarativeManagement', status: 'pending' });
        expect(decodePlist(queued!.body)).toEqual({ CommandUUID: request.commandUuid, Command: { RequestType: 'DeclarativeManagement' } });
      }
      const events = await audit.list({ limit: 10, order: 'asc' });
      expect(events.map((e) => [e.actor, e.action, e.details])).toEqual([
        ['system', 'command.enqueue', { requestType: 'DeclarativeManagement', commandUuid: request.commandUuid, deviceCount: 2, deviceIds: [UDID, 'DDM-OTHER'] }],
      ]);
      await expect(service.requestSync(['NOBODY'])).rejects.toThrow(/NOBODY/);
      expect(pushed).toHaveLength(1);
    });

    it('refuses a provider that reuses an identifier or gives something other than a configuration', async () => {
      set = { configurations: [{ Type: STATUS_SUBSCRIPTIONS_TYPE, Identifier: STATUS_SUBSCRIPTIONS_IDENTIFIER, Payload: {} }] };
      await expect(tokens()).rejects.toThrow(/reserved/);
      set = { configurations: [{ Type: SIMPLE_ACTIVATION_TYPE, Identifier: 'x', Payload: {} }] };
      await expect(tokens()).rejects.toThrow(/not a configuration/);
      // Without a ServerToken, one is derived from the content.
      set = { configurations: [{ Type: 'com.apple.configuration.passcode.settings', Identifier: 'x', Payload: { MinimumLength: 4 } }] };
      const first = (await manifest()).Declarations.Configurations.find((c) => c.Identifier === 'x')!;
      set = { configurations: [{ Type: 'com.apple.configuration.passcode.settings', Identifier: 'x', Payload: { MinimumLength: 5 } }] };
      const second = (await manifest()).Declarations.Configurations.find((c) => c.Identifier === 'x')!;
      expect(first.ServerToken).toMatch(/^[0-9a-f]{32}$/);
      expect(second.ServerToken).not.toBe(first.ServerToken);
    });
  });
}

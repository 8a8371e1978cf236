// Delivery planning and channel choice (src/services/compliance/delivery-plan.ts, channel-choice.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseChannel, planDelivery } from '../../src/services/compliance/index.ts';
import type {
  DeclarationStatus, DeliveryAction, DeliveryPlan, DeliveryPlanInput, DeliveryRecord, DesiredDeclaration, DesiredProfile, DesiredState, DeviceFacts,
  InstalledProfile,
} from '../../src/services/compliance/index.ts';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const ID = 'com.lockwarden.passcode.staff';
const OLD_ID = 'com.lockwarden.passcode.contractors';
const DECL_ID = `${ID}.passcode-settings`;
const OLD_DECL_ID = `${OLD_ID}.passcode-settings`;

const iphone: DeviceFacts = { id: 'UDID-1', platform: 'ios', enrollment: 'device', supervised: false, osVersion: '17.4' };
const mac: DeviceFacts = { id: 'UDID-MAC', platform: 'macos', enrollment: 'device', supervised: false, osVersion: '14.5' };
const appleTv: DeviceFacts = { id: 'UDID-TV', platform: 'tvos', enrollment: 'device', supervised: true, osVersion: '18.0' };

const profile: DesiredProfile = { channel: 'profile', identifier: ID, payloadUuids: ['PAYLOAD-V2'], contentHash: 'v2', since: T0 };
const declaration: DesiredDeclaration = { channel: 'ddm', identifier: DECL_ID, serverToken: 'TOKEN-V2', contentHash: 'v2', since: T0 };
const wants = (delivery: DesiredProfile | DesiredDeclaration): DesiredState => ({ kind: 'desired', delivery });

const mine = (payloadUuids = ['PAYLOAD-V2'], identifier = ID): InstalledProfile => ({ identifier, payloadUuids });
const wifi: InstalledProfile = { identifier: 'com.example.wifi', payloadUuids: ['W'] };
const lookalike: InstalledProfile = { identifier: `${ID}.extra`, payloadUuids: ['X'] };
const activeDecl = (identifier = DECL_ID, serverToken = 'TOKEN-V2'): DeclarationStatus => ({ identifier, serverToken, active: true, valid: 'valid' });

function plan(overrides: Partial<DeliveryPlanInput>) {
  return planDelivery({ device: iphone, desired: wants(profile), previouslyManagedIdentifiers: [ID], ddmSupported: false, ...overrides });
}
const kinds = (actions: DeliveryAction[]) => actions.map((a) => (a.kind === 'install-profile' || a.kind === 'remove-profile' ? `${a.kind} ${a.identifier}` : a.kind));
const record = (result?: DeliveryRecord['result'], command: DeliveryRecord['command'] = 'InstallProfile'): DeliveryRecord =>
  ({ command, commandUuid: 'CMD-1', contentHash: 'v2', queuedAt: T0 + MIN, ...(result && { result }) });

describe('planDelivery: profiles', () => {
  it('on enrollment (no ProfileList yet): install, then verify and read compliance', () => {
    const p = plan({});
    expect(kinds(p.actions)).toEqual([`install-profile ${ID}`, 'profile-list', 'security-info']);
    expect(p.channel).toBe('profile');
    expect(p.channelReason).toMatch(/configuration profile: Declarative Device Management is not available/);
  });

  it('plans nothing when the installed payload UUIDs already match (idempotent)', () => {
    expect(plan({ installed: { at: T0 + MIN, profiles: [wifi, mine()] } }).actions).toEqual([]);
  });

  it('updates another version in place, under the same identifier', () => {
    const p = plan({ installed: { at: T0 + MIN, profiles: [mine(['PAYLOAD-V1'])] } });
    expect(kinds(p.actions)).toEqual([`install-profile ${ID}`, 'profile-list', 'security-info']);
    expect(p.actions[0]!.reason).toMatch(/another version/);
  });

  it('only verifies when the matching ProfileList predates this version', () => {
    const p = plan({ installed: { at: T0 - MIN, profiles: [mine()] } });
    expect(kinds(p.actions)).toEqual(['profile-list']);
  });

  it('pushes once: a queued or NotNow install of this version is not sent again', () => {
    for (const r of [record(), record({ status: 'NotNow', at: T0 + 2 * MIN })]) {
      const p = plan({ installed: { at: T0 + 3 * MIN, profiles: [] }, delivery: r });
      expect(p.actions).toEqual([]);
      expect(p.notes.join()).toMatch(/not sent again/);
    }
  });

  it('after an acknowledgment: verify when the list is older, re-install when a later list lacks it', () => {
    const acked = record({ status: 'Acknowledged', at: T0 + 2 * MIN });
    expect(kinds(plan({ installed: { at: T0 + MIN, profiles: [] }, delivery: acked }).actions)).toEqual(['profile-list']);
    expect(kinds(plan({ delivery: acked }).actions)).toEqual(['profile-list']);
    const again = plan({ installed: { at: T0 + 3 * MIN, profiles: [] }, delivery: acked });
    expect(kinds(again.actions)).toEqual([`install-profile ${ID}`, 'profile-list', 'security-info']);
    expect(again.actions[0]!.reason).toMatch(/acknowledged .*delivering again/);
  });

  it('does not retry a version that failed', () => {
    const p = plan({ installed: { at: T0 + 3 * MIN, profiles: [] }, delivery: record({ status: 'Error', at: T0 + 2 * MIN }) });
    expect(p.actions).toEqual([]);
    expect(p.notes.join()).toMatch(/failed .*not retried/);
  });

  it('a record for another version does not hold the new one back', () => {
    const p = plan({ installed: { at: T0 + 3 * MIN, profiles: [mine(['PAYLOAD-V1'])] }, delivery: { ...record(), contentHash: 'v1' } });
    expect(kinds(p.actions)[0]).toBe(`install-profile ${ID}`);
  });

  it('unassigned: removes what lockwarden installed, never a foreign or look-alike profile', () => {
    const p = plan({ desired: { kind: 'none' }, installed: { at: T0, profiles: [wifi, lookalike, mine()] } });
    expect(kinds(p.actions)).toEqual([`remove-profile ${ID}`, 'profile-list']);
    expect(p.actions[0]!.reason).toMatch(/no passcode policy is assigned/);
    expect(p.channel).toBeUndefined();
  });

  it('unassigned and already gone: nothing', () => {
    expect(plan({ desired: { kind: 'none' }, installed: { at: T0, profiles: [wifi] } }).actions).toEqual([]);
  });

  it('reassigned to another policy: install the new one first, then remove the old', () => {
    const p = plan({ previouslyManagedIdentifiers: [OLD_ID], installed: { at: T0 + MIN, profiles: [wifi, mine(['OLD'], OLD_ID)] } });
    expect(kinds(p.actions)).toEqual([`install-profile ${ID}`, `remove-profile ${OLD_ID}`, 'profile-list', 'security-info']);
  });

  it('never installs where no passcode policy can go', () => {
    const tv = plan({ device: appleTv, installed: { at: T0 + MIN, profiles: [] } });
    expect(tv.actions).toEqual([]);
    expect(tv.notes.join()).toMatch(/tvOS/);
    expect(plan({ device: appleTv, desired: { kind: 'not-applicable', reason: 'tvOS' }, installed: { at: T0, profiles: [] } }).actions).toEqual([]);
    const shared = plan({ device: { ...iphone, platform: 'ipados', enrollment: 'shared-ipad' }, previouslyManagedIdentifiers: [] });
    expect(shared.actions).toEqual([]);
  });

  it('macOS: no SecurityInfo, it reports no passcode compliance', () => {
    expect(kinds(plan({ device: mac }).actions)).toEqual([`install-profile ${ID}`, 'profile-list']);
  });

  it('before iOS 17 (no payload UUIDs): listed after this version\'s acknowledgment is in place, otherwise re-sent', () => {
    const listedOld = { at: T0 + 3 * MIN, profiles: [{ identifier: ID }] };
    expect(plan({ installed: listedOld, delivery: record({ status: 'Acknowledged', at: T0 + 2 * MIN }) }).actions).toEqual([]);
    expect(kinds(plan({ installed: listedOld }).actions)[0]).toBe(`install-profile ${ID}`);
  });
});

describe('planDelivery: declarations', () => {
  const ddm = (overrides: Partial<DeliveryPlanInput>) =>
    plan({ desired: wants(declaration), ddmSupported: true, previouslyManagedIdentifiers: [], previouslyManagedDeclarations: [DECL_ID], ...overrides });

  it('syncs the declaration, says which channel and why', () => {
    const p = ddm({});
    expect(kinds(p.actions)).toEqual(['ddm-sync', 'security-info']);
    expect(p.channel).toBe('ddm');
    expect(p.channelReason).toMatch(/passcode settings declaration .*iOS 17\.4/);
  });

  it('nothing when the device reports our server token valid and active', () => {
    expect(ddm({ declarations: { at: T0 + MIN, items: [activeDecl()] } }).actions).toEqual([]);
  });

  it('an invalid declaration is not re-sent', () => {
    const p = ddm({ declarations: { at: T0 + MIN, items: [{ ...activeDecl(), valid: 'invalid', active: false }] } });
    expect(p.actions).toEqual([]);
    expect(p.notes.join()).toMatch(/rejected/);
  });

  it('profile → declaration: the old profile goes only once the declaration is active', () => {
    const installed = { at: T0 + MIN, profiles: [mine()] };
    const first = ddm({ previouslyManagedIdentifiers: [ID], installed });
    expect(kinds(first.actions)).toEqual(['ddm-sync', 'security-info']);
    expect(first.deferred).toEqual([ID]);
    const second = ddm({ previouslyManagedIdentifiers: [ID], installed, declarations: { at: T0 + 2 * MIN, items: [activeDecl()] } });
    expect(kinds(second.actions)).toEqual([`remove-profile ${ID}`, 'profile-list']);
    expect(second.deferred).toEqual([]);
  });

  it('declaration → profile: the old declaration is synced away once the profile is confirmed', () => {
    const decls = { at: T0 + MIN, items: [activeDecl(OLD_DECL_ID, 'OLD')] };
    const first = plan({ ddmSupported: true, previouslyManagedDeclarations: [OLD_DECL_ID], declarations: decls });
    expect(kinds(first.actions)).toEqual([`install-profile ${ID}`, 'profile-list', 'security-info']);
    expect(first.deferred).toEqual([OLD_DECL_ID]);
    const second = plan({ ddmSupported: true, previouslyManagedDeclarations: [OLD_DECL_ID], declarations: decls, installed: { at: T0 + 2 * MIN, profiles: [mine()] } });
    expect(kinds(second.actions)).toEqual(['ddm-sync']);
    expect(second.actions[0]!.reason).toMatch(new RegExp(`remove ${OLD_DECL_ID}`));
  });

  it('a declaration desired where DDM is unavailable: nothing sent, nothing removed', () => {
    const p = ddm({ ddmSupported: false, previouslyManagedIdentifiers: [ID], installed: { at: T0, profiles: [mine()] } });
    expect(p.actions).toEqual([]);
    expect(p.deferred).toEqual([ID]);
    expect(p.notes.join()).toMatch(/DDM is not available/);
  });
});

describe('chooseChannel', () => {
  const cases: [string, DeviceFacts, boolean, 'ddm' | 'profile' | 'none', RegExp][] = [
    ['iOS 17 device enrollment', iphone, true, 'ddm', /iOS 17\.4, device enrollment/],
    ['iOS 16.2 is the first with every key', { ...iphone, osVersion: '16.2' }, true, 'ddm', /iOS 16\.2/],
    ['iOS 16.1: declaration exists but lacks keys', { ...iphone, osVersion: '16.1' }, true, 'profile', /exist from iOS 15\.0, but match the profile's keys only from iOS 16\.2/],
    ['iOS 15.0', { ...iphone, osVersion: '15.0' }, true, 'profile', /16\.2/],
    ['unknown OS version', { ...iphone, osVersion: undefined }, true, 'profile', /OS version is unknown/],
    ['User Enrollment on iOS 17', { ...iphone, enrollment: 'user' }, true, 'ddm', /User Enrollment/],
    ['Shared iPad', { ...iphone, platform: 'ipados', enrollment: 'shared-ipad' }, true, 'none', /Shared iPad/],
    ['macOS supervised 14', { ...mac, supervised: true }, true, 'ddm', /macOS 14\.5, supervised/],
    ['macOS unsupervised', mac, true, 'profile', /only to supervised devices/],
    ['macOS 13.0 supervised', { ...mac, supervised: true, osVersion: '13.0' }, true, 'profile', /13\.1/],
    ['macOS User Enrollment', { ...mac, enrollment: 'user' }, true, 'none', /User Enrollment/],
    ['watchOS supervised', { ...iphone, platform: 'watchos', supervised: true, osVersion: '10.1' }, true, 'ddm', /watchOS/],
    ['watchOS unsupervised', { ...iphone, platform: 'watchos', osVersion: '10.1' }, true, 'profile', /supervised/],
    ['visionOS 2', { ...iphone, platform: 'visionos', osVersion: '2.0' }, true, 'ddm', /visionOS 2\.0/],
    ['visionOS 1.1 predates the payload', { ...iphone, platform: 'visionos', osVersion: '1.1' }, true, 'none', /visionOS 1\.1 predates/],
    ['tvOS', appleTv, true, 'none', /tvOS/],
    ['DDM not available', iphone, false, 'profile', /not available/],
  ];
  it.each(cases)('%s', (_name, device, ddmSupported, channel, reason) => {
    const choice = chooseChannel(device, ddmSupported);
    expect(choice.channel).toBe(channel);
    expect(choice.reason).toMatch(reason);
  });
});

// ------------------------------------------------------------------ properties

/** What the device really holds; the server sees it only through reports. */
interface World {
  profiles: InstalledProfile[];
  declarations: DeclarationStatus[];
  input: DeliveryPlanInput;
}

const POOL = [ID, OLD_ID, 'com.example.wifi', `${ID}.extra`];
const arbProfiles = fc.subarray(POOL).chain((ids) =>
  fc.tuple(...ids.map((identifier) => fc.constantFrom<string[]>(['PAYLOAD-V2'], ['PAYLOAD-V1'], ['OTHER']).map((payloadUuids) => ({ identifier, payloadUuids })))));
const arbDecls = fc.subarray([DECL_ID, OLD_DECL_ID, 'com.example.decl']).chain((ids) =>
  fc.tuple(...ids.map((identifier) => fc.constantFrom('TOKEN-V2', 'TOKEN-V1').map((serverToken): DeclarationStatus => ({ identifier, serverToken, active: true, valid: 'valid' })))));
const arbDevice: fc.Arbitrary<DeviceFacts> = fc.constantFrom(
  iphone, mac, appleTv, { ...mac, supervised: true }, { ...iphone, osVersion: '16.0' }, { ...iphone, enrollment: 'user' as const },
  { ...iphone, platform: 'ipados' as const, enrollment: 'shared-ipad' as const }, { ...iphone, platform: 'watchos' as const, supervised: true, osVersion: '10.0' },
);
const arbDesired: fc.Arbitrary<DesiredState> = fc.constantFrom<DesiredState>(
  { kind: 'none' }, { kind: 'not-applicable', reason: 'n/a' }, wants(profile), wants(declaration),
);

const arbWorld: fc.Arbitrary<World> = fc.record({
  device: arbDevice,
  desired: arbDesired,
  profiles: arbProfiles,
  declarations: arbDecls,
  seenProfiles: fc.constantFrom('fresh', 'stale', 'never'),
  seenDecls: fc.constantFrom('fresh', 'stale', 'never'),
  managed: fc.subarray([ID, OLD_ID]),
  managedDecls: fc.subarray([DECL_ID, OLD_DECL_ID]),
  ddmSupported: fc.boolean(),
  record: fc.constantFrom('none', 'queued', 'not-now', 'acknowledged', 'error'),
}).map((w): World => {
  const desired = w.desired.kind === 'desired' ? w.desired.delivery : undefined;
  const profiles = [...w.profiles];
  const declarations = [...w.declarations];
  const at = (seen: string) => (seen === 'fresh' ? T0 + 10 * MIN : T0 - 10 * MIN);
  let delivery: DeliveryRecord | undefined;
  if (desired && w.record !== 'none') {
    const command = desired.channel === 'profile' ? 'InstallProfile' : 'DeclarativeManagement';
    const results = { queued: undefined, 'not-now': { status: 'NotNow' as const, at: T0 + 5 * MIN }, acknowledged: { status: 'Acknowledged' as const, at: T0 + 5 * MIN }, error: { status: 'Error' as const, at: T0 + 5 * MIN } };
    const result = results[w.record as keyof typeof results];
    delivery = { command, commandUuid: 'CMD', contentHash: desired.contentHash, queuedAt: T0 + MIN, ...(result && { result }) };
    // Consistency: an acknowledged version is on the device (as of the acknowledgment); only a
    // report after it could show otherwise, and then the report and the device agree.
    if (w.record === 'acknowledged' && desired.channel === 'profile' && w.seenProfiles !== 'fresh') {
      const i = profiles.findIndex((p) => p.identifier === desired.identifier);
      if (i >= 0) profiles.splice(i, 1);
      profiles.push({ identifier: desired.identifier, payloadUuids: [...desired.payloadUuids] });
    }
    if (w.record === 'acknowledged' && desired.channel === 'ddm' && w.seenDecls !== 'fresh') {
      const i = declarations.findIndex((d) => d.identifier === desired.identifier);
      if (i >= 0) declarations.splice(i, 1);
      declarations.push({ identifier: desired.identifier, serverToken: desired.serverToken, active: true, valid: 'valid' });
    }
  }
  const input: DeliveryPlanInput = {
    device: w.device,
    desired: w.desired,
    previouslyManagedIdentifiers: w.managed,
    previouslyManagedDeclarations: w.managedDecls,
    ddmSupported: w.ddmSupported,
    ...(w.seenProfiles !== 'never' && { installed: { at: at(w.seenProfiles), profiles: structuredClone(profiles) } }),
    ...(w.seenDecls !== 'never' && { declarations: { at: at(w.seenDecls), items: structuredClone(declarations) } }),
    ...(delivery && { delivery }),
  };
  return { profiles, declarations, input };
});

/** The device carries out a plan at time t; its answers become the server's new view. */
function apply(world: World, plan: DeliveryPlan, t: number): World {
  const { input } = world;
  // The server's manifest and profiles follow the plan: nothing desired where it delivers nothing.
  const desired = input.desired.kind === 'desired' && plan.channel ? input.desired.delivery : undefined;
  const actions = plan.actions;
  let profiles = structuredClone(world.profiles);
  let declarations = structuredClone(world.declarations);
  let next: DeliveryPlanInput = { ...input };
  for (const action of actions) {
    if (action.kind === 'install-profile') {
      const d = desired as DesiredProfile;
      profiles = [...profiles.filter((p) => p.identifier !== action.identifier), { identifier: action.identifier, payloadUuids: [...d.payloadUuids] }];
      next = { ...next, delivery: { command: 'InstallProfile', commandUuid: `CMD-${t}`, contentHash: d.contentHash, queuedAt: t, result: { status: 'Acknowledged', at: t } } };
    } else if (action.kind === 'remove-profile') {
      profiles = profiles.filter((p) => p.identifier !== action.identifier);
    } else if (action.kind === 'ddm-sync') {
      // The server serves its manifest: the desired declaration (if any) and none it managed before.
      const managed = new Set(input.previouslyManagedDeclarations ?? []);
      declarations = declarations.filter((d) => !managed.has(d.identifier) && d.identifier !== desired?.identifier);
      if (desired?.channel === 'ddm') {
        declarations.push({ identifier: desired.identifier, serverToken: desired.serverToken, active: true, valid: 'valid' });
        next = { ...next, delivery: { command: 'DeclarativeManagement', commandUuid: `DM-${t}`, contentHash: desired.contentHash, queuedAt: t, result: { status: 'Acknowledged', at: t } } };
      }
      next = { ...next, declarations: { at: t + 1, items: structuredClone(declarations) } };
    } else if (action.kind === 'profile-list') {
      next = { ...next, installed: { at: t + 1, profiles: structuredClone(profiles) } };
    }
  }
  return { profiles, declarations, input: next };
}

describe('planDelivery: properties', () => {
  it('is idempotent: after the device carries out a plan, planning again yields nothing (two steps when a removal was deferred)', () => {
    fc.assert(fc.property(arbWorld, (world) => {
      const first = planDelivery(world.input);
      const afterFirst = apply(world, first, T0 + 60 * MIN);
      const second = planDelivery(afterFirst.input);
      if (first.deferred.length === 0) {
        expect(second.actions).toEqual([]);
      } else {
        // Only the deferred removals (and their confirmation) remain, then nothing.
        for (const a of second.actions) expect(['remove-profile', 'ddm-sync', 'profile-list']).toContain(a.kind);
        const third = planDelivery(apply(afterFirst, second, T0 + 120 * MIN).input);
        expect(third.actions).toEqual([]);
      }
    }), { numRuns: 1000 });
  });

  it('never removes a profile lockwarden did not install, nor the one it delivers', () => {
    fc.assert(fc.property(arbWorld, (world) => {
      const { input } = world;
      const delivered = input.desired.kind === 'desired' && chooseChannel(input.device).channel !== 'none';
      const desired = delivered && input.desired.kind === 'desired' ? input.desired.delivery : undefined;
      for (const a of planDelivery(input).actions) {
        if (a.kind !== 'remove-profile') continue;
        expect(input.previouslyManagedIdentifiers).toContain(a.identifier);
        if (desired?.channel === 'profile') expect(a.identifier).not.toBe(desired.identifier);
      }
    }), { numRuns: 1000 });
  });

  it('never delivers to a device where no passcode policy can go', () => {
    fc.assert(fc.property(arbWorld, (world) => {
      const refused = chooseChannel(world.input.device).channel === 'none' || world.input.desired.kind !== 'desired';
      if (!refused) return;
      const actions = planDelivery(world.input).actions;
      expect(actions.filter((a) => a.kind === 'install-profile')).toEqual([]);
      expect(actions.filter((a) => a.kind === 'security-info')).toEqual([]);
    }), { numRuns: 1000 });
  });

  it('is deterministic', () => {
    fc.assert(fc.property(arbWorld, (world) => {
      expect(planDelivery(structuredClone(world.input))).toEqual(planDelivery(world.input));
    }), { numRuns: 300 });
  });
});

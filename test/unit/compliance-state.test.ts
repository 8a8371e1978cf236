// Compliance assessed from evidence (src/services/compliance/state.ts): one case per state and per
// rule, then properties over arbitrary evidence.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assessCompliance, PASSCODE_GRACE_MS } from '../../src/services/compliance/index.ts';
import type {
  AssessmentInput, ComplianceState, DeliveryRecord, DesiredDeclaration, DesiredProfile, DeviceFacts, ProfileListEvidence,
  ReasonCode, SecurityInfoEvidence,
} from '../../src/services/compliance/index.ts';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const ID = 'com.lockwarden.passcode.staff';

const iphone: DeviceFacts = { id: 'UDID-IPHONE-1', platform: 'ios', enrollment: 'device', supervised: false, osVersion: '17.4' };
const mac: DeviceFacts = { id: 'UDID-MAC-1', platform: 'macos', enrollment: 'device', supervised: true, osVersion: '14.5' };
const appleTv: DeviceFacts = { id: 'UDID-TV-1', platform: 'tvos', enrollment: 'device', supervised: true, osVersion: '18.0' };
const byodPhone: DeviceFacts = { id: 'ENR-UE-1', platform: 'ios', enrollment: 'user', supervised: false, osVersion: '17.4' };
const oldPhone: DeviceFacts = { id: 'UDID-OLD-1', platform: 'ios', enrollment: 'device', supervised: false, osVersion: '16.7' };

const profile: DesiredProfile = { channel: 'profile', identifier: ID, profileUuid: 'PROFILE-UUID', payloadUuids: ['PAYLOAD-V2'], contentHash: 'v2', since: T0 };
const declaration: DesiredDeclaration = { channel: 'ddm', identifier: `${ID}.passcode-settings`, serverToken: 'TOKEN-V2', contentHash: 'v2', since: T0 };
const wants = (delivery: DesiredProfile | DesiredDeclaration) => ({ kind: 'desired' as const, delivery });

const ACK = T0 + 2 * MIN;
function install(result?: DeliveryRecord['result'], overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return { command: 'InstallProfile', commandUuid: 'CMD-1', contentHash: 'v2', queuedAt: T0 + MIN, sentAt: T0 + MIN + 500, ...(result && { result }), ...overrides };
}
const acked = install({ status: 'Acknowledged', at: ACK });
const foreign = { identifier: 'com.example.wifi', profileUuid: 'WIFI', payloadUuids: ['WIFI-1'] };
/** `null`: the OS does not report payload UUIDs (before iOS 17 / macOS 14). */
function listed(at: number, payloadUuids: string[] | null = ['PAYLOAD-V2']): ProfileListEvidence {
  return { at, profiles: [foreign, { identifier: ID, profileUuid: 'PROFILE-UUID', ...(payloadUuids && { payloadUuids }) }] };
}
const notListed = (at: number): ProfileListEvidence => ({ at, profiles: [foreign] });
function security(at: number, compliant: boolean | undefined, extra: Partial<SecurityInfoEvidence> = {}): SecurityInfoEvidence {
  return {
    at,
    ...(compliant !== undefined && { passcodeCompliant: compliant, passcodeCompliantWithProfiles: compliant, passcodePresent: true }),
    ...extra,
  };
}
const LISTED = ACK + MIN;
const DEADLINE = ACK + PASSCODE_GRACE_MS;

function input(overrides: Partial<AssessmentInput>): AssessmentInput {
  return { device: iphone, desired: wants(profile), now: T0 + 10 * MIN, ...overrides };
}

interface Case {
  name: string;
  input: AssessmentInput;
  state: ComplianceState;
  code: ReasonCode;
  reason?: RegExp;
  check?: (a: ReturnType<typeof assessCompliance>) => void;
}

const cases: Case[] = [
  { name: 'no policy assigned', input: input({ desired: { kind: 'none' } }), state: 'unknown', code: 'no-policy' },
  {
    name: 'tvOS: not applicable, with the reason given',
    input: input({ device: appleTv, desired: { kind: 'not-applicable', reason: 'tvOS has no Passcode payload' } }),
    state: 'not-applicable',
    code: 'not-applicable',
    reason: /^tvOS has no Passcode payload$/,
  },
  {
    name: 'tvOS with a delivery anyway: still not applicable, with the engine\'s reason',
    input: input({ device: appleTv }),
    state: 'not-applicable',
    code: 'not-applicable',
    reason: /tvOS/,
  },
  {
    name: 'Shared iPad: not applicable',
    input: input({ device: { ...iphone, platform: 'ipados', enrollment: 'shared-ipad' } }),
    state: 'not-applicable',
    code: 'not-applicable',
    reason: /Shared iPad/,
  },
  { name: 'nothing sent yet', input: input({}), state: 'pending-delivery', code: 'not-sent' },
  {
    name: 'a record for another version does not count',
    input: input({ delivery: { ...acked, contentHash: 'v1' }, profileList: listed(LISTED) }),
    state: 'installed-awaiting-report',
    code: 'awaiting-report',
    check: (a) => expect(a.installedAt).toBe(LISTED),
  },
  { name: 'queued, not fetched', input: input({ delivery: install(undefined, { sentAt: undefined }) }), state: 'pending-delivery', code: 'awaiting-result', reason: /queued/ },
  { name: 'sent, no answer yet', input: input({ delivery: install() }), state: 'pending-delivery', code: 'awaiting-result', reason: /sent to the device/ },
  {
    name: 'NotNow: still pending (device locked or busy)',
    input: input({ delivery: install({ status: 'NotNow', at: ACK }) }),
    state: 'pending-delivery',
    code: 'not-now',
    reason: /NotNow.*locked or busy/,
  },
  {
    name: 'Acknowledged alone is not installed: verify with ProfileList',
    input: input({ delivery: acked }),
    state: 'pending-delivery',
    code: 'acknowledged-unverified',
    check: (a) => {
      expect(a.installedAt).toBeUndefined();
      expect(a.next.verifyInstallAt).toBe(T0 + 10 * MIN);
      expect(a.evidence).toEqual([{ kind: 'InstallProfile result', at: ACK, detail: 'Acknowledged' }]);
    },
  },
  {
    name: 'Acknowledged, and the ProfileList predates the acknowledgment',
    input: input({ delivery: acked, profileList: notListed(T0 + MIN) }),
    state: 'pending-delivery',
    code: 'acknowledged-unverified',
  },
  {
    name: 'InstallProfile Error: the device\'s error chain',
    input: input({
      delivery: install({
        status: 'Error',
        at: ACK,
        errorChain: [
          { ErrorCode: 4001, ErrorDomain: 'MCProfileErrorDomain', USEnglishDescription: 'The profile could not be installed.' },
          { ErrorCode: 2003, ErrorDomain: 'MCPayloadErrorDomain', LocalizedDescription: 'Le code est invalide.' },
        ],
      }),
    }),
    state: 'error',
    code: 'install-error',
    reason: /MCProfileErrorDomain 4001: The profile could not be installed\.; caused by MCPayloadErrorDomain 2003: Le code est invalide\./,
  },
  {
    name: 'CommandFormatError is an error too',
    input: input({ delivery: install({ status: 'CommandFormatError', at: ACK }) }),
    state: 'error',
    code: 'install-error',
    reason: /CommandFormatError.*no ErrorChain given/,
  },
  {
    name: 'installed (exact payload UUIDs), no report yet',
    input: input({ delivery: acked, profileList: listed(LISTED) }),
    state: 'installed-awaiting-report',
    code: 'awaiting-report',
    check: (a) => {
      // The device installs before it acknowledges: the installation dates from the acknowledgment.
      expect(a.installedAt).toBe(ACK);
      expect(a.next.pollSecurityInfoAt).toBe(T0 + 10 * MIN);
      expect(a.evidence.map((e) => e.kind)).toEqual(['InstallProfile result', 'ProfileList']);
    },
  },
  {
    name: 'a SecurityInfo older than the installation cannot prove compliance',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(ACK - 1, true) }),
    state: 'installed-awaiting-report',
    code: 'awaiting-report',
    reason: /predates the installation/,
  },
  {
    name: 'compliant: PasscodeCompliant and PasscodeCompliantWithProfiles true after installation',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(DEADLINE + 5 * MIN, true), now: DEADLINE + 6 * MIN }),
    state: 'compliant',
    code: 'reported-compliant',
    reason: /PasscodeCompliant true, PasscodeCompliantWithProfiles true in SecurityInfo at .*; passcode present: yes/,
    check: (a) => {
      expect(a.graceDeadline).toBeUndefined();
      expect(a.evidence.at(-1)).toMatchObject({ kind: 'SecurityInfo', at: DEADLINE + 5 * MIN });
    },
  },
  {
    // A device may report compliance while its grace runs, so that report settles nothing.
    name: 'compliant during the grace window: still in grace, asked again right after the deadline',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(LISTED, true) }),
    state: 'in-grace',
    code: 'compliant-within-grace',
    reason: /PasscodeCompliant true.*may report compliance while its grace period runs; compliance is decided by the first report after 2025-01-06T10:02:00\.000Z/,
    check: (a) => {
      expect(a.graceDeadline).toBe(DEADLINE);
      expect(a.next.pollSecurityInfoAt).toBe(DEADLINE + MIN);
    },
  },
  {
    name: 'compliant during the grace window, deadline passed without a new report: waiting for one',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(LISTED, true), now: DEADLINE + 2 * MIN }),
    state: 'in-grace',
    code: 'grace-ended-awaiting-report',
  },
  {
    name: 'in grace: PasscodeCompliant false 10 minutes after installation',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(ACK + 10 * MIN, false, { passcodePresent: true }), now: ACK + 11 * MIN }),
    state: 'in-grace',
    code: 'reported-non-compliant',
    reason: /PasscodeCompliant false.*passcode present: yes; the device gives the user until 2025-01-06T10:02:00\.000Z/,
    check: (a) => {
      expect(a.graceDeadline).toBe(DEADLINE);
      expect(a.next.pollSecurityInfoAt).toBe(DEADLINE + MIN);
    },
  },
  {
    name: 'grace boundary: a report at 59:59.999 is in grace',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(DEADLINE - 1, false), now: DEADLINE - 1 }),
    state: 'in-grace',
    code: 'reported-non-compliant',
  },
  {
    name: 'grace boundary: a report at exactly 60:00 is non-compliant',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(DEADLINE, false, { passcodePresent: false }), now: DEADLINE }),
    state: 'non-compliant',
    code: 'reported-non-compliant',
    reason: /PasscodeCompliant false.*passcode present: no; the 60-minute grace period ended at 2025-01-06T10:02:00\.000Z/,
    check: (a) => expect(a.graceDeadline).toBe(DEADLINE),
  },
  {
    name: 'a report from inside the grace is not turned into non-compliant once the clock passes the deadline',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(ACK + 30 * MIN, false), now: DEADLINE + 30 * MIN }),
    state: 'in-grace',
    code: 'grace-ended-awaiting-report',
    reason: /ended at .*waiting for a report after it/,
    check: (a) => expect(a.next.pollSecurityInfoAt).toBe(DEADLINE + 30 * MIN),
  },
  {
    name: 'PasscodeCompliant true but PasscodeCompliantWithProfiles false is not compliant',
    input: input({
      delivery: acked,
      profileList: listed(LISTED),
      securityInfo: { at: DEADLINE + MIN, passcodeCompliant: true, passcodeCompliantWithProfiles: false, passcodePresent: true },
      now: DEADLINE + MIN,
    }),
    state: 'non-compliant',
    code: 'reported-non-compliant',
    reason: /PasscodeCompliantWithProfiles false/,
  },
  {
    name: 'User Enrollment: PasscodePresent and PasscodeCompliantWithProfiles are forbidden, PasscodeCompliant decides',
    input: input({ device: byodPhone, delivery: acked, profileList: listed(LISTED), securityInfo: { at: DEADLINE + MIN, passcodeCompliant: true }, now: DEADLINE + 2 * MIN }),
    state: 'compliant',
    code: 'reported-compliant',
    reason: /PasscodeCompliant true in SecurityInfo .*passcode present: not reported/,
  },
  {
    name: 'macOS: installed, compliance not observable (and said so)',
    input: input({ device: mac, delivery: acked, profileList: listed(LISTED), securityInfo: { at: LISTED + MIN } }),
    state: 'not-observable',
    code: 'platform-not-observable',
    reason: /macOS does not report passcode compliance/,
    check: (a) => {
      expect(a.next.pollSecurityInfoAt).toBeUndefined();
      expect(a.next.verifyInstallAt).toBeGreaterThan(LISTED);
      expect(a.installedAt).toBe(ACK);
    },
  },
  {
    name: 'macOS before the ProfileList: pending, not "not observable"',
    input: input({ device: mac, delivery: acked }),
    state: 'pending-delivery',
    code: 'acknowledged-unverified',
  },
  {
    name: 'a SecurityInfo without passcode keys after installation: not observable',
    input: input({ delivery: acked, profileList: listed(LISTED), securityInfo: { at: LISTED + MIN } }),
    state: 'not-observable',
    code: 'report-lacks-passcode-keys',
    reason: /carried no PasscodeCompliant/,
  },
  {
    name: 'stale evidence: a ProfileList from before this version does not confirm it',
    input: input({ profileList: listed(T0 - MIN), securityInfo: security(T0 - MIN, true) }),
    state: 'pending-delivery',
    code: 'evidence-predates-version',
    check: (a) => expect(a.next.verifyInstallAt).toBe(T0 + 10 * MIN),
  },
  {
    name: 'stale evidence: an installation time from before this version is ignored',
    input: input({ installedAt: T0 - 30 * MIN, securityInfo: security(T0 + MIN, true) }),
    state: 'pending-delivery',
    code: 'not-sent',
  },
  {
    name: 'removed by the user: ProfileList after installation lacks it → re-install',
    input: input({ installedAt: ACK, delivery: acked, profileList: notListed(ACK + 3 * 60 * MIN), now: ACK + 3 * 60 * MIN }),
    state: 'pending-delivery',
    code: 'removed',
    reason: /was removed from the device.*delivered again/,
    check: (a) => {
      expect(a.next.reinstall).toBe(true);
      expect(a.installedAt).toBeUndefined();
    },
  },
  {
    name: 'drifted: ProfileList after installation has other payload UUIDs → re-install',
    input: input({ installedAt: ACK, delivery: acked, profileList: listed(ACK + 60 * MIN, ['PAYLOAD-V1']) }),
    state: 'pending-delivery',
    code: 'drifted',
    check: (a) => expect(a.next.reinstall).toBe(true),
  },
  {
    name: 'removed, and the re-install is already queued: no second re-install',
    input: input({
      installedAt: ACK,
      profileList: notListed(ACK + 60 * MIN),
      delivery: install(undefined, { queuedAt: ACK + 61 * MIN, sentAt: undefined, commandUuid: 'CMD-2' }),
    }),
    state: 'pending-delivery',
    code: 'reinstalling',
    check: (a) => expect(a.next.reinstall).toBeUndefined(),
  },
  {
    name: 'removed, and the re-install failed: error',
    input: input({
      installedAt: ACK,
      profileList: notListed(ACK + 60 * MIN),
      delivery: install({ status: 'Error', at: ACK + 62 * MIN, errorChain: [{ ErrorCode: 1, ErrorDomain: 'MCInstallationErrorDomain' }] }, { queuedAt: ACK + 61 * MIN }),
    }),
    state: 'error',
    code: 'install-error',
    reason: /MCInstallationErrorDomain 1/,
  },
  {
    name: 'acknowledged, then a later ProfileList does not list it → re-install',
    input: input({ delivery: acked, profileList: notListed(LISTED) }),
    state: 'pending-delivery',
    code: 'missing-after-acknowledged',
    check: (a) => expect(a.next.reinstall).toBe(true),
  },
  {
    name: 'the device still has the previous version (no acknowledgment for this one yet)',
    input: input({ delivery: install(), profileList: listed(LISTED, ['PAYLOAD-V1']) }),
    state: 'pending-delivery',
    code: 'awaiting-result',
    reason: /other payload UUIDs/,
  },
  {
    name: 'before iOS 17 (no payload UUIDs): acknowledged, then listed → installed',
    input: input({ device: oldPhone, delivery: acked, profileList: listed(LISTED, null), securityInfo: security(DEADLINE + MIN, true), now: DEADLINE + 2 * MIN }),
    state: 'compliant',
    code: 'reported-compliant',
    check: (a) => expect(a.evidence[1]!.detail).toMatch(/does not report payload UUIDs/),
  },
  {
    name: 'before iOS 17: listed, but nothing ties the listing to this version',
    input: input({ device: oldPhone, profileList: listed(LISTED, null) }),
    state: 'pending-delivery',
    code: 'not-sent',
    reason: /does not report payload UUIDs/,
  },
];

const ddm = (overrides: Partial<AssessmentInput>) => input({ desired: wants(declaration), ...overrides });
const DM: DeliveryRecord = { command: 'DeclarativeManagement', commandUuid: 'DM-1', contentHash: 'v2', queuedAt: T0 + MIN, result: { status: 'Acknowledged', at: ACK } };
const STATUS_AT = ACK + MIN;
const active = { identifier: declaration.identifier, serverToken: 'TOKEN-V2', active: true, valid: 'valid' as const };

cases.push(
  {
    name: 'DDM: DeclarativeManagement acknowledged is not installed',
    input: ddm({ delivery: DM }),
    state: 'pending-delivery',
    code: 'acknowledged-unverified',
    reason: /DDM status report/,
  },
  {
    name: 'DDM: valid and active with our server token → installed; passcode.is-compliant false → in grace',
    input: ddm({
      delivery: DM,
      ddmStatus: { declarations: { at: STATUS_AT, items: [active] }, passcode: { at: STATUS_AT, isCompliant: false, isPresent: true } },
    }),
    state: 'in-grace',
    code: 'reported-non-compliant',
    reason: /passcode\.is-compliant false in DDM status/,
    check: (a) => {
      expect(a.installedAt).toBe(STATUS_AT);
      expect(a.graceDeadline).toBe(STATUS_AT + PASSCODE_GRACE_MS);
      expect(a.channel).toBe('ddm');
    },
  },
  {
    name: 'DDM: invalid → error with the device\'s reasons',
    input: ddm({
      delivery: DM,
      ddmStatus: { declarations: { at: STATUS_AT, items: [{ ...active, active: false, valid: 'invalid', reasons: [{ code: 'Error.ConfigurationCannotBeApplied', description: 'MinimumLength out of range' }] }] } },
    }),
    state: 'error',
    code: 'declaration-invalid',
    reason: /Error\.ConfigurationCannotBeApplied: MinimumLength out of range/,
  },
  {
    name: 'DDM: valid but not active → error',
    input: ddm({ ddmStatus: { declarations: { at: STATUS_AT, items: [{ ...active, active: false }] } } }),
    state: 'error',
    code: 'declaration-inactive',
  },
  {
    name: 'DDM: validity unknown → still pending',
    input: ddm({ delivery: DM, ddmStatus: { declarations: { at: STATUS_AT, items: [{ ...active, active: false, valid: 'unknown' }] } } }),
    state: 'pending-delivery',
    code: 'declaration-processing',
  },
  {
    name: 'DDM: the device reports the previous server token',
    input: ddm({ ddmStatus: { declarations: { at: STATUS_AT, items: [{ ...active, serverToken: 'TOKEN-V1' }] } } }),
    state: 'pending-delivery',
    code: 'previous-version-installed',
  },
  {
    name: 'DDM: gone from the status after installation → re-deliver',
    input: ddm({ installedAt: STATUS_AT, ddmStatus: { declarations: { at: STATUS_AT + 60 * MIN, items: [] } } }),
    state: 'pending-delivery',
    code: 'removed',
    check: (a) => expect(a.next.reinstall).toBe(true),
  },
  {
    name: 'DDM: passcode status older than the installation is not evidence',
    input: ddm({ ddmStatus: { declarations: { at: STATUS_AT, items: [active] }, passcode: { at: STATUS_AT - 1, isCompliant: true } } }),
    state: 'installed-awaiting-report',
    code: 'awaiting-report',
  },
  {
    name: 'the newest report decides: DDM non-compliant after a compliant SecurityInfo',
    input: ddm({
      ddmStatus: { declarations: { at: STATUS_AT, items: [active] }, passcode: { at: STATUS_AT + 70 * MIN, isCompliant: false } },
      securityInfo: security(STATUS_AT + 65 * MIN, true),
      now: STATUS_AT + 71 * MIN,
    }),
    state: 'non-compliant',
    code: 'reported-non-compliant',
  },
  {
    name: 'at the same instant, the report that does not claim compliance wins',
    input: input({
      delivery: acked,
      profileList: listed(LISTED),
      securityInfo: security(DEADLINE + MIN, true),
      ddmStatus: { passcode: { at: DEADLINE + MIN, isCompliant: false } },
      now: DEADLINE + MIN,
    }),
    state: 'non-compliant',
    code: 'reported-non-compliant',
  },
);

describe('assessCompliance: every state and rule', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const a = assessCompliance(c.input);
    expect(a.state).toBe(c.state);
    expect(a.reasonCode).toBe(c.code);
    if (c.reason) expect(a.reason).toMatch(c.reason);
    expect(a.assessedAt).toBe(c.input.now);
    c.check?.(a);
  });

  it('covers every state', () => {
    const seen = new Set(cases.map((c) => c.state));
    expect([...seen].sort()).toEqual(['compliant', 'error', 'in-grace', 'installed-awaiting-report', 'non-compliant', 'not-applicable', 'not-observable', 'pending-delivery', 'unknown']);
  });

  it('regular polls are jittered per device and never before now', () => {
    const at = DEADLINE + 5 * MIN;
    const a = assessCompliance(input({ delivery: acked, profileList: listed(LISTED), securityInfo: security(at, true), now: at }));
    const b = assessCompliance(input({ device: { ...iphone, id: 'UDID-IPHONE-2' }, delivery: acked, profileList: listed(LISTED), securityInfo: security(at, true), now: at }));
    const interval = 6 * 60 * MIN;
    for (const x of [a, b]) {
      expect(x.next.pollSecurityInfoAt).toBeGreaterThanOrEqual(at + interval * 0.9);
      expect(x.next.pollSecurityInfoAt).toBeLessThanOrEqual(at + interval * 1.1);
    }
    expect(a.next.pollSecurityInfoAt).not.toBe(b.next.pollSecurityInfoAt);
  });

  it('rejects a schedule it cannot honour', () => {
    expect(() => assessCompliance(input({ schedule: { intervalMs: 0, spread: 0.1, afterGraceMs: 0 } }))).toThrow(RangeError);
    expect(() => assessCompliance(input({ schedule: { intervalMs: MIN, spread: 1, afterGraceMs: 0 } }))).toThrow(RangeError);
  });
});

// ------------------------------------------------------------------ properties

const arbDevice: fc.Arbitrary<DeviceFacts> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 12 }),
  platform: fc.constantFrom('ios', 'ipados', 'macos', 'watchos', 'visionos', 'tvos'),
  enrollment: fc.constantFrom('device', 'user', 'shared-ipad'),
  supervised: fc.boolean(),
  osVersion: fc.constantFrom('15.0', '16.7', '17.4', '18.1', '10.0', '13.1', '2.0'),
});
const arbTime = fc.integer({ min: T0 - 5 * 60 * MIN, max: T0 + 5 * 60 * MIN });
const arbUuids = fc.constantFrom<string[] | null>(['PAYLOAD-V2'], ['PAYLOAD-V1'], null);
const arbDesired = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.constant({ kind: 'not-applicable' as const, reason: 'tvOS' }),
  fc.constant(wants(profile)),
  fc.constant(wants(declaration)),
);
const arbResult = fc.option(
  fc.record({ status: fc.constantFrom('Acknowledged', 'Error', 'CommandFormatError', 'NotNow') as fc.Arbitrary<'Acknowledged'>, at: arbTime }),
  { nil: undefined },
);
const arbRecord = fc.option(
  fc.record({
    command: fc.constantFrom('InstallProfile', 'DeclarativeManagement') as fc.Arbitrary<'InstallProfile'>,
    commandUuid: fc.constant('CMD'),
    contentHash: fc.constantFrom('v1', 'v2'),
    queuedAt: arbTime,
    result: arbResult,
  }).map(({ result, ...r }): DeliveryRecord => (result ? { ...r, result } : r)),
  { nil: undefined },
);
const arbProfileList = fc.option(
  fc.record({ at: arbTime, present: fc.boolean(), uuids: arbUuids }).map(({ at, present, uuids }) => (present ? listed(at, uuids) : notListed(at))),
  { nil: undefined },
);
const arbBool = fc.option(fc.boolean(), { nil: undefined });
const arbSecurity = fc.option(
  fc.record({ at: arbTime, passcodeCompliant: arbBool, passcodeCompliantWithProfiles: arbBool, passcodePresent: arbBool }).map((s) =>
    Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as unknown as SecurityInfoEvidence),
  { nil: undefined },
);
const arbDdm = fc.option(
  fc.record({
    at: arbTime,
    token: fc.constantFrom('TOKEN-V2', 'TOKEN-V1'),
    valid: fc.constantFrom('valid', 'invalid', 'unknown') as fc.Arbitrary<'valid'>,
    active: fc.boolean(),
    present: fc.boolean(),
    passcodeAt: arbTime,
    isCompliant: arbBool,
  }).map((d) => ({
    declarations: { at: d.at, items: d.present ? [{ identifier: declaration.identifier, serverToken: d.token, active: d.active, valid: d.valid }] : [] },
    ...(d.isCompliant !== undefined && { passcode: { at: d.passcodeAt, isCompliant: d.isCompliant } }),
  })),
  { nil: undefined },
);
const arbInput: fc.Arbitrary<AssessmentInput> = fc.record({
  device: arbDevice,
  desired: arbDesired,
  delivery: arbRecord,
  profileList: arbProfileList,
  securityInfo: arbSecurity,
  ddmStatus: arbDdm,
  installedAt: fc.option(arbTime, { nil: undefined }),
  now: arbTime,
}).map((i) => ({ ...i, now: Math.max(i.now, T0 + 5 * 60 * MIN) }));

describe('assessCompliance: properties', () => {
  it('is deterministic: the same evidence gives the same assessment', () => {
    fc.assert(fc.property(arbInput, (i) => {
      expect(assessCompliance(structuredClone(i))).toEqual(assessCompliance(i));
    }), { numRuns: 500 });
  });

  it('evidence older than the desired version never yields compliant (nor any installed state)', () => {
    const before = fc.integer({ min: T0 - 5 * 60 * MIN, max: T0 - 1 });
    const arbStale = fc.record({
      base: arbInput,
      pl: before, si: before, ddm: before, rec: before, inst: before,
    }).map(({ base, pl, si, ddm, rec, inst }): AssessmentInput => ({
      ...base,
      ...(base.profileList && { profileList: { ...base.profileList, at: pl } }),
      ...(base.securityInfo && { securityInfo: { ...base.securityInfo, at: si } }),
      ...(base.ddmStatus && {
        ddmStatus: {
          ...(base.ddmStatus.declarations && { declarations: { ...base.ddmStatus.declarations, at: ddm } }),
          ...(base.ddmStatus.passcode && { passcode: { ...base.ddmStatus.passcode, at: ddm } }),
        },
      }),
      ...(base.delivery && { delivery: { ...base.delivery, queuedAt: rec, ...(base.delivery.result && { result: { ...base.delivery.result, at: rec } }) } }),
      installedAt: inst,
    }));
    fc.assert(fc.property(arbStale, (i) => {
      const a = assessCompliance(i);
      expect(['compliant', 'in-grace', 'non-compliant', 'installed-awaiting-report', 'not-observable']).not.toContain(a.state);
      expect(a.installedAt).toBeUndefined();
    }), { numRuns: 500 });
  });

  it('a non-compliant report before the deadline is never non-compliant, and at or after it never in grace', () => {
    const arbCase = fc.record({
      device: fc.constantFrom(iphone, byodPhone, { ...iphone, platform: 'watchos' as const, osVersion: '10.2' }, { ...iphone, platform: 'visionos' as const, osVersion: '2.0' }),
      installedAt: fc.integer({ min: T0, max: T0 + 60 * MIN }),
      reportAfter: fc.integer({ min: 0, max: 3 * PASSCODE_GRACE_MS }),
      wait: fc.integer({ min: 0, max: 3 * PASSCODE_GRACE_MS }),
      viaDdm: fc.boolean(),
    });
    fc.assert(fc.property(arbCase, ({ device, installedAt, reportAfter, wait, viaDdm }) => {
      const reportAt = installedAt + reportAfter;
      const a = assessCompliance({
        device,
        desired: wants(profile),
        installedAt,
        profileList: listed(installedAt),
        ...(viaDdm ? { ddmStatus: { passcode: { at: reportAt, isCompliant: false } } } : { securityInfo: security(reportAt, false) }),
        now: reportAt + wait,
      });
      const deadline = installedAt + PASSCODE_GRACE_MS;
      expect(a.graceDeadline).toBe(deadline);
      if (reportAt < deadline) {
        expect(a.state).toBe('in-grace');
        expect(a.next.pollSecurityInfoAt).toBeGreaterThan(deadline);
      } else {
        expect(a.state).toBe('non-compliant');
      }
    }), { numRuns: 500 });
  });

  it('only evidence confirms an installation: without a ProfileList or DDM status nothing is installed', () => {
    fc.assert(fc.property(arbInput, (i) => {
      const a = assessCompliance({ ...i, profileList: undefined, ddmStatus: undefined, installedAt: undefined });
      expect(a.installedAt).toBeUndefined();
      expect(['compliant', 'in-grace', 'non-compliant', 'installed-awaiting-report', 'not-observable']).not.toContain(a.state);
    }), { numRuns: 300 });
  });
});

// Evidence readers, poll jitter and history (src/services/compliance/evidence.ts, ddm-status.ts,
// poll-schedule.ts, transitions.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseProfileListResponse } from '../../src/mdm/profile-list-response.ts';
import { parseSecurityInfoResponse } from '../../src/mdm/security-info-response.ts';
import {
  assessCompliance, DEFAULT_POLL_SCHEDULE, errorChainText, foldStatusReport, jitteredInterval, jitterUnit, nextRegularPoll,
  profileListEvidence, securityInfoEvidence, transition,
} from '../../src/services/compliance/index.ts';
import type { Assessment, AssessmentInput, DesiredProfile } from '../../src/services/compliance/index.ts';

const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

describe('evidence from parsed device responses', () => {
  it('ProfileList: payload UUIDs when every payload reports one, none otherwise', () => {
    const response = parseProfileListResponse({
      ProfileList: [
        {
          PayloadIdentifier: 'com.lockwarden.passcode',
          PayloadUUID: 'P',
          PayloadContent: [
            { PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadIdentifier: 'a', PayloadUUID: 'U1' },
            { PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadIdentifier: 'b', PayloadUUID: 'U2' },
          ],
        },
        // iOS 16: PayloadContent without PayloadUUID.
        { PayloadIdentifier: 'com.lockwarden.old', PayloadUUID: 'Q', PayloadContent: [{ PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadIdentifier: 'c' }] },
        // Encrypted: no PayloadContent.
        { PayloadIdentifier: 'com.example.secret', PayloadUUID: 'R', IsEncrypted: true },
      ],
    });
    expect(profileListEvidence(T0, response)).toEqual({
      at: T0,
      profiles: [
        { identifier: 'com.lockwarden.passcode', profileUuid: 'P', payloadUuids: ['U1', 'U2'] },
        { identifier: 'com.lockwarden.old', profileUuid: 'Q' },
        { identifier: 'com.example.secret', profileUuid: 'R' },
      ],
    });
  });

  it('SecurityInfo: the passcode keys, and nothing invented for macOS', () => {
    const ios = parseSecurityInfoResponse({ SecurityInfo: { PasscodePresent: true, PasscodeCompliant: false, PasscodeCompliantWithProfiles: true, HardwareEncryptionCaps: 3 } });
    expect(securityInfoEvidence(T0, ios.SecurityInfo)).toEqual({ at: T0, passcodePresent: true, passcodeCompliant: false, passcodeCompliantWithProfiles: true });
    const macos = parseSecurityInfoResponse({ SecurityInfo: { FDE_Enabled: true, SystemIntegrityProtectionEnabled: true } });
    expect(securityInfoEvidence(T0, macos.SecurityInfo)).toEqual({ at: T0 });
  });

  it('error chains read outermost first', () => {
    expect(errorChainText(undefined)).toBe('no ErrorChain given');
    expect(errorChainText([
      { ErrorCode: 4001, ErrorDomain: 'MCProfileErrorDomain', LocalizedDescription: 'Profile Installation Failed', USEnglishDescription: 'Profile Installation Failed' },
      { ErrorCode: 2003, ErrorDomain: 'MCPayloadErrorDomain' },
    ])).toBe('MCProfileErrorDomain 4001: Profile Installation Failed; caused by MCPayloadErrorDomain 2003');
  });
});

describe('DDM status reports folded into evidence', () => {
  const decl = (identifier: string, token: string, extra: Record<string, unknown> = {}) => ({ identifier, 'server-token': token, active: true, valid: 'valid', ...extra });
  const report = (items: Record<string, unknown>, full = false) => ({ StatusItems: items, Errors: [], ...(full && { FullReport: true }) });

  it('reads declarations and passcode items nested by their dotted names', () => {
    const folded = foldStatusReport(undefined, report({
      management: { declarations: { activations: [], configurations: [decl('a', 'T1'), decl('b', 'T2', { active: false, valid: 'invalid', reasons: [{ code: 'Error.X', description: 'bad' }] })], assets: [], management: [] } },
      passcode: { 'is-compliant': false, 'is-present': true },
    }, true), T0);
    expect(folded).toEqual({
      declarations: {
        at: T0,
        items: [
          { identifier: 'a', serverToken: 'T1', active: true, valid: 'valid' },
          { identifier: 'b', serverToken: 'T2', active: false, valid: 'invalid', reasons: [{ code: 'Error.X', description: 'bad' }] },
        ],
      },
      passcode: { at: T0, isCompliant: false, isPresent: true },
    });
  });

  it('merges incremental reports, honours _removed, and replaces on a full report', () => {
    let ev = foldStatusReport(undefined, report({ management: { declarations: { configurations: [decl('a', 'T1'), decl('b', 'T1')] } } }, true), T0);
    ev = foldStatusReport(ev, report({ management: { declarations: { configurations: [decl('a', 'T2'), { identifier: 'b', _removed: true }] } } }), T0 + MIN);
    expect(ev.declarations).toEqual({ at: T0 + MIN, items: [{ identifier: 'a', serverToken: 'T2', active: true, valid: 'valid' }] });
    ev = foldStatusReport(ev, report({ management: { declarations: { configurations: [decl('c', 'T1')] } } }, true), T0 + 2 * MIN);
    expect(ev.declarations!.items.map((d) => d.identifier)).toEqual(['c']);
  });

  it('an is-present change alone does not re-date the compliance reading', () => {
    let ev = foldStatusReport(undefined, report({ passcode: { 'is-compliant': true, 'is-present': true } }), T0);
    ev = foldStatusReport(ev, report({ passcode: { 'is-present': false } }), T0 + MIN);
    expect(ev.passcode).toEqual({ at: T0, isCompliant: true, isPresent: false });
  });

  it('skips what it cannot read instead of guessing, and keeps what the report does not mention', () => {
    const before = foldStatusReport(undefined, report({ passcode: { 'is-compliant': true } }), T0);
    const ev = foldStatusReport(before, report({ management: { declarations: { configurations: [{ identifier: 'x', active: 'yes' }, 7] } } }), T0 + MIN);
    expect(ev.declarations).toEqual({ at: T0 + MIN, items: [] });
    expect(ev.passcode).toEqual(before.passcode);
    expect(foldStatusReport(before, 'not a report', T0 + MIN)).toEqual(before);
  });
});

describe('poll jitter', () => {
  it('stays within ±spread of the interval', () => {
    fc.assert(fc.property(
      fc.string(), fc.integer({ min: 1, max: 7 * 24 * 60 * MIN }), fc.double({ min: 0, max: 0.99, noNaN: true }),
      (seed, intervalMs, spread) => {
        const u = jitterUnit(seed);
        expect(u).toBeGreaterThanOrEqual(-1);
        expect(u).toBeLessThan(1);
        const j = jitteredInterval(seed, { intervalMs, spread, afterGraceMs: 0 });
        expect(j).toBeGreaterThanOrEqual(Math.floor(intervalMs * (1 - spread)));
        expect(j).toBeLessThanOrEqual(Math.ceil(intervalMs * (1 + spread)));
      },
    ), { numRuns: 1000 });
  });

  it('spreads a fleet: similar ids land all over the window, in both halves', () => {
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 8 }), (prefix) => {
      const ids = Array.from({ length: 200 }, (_, i) => `${prefix}-${i.toString().padStart(4, '0')}`);
      const offsets = ids.map((id) => jitteredInterval(id, DEFAULT_POLL_SCHEDULE) - DEFAULT_POLL_SCHEDULE.intervalMs);
      expect(new Set(offsets).size).toBeGreaterThan(190);
      const early = offsets.filter((o) => o < 0).length;
      expect(early).toBeGreaterThan(60);
      expect(early).toBeLessThan(140);
    }), { numRuns: 50 });
  });

  it('is the same for the same device every time', () => {
    expect(jitteredInterval('UDID-1', DEFAULT_POLL_SCHEDULE)).toBe(jitteredInterval('UDID-1', DEFAULT_POLL_SCHEDULE));
  });

  it('asks right away when there was no report, and never in the past', () => {
    expect(nextRegularPoll('d', undefined, T0, DEFAULT_POLL_SCHEDULE)).toBe(T0);
    expect(nextRegularPoll('d', T0 - 30 * 24 * 60 * MIN, T0, DEFAULT_POLL_SCHEDULE)).toBe(T0);
  });
});

describe('transition: history grows only when something that matters changed', () => {
  const profile: DesiredProfile = { channel: 'profile', identifier: 'com.lockwarden.passcode', payloadUuids: ['U'], contentHash: 'h', since: T0 };
  const base: AssessmentInput = {
    device: { id: 'd', platform: 'ios', enrollment: 'device', supervised: false, osVersion: '17.4' },
    desired: { kind: 'desired', delivery: profile },
    installedAt: T0 + MIN,
    profileList: { at: T0 + MIN, profiles: [{ identifier: 'com.lockwarden.passcode', payloadUuids: ['U'] }] },
    now: T0 + 2 * MIN,
  };
  const at = (now: number, compliant: boolean, reportAt = now): Assessment =>
    assessCompliance({ ...base, securityInfo: { at: reportAt, passcodeCompliant: compliant, passcodeCompliantWithProfiles: compliant, passcodePresent: true }, now });

  it('records the first assessment', () => {
    const first = at(T0 + 2 * MIN, false);
    expect(transition(undefined, first)).toMatchObject({ at: T0 + 2 * MIN, to: 'in-grace', reasonCode: 'reported-non-compliant', graceDeadline: T0 + 61 * MIN });
  });

  it('nothing for a poll that finds the same situation (the reason text has new times, the class does not)', () => {
    const a = at(T0 + 2 * MIN, false);
    const b = at(T0 + 20 * MIN, false);
    expect(b.reason).not.toBe(a.reason);
    expect(transition(a, b)).toBeUndefined();
  });

  it('an entry when the state changes, with where it came from and the evidence', () => {
    const graced = at(T0 + 2 * MIN, false);
    const late = at(T0 + 70 * MIN, false);
    const fixed = at(T0 + 75 * MIN, true);
    expect(transition(graced, late)).toMatchObject({ from: { state: 'in-grace' }, to: 'non-compliant' });
    const entry = transition(late, fixed)!;
    expect(entry).toMatchObject({ from: { state: 'non-compliant', reasonCode: 'reported-non-compliant' }, to: 'compliant' });
    expect(entry.evidence.at(-1)).toMatchObject({ kind: 'SecurityInfo', at: T0 + 75 * MIN });
  });

  it('an entry when the grace deadline moves (a new version installed), even in the same state', () => {
    const first = at(T0 + 2 * MIN, false);
    const reinstalled = assessCompliance({
      ...base,
      installedAt: T0 + 30 * MIN,
      profileList: { at: T0 + 30 * MIN, profiles: [{ identifier: 'com.lockwarden.passcode', payloadUuids: ['U'] }] },
      securityInfo: { at: T0 + 31 * MIN, passcodeCompliant: false },
      now: T0 + 31 * MIN,
    });
    expect(reinstalled.state).toBe('in-grace');
    expect(transition(first, reinstalled)).toMatchObject({ graceDeadline: T0 + 90 * MIN });
  });

  it('removal seen with or without the installation time is one situation', () => {
    const removed = assessCompliance({ ...base, profileList: { at: T0 + 3 * 60 * MIN, profiles: [] }, now: T0 + 3 * 60 * MIN });
    const missing = assessCompliance({
      ...base,
      installedAt: undefined,
      delivery: { command: 'InstallProfile', commandUuid: 'C', contentHash: 'h', queuedAt: T0, result: { status: 'Acknowledged', at: T0 + MIN } },
      profileList: { at: T0 + 3 * 60 * MIN + MIN, profiles: [] },
      now: T0 + 3 * 60 * MIN + MIN,
    });
    expect([removed.reasonCode, missing.reasonCode]).toEqual(['removed', 'missing-after-acknowledged']);
    expect(transition(removed, missing)).toBeUndefined();
  });
});

// The simulated device's passcode verdict: requirements per platform and enrollment, merged
// strictest-wins, and the 60-minute grace period on a virtual clock.
import { describe, expect, it } from 'vitest';
import { HOUR_MS, MINUTE_MS, VirtualClock } from '../../src/sim/clock.ts';
import {
  declarationRequirements,
  effectiveRequirements,
  evaluatePasscode,
  PASSCODE_GRACE_MS,
  passcodeAccepted,
  passcodePayloadRefusal,
  payloadRequirements,
} from '../../src/sim/passcode-state.ts';
import type { InstalledPasscodePolicy, PasscodeTarget } from '../../src/sim/passcode-state.ts';

const IPHONE: PasscodeTarget = { platform: 'ios', enrollment: 'device', osVersion: '18.1' };
const PAYLOAD = { PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadVersion: 1, PayloadIdentifier: 'p', PayloadUUID: 'U' };

function policy(source: string, payload: Record<string, unknown>, installedAt: number, target = IPHONE): InstalledPasscodePolicy {
  const reading = payloadRequirements(target, { ...PAYLOAD, ...payload });
  if (!reading.ok) throw new Error(reading.reason);
  return { source, requirements: reading.requirements, installedAt };
}

describe('payload requirements per platform and enrollment', () => {
  it('reads a payload with Apple keys and its envelope keys', () => {
    expect(payloadRequirements(IPHONE, { ...PAYLOAD, minLength: 6, allowSimple: false, maxFailedAttempts: 10 }))
      .toEqual({ ok: true, requirements: { minLength: 6, allowSimple: false, maxFailedAttempts: 10 } });
  });

  it('rejects values outside Apple\'s ranges, as the device\'s profile validation does', () => {
    const reading = payloadRequirements(IPHONE, { ...PAYLOAD, minLength: 99 });
    expect(reading).toMatchObject({ ok: false, reason: expect.stringMatching(/minLength/) });
    expect(payloadRequirements(IPHONE, { ...PAYLOAD, maxFailedAttempts: 1 })).toMatchObject({ ok: false });
  });

  it('User Enrollment ignores the payload\'s keys and forces its own (decision 7)', () => {
    const ue: PasscodeTarget = { ...IPHONE, enrollment: 'user' };
    expect(payloadRequirements(ue, { ...PAYLOAD, minLength: 4, allowSimple: true, requireAlphanumeric: true }))
      .toEqual({ ok: true, requirements: { forcePIN: true, allowSimple: false, minLength: 6 } });
    expect(payloadRequirements({ platform: 'visionos', enrollment: 'user', osVersion: '2.1' }, PAYLOAD))
      .toEqual({ ok: true, requirements: { forcePIN: true, allowSimple: false, minLength: 6 } });
  });

  it('Shared iPad, macOS User Enrollment and tvOS refuse the payload outright', () => {
    expect(passcodePayloadRefusal({ platform: 'ipados', enrollment: 'shared-ipad', osVersion: '18.1' })).toMatch(/Shared iPad/);
    expect(passcodePayloadRefusal({ platform: 'macos', enrollment: 'user', osVersion: '15.1' })).toMatch(/User Enrollment on macOS/);
    expect(passcodePayloadRefusal({ platform: 'tvos', enrollment: 'device', osVersion: '18.1' })).toMatch(/tvOS/);
    expect(passcodePayloadRefusal({ platform: 'watchos', enrollment: 'device', osVersion: '9.0' })).toMatch(/watchOS 10\.0/);
    expect(payloadRequirements({ platform: 'ipados', enrollment: 'shared-ipad', osVersion: '18.1' }, PAYLOAD)).toMatchObject({ ok: false });
    expect(passcodePayloadRefusal(IPHONE)).toBeUndefined();
  });

  it('ignores the keys a platform does not know: watchOS has no requireAlphanumeric or minComplexChars, iOS no customRegex', () => {
    const watch: PasscodeTarget = { platform: 'watchos', enrollment: 'device', osVersion: '11.1' };
    expect(payloadRequirements(watch, { ...PAYLOAD, minLength: 6, requireAlphanumeric: true, minComplexChars: 2 }))
      .toEqual({ ok: true, requirements: { minLength: 6 } });
    const digitRule = { passwordContentRegex: '^(?=(?:[^0-9]*[0-9]){1}).*$', passwordContentDescription: { default: 'At least 1 digit' } };
    expect(payloadRequirements(IPHONE, { ...PAYLOAD, minLength: 6, customRegex: digitRule })).toEqual({ ok: true, requirements: { minLength: 6 } });
    // macOS 14+ applies it; lockwarden's generated class rule reads back as a digit minimum.
    expect(payloadRequirements({ platform: 'macos', enrollment: 'device', osVersion: '15.1' }, { ...PAYLOAD, customRegex: digitRule }))
      .toEqual({ ok: true, requirements: { minDigits: 1 } });
    expect(payloadRequirements({ platform: 'macos', enrollment: 'device', osVersion: '13.6' }, { ...PAYLOAD, customRegex: digitRule }))
      .toEqual({ ok: true, requirements: {} });
  });

  it('reads passcode settings declarations too', () => {
    const declaration = { Type: 'com.apple.configuration.passcode.settings', Identifier: 'd', ServerToken: '1', Payload: { MinimumLength: 8, RequireComplexPasscode: true } };
    expect(declarationRequirements(IPHONE, declaration)).toEqual({ ok: true, requirements: { minLength: 8, allowSimple: false } });
    expect(declarationRequirements({ platform: 'tvos', enrollment: 'device', osVersion: '18.1' }, declaration)).toMatchObject({ ok: false });
  });

  it('merges several installed payloads strictest-wins (decision 6)', () => {
    const merged = effectiveRequirements([
      policy('a', { minLength: 6, maxFailedAttempts: 10 }, 0),
      policy('b', { minLength: 4, requireAlphanumeric: true, maxFailedAttempts: 5 }, 0),
    ]);
    expect(merged).toEqual({ minLength: 6, requireAlphanumeric: true, maxFailedAttempts: 5 });
    expect(passcodeAccepted('739164', [policy('a', { minLength: 6 }, 0), policy('b', { requireAlphanumeric: true }, 0)])).toMatchObject({ ok: false });
    expect(passcodeAccepted('7a3b9164', [policy('a', { minLength: 6 }, 0), policy('b', { requireAlphanumeric: true }, 0)])).toEqual({ ok: true });
  });
});

describe('compliance and the 60-minute grace period', () => {
  it('is compliant with no policy, with or without a passcode', () => {
    expect(evaluatePasscode({ passcode: undefined, changedAt: undefined, policies: [], now: 0 })).toMatchObject({ present: false, state: 'compliant', compliant: true });
    expect(evaluatePasscode({ passcode: '1234', changedAt: undefined, policies: [], now: 0 })).toMatchObject({ present: true, state: 'compliant', compliant: true });
  });

  it('reports compliant during the grace, non-compliant after it, compliant again once the passcode conforms', () => {
    const clock = new VirtualClock({ frozenAt: 1_000_000 });
    const changedAt = clock.now();
    clock.advance(5 * MINUTE_MS);
    const installed = [policy('strict', { minLength: 6, allowSimple: false }, clock.now())];
    const at = () => evaluatePasscode({ passcode: '1234', changedAt, policies: installed, now: clock.now() });

    expect(at()).toMatchObject({ state: 'in-grace', compliant: true, meetsRequirements: false, graceEndsAt: installed[0]!.installedAt + PASSCODE_GRACE_MS });
    expect(at().failures.join(' ')).toMatch(/minLength/);
    expect(at().failures.join(' ')).not.toContain('1234');
    clock.advance(59 * MINUTE_MS);
    expect(at()).toMatchObject({ state: 'in-grace', compliant: true });
    clock.advance(2 * MINUTE_MS);
    expect(at()).toMatchObject({ state: 'non-compliant', compliant: false, failingSources: ['strict'] });
    expect(evaluatePasscode({ passcode: '739164', changedAt: clock.now(), policies: installed, now: clock.now() })).toMatchObject({ state: 'compliant', compliant: true });
  });

  it('starts the grace when the first payload the passcode fails was installed, not at a later one', () => {
    const first = policy('first', { minLength: 6 }, 0);
    const later = policy('later', { requireAlphanumeric: true }, 30 * MINUTE_MS);
    const verdict = evaluatePasscode({ passcode: '1234', changedAt: undefined, policies: [first, later], now: 61 * MINUTE_MS });
    expect(verdict).toMatchObject({ state: 'non-compliant', graceEndsAt: PASSCODE_GRACE_MS });
    expect(verdict.failingSources).toEqual(['first', 'later']);
  });

  it('does not start a grace for a payload the passcode meets', () => {
    const met = policy('met', { minLength: 4 }, 0);
    const failed = policy('failed', { minLength: 8 }, 2 * HOUR_MS);
    expect(evaluatePasscode({ passcode: '73916', changedAt: undefined, policies: [met, failed], now: 2 * HOUR_MS + 30 * MINUTE_MS }))
      .toMatchObject({ state: 'in-grace', graceEndsAt: 3 * HOUR_MS, failingSources: ['failed'] });
  });

  it('gives a new hour when the passcode changed after the policy (a ClearPasscode)', () => {
    const installed = [policy('p', { forcePIN: true }, 0)];
    const cleared = 5 * HOUR_MS;
    expect(evaluatePasscode({ passcode: undefined, changedAt: cleared, policies: installed, now: cleared + 30 * MINUTE_MS }))
      .toMatchObject({ present: false, state: 'in-grace', graceEndsAt: cleared + PASSCODE_GRACE_MS });
    expect(evaluatePasscode({ passcode: undefined, changedAt: cleared, policies: installed, now: cleared + 61 * MINUTE_MS }))
      .toMatchObject({ present: false, state: 'non-compliant', compliant: false });
  });

  it('a required passcode that is missing fails like any other requirement', () => {
    const installed = [policy('p', { forcePIN: true }, 0)];
    expect(evaluatePasscode({ passcode: undefined, changedAt: undefined, policies: installed, now: 10 * MINUTE_MS }))
      .toMatchObject({ present: false, state: 'in-grace', compliant: true });
    expect(passcodeAccepted('', installed)).toMatchObject({ ok: false });
  });

  it('a user-enrolled device judges against the forced values', () => {
    const ue: PasscodeTarget = { ...IPHONE, enrollment: 'user' };
    const installed = [policy('ue', { minLength: 4 }, 0, ue)];
    expect(evaluatePasscode({ passcode: '73916', changedAt: undefined, policies: installed, now: 2 * HOUR_MS })).toMatchObject({ state: 'non-compliant' });
    expect(evaluatePasscode({ passcode: '739164', changedAt: undefined, policies: installed, now: 2 * HOUR_MS })).toMatchObject({ state: 'compliant' });
    expect(evaluatePasscode({ passcode: '123456', changedAt: undefined, policies: installed, now: 2 * HOUR_MS })).toMatchObject({ state: 'non-compliant' });
  });
});

describe('VirtualClock', () => {
  it('runs with real time by default and only ever moves forward', () => {
    const clock = new VirtualClock();
    const before = Date.now();
    clock.advance(HOUR_MS);
    expect(clock.now()).toBeGreaterThanOrEqual(before + HOUR_MS);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    const frozen = new VirtualClock({ frozenAt: 0 });
    expect(frozen.now()).toBe(0);
    expect(frozen.advance(5)).toBe(5);
  });
});

import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.ts';
import type { CompiledPolicy, EnforcementLine } from '../../src/policy/compile.ts';
import type { CompileTarget, PasscodeRequirements, Platform } from '../../src/policy/model.ts';
import { profileContent, singlePayload } from '../../src/policy/profile-content.ts';
import { classMinimumsRule } from '../../src/policy/class-regex.ts';

function compiled(req: PasscodeRequirements, target: Partial<CompileTarget> & { platform: Platform }): CompiledPolicy {
  const outcome = compilePolicy(req, { enrollment: 'device', ...target });
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome.compiled;
}

function lineFor(c: CompiledPolicy, requirement: string): EnforcementLine {
  const line = c.lines.find((l) => l.requirement === requirement);
  if (!line) throw new Error(`no line for ${requirement}`);
  return line;
}

describe('compile: maxInactivity caps (decision 3)', () => {
  it.each([
    ['ios', 15], ['ipados', 15], ['watchos', 15], ['visionos', 15], ['macos', 60],
  ] as const)('%s caps at %i minutes and says so; at the cap it is plainly enforced', (platform, cap) => {
    const over = compiled({ maxInactivity: cap + 1 }, { platform });
    expect(over.payloads[0]).toEqual({ maxInactivity: cap });
    expect(over.effective.maxInactivity).toBe(cap);
    expect(lineFor(over, 'maxInactivity')).toMatchObject({ status: 'capped', written: cap + 1 });
    expect(lineFor(over, 'maxInactivity').detail).toContain(`at most ${cap} minutes`);
    const at = compiled({ maxInactivity: cap }, { platform });
    expect(lineFor(at, 'maxInactivity').status).toBe('enforced');
  });
});

describe('compile: keys a platform ignores are left out and reported', () => {
  it('watchOS has no minComplexChars or requireAlphanumeric', () => {
    const c = compiled({ minComplexChars: 2, requireAlphanumeric: true, minLength: 6 }, { platform: 'watchos' });
    expect(c.payloads[0]).toEqual({ minLength: 6 });
    expect(lineFor(c, 'minComplexChars')).toMatchObject({ status: 'not-enforceable' });
    expect(lineFor(c, 'minComplexChars').detail).toContain('watchOS does not support minComplexChars');
    expect(lineFor(c, 'requireAlphanumeric').status).toBe('not-enforceable');
  });

  it('a permissive value of a key the platform lacks is not reported as a gap', () => {
    const c = compiled({ requireAlphanumeric: false, changeAtNextAuth: false }, { platform: 'watchos' });
    expect(c.payloads[0]).toEqual({});
    expect(lineFor(c, 'requireAlphanumeric')).toMatchObject({ status: 'enforced', keys: {} });
    expect(lineFor(c, 'changeAtNextAuth').detail).toContain('demands nothing');
  });

  it('macOS-only keys are dropped on iOS, visionOS and watchOS and kept on macOS', () => {
    const req: PasscodeRequirements = { maxFailedAttempts: 5, minutesUntilFailedLoginReset: 10, changeAtNextAuth: true };
    for (const platform of ['ios', 'ipados', 'visionos', 'watchos'] as const) {
      const c = compiled(req, { platform });
      expect(c.payloads[0]).toEqual({ maxFailedAttempts: 5 });
      expect(lineFor(c, 'changeAtNextAuth').status).toBe('not-enforceable');
      expect(lineFor(c, 'minutesUntilFailedLoginReset').status).toBe('not-enforceable');
    }
    const mac = compiled(req, { platform: 'macos' });
    expect(mac.payloads[0]).toEqual({ maxFailedAttempts: 5, minutesUntilFailedLoginReset: 10, changeAtNextAuth: true });
    expect(lineFor(mac, 'maxFailedAttempts').detail).toContain('locks the Mac');
    expect(lineFor(compiled(req, { platform: 'ios' }), 'maxFailedAttempts').detail).toContain('erases');
  });

  it('customRegex only on macOS 14+', () => {
    const req: PasscodeRequirements = { customRegex: [{ regex: '^.{10,}$' }] };
    expect(compiled(req, { platform: 'macos' }).payloads[0]).toEqual({ customRegex: { passwordContentRegex: '^.{10,}$' } });
    expect(compiled(req, { platform: 'macos', osVersion: '14.0' }).payloads[0]!.customRegex).toBeDefined();
    const old = compiled(req, { platform: 'macos', osVersion: '13.6' });
    expect(old.payloads[0]).toEqual({});
    expect(lineFor(old, 'customRegex').detail).toContain('needs macOS 14.0');
    expect(lineFor(compiled(req, { platform: 'ios' }), 'customRegex').status).toBe('not-enforceable');
  });

  it('changeAtNextAuth needs macOS 10.13', () => {
    expect(lineFor(compiled({ changeAtNextAuth: true }, { platform: 'macos', osVersion: '10.12' }), 'changeAtNextAuth').status).toBe('not-enforceable');
    expect(lineFor(compiled({ changeAtNextAuth: true }, { platform: 'macos', osVersion: '10.13' }), 'changeAtNextAuth').status).toBe('enforced');
  });
});

describe('compile: per-class minimums (decision 4)', () => {
  const req: PasscodeRequirements = { minLength: 8, minDigits: 2, minUppercase: 1 };

  it('on macOS 14+ become a generated customRegex, exactly', () => {
    const c = compiled(req, { platform: 'macos' });
    expect(c.payloads[0]!.customRegex).toEqual({
      passwordContentRegex: '^(?=(?:[^0-9]*[0-9]){2})(?=(?:[^A-Z]*[A-Z]){1}).*$',
      passwordContentDescription: { default: 'At least 2 digits and 1 uppercase letter' },
    });
    expect(c.effective).toEqual(req);
    expect(lineFor(c, 'minDigits').status).toBe('enforced');
  });

  it('elsewhere letters are approximated by requireAlphanumeric and digits are not enforceable', () => {
    const c = compiled(req, { platform: 'ios' });
    expect(c.payloads[0]).toEqual({ minLength: 8, requireAlphanumeric: true });
    expect(c.effective).toEqual({ minLength: 8, requireAlphanumeric: true });
    expect(lineFor(c, 'minUppercase')).toMatchObject({ status: 'approximated', keys: { requireAlphanumeric: true } });
    expect(lineFor(c, 'minDigits').status).toBe('not-enforceable');
  });

  it('a written requireAlphanumeric=false yields to a letter minimum, and the line says so', () => {
    const c = compiled({ requireAlphanumeric: false, minLowercase: 1 }, { platform: 'ios' });
    expect(c.payloads[0]).toEqual({ requireAlphanumeric: true });
    expect(lineFor(c, 'requireAlphanumeric')).toMatchObject({ status: 'forced' });
  });

  it('on watchOS nothing can carry them', () => {
    const c = compiled(req, { platform: 'watchos' });
    expect(c.payloads[0]).toEqual({ minLength: 8 });
    expect(lineFor(c, 'minUppercase').status).toBe('not-enforceable');
  });

  it('a user regex and the generated one travel in separate payloads', () => {
    const c = compiled({ minDigits: 1, customRegex: [{ regex: '^.{12,}$' }] }, { platform: 'macos' });
    expect(c.payloads).toHaveLength(2);
    expect(c.payloads[1]).toEqual({ customRegex: { passwordContentRegex: classMinimumsRule({ minDigits: 1 }).regex, passwordContentDescription: { default: 'At least 1 digit' } } });
  });
});

describe('compile: enrollment types (decision 7)', () => {
  it('User Enrollment forces allowSimple=false, forcePIN=true, minLength 6 and reports the rest', () => {
    const c = compiled({ allowSimple: true, minLength: 8, pinHistory: 3, maxInactivity: 30 }, { platform: 'ios', enrollment: 'user' });
    expect(c.payloads[0]).toEqual({ allowSimple: false, forcePIN: true, maxInactivity: 15, minLength: 6 });
    expect(c.effective).toEqual({ allowSimple: false, forcePIN: true, minLength: 6 });
    expect(lineFor(c, 'allowSimple')).toMatchObject({ status: 'forced', written: true });
    expect(lineFor(c, 'minLength')).toMatchObject({ status: 'not-enforceable', written: 8 });
    expect(lineFor(c, 'forcePIN')).toMatchObject({ status: 'forced', written: undefined });
    expect(lineFor(c, 'pinHistory').status).toBe('not-enforceable');
    expect(lineFor(c, 'maxInactivity').status).toBe('approximated');
  });

  it('User Enrollment minLength below 6 is raised to 6', () => {
    const c = compiled({ minLength: 4 }, { platform: 'visionos', enrollment: 'user' });
    expect(lineFor(c, 'minLength')).toMatchObject({ status: 'forced', keys: { minLength: 6 } });
  });

  it.each([
    [{ platform: 'tvos', enrollment: 'device' }, 'tvOS does not support'],
    [{ platform: 'macos', enrollment: 'user' }, 'forbidden under User Enrollment'],
    [{ platform: 'watchos', enrollment: 'user' }, 'watchOS has no User Enrollment'],
    [{ platform: 'ipados', enrollment: 'shared-ipad' }, 'forbidden on Shared iPad'],
    [{ platform: 'macos', enrollment: 'shared-ipad' }, 'Shared iPad is an iPadOS mode'],
    [{ platform: 'visionos', enrollment: 'device', osVersion: '1.2' }, 'predates the Passcode payload'],
    [{ platform: 'watchos', enrollment: 'device', osVersion: '9.6' }, 'predates the Passcode payload'],
  ] as const)('refuses %o with a clear reason', (target, reason) => {
    const outcome = compilePolicy({ minLength: 6 }, target as CompileTarget);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.reason).toContain(reason);
  });
});

describe('profile identity', () => {
  const meta = { identifier: 'com.example.passcode', displayName: 'Passcode', organization: 'Example' };

  it('keeps the profile identifier and UUID stable and moves the payload UUID with the content', () => {
    const a = profileContent(compiled({ minLength: 6 }, { platform: 'ios' }), meta);
    const b = profileContent(compiled({ minLength: 6 }, { platform: 'ios' }), meta);
    const c = profileContent(compiled({ minLength: 8 }, { platform: 'ios' }), meta);
    expect(a).toEqual(b);
    expect(c.uuid).toBe(a.uuid);
    expect(c.identifier).toBe('com.example.passcode');
    expect(c.payloads[0]!.PayloadIdentifier).toBe('com.example.passcode.passcode');
    expect(c.payloads[0]!.PayloadUUID).not.toBe(a.payloads[0]!.PayloadUUID);
    expect(a.uuid).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(a.payloads[0]).toMatchObject({ PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadVersion: 1, PayloadOrganization: 'Example', minLength: 6 });
  });

  it('derives an identifier from the display name when none is given', () => {
    expect(profileContent(compiled({}, { platform: 'ios' }), { displayName: 'Sales Team!' }).identifier).toBe('com.lockwarden.passcode.sales-team');
    expect(profileContent(compiled({}, { platform: 'ios' }), {}).identifier).toBe('com.lockwarden.passcode');
  });

  it('--format payload combines several regex rules into one dictionary', () => {
    const c = compiled({ minDigits: 1, customRegex: [{ regex: '^.{12,}$', description: { default: 'long' } }] }, { platform: 'macos' });
    const payload = singlePayload(c, meta);
    expect(payload.customRegex).toEqual({
      passwordContentRegex: `^(?=(?:^.{12,}$)$)(?=(?:${classMinimumsRule({ minDigits: 1 }).regex})$).*$`,
      passwordContentDescription: { default: 'long; At least 1 digit' },
    });
    expect(payload.PayloadType).toBe('com.apple.mobiledevice.passwordpolicy');
  });
});

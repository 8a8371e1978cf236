import { describe, expect, it } from 'vitest';
import { atLeastAsStrict, mergeRequirements } from '../../src/policy/merge.ts';
import { importPolicy } from '../../src/policy/import-profile.ts';
import { compileDeclaration, importDeclaration } from '../../src/policy/ddm-declaration.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import { classMinimumsRule, readClassMinimumsRule } from '../../src/policy/class-regex.ts';
import { combineRegexRules, splitCombinedRegex } from '../../src/policy/regex-combination.ts';
import { explainPolicy, formatExplanation } from '../../src/policy/explain.ts';
import { toPolicyDocument } from '../../src/policy/serialize.ts';
import { parsePolicyDocument } from '../../src/policy/parse.ts';
import type { CompiledPolicy } from '../../src/policy/compile.ts';
import type { PasscodeRequirements } from '../../src/policy/model.ts';

describe('merge: strictest wins per key (decision 6)', () => {
  it('takes OR of booleans, max of minimums, min of maximums, and says which input set each', () => {
    const a: PasscodeRequirements = { allowSimple: true, minLength: 6, maxFailedAttempts: 10, maxInactivity: 5, forcePIN: true, pinHistory: 3 };
    const b: PasscodeRequirements = { allowSimple: false, minLength: 8, maxFailedAttempts: 6, maxInactivity: 10, requireAlphanumeric: true, pinHistory: 3 };
    const { requirements, sources } = mergeRequirements([a, b]);
    expect(requirements).toEqual({ allowSimple: false, minLength: 8, maxFailedAttempts: 6, maxInactivity: 5, forcePIN: true, requireAlphanumeric: true, pinHistory: 3 });
    expect(sources).toEqual({ allowSimple: [1], minLength: [1], maxFailedAttempts: [1], maxInactivity: [0], forcePIN: [0], requireAlphanumeric: [1], pinHistory: [0, 1] });
  });

  it('applies every regex and merges descriptions deterministically', () => {
    const { requirements } = mergeRequirements([
      { customRegex: [{ regex: '^b$', description: { default: 'z' } }] },
      { customRegex: [{ regex: '^a$' }, { regex: '^b$', description: { default: 'y', fr: 'x' } }] },
    ]);
    expect(requirements.customRegex).toEqual([{ regex: '^a$' }, { regex: '^b$', description: { default: 'y', fr: 'x' } }]);
  });

  it('atLeastAsStrict treats absent as Apple\'s default', () => {
    expect(atLeastAsStrict('allowSimple', {}, { allowSimple: true })).toBe(true);
    expect(atLeastAsStrict('allowSimple', {}, { allowSimple: false })).toBe(false);
    expect(atLeastAsStrict('forcePIN', {}, { forcePIN: false })).toBe(true);
    expect(atLeastAsStrict('minLength', { minLength: 6 }, { minLength: 8 })).toBe(false);
    expect(atLeastAsStrict('maxInactivity', { maxInactivity: 5 }, { maxInactivity: 8 })).toBe(true);
  });
});

describe('import', () => {
  const profile = (content: unknown[]) => ({
    PayloadType: 'Configuration', PayloadIdentifier: 'com.example.profile', PayloadUUID: 'x', PayloadVersion: 1,
    PayloadDisplayName: 'Example', PayloadContent: content,
  });
  const payload = (settings: Record<string, unknown>) => ({
    PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadIdentifier: 'p', PayloadUUID: 'u', PayloadVersion: 1, ...settings,
  });

  it('reads a profile, ignoring other payloads with a note and merging several passcode payloads', () => {
    const result = importPolicy(profile([
      payload({ minLength: 6, maxInactivity: 5 }),
      { PayloadType: 'com.apple.wifi.managed', SSID_STR: 'x' },
      payload({ minLength: 8 }),
    ]));
    expect(result.ok && result.value).toEqual({ meta: { identifier: 'com.example.profile', displayName: 'Example' }, requirements: { minLength: 8, maxInactivity: 5 } });
    expect(result.notes.map((n) => n.path)).toEqual(['PayloadContent[1]', 'PayloadContent']);
  });

  it('prefixes errors with the payload path', () => {
    const result = importPolicy(profile([payload({ minLength: 40, MinimumLength: 3 })]));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toEqual(['PayloadContent[0].minLength', 'PayloadContent[0].MinimumLength']);
  });

  it('refuses profiles without a passcode payload, encrypted ones and odd documents', () => {
    for (const doc of [profile([]), { ...profile([]), IsEncrypted: true }, { PayloadType: 'Configuration' }, 'text', { PayloadType: 'com.apple.wifi.managed' }]) {
      expect(importPolicy(doc).ok).toBe(false);
    }
  });

  it('reads the generated per-class regex back into minimums', () => {
    const rule = classMinimumsRule({ minDigits: 2, minLowercase: 1 });
    expect(readClassMinimumsRule(rule.regex)).toEqual({ minDigits: 2, minLowercase: 1 });
    expect(readClassMinimumsRule('^(?=(?:[^A-Z]*[A-Z]){1})(?=(?:[^0-9]*[0-9]){1}).*$')).toBeUndefined();
    expect(readClassMinimumsRule('^(?=(?:[^0-9]*[a-z]){1}).*$')).toBeUndefined();
    const result = importPolicy(profile([payload({ customRegex: { passwordContentRegex: rule.regex } })]));
    expect(result.ok && result.value.requirements).toEqual({ minDigits: 2, minLowercase: 1 });
  });
});

describe('regex combination', () => {
  it('splits what it combined, including rules with groups, classes and escapes', () => {
    const rules = ['^(?=.*[)(])x{2}$', '^[^\\]]\\)+$', '^(a|b(c))$'];
    const combined = combineRegexRules(rules.map((regex) => ({ regex })))!;
    expect(splitCombinedRegex(combined.regex)).toEqual(rules);
    expect(new RegExp(combined.regex).test('ab')).toBe(false);
    expect(splitCombinedRegex('^(?=(?:a)$).*$')).toBeUndefined();
    expect(splitCombinedRegex('^abc$')).toBeUndefined();
  });

  it('renumbers back-references so each rule keeps its meaning, and splits back to the originals', () => {
    const rules = ['^(ab|cd)+$', '^(?!.*(.)\\1).*$', '^(?<x>a)?(b)\\2?.*$'];
    const combined = combineRegexRules(rules.map((regex) => ({ regex })))!;
    expect(combined.regex).toContain('\\2).*$');
    expect(combined.regex).toContain('(b)\\4?');
    const re = new RegExp(combined.regex);
    expect(re.test('abab')).toBe(true);
    expect(re.test('abb')).toBe(false);
    expect(splitCombinedRegex(combined.regex)).toEqual(rules);
  });

  it('the combined regex matches exactly what all its rules match', () => {
    const combined = combineRegexRules([{ regex: '^.{4,}$' }, { regex: '^[a-z0-9]*[0-9][a-z0-9]*$' }])!;
    const re = new RegExp(combined.regex);
    expect(re.test('abc1')).toBe(true);
    expect(re.test('abcd')).toBe(false);
    expect(re.test('ab1')).toBe(false);
  });
});

describe('DDM declaration', () => {
  function compiledFor(req: PasscodeRequirements, platform: 'ios' | 'macos' | 'watchos', osVersion?: string): CompiledPolicy {
    const outcome = compilePolicy(req, { platform, enrollment: 'device', ...(osVersion && { osVersion }) });
    if (!outcome.ok) throw new Error(outcome.reason);
    return outcome.compiled;
  }

  it('maps to Apple\'s declaration keys with an Identifier and a content-derived ServerToken', () => {
    const result = compileDeclaration(compiledFor({ allowSimple: false, minLength: 8, forcePIN: true, pinHistory: 4, maxInactivity: 5 }, 'ios'), { identifier: 'com.example.p' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.declaration).toMatchObject({
      Type: 'com.apple.configuration.passcode.settings',
      Identifier: 'com.example.p.passcode-settings',
      Payload: { RequirePasscode: true, RequireComplexPasscode: true, MinimumLength: 8, PasscodeReuseLimit: 4, MaximumInactivityInMinutes: 5 },
    });
    const other = compileDeclaration(compiledFor({ minLength: 9 }, 'ios'), { identifier: 'com.example.p' });
    expect(other.ok && other.declaration.ServerToken).not.toBe(result.declaration.ServerToken);
  });

  it('caps MaximumInactivityInMinutes at 15 even on macOS and drops keys an OS version lacks', () => {
    const mac = compileDeclaration(compiledFor({ maxInactivity: 45, minComplexChars: 2 }, 'macos', '13.0'), {});
    expect(mac.ok && mac.declaration.Payload).toEqual({ MaximumInactivityInMinutes: 15 });
    expect(mac.ok && mac.notes.join('\n')).toContain('MinimumComplexCharacters needs macOS 13.1');
    expect(compileDeclaration(compiledFor({ minLength: 4 }, 'ios', '14.8'), {}).ok).toBe(false);
  });

  it('imports back to the effective policy', () => {
    const req: PasscodeRequirements = { allowSimple: true, minLength: 8, minDigits: 1, customRegex: [{ regex: '^.{9,}$' }], maxFailedAttempts: 5 };
    const compiled = compiledFor(req, 'macos');
    const result = compileDeclaration(compiled, {});
    if (!result.ok) throw new Error(result.reason);
    const back = importDeclaration(JSON.parse(JSON.stringify(result.declaration)));
    expect(back.ok && back.value.requirements).toEqual(compiled.effective);
  });

  it('reports unknown keys in an imported declaration', () => {
    const back = importDeclaration({ Type: 'com.apple.configuration.passcode.settings', Payload: { MinimumLenght: 4 } });
    expect(!back.ok && back.errors[0]!.message).toContain('"MinimumLength"');
  });
});

describe('explain', () => {
  it('lists every requirement for every target and the targets that refuse the payload', () => {
    const req: PasscodeRequirements = { minLength: 8, maxInactivity: 30, minDigits: 1 };
    const explanation = explainPolicy(req);
    expect(explanation.hasGaps).toBe(true);
    const text = formatExplanation(req, explanation);
    expect(text).toContain('maxInactivity 30');
    expect(text).toMatch(/macOS\s+enforced as maxInactivity=30/);
    expect(text).toMatch(/iOS\s+capped to maxInactivity=15/);
    expect(text).toMatch(/iOS\s+not enforceable on iOS: Apple's payload cannot count digits/);
    expect(text).toMatch(/tvOS\s+tvOS does not support the Passcode payload/);
  });
});

describe('serialize', () => {
  it('writes a document that parses back to the same policy', () => {
    const policy = { meta: { identifier: 'com.example.x', displayName: 'X' }, requirements: { minLength: 8, minDigits: 2, customRegex: [{ regex: '^a.*$' }, { regex: '^b.*$' }], maxInactivity: 99 } };
    const back = parsePolicyDocument(toPolicyDocument(policy));
    expect(back.ok && back.value).toEqual(policy);
  });
});

import { describe, expect, it } from 'vitest';
import { parsePolicyDocument } from '../../src/policy/parse.ts';
import type { ParseResult, PasscodePolicy, PolicyError } from '../../src/policy/model.ts';

function ok(result: ParseResult<PasscodePolicy>): PasscodePolicy {
  if (!result.ok) throw new Error(`expected valid, got ${JSON.stringify(result.errors)}`);
  return result.value;
}

function errorsOf(result: ParseResult<PasscodePolicy>): PolicyError[] {
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

function onlyError(doc: unknown): PolicyError {
  const errors = errorsOf(parsePolicyDocument(doc));
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

describe('parsePolicyDocument: the two key styles give one canonical policy', () => {
  it('reads the friendly example of seed 003', () => {
    const policy = ok(parsePolicyDocument({
      AllowSimple: false, MinimumLength: 8,
      RequiredCharacters: { MinimumDigits: 1, MinimumLowercase: 1, MinimumUppercase: 1, MinimumSymbols: 1 },
    }));
    expect(policy.requirements).toEqual({
      allowSimple: false, minLength: 8, minDigits: 1, minLowercase: 1, minUppercase: 1, minComplexChars: 1,
    });
  });

  it('reads Apple keys and the friendly keys to the same requirements', () => {
    const apple = ok(parsePolicyDocument({ allowSimple: false, minLength: 6, maxFailedAttempts: 5, maxInactivity: 5, maxGracePeriod: 60, maxPINAgeInDays: 30, pinHistory: 3 }));
    const friendly = ok(parsePolicyDocument({ AllowSimple: false, MinimumLength: 6, MaxFailedAttempts: 5, AutoLockTimeout: 5, GracePeriod: '1 hour', MaximumAge: 30, PasswordHistory: 3 }));
    expect(friendly.requirements).toEqual(apple.requirements);
  });

  it('maps every GracePeriod option to Apple minutes, case-insensitively', () => {
    const expected: Record<string, number> = { Immediate: 0, '1 minute': 1, '5 minutes': 5, '15 minutes': 15, '1 hour': 60, '4 HOURS': 240 };
    for (const [option, minutes] of Object.entries(expected)) {
      expect(ok(parsePolicyDocument({ GracePeriod: option })).requirements.maxGracePeriod).toBe(minutes);
    }
  });

  it('reads metadata in either style', () => {
    expect(ok(parsePolicyDocument({ Identifier: 'com.example.p', DisplayName: 'P', Organization: 'Ex' })).meta)
      .toEqual({ identifier: 'com.example.p', displayName: 'P', organization: 'Ex' });
    expect(ok(parsePolicyDocument({ PayloadIdentifier: 'com.example.p', PayloadDescription: 'd' })).meta)
      .toEqual({ identifier: 'com.example.p', description: 'd' });
  });

  it('accepts a customRegex rule, or a list of them, kept sorted', () => {
    const one = ok(parsePolicyDocument({ customRegex: { passwordContentRegex: '^.{8,}$', passwordContentDescription: { default: 'eight' } } }));
    expect(one.requirements.customRegex).toEqual([{ regex: '^.{8,}$', description: { default: 'eight' } }]);
    const two = ok(parsePolicyDocument({ CustomRegex: [{ Regex: '^b.*$' }, { Regex: '^a.*$' }] }));
    expect(two.requirements.customRegex).toEqual([{ regex: '^a.*$' }, { regex: '^b.*$' }]);
  });
});

describe('decision 2: Apple ranges win, and zero means "no requirement" in the friendly style', () => {
  it.each([
    ['minLength', 0, 16], ['minComplexChars', 0, 4], ['maxFailedAttempts', 2, 11], ['pinHistory', 1, 50],
    ['MinimumLength', 0, 16], ['PasswordHistory', 1, 50], ['MaximumAge', 1, 730], ['maxPINAgeInDays', 1, 730],
  ])('%s accepts %i and %i and refuses one beyond either edge', (key, min, max) => {
    expect(parsePolicyDocument({ [key]: min }).ok).toBe(true);
    expect(parsePolicyDocument({ [key]: max }).ok).toBe(true);
    const over = onlyError({ [key]: max + 1 });
    expect(over).toMatchObject({ path: key, value: max + 1, message: 'is out of range' });
    expect(over.allowed).toContain(String(max));
    if (min > 0 && !['PasswordHistory', 'MaximumAge', 'maxPINAgeInDays'].includes(key)) {
      expect(onlyError({ [key]: min - 1 }).value).toBe(min - 1);
    }
  });

  it('refuses maxFailedAttempts 1 in both styles, naming Apple\'s range', () => {
    for (const key of ['maxFailedAttempts', 'MaxFailedAttempts']) {
      const e = onlyError({ [key]: 1 });
      expect(e.path).toBe(key);
      expect(e.value).toBe(1);
      expect(e.message).toContain('2–11');
    }
  });

  it('reads friendly MaxFailedAttempts, PasswordHistory and MaximumAge 0 as "omit the key", with a note', () => {
    const result = parsePolicyDocument({ MaxFailedAttempts: 0, PasswordHistory: 0, MaximumAge: 0, MinimumLength: 4 });
    expect(ok(result).requirements).toEqual({ minLength: 4 });
    expect(result.notes.map((n) => n.path)).toEqual(['MaxFailedAttempts', 'PasswordHistory', 'MaximumAge']);
  });

  it('caps nothing at parse time: inactivity above a platform cap is accepted for compile to cap', () => {
    expect(ok(parsePolicyDocument({ MaximumInactivity: 99_999 })).requirements.maxInactivity).toBe(99_999);
    expect(onlyError({ MaximumInactivity: 100_000 }).allowed).toBe('1–99999');
    expect(onlyError({ AutoLockTimeout: 61 }).allowed).toBe('1–60');
    expect(onlyError({ AutoLockTimeout: 0 }).allowed).toBe('1–60');
    expect(onlyError({ maxInactivity: 61 }).allowed).toContain('0–60');
  });

  it('takes the smaller of AutoLockTimeout and MaximumInactivity (decision 3) and says so', () => {
    const result = parsePolicyDocument({ AutoLockTimeout: 10, MaximumInactivity: 4 });
    expect(ok(result).requirements.maxInactivity).toBe(4);
    expect(result.notes[0]).toMatchObject({ path: 'MaximumInactivity' });
    expect(result.notes[0]!.message).toContain('4 minutes');
  });

  it('refuses MinimumSymbols beyond minComplexChars\' range 0–4', () => {
    expect(onlyError({ RequiredCharacters: { MinimumSymbols: 5 } })).toMatchObject({ path: 'RequiredCharacters.MinimumSymbols', value: 5, allowed: '0–4' });
  });
});

describe('every error at once, each with path, value and what is allowed', () => {
  it('reports all problems of a bad document together', () => {
    const errors = errorsOf(parsePolicyDocument({
      minLenght: 6, MaxFailedAttempts: 1, MinimumLength: 20, GracePeriod: '2 hours',
      RequiredCharacters: { MinimumDigit: 1 }, allowSimple: 'no',
    }));
    expect(errors.map((e) => e.path).sort()).toEqual([
      'GracePeriod', 'MaxFailedAttempts', 'MinimumLength', 'RequiredCharacters.MinimumDigit', 'allowSimple', 'minLenght',
    ]);
    expect(errors.find((e) => e.path === 'minLenght')!.message).toContain('did you mean "minLength"');
    expect(errors.find((e) => e.path === 'RequiredCharacters.MinimumDigit')!.message).toContain('"MinimumDigits"');
    expect(errors.find((e) => e.path === 'GracePeriod')!.allowed).toContain('"4 hours"');
    expect(errors.find((e) => e.path === 'allowSimple')).toMatchObject({ value: 'no', allowed: 'true or false' });
  });

  it('suggests across styles and cases', () => {
    expect(onlyError({ minimumlength: 8 }).message).toContain('"MinimumLength"');
    expect(onlyError({ MaxFailedAttemps: 8 }).message).toContain('"MaxFailedAttempts"');
    expect(onlyError({ colour: 'red' }).message).toBe('is not a known key');
  });

  it('treats Object.prototype names as the unknown keys they are', () => {
    const errors = errorsOf(parsePolicyDocument(JSON.parse('{"toString": 1, "constructor": 2, "__proto__": 3, "RequiredCharacters": {"valueOf": 4, "hasOwnProperty": 5}}')));
    expect(errors.map((e) => e.path)).toEqual(['toString', 'constructor', '__proto__', 'RequiredCharacters.valueOf', 'RequiredCharacters.hasOwnProperty']);
    expect(errors.every((e) => e.message.startsWith('is not a known key'))).toBe(true);
  });

  it('refuses wrong types with the type given', () => {
    expect(onlyError({ minLength: '8' })).toMatchObject({ message: 'must be a whole number, not a string', allowed: '0–16' });
    expect(onlyError({ minLength: 7.5 })).toMatchObject({ message: 'must be a whole number', value: 7.5 });
    expect(onlyError({ RequiredCharacters: [1] }).message).toContain('must be a dictionary');
    expect(onlyError({ GracePeriod: 5 }).message).toContain('named periods');
  });

  it('refuses the same requirement given twice', () => {
    const e = onlyError({ minLength: 6, MinimumLength: 8 });
    expect(e.path).toBe('MinimumLength');
    expect(e.message).toContain('minLength');
  });

  it('checks customRegex: required regex, length limit, unknown subkeys', () => {
    expect(onlyError({ customRegex: {} }).path).toBe('customRegex.passwordContentRegex');
    const long = onlyError({ customRegex: { passwordContentRegex: 'a'.repeat(2049) } });
    expect(long).toMatchObject({ allowed: '1–2048 characters', message: 'has 2049 characters' });
    expect(onlyError({ customRegex: { passwordContentRegex: '^a$', passwordContentDescriptoin: {} } }).message).toContain('"passwordContentDescription"');
    expect(onlyError({ customRegex: { passwordContentRegex: '^a$', passwordContentDescription: { en: 3 } } }).path).toBe('customRegex.passwordContentDescription.en');
    expect(onlyError(JSON.parse('{"customRegex": {"passwordContentRegex": "^a$", "passwordContentDescription": {"__proto__": "x"}}}')).message).toBe('is not a language ID');
  });

  it('refuses a document that is not a dictionary, and a non reverse-DNS identifier', () => {
    expect(errorsOf(parsePolicyDocument([1, 2]))[0]!.message).toContain('dictionary');
    expect(onlyError({ Identifier: 'has spaces' }).message).toBe('must be a reverse-DNS identifier');
  });

  it('notes a retired Apple key instead of failing an imported payload', () => {
    const result = parsePolicyDocument({ allowFingerprintModification: true, minLength: 4 }, 'apple');
    expect(ok(result).requirements).toEqual({ minLength: 4 });
    expect(result.notes[0]!.path).toBe('allowFingerprintModification');
  });

  it('in Apple style, a friendly key is unknown and points at the Apple key', () => {
    const errors = errorsOf(parsePolicyDocument({ MinimumLength: 8 }, 'apple'));
    expect(errors[0]!.message).toContain('did you mean "minLength"');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPasscode, passcodeChecker } from '../../src/policy/check.ts';
import type { CheckFinding } from '../../src/policy/check.ts';
import { REQUIREMENT_KEYS } from '../../src/policy/model.ts';
import type { PasscodeRequirements, RequirementKey } from '../../src/policy/model.ts';
import { arbRequirements } from '../support/policy-arbitraries.ts';

const keys = (findings: readonly CheckFinding[]): RequirementKey[] => findings.map((f) => f.requirement);

function failureMessage(passcode: string, req: PasscodeRequirements): string {
  const result = checkPasscode(passcode, req);
  expect(result.complies).toBe(false);
  expect(result.failures).toHaveLength(1);
  return (result.failures[0] as CheckFinding).message;
}

function passes(passcode: string, req: PasscodeRequirements): boolean {
  const result = checkPasscode(passcode, req);
  expect(result.complies).toBe(result.failures.length === 0);
  return result.complies;
}

describe('checkPasscode: the empty passcode', () => {
  it('complies with an empty policy, and with settings that do not ask for a passcode', () => {
    for (const req of [{}, { forcePIN: false }, { allowSimple: true }, { minLength: 0 }, { requireAlphanumeric: false }, { minComplexChars: 0, minDigits: 0, minLowercase: 0, minUppercase: 0 }, { customRegex: [] }, { maxFailedAttempts: 4 }]) {
      const result = checkPasscode('', req);
      expect(result.complies, JSON.stringify(req)).toBe(true);
      expect(result.failures).toEqual([]);
    }
  });

  it.each<[PasscodeRequirements, RequirementKey]>([
    [{ forcePIN: true }, 'forcePIN'],
    [{ allowSimple: false }, 'allowSimple'],
    [{ minLength: 1 }, 'minLength'],
    [{ requireAlphanumeric: true }, 'requireAlphanumeric'],
    [{ minComplexChars: 1 }, 'minComplexChars'],
    [{ minDigits: 1 }, 'minDigits'],
    [{ minLowercase: 1 }, 'minLowercase'],
    [{ minUppercase: 1 }, 'minUppercase'],
    [{ customRegex: [{ regex: '^.*$' }] }, 'customRegex'],
  ])('fails when %j asks for a passcode, naming %s', (req, key) => {
    const result = checkPasscode('', req);
    expect(result.complies).toBe(false);
    expect(result.failures).toEqual([
      { requirement: key, message: `a passcode is required, but none was given (required by ${key})` },
    ]);
  });

  it('gives one finding that names every requirement asking for a passcode', () => {
    const result = checkPasscode('', { forcePIN: true, minLength: 6, allowSimple: false, minDigits: 0, maxFailedAttempts: 5 });
    expect(result.failures).toEqual([
      { requirement: 'forcePIN', message: 'a passcode is required, but none was given (required by forcePIN, allowSimple, minLength)' },
    ]);
    expect(keys(result.notChecked)).toEqual(['maxFailedAttempts']);
  });

  it('counts even a customRegex that matches the empty string as asking for a passcode', () => {
    const result = checkPasscode('', { customRegex: [{ regex: '^$' }] });
    expect(result.complies).toBe(false);
    expect(result.failures[0]?.message).toContain('a passcode is required');
  });
});

describe('checkPasscode: minLength', () => {
  it('passes at exactly the minimum and fails one below, with both numbers', () => {
    expect(passes('abcdefgh', { minLength: 8 })).toBe(true);
    expect(failureMessage('abcdefg', { minLength: 8 })).toBe('minLength: needs at least 8 characters, has 7');
    expect(failureMessage('ab', { minLength: 6 })).toBe('minLength: needs at least 6 characters, has 2');
    expect(failureMessage('x', { minLength: 16 })).toBe('minLength: needs at least 16 characters, has 1');
  });

  it('uses the singular for one character', () => {
    expect(passes('a', { minLength: 1 })).toBe(true);
  });

  it('counts code points, not UTF-16 units', () => {
    expect(passes('😀😀😀😀', { minLength: 4 })).toBe(true);
    expect(failureMessage('😀😀😀', { minLength: 4 })).toBe('minLength: needs at least 4 characters, has 3');
    expect(failureMessage('😀😀😀', { minLength: 5 })).toContain('has 3');
  });
});

describe('checkPasscode: requireAlphanumeric', () => {
  it('needs at least one letter, of any script', () => {
    expect(failureMessage('1234!', { requireAlphanumeric: true })).toBe('requireAlphanumeric: needs at least 1 letter, has 0');
    expect(passes('1234a', { requireAlphanumeric: true })).toBe(true);
    expect(passes('1234é', { requireAlphanumeric: true })).toBe(true);
    expect(passes('1234λ', { requireAlphanumeric: true })).toBe(true);
    expect(passes('1234日', { requireAlphanumeric: true })).toBe(true);
  });

  it('does not count digits of other scripts or symbols as letters', () => {
    expect(passes('١٢٣Ⅳ', { requireAlphanumeric: true })).toBe(false); // Nd and Nl, not L
    expect(passes('😀!', { requireAlphanumeric: true })).toBe(false);
  });

  it('is no requirement when false', () => {
    expect(passes('1234', { requireAlphanumeric: false })).toBe(true);
  });
});

describe('checkPasscode: minComplexChars', () => {
  it('counts characters that are neither letters nor digits', () => {
    expect(passes('Ab1!', { minComplexChars: 1 })).toBe(true);
    expect(failureMessage('Ab1!', { minComplexChars: 2 })).toBe('minComplexChars: needs at least 2 characters that are neither a letter nor a digit, has 1');
    expect(failureMessage('Abc1', { minComplexChars: 1 })).toBe('minComplexChars: needs at least 1 character that is neither a letter nor a digit, has 0');
    expect(passes('a b😀€', { minComplexChars: 3 })).toBe(true); // space, emoji and currency sign
  });

  it('does not count letters or numbers of any script', () => {
    expect(passes('é日١½Ⅳ', { minComplexChars: 1 })).toBe(false);
  });
});

describe('checkPasscode: per-class minimums count ASCII classes', () => {
  it('minDigits counts 0-9 only', () => {
    expect(passes('ab12', { minDigits: 2 })).toBe(true);
    expect(failureMessage('ab1', { minDigits: 2 })).toBe('minDigits: needs at least 2 digits (0-9), has 1');
    expect(failureMessage('١٢٣', { minDigits: 1 })).toBe('minDigits: needs at least 1 digit (0-9), has 0');
  });

  it('minLowercase counts a-z only', () => {
    expect(passes('ABcd', { minLowercase: 2 })).toBe(true);
    expect(failureMessage('ABcé', { minLowercase: 2 })).toBe('minLowercase: needs at least 2 lowercase letters (a-z), has 1');
  });

  it('minUppercase counts A-Z only', () => {
    expect(passes('ABcd', { minUppercase: 2 })).toBe(true);
    expect(failureMessage('AÉcd', { minUppercase: 2 })).toBe('minUppercase: needs at least 2 uppercase letters (A-Z), has 1');
    expect(failureMessage('abc', { minUppercase: 1 })).toBe('minUppercase: needs at least 1 uppercase letter (A-Z), has 0');
  });

  it('treats a minimum of 0 as no requirement', () => {
    expect(passes('!!', { minDigits: 0, minLowercase: 0, minUppercase: 0, minComplexChars: 0, minLength: 0 })).toBe(true);
  });
});

describe('checkPasscode: allowSimple', () => {
  it('fails simple passcodes when false, saying how they are simple', () => {
    expect(failureMessage('1234', { allowSimple: false })).toBe('allowSimple is false: simple passcodes are not allowed, and this one rises by one character code at every step');
    expect(failureMessage('cba', { allowSimple: false })).toContain('falls by one character code at every step');
    expect(failureMessage('1111', { allowSimple: false })).toContain('repeats one character');
    expect(failureMessage('x', { allowSimple: false })).toContain('is a single character');
  });

  it('passes passcodes that are not simple, and anything when true or absent', () => {
    expect(passes('1357', { allowSimple: false })).toBe(true);
    expect(passes('7890', { allowSimple: false })).toBe(true);
    expect(passes('1111', { allowSimple: true })).toBe(true);
    expect(passes('1111', {})).toBe(true);
  });
});

describe('checkPasscode: customRegex', () => {
  it('requires each rule to match the whole passcode', () => {
    expect(passes('1234', { customRegex: [{ regex: '^[0-9]{4}$' }] })).toBe(true);
    expect(failureMessage('12345', { customRegex: [{ regex: '[0-9]{4}' }] })).toBe('customRegex: must match [0-9]{4} as a whole, and does not');
  });

  it('quotes the rule and its description in the default language', () => {
    const message = failureMessage('abc', { customRegex: [{ regex: '^[0-9]{4}$', description: { 'fr-FR': 'Quatre chiffres', default: 'Four digits' } }] });
    expect(message).toBe('customRegex: must match ^[0-9]{4}$ as a whole ("Four digits"), and does not');
    const other = failureMessage('abc', { customRegex: [{ regex: '^[0-9]{4}$', description: { 'fr-FR': 'Quatre chiffres' } }] });
    expect(other).toContain('("Quatre chiffres")');
  });

  it('reports every failing rule, in policy order', () => {
    const result = checkPasscode('abc', { customRegex: [{ regex: '^[0-9]+$' }, { regex: '^.{4,}$' }, { regex: '^[a-z]+$' }] });
    expect(result.failures.map((f) => f.message)).toEqual([
      'customRegex: must match ^[0-9]+$ as a whole, and does not',
      'customRegex: must match ^.{4,}$ as a whole, and does not',
    ]);
  });

  it('lists a rule JavaScript cannot evaluate as not checked, never as a pass or a failure', () => {
    const req = { customRegex: [{ regex: '\\bword\\b' }, { regex: '^[a-z]+$' }] };
    const ok = checkPasscode('word', req);
    expect(ok.complies).toBe(true);
    expect(ok.failures).toEqual([]);
    expect(ok.notChecked).toEqual([
      { requirement: 'customRegex', message: 'customRegex \\bword\\b was not evaluated: word boundary \\b is not supported (ICU\'s word rules differ from JavaScript\'s)' },
    ]);
    const bad = checkPasscode('Word!', req);
    expect(keys(bad.failures)).toEqual(['customRegex']);
    expect(keys(bad.notChecked)).toEqual(['customRegex']);
  });

  it('does not evaluate rules against passcodes longer than 1024 characters', () => {
    const result = checkPasscode('a'.repeat(1025), { customRegex: [{ regex: '^[0-9]+$' }], minLength: 4 });
    expect(result.failures).toEqual([]);
    expect(result.notChecked).toEqual([
      { requirement: 'customRegex', message: 'customRegex ^[0-9]+$ was not evaluated: the passcode has 1025 characters, and lockwarden evaluates customRegex up to 1024' },
    ]);
    expect(checkPasscode('a'.repeat(1024), { customRegex: [{ regex: '^[0-9]+$' }] }).failures).toHaveLength(1);
  });
});

describe('checkPasscode: requirements the passcode cannot show', () => {
  it('lists each one present as not checked, with its value and the reason', () => {
    const result = checkPasscode('Kq7#mR2x', {
      maxFailedAttempts: 6,
      minutesUntilFailedLoginReset: 30,
      maxInactivity: 5,
      maxGracePeriod: 0,
      maxPINAgeInDays: 90,
      pinHistory: 4,
      changeAtNextAuth: true,
    });
    expect(result.complies).toBe(true);
    expect(result.failures).toEqual([]);
    expect(result.notChecked).toEqual([
      { requirement: 'maxFailedAttempts', message: 'maxFailedAttempts (6): the device counts wrong entries; the passcode itself cannot show this' },
      { requirement: 'minutesUntilFailedLoginReset', message: "minutesUntilFailedLoginReset (30 minutes): depends on the device's history of failed logins" },
      { requirement: 'maxInactivity', message: 'maxInactivity (5 minutes): auto-lock is a device setting, not a property of the passcode' },
      { requirement: 'maxGracePeriod', message: 'maxGracePeriod (0 minutes): how soon a locked device asks for the passcode is a device setting' },
      { requirement: 'maxPINAgeInDays', message: 'maxPINAgeInDays (90 days): depends on when the passcode was set, which only the device knows' },
      { requirement: 'pinHistory', message: 'pinHistory (4): depends on the passcodes used before on the device' },
      { requirement: 'changeAtNextAuth', message: 'changeAtNextAuth: the device asks for a new passcode at the next authentication; the passcode itself cannot show this' },
    ]);
  });

  it('omits changeAtNextAuth when false (it asks for nothing) and absent keys', () => {
    expect(checkPasscode('abc', { changeAtNextAuth: false, maxInactivity: 2 }).notChecked.map((f) => f.requirement)).toEqual(['maxInactivity']);
    expect(checkPasscode('abc', {}).notChecked).toEqual([]);
  });

  it('lists them for the empty passcode too', () => {
    expect(keys(checkPasscode('', { forcePIN: true, pinHistory: 3 }).notChecked)).toEqual(['pinHistory']);
  });
});

describe('checkPasscode: several failures', () => {
  it('reports all of them in the order of REQUIREMENT_KEYS', () => {
    const req: PasscodeRequirements = {
      customRegex: [{ regex: '^[a-z]{8,}$' }],
      minUppercase: 1,
      minLowercase: 2,
      minDigits: 5,
      minComplexChars: 1,
      requireAlphanumeric: true,
      minLength: 6,
      allowSimple: false,
      forcePIN: true,
    };
    const result = checkPasscode('1234', req);
    expect(keys(result.failures)).toEqual(['allowSimple', 'minLength', 'requireAlphanumeric', 'minComplexChars', 'minDigits', 'minLowercase', 'minUppercase', 'customRegex']);
    expect(result.failures.map((f) => f.message)).toEqual([
      'allowSimple is false: simple passcodes are not allowed, and this one rises by one character code at every step',
      'minLength: needs at least 6 characters, has 4',
      'requireAlphanumeric: needs at least 1 letter, has 0',
      'minComplexChars: needs at least 1 character that is neither a letter nor a digit, has 0',
      'minDigits: needs at least 5 digits (0-9), has 4',
      'minLowercase: needs at least 2 lowercase letters (a-z), has 0',
      'minUppercase: needs at least 1 uppercase letter (A-Z), has 0',
      'customRegex: must match ^[a-z]{8,}$ as a whole, and does not',
    ]);
  });
});

describe('checkPasscode: properties', () => {
  // A passcode that contains "¤" (in none of the pool's regexes or descriptions, nor any message
  // text): no message may contain it, so none contains the passcode or a part of it around "¤".
  const arbSecret = fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12, unit: 'grapheme' })).map(([a, b]) => `${a}¤${b}`);

  it('never puts the passcode into a message', () => {
    fc.assert(fc.property(arbRequirements, arbSecret, (req, passcode) => {
      const result = checkPasscode(passcode, req);
      for (const finding of [...result.failures, ...result.notChecked]) {
        expect(finding.message).not.toContain('¤');
        expect(finding.message).not.toContain(passcode);
      }
    }), { numRuns: 300 });
  });

  it('never echoes a simple passcode, not even as an example of what simple means', () => {
    // Letters only: a digit run such as "9999" can legitimately appear inside a policy value
    // ("maxInactivity (99990 minutes)") without coming from the passcode.
    const arbRun = fc.tuple(fc.constantFrom(...'hijklmnopqrsHIJKLMNOPQRS'), fc.integer({ min: 4, max: 8 }), fc.constantFrom(-1, 0, 1))
      .map(([start, n, step]) => String.fromCodePoint(...Array.from({ length: n }, (_, i) => (start.codePointAt(0) as number) + i * step)));
    fc.assert(fc.property(arbRequirements, arbRun, (req, passcode) => {
      const result = checkPasscode(passcode, { ...req, allowSimple: false });
      expect(result.failures.some((f) => f.requirement === 'allowSimple')).toBe(true);
      for (const finding of [...result.failures, ...result.notChecked]) expect(finding.message).not.toContain(passcode);
    }), { numRuns: 300 });
    for (const passcode of ['1234', 'abcd', '4321', 'dcba', '1111', '0000', '123456', 'abcdef']) {
      expect(failureMessage(passcode, { allowSimple: false })).not.toContain(passcode);
    }
  });

  it('complies exactly when there are no failures, and orders findings by REQUIREMENT_KEYS', () => {
    const order = (k: RequirementKey) => REQUIREMENT_KEYS.indexOf(k);
    fc.assert(fc.property(arbRequirements, fc.string({ maxLength: 20 }), (req, passcode) => {
      const result = checkPasscode(passcode, req);
      expect(result.complies).toBe(result.failures.length === 0);
      for (const list of [result.failures, result.notChecked]) {
        const indexes = list.map((f) => order(f.requirement));
        expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
      }
    }), { numRuns: 300 });
  });

  it('gives the same answer through a prepared checker', () => {
    fc.assert(fc.property(arbRequirements, fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }), (req, passcodes) => {
      const check = passcodeChecker(req);
      for (const passcode of passcodes) expect(check(passcode)).toEqual(checkPasscode(passcode, req));
    }), { numRuns: 100 });
  });

  it('never fails a requirement that is absent', () => {
    fc.assert(fc.property(arbRequirements, fc.string({ maxLength: 20 }), (req, passcode) => {
      for (const finding of checkPasscode(passcode, req).failures) {
        expect(req[finding.requirement]).toBeDefined();
      }
    }), { numRuns: 300 });
  });
});

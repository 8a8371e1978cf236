import fc from 'fast-check';
import randexpModule from 'randexp';
import { describe, expect, it } from 'vitest';
import { checkPasscode } from '../../src/policy/check.ts';
import { findExamplePasscode } from '../../src/policy/example.ts';
import type { Conflict, ExampleResult } from '../../src/policy/example.ts';
import { isSimplePasscode } from '../../src/policy/simple-passcode.ts';
import type { PasscodeRequirements, RequirementKey } from '../../src/policy/model.ts';
import { REGEX_POOL, arbRequirements, arbRequirementsWithoutRegex } from '../support/policy-arbitraries.ts';

function found(req: PasscodeRequirements): string {
  const result = findExamplePasscode(req);
  if (result.kind !== 'found') throw new Error(`expected a passcode for ${JSON.stringify(req)}, got ${JSON.stringify(result)}`);
  const check = checkPasscode(result.passcode, req);
  expect(check.failures).toEqual([]);
  expect(check.notChecked.filter((f) => f.requirement === 'customRegex')).toEqual([]);
  return result.passcode;
}

function conflicts(req: PasscodeRequirements): Conflict[] {
  const result = findExamplePasscode(req);
  if (result.kind !== 'impossible') throw new Error(`expected a conflict for ${JSON.stringify(req)}, got ${JSON.stringify(result)}`);
  return result.conflicts;
}

const length = (text: string) => Array.from(text).length;

describe('findExamplePasscode without customRegex: built directly', () => {
  it('gives the empty passcode for an empty policy (it complies: nothing asks for a passcode)', () => {
    expect(findExamplePasscode({})).toEqual({ kind: 'found', passcode: '' });
    expect(findExamplePasscode({ maxFailedAttempts: 5, maxInactivity: 2, allowSimple: true })).toEqual({ kind: 'found', passcode: '' });
  });

  it('gives the shortest passcode the requirements allow', () => {
    expect(length(found({ forcePIN: true }))).toBe(1);
    expect(length(found({ allowSimple: false }))).toBe(2);
    expect(length(found({ minLength: 8 }))).toBe(8);
    expect(length(found({ minLength: 4, minDigits: 3, minUppercase: 3 }))).toBe(6);
    expect(length(found({ requireAlphanumeric: true }))).toBe(1);
    expect(length(found({ requireAlphanumeric: true, minDigits: 2 }))).toBe(3);
    // A lowercase minimum brings the letter requireAlphanumeric needs.
    expect(length(found({ requireAlphanumeric: true, minLowercase: 2 }))).toBe(2);
    expect(length(found({ minComplexChars: 4, allowSimple: false }))).toBe(4);
  });

  it('writes readable passcodes that mix the classes', () => {
    const passcode = found({ minLength: 8, requireAlphanumeric: true, minComplexChars: 1, minDigits: 1 });
    expect(passcode).toBe('Kq7#m2xr');
    expect(found({ minLength: 8 })).toMatch(/^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])[A-Za-z0-9]{8}$/);
  });

  it('meets per-class minimums that add up to more than 16 characters', () => {
    const passcode = found({ minDigits: 16, minLowercase: 16, minUppercase: 16, minComplexChars: 4, allowSimple: false, minLength: 16 });
    expect(length(passcode)).toBe(52);
  });

  it('never gives a simple passcode when allowSimple is false, even from one class', () => {
    for (const req of [{ minDigits: 5 }, { minDigits: 2 }, { minLowercase: 16 }, { minUppercase: 3 }, { minComplexChars: 3 }, { minLength: 2 }]) {
      expect(isSimplePasscode(found({ ...req, allowSimple: false }))).toBe(false);
    }
  });

  it('always finds a passcode (there is no maximum length without customRegex)', () => {
    fc.assert(fc.property(arbRequirementsWithoutRegex, (req) => {
      const result = findExamplePasscode(req);
      expect(result.kind).toBe('found');
      if (result.kind === 'found') expect(checkPasscode(result.passcode, req).complies).toBe(true);
    }), { numRuns: 500 });
  });
});

describe('findExamplePasscode with customRegex: proven conflicts', () => {
  it('customRegex length against minLength', () => {
    expect(conflicts({ customRegex: [{ regex: '^[0-9]{4}$' }], minLength: 8 })).toEqual([
      { requirements: ['minLength', 'customRegex'], explanation: 'customRegex ^[0-9]{4}$ allows at most 4 characters, but minLength needs at least 8' },
    ]);
  });

  it('an alphabet without letters against requireAlphanumeric, minLowercase and minUppercase', () => {
    expect(conflicts({ customRegex: [{ regex: '^[0-9]{4,}$' }], requireAlphanumeric: true, minLowercase: 1, minUppercase: 2 })).toEqual([
      { requirements: ['requireAlphanumeric', 'customRegex'], explanation: 'customRegex ^[0-9]{4,}$ allows no letters, but requireAlphanumeric needs at least 1' },
      { requirements: ['minLowercase', 'customRegex'], explanation: 'customRegex ^[0-9]{4,}$ allows no lowercase letters (a-z), but minLowercase needs at least 1' },
      { requirements: ['minUppercase', 'customRegex'], explanation: 'customRegex ^[0-9]{4,}$ allows no uppercase letters (A-Z), but minUppercase needs at least 2' },
    ]);
  });

  it('knows \\d is Unicode digits (no letters, no symbols), not only 0-9', () => {
    expect(conflicts({ customRegex: [{ regex: '^\\d{6}$' }], requireAlphanumeric: true, minComplexChars: 1 })).toEqual([
      { requirements: ['requireAlphanumeric', 'customRegex'], explanation: 'customRegex ^\\d{6}$ allows no letters, but requireAlphanumeric needs at least 1' },
      { requirements: ['minComplexChars', 'customRegex'], explanation: 'customRegex ^\\d{6}$ allows no characters that are neither letters nor digits, but minComplexChars needs at least 1' },
    ]);
  });

  it('an alphabet without symbols or digits against minComplexChars and minDigits', () => {
    expect(conflicts({ customRegex: [{ regex: '^[A-Za-z]{8,}$' }], minComplexChars: 2, minDigits: 1 })).toEqual([
      { requirements: ['minComplexChars', 'customRegex'], explanation: 'customRegex ^[A-Za-z]{8,}$ allows no characters that are neither letters nor digits, but minComplexChars needs at least 2' },
      { requirements: ['minDigits', 'customRegex'], explanation: 'customRegex ^[A-Za-z]{8,}$ allows no digits (0-9), but minDigits needs at least 1' },
    ]);
  });

  it('two rules with disjoint length ranges', () => {
    expect(conflicts({ customRegex: [{ regex: '^[0-9]{4}$' }, { regex: '^[0-9]{6,8}$' }] })).toEqual([
      { requirements: ['customRegex'], explanation: 'customRegex ^[0-9]{6,8}$ needs at least 6 characters, but customRegex ^[0-9]{4}$ allows at most 4' },
    ]);
  });

  it('two rules with no character in common', () => {
    expect(conflicts({ customRegex: [{ regex: '^[0-9]+$' }, { regex: '^[a-z]*$' }] })).toEqual([
      { requirements: ['customRegex'], explanation: 'no character is allowed by both customRegex ^[0-9]+$ and customRegex ^[a-z]*$, and a policy with customRegex requires a passcode' },
    ]);
  });

  it('several rules whose alphabets only fail together', () => {
    const [conflict] = conflicts({ customRegex: [{ regex: '^[a-b]+$' }, { regex: '^[b-c]+$' }, { regex: '^[a,c]+$' }] });
    expect(conflict).toEqual({
      requirements: ['customRegex'],
      explanation: 'no character is allowed by every one of customRegex ^[a-b]+$ and customRegex ^[b-c]+$ and customRegex ^[a,c]+$, and a policy with customRegex requires a passcode',
    });
  });

  it('a rule that only produces one repeated character, with allowSimple=false', () => {
    expect(conflicts({ customRegex: [{ regex: '^(?:aa)+$' }], allowSimple: false })).toEqual([
      { requirements: ['allowSimple', 'customRegex'], explanation: 'customRegex ^(?:aa)+$ only allows the character "a", so every passcode it matches repeats one character, which allowSimple=false forbids' },
    ]);
    // The same rule is fine when simple passcodes are allowed.
    expect(found({ customRegex: [{ regex: '^(?:aa)+$' }], allowSimple: true })).toBe('aa');
  });

  it('at most one character, or two neighbouring ones, with allowSimple=false', () => {
    expect(conflicts({ customRegex: [{ regex: '^\\d$' }], allowSimple: false })).toEqual([
      { requirements: ['allowSimple', 'customRegex'], explanation: 'customRegex ^\\d$ allows at most 1 character, and every 1-character passcode is simple, which allowSimple=false forbids' },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^[ab]{1,2}$' }], allowSimple: false })).toEqual([
      { requirements: ['allowSimple', 'customRegex'], explanation: 'customRegex ^[ab]{1,2}$ allows at most 2 characters, all from the neighbouring characters "a" and "b", so every passcode it matches is simple, which allowSimple=false forbids' },
    ]);
    expect(found({ customRegex: [{ regex: '^[ac]{1,2}$' }], allowSimple: false })).toMatch(/^(ac|ca)$/);
  });

  it('per-class minimums whose sum exceeds what the rule allows, naming each of them', () => {
    expect(conflicts({ customRegex: [{ regex: '^.{0,4}$' }], minDigits: 2, minUppercase: 2, minComplexChars: 1 })).toEqual([
      {
        requirements: ['minComplexChars', 'minDigits', 'minUppercase', 'customRegex'],
        explanation: 'minComplexChars 1 + minDigits 2 + minUppercase 2 need at least 5 characters together, but customRegex ^.{0,4}$ allows at most 4 characters',
      },
    ]);
    // requireAlphanumeric adds a letter only when no lowercase or uppercase minimum brings one.
    expect(conflicts({ customRegex: [{ regex: '^.{1,3}$' }], minDigits: 3, requireAlphanumeric: true })[0]?.requirements).toEqual(['requireAlphanumeric', 'minDigits', 'customRegex']);
    expect(found({ customRegex: [{ regex: '^.{1,3}$' }], minDigits: 2, minLowercase: 1, requireAlphanumeric: true })).toMatch(/^(?=.*[a-z])(?=(?:.*\d){2}).{3}$/);
  });

  it('a class minimum above the number of places the rule has for that class', () => {
    expect(conflicts({ customRegex: [{ regex: '^[A-Z0-9]{1,4}$' }], minDigits: 6 })).toEqual([
      { requirements: ['minDigits', 'customRegex'], explanation: 'customRegex ^[A-Z0-9]{1,4}$ allows at most 4 digits (0-9), but minDigits needs at least 6' },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^[A-Z][a-z]{3,}\\d{2,}$' }], minUppercase: 2, minLength: 13 })).toEqual([
      { requirements: ['minUppercase', 'customRegex'], explanation: 'customRegex ^[A-Z][a-z]{3,}\\d{2,}$ allows at most 1 uppercase letter (A-Z), but minUppercase needs at least 2' },
    ]);
    expect(found({ customRegex: [{ regex: '^[A-Z][a-z]{3,}\\d{2,}$' }], minUppercase: 1, minLength: 13 })).toMatch(/^[A-Z][a-z]{3,}\d{2,}$/);
  });

  it('what the rules allow together, when each alone would allow more', () => {
    expect(conflicts({ customRegex: [{ regex: '^(?:[A-Z][0-9]+|[A-Z]{5}[a-z]+)$' }, { regex: '^[A-Z0-9]+$' }], minUppercase: 2 })).toEqual([
      {
        requirements: ['minUppercase', 'customRegex'],
        explanation: 'customRegex ^(?:[A-Z][0-9]+|[A-Z]{5}[a-z]+)$ and customRegex ^[A-Z0-9]+$ together allow at most 1 uppercase letter (A-Z), but minUppercase needs at least 2',
      },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^(?:[a-z]{2}|\\d{6})$' }, { regex: '^[0-9]{1,3}$' }] })).toEqual([
      {
        requirements: ['customRegex'],
        explanation: 'with only the characters every rule allows, customRegex ^(?:[a-z]{2}|\\d{6})$ needs at least 6 characters, but customRegex ^[0-9]{1,3}$ allows at most 3',
      },
    ]);
  });

  it("what the rules' own patterns and look-aheads need, added to the class minimums", () => {
    expect(conflicts({ customRegex: [{ regex: '^(?=.*[A-Z]).{8,}$' }, { regex: '^.{4,16}$' }], minDigits: 15, minLowercase: 1 })).toEqual([
      {
        requirements: ['minDigits', 'minLowercase', 'customRegex'],
        explanation: 'minDigits 15 + minLowercase 1 + 1 × [A-Z] from customRegex ^(?=.*[A-Z]).{8,}$ need at least 17 characters together, but customRegex ^.{4,16}$ allows at most 16 characters',
      },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^.{4,16}$' }, { regex: '^[A-Z][a-z]{3,}\\d{2,}$' }], minDigits: 13 })[0]?.requirements).toEqual(['minDigits', 'customRegex']);
    expect(conflicts({ customRegex: [{ regex: '^(?=.*[A-Z]{5}).{1,4}$' }] })).toEqual([
      {
        requirements: ['customRegex'],
        explanation: '5 × [A-Z] from customRegex ^(?=.*[A-Z]{5}).{1,4}$ needs at least 5 characters, but customRegex ^(?=.*[A-Z]{5}).{1,4}$ allows at most 4 characters',
      },
    ]);
    expect(found({ customRegex: [{ regex: '^(?=.*[A-Z]).{8,}$' }, { regex: '^.{4,16}$' }], minDigits: 14, minLowercase: 1 })).toMatch(/^(?=.*[A-Z])(?=.*[a-z])(?=(?:.*\d){14}).{16}$/);
  });

  it('look-aheads that ask for characters the rules do not allow', () => {
    expect(conflicts({ customRegex: [{ regex: '^(?=\\d)[a-z]{2}$' }] })).toEqual([
      { requirements: ['customRegex'], explanation: 'customRegex ^(?=\\d)[a-z]{2}$ can never match anything: what its look-arounds require cannot be built from the characters it allows' },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^(?=.*[!@#]).*$' }, { regex: '^[A-Za-z0-9]+$' }] })).toEqual([
      { requirements: ['customRegex'], explanation: 'customRegex ^(?=.*[!@#]).*$ cannot match any passcode built only from characters that customRegex ^[A-Za-z0-9]+$ also allows' },
    ]);
  });

  it('a rule that matches nothing, or only the empty passcode', () => {
    expect(conflicts({ customRegex: [{ regex: '^[^\\x{0}-\\x{10FFFF}]$' }] })).toEqual([
      { requirements: ['customRegex'], explanation: 'customRegex ^[^\\x{0}-\\x{10FFFF}]$ can never match anything' },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^$' }] })).toEqual([
      { requirements: ['customRegex'], explanation: 'customRegex ^$ only matches an empty passcode, but a policy with customRegex requires a passcode' },
    ]);
  });

  it('reports every conflict it can prove at once', () => {
    const all = conflicts({ customRegex: [{ regex: '^[0-9]{4}$' }], minLength: 8, requireAlphanumeric: true, minComplexChars: 1 });
    expect(all.map((c) => c.requirements)).toEqual([
      ['minLength', 'customRegex'],
      ['requireAlphanumeric', 'customRegex'],
      ['minComplexChars', 'customRegex'],
    ]);
  });

  it('proves small languages impossible by checking every string, and names what takes part', () => {
    expect(conflicts({ customRegex: [{ regex: '^(?:1234|4321|1111)$' }], allowSimple: false, minLength: 4 })).toEqual([
      { requirements: ['allowSimple', 'customRegex'], explanation: 'none of the 3 passcodes that customRegex ^(?:1234|4321|1111)$ can match also satisfies allowSimple (false): each was checked' },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^(?:AB|ab)$' }], minLowercase: 1, minUppercase: 1, minLength: 2 })).toEqual([
      { requirements: ['minLowercase', 'minUppercase', 'customRegex'], explanation: 'none of the 2 passcodes that customRegex ^(?:AB|ab)$ can match also satisfies minLowercase (1) and minUppercase (1): each was checked' },
    ]);
    expect(conflicts({ customRegex: [{ regex: '^(?=ab)[ab]a$' }] })).toEqual([
      { requirements: ['customRegex'], explanation: 'no passcode matches customRegex ^(?=ab)[ab]a$: all 2 strings customRegex ^(?=ab)[ab]a$ can produce were checked' },
    ]);
    // With several rules, the smallest language is enumerated and the others named.
    expect(conflicts({ customRegex: [{ regex: '^(?:12|21|13)$' }, { regex: '^[0-9]*[02468]$' }], allowSimple: false })).toEqual([
      {
        requirements: ['allowSimple', 'customRegex'],
        explanation: 'none of the 3 passcodes that customRegex ^(?:12|21|13)$ can match also satisfies allowSimple (false) and customRegex ^[0-9]*[02468]$: each was checked',
      },
    ]);
  });

  it('proves a conflict even when another rule cannot be evaluated', () => {
    expect(conflicts({ customRegex: [{ regex: '\\bx' }, { regex: '^\\d{4}$' }], minLength: 6 })).toEqual([
      { requirements: ['minLength', 'customRegex'], explanation: 'customRegex ^\\d{4}$ allows at most 4 characters, but minLength needs at least 6' },
    ]);
  });
});

describe('findExamplePasscode with customRegex: search', () => {
  it.each(REGEX_POOL.map((rule) => [rule.regex, rule] as const))('finds a passcode for %s alone', (_, rule) => {
    found({ customRegex: [rule] });
  });

  it('finds passcodes for rules that demand structure', () => {
    expect(found({ customRegex: [{ regex: '^[0-9]{4}$' }], allowSimple: false })).toMatch(/^[0-9]{4}$/);
    expect(found({ customRegex: [{ regex: '^[A-Z][a-z]{3,}\\d{2,}$' }], allowSimple: false, minLength: 10 })).toMatch(/^[A-Z][a-z]{3,}\d{2,}$/);
    expect(found({ customRegex: [{ regex: '^(\\d)\\1[a-z]{2}$' }], allowSimple: false })).toMatch(/^(\d)\1[a-z]{2}$/);
  });

  it('finds passcodes for look-ahead checklists', () => {
    found({ customRegex: [{ regex: '^(?=.*[A-Z]{5})(?=.*\\d{5}).{8,}$' }], minComplexChars: 4 });
    found({ customRegex: [{ regex: '^(?=(?:[^0-9]*[0-9]){2})(?=(?:[^A-Z]*[A-Z]){1}).*$' }], minLength: 6 });
    found({ customRegex: [{ regex: '^(?=.*[A-Z]).{8,}$' }, { regex: '^[A-Za-z0-9!@#$%]{6,32}$' }], minComplexChars: 4, minDigits: 3, allowSimple: false });
  });

  it('finds passcodes for the combined-rules shape of a lone payload', () => {
    found({ customRegex: [{ regex: '^(?=(?:^(?=.*[A-Z]).{8,}$)$)(?=(?:^[A-Za-z0-9]+$)$).*$' }], minDigits: 2 });
  });

  it('respects case-insensitive rules and non-ASCII alphabets', () => {
    expect(found({ customRegex: [{ regex: '(?i)^[a-z0-9]{6,}$' }], minUppercase: 2, minLowercase: 2 })).toMatch(/^[A-Za-z0-9]{6,}$/);
    expect(found({ customRegex: [{ regex: '^[\\x{4e00}-\\x{9fff}]{4,}$' }], requireAlphanumeric: true })).toMatch(/^[\u4e00-\u9fff]{4}$/u);
  });

  it('says "unknown", with the reason, when a rule cannot be evaluated', () => {
    const result = findExamplePasscode({ customRegex: [{ regex: '\\bx' }, { regex: '^[0-9]{2,}$' }] });
    expect(result).toEqual({
      kind: 'unknown',
      reason: "customRegex \\bx cannot be evaluated: word boundary \\b is not supported (ICU's word rules differ from JavaScript's)",
    });
  });

  it('says "unknown" when a compliant passcode would be too long to evaluate', () => {
    expect(findExamplePasscode({ customRegex: [{ regex: '^.{1100,}$' }] })).toEqual({
      kind: 'unknown',
      reason: 'a compliant passcode needs at least 1100 characters, and lockwarden evaluates customRegex up to 1024',
    });
  });

  it('says "unknown" when the search fails and nothing is proven', () => {
    const result = findExamplePasscode({ customRegex: [{ regex: '^(?=.*a)(?!.*a).+$' }] });
    expect(result).toEqual({
      kind: 'unknown',
      reason: 'no passcode matching customRegex ^(?=.*a)(?!.*a).+$ and the other requirements was found among 20000 candidates, and no conflict could be proven',
    });
  });
});

// randexp's typings declare an ES default export; the CommonJS module exports the class itself.
const RandExp = randexpModule as unknown as typeof randexpModule.default;

/** A seeded generator of strings from a pattern, independent of lockwarden's own analysis. */
function randexpSamples(source: string, count: number): string[] {
  let generator: InstanceType<typeof RandExp>;
  try {
    generator = new RandExp(source);
  } catch {
    return [];
  }
  let state = 12345;
  generator.randInt = (a: number, b: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return a + (state % (b - a + 1));
  };
  generator.max = 12;
  return Array.from({ length: count }, () => generator.gen());
}

function isActive(req: PasscodeRequirements, key: RequirementKey): boolean {
  const value = req[key];
  if (key === 'allowSimple') return value === false;
  if (key === 'customRegex') return (req.customRegex?.length ?? 0) > 0;
  return value === true || (typeof value === 'number' && value > 0);
}

describe('findExamplePasscode: properties', () => {
  it('draws its independent evidence from real samples of the rules', () => {
    const samples = randexpSamples('^[0-9]{4}$', 20);
    expect(samples).toHaveLength(20);
    for (const sample of samples) expect(sample).toMatch(/^[0-9]{4}$/);
    expect(new Set(samples).size).toBeGreaterThan(10);
  });

  it('finds a passcode that complies, proves a conflict, or says honestly that it does not know', () => {
    const outcomes = { found: 0, impossible: 0, unknown: 0 };
    fc.assert(fc.property(arbRequirements, fc.array(fc.string({ maxLength: 10 }), { maxLength: 20 }), (req, strings) => {
      const result: ExampleResult = findExamplePasscode(req);
      outcomes[result.kind]++;
      if (result.kind === 'found') {
        const check = checkPasscode(result.passcode, req);
        expect(check.complies).toBe(true);
        expect(check.notChecked.some((f) => f.requirement === 'customRegex')).toBe(false);
      } else if (result.kind === 'impossible') {
        expect(result.conflicts.length).toBeGreaterThan(0);
        for (const conflict of result.conflicts) {
          // Without customRegex every policy has a solution, so it takes part in every conflict.
          expect(conflict.requirements).toContain('customRegex');
          for (const key of conflict.requirements) expect(isActive(req, key), key).toBe(true);
          expect(conflict.explanation.length).toBeGreaterThan(0);
        }
        // Independent evidence: nothing drawn from the rules themselves, nor arbitrary text, complies.
        const samples = (req.customRegex ?? []).flatMap((rule) => randexpSamples(rule.regex, 40));
        for (const candidate of [...samples, ...strings]) expect(checkPasscode(candidate, req).complies, candidate).toBe(false);
      } else {
        expect(result.reason.length).toBeGreaterThan(0);
      }
    }), { numRuns: 300 });
    expect(outcomes.found).toBeGreaterThan(0);
    expect(outcomes.impossible).toBeGreaterThan(0);
  });

  it('is deterministic', () => {
    fc.assert(fc.property(arbRequirements, (req) => {
      expect(findExamplePasscode(req)).toEqual(findExamplePasscode(structuredClone(req)));
    }), { numRuns: 100 });
  });
});

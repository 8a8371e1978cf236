// fast-check arbitraries for canonical passcode requirements, shared by the policy engine's
// property tests (check, example, merge, compile, parse round trips).
import fc from 'fast-check';
import { NUMERIC_RANGES } from '../../src/policy/model.ts';
import type { CustomRegexRule, NumericRequirementKey, PasscodeRequirements } from '../../src/policy/model.ts';

/**
 * Realistic customRegex rules in ICU syntax, as admins write them: look-ahead checklists, allowed
 * alphabets, PIN shapes, ICU-only spellings (\A, \z, [:alpha:], possessive at the end), the shape
 * lockwarden itself generates for per-class minimums, and a few that conflict with common settings.
 */
export const REGEX_POOL: readonly CustomRegexRule[] = [
  { regex: '^(?=.*[A-Z]).{8,}$', description: { default: 'At least 8 characters, one of them uppercase' } },
  { regex: '^[A-Za-z0-9!@#$%]{6,32}$', description: { default: '6 to 32 letters, digits or !@#$%' } },
  { regex: '^(?=.*\\d)(?=.*[a-z])(?=.*[A-Z]).{8,64}$' },
  { regex: '^(?=.*[!@#$%^&*]).*$', description: { default: 'A symbol', 'fr-FR': 'Un symbole' } },
  { regex: '^[0-9]{4}$', description: { default: 'Four digits' } },
  { regex: '^\\d{6}$' },
  { regex: '^[a-z]+$' },
  { regex: '^.{4,16}$' },
  { regex: '^(?!.*(.)\\1\\1).{6,}$', description: { default: 'No character three times in a row' } },
  { regex: '\\A[[:alpha:][:digit:]]{8,}\\z' },
  { regex: '^\\p{L}[\\p{L}\\p{N}]{5,}$' },
  { regex: '^[^\\s]{8,}$' },
  { regex: '^[A-Z][a-z]{3,}\\d{2,}$' },
  { regex: '^(?=(?:\\D*\\d){2}).*$', description: { default: 'At least 2 digits' } },
  { regex: '^[A-Za-z]++$' },
  { regex: '(?i)^[a-z0-9]{6,}$' },
];

const arbRule: fc.Arbitrary<CustomRegexRule> = fc.constantFrom(...REGEX_POOL);

/** One to three distinct rules, sorted by regex as model.ts keeps them. */
export const arbCustomRegex: fc.Arbitrary<CustomRegexRule[]> = fc
  .uniqueArray(arbRule, { minLength: 1, maxLength: 3, selector: (rule) => rule.regex })
  .map((rules) => [...rules].sort((a, b) => (a.regex < b.regex ? -1 : a.regex > b.regex ? 1 : 0)));

function arbInRange(key: NumericRequirementKey): fc.Arbitrary<number> {
  const { min, max } = NUMERIC_RANGES[key];
  return fc.integer({ min, max });
}

const scalarFields = {
  forcePIN: fc.boolean(),
  allowSimple: fc.boolean(),
  minLength: arbInRange('minLength'),
  requireAlphanumeric: fc.boolean(),
  minComplexChars: arbInRange('minComplexChars'),
  minDigits: arbInRange('minDigits'),
  minLowercase: arbInRange('minLowercase'),
  minUppercase: arbInRange('minUppercase'),
  maxFailedAttempts: arbInRange('maxFailedAttempts'),
  minutesUntilFailedLoginReset: arbInRange('minutesUntilFailedLoginReset'),
  maxInactivity: arbInRange('maxInactivity'),
  maxGracePeriod: arbInRange('maxGracePeriod'),
  maxPINAgeInDays: arbInRange('maxPINAgeInDays'),
  pinHistory: arbInRange('pinHistory'),
  changeAtNextAuth: fc.boolean(),
};

/** Any valid canonical requirements without customRegex; every key may be absent. */
export const arbRequirementsWithoutRegex: fc.Arbitrary<PasscodeRequirements> = fc.record(scalarFields, { requiredKeys: [] });

/** Any valid canonical requirements; every key may be absent, customRegex drawn from REGEX_POOL. */
export const arbRequirements: fc.Arbitrary<PasscodeRequirements> = fc.record(
  { ...scalarFields, customRegex: arbCustomRegex },
  { requiredKeys: [] },
);

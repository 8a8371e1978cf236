// Does one passcode satisfy a policy? Only what the passcode's text can show is decided here;
// what depends on the device or its history is listed as not checked, with the reason.
// Messages are written for an IT admin and never contain the passcode: it may be a real secret.

import { REQUIREMENT_KEYS } from './model.ts';
import type { CustomRegexRule, PasscodeRequirements, RequirementKey } from './model.ts';
import { MAX_EVALUATED_PASSCODE_LENGTH, compileCustomRegex, wholePasscodeMatcher } from './icu-regex.ts';
import { simplePasscodeKind } from './simple-passcode.ts';
import type { SimpleKind } from './simple-passcode.ts';

export interface CheckFinding {
  requirement: RequirementKey;
  message: string;
}

export interface PasscodeCheck {
  /** No failures. `notChecked` lists what this verdict does not cover; show it alongside. */
  complies: boolean;
  /** In the order of REQUIREMENT_KEYS (customRegex rules in policy order). */
  failures: CheckFinding[];
  /** Requirements the passcode's text cannot show, and customRegex rules that cannot be evaluated. */
  notChecked: CheckFinding[];
}

/**
 * Checks a passcode against a policy's requirements.
 * - Lengths and counts are in Unicode code points.
 * - An empty passcode is "no passcode": it fails with one finding ("a passcode is required")
 *   when forcePIN is true or any content requirement is set, and complies otherwise.
 * - requireAlphanumeric: at least one letter (\p{L}); minComplexChars: characters that are neither
 *   letters (\p{L}) nor digits (\p{N}); minDigits, minLowercase, minUppercase: ASCII 0-9, a-z, A-Z.
 * - allowSimple=false: the passcode must not be simple (simple-passcode.ts).
 * - customRegex: every rule must match the whole passcode; a rule JavaScript cannot evaluate is
 *   "not checked", never a pass and never a failure.
 */
export function checkPasscode(passcode: string, req: PasscodeRequirements): PasscodeCheck {
  return passcodeChecker(req)(passcode);
}

/** Prepares `req` once (customRegex compiled) for checking many passcodes against it. */
export function passcodeChecker(req: PasscodeRequirements): (passcode: string) => PasscodeCheck {
  const rules = (req.customRegex ?? []).map((rule) => {
    const compiled = compileCustomRegex(rule.regex);
    return compiled.ok
      ? { rule, matches: wholePasscodeMatcher(compiled.regex), refusal: null }
      : { rule, matches: null, refusal: compiled.reason };
  });
  const deviceFindings = deviceDependentFindings(req);
  const contentKeys = contentRequirementKeys(req);

  return (passcode) => {
    const failures: CheckFinding[] = [];
    const notChecked: CheckFinding[] = [];
    const regexNotChecked: CheckFinding[] = [];

    if (passcode === '') {
      const required = req.forcePIN === true ? ['forcePIN' as const, ...contentKeys] : contentKeys;
      const [first] = required;
      if (first !== undefined) {
        failures.push({
          requirement: first,
          message: `a passcode is required, but none was given (required by ${required.join(', ')})`,
        });
      }
      return finish(failures, deviceFindings);
    }

    const stats = countCharacters(passcode);
    for (const key of REQUIREMENT_KEYS) {
      switch (key) {
        case 'allowSimple': {
          const kind = req.allowSimple === false ? simplePasscodeKind(passcode) : null;
          if (kind) failures.push({ requirement: key, message: `allowSimple is false: simple passcodes are not allowed, and this one ${SIMPLE_KIND_TEXT[kind]}` });
          break;
        }
        case 'minLength':
          if (req.minLength !== undefined && stats.length < req.minLength) {
            failures.push({ requirement: key, message: `minLength: needs at least ${count(req.minLength, 'character')}, has ${stats.length}` });
          }
          break;
        case 'requireAlphanumeric':
          if (req.requireAlphanumeric === true && stats.letters === 0) {
            failures.push({ requirement: key, message: 'requireAlphanumeric: needs at least 1 letter, has 0' });
          }
          break;
        case 'minComplexChars':
          if (req.minComplexChars !== undefined && stats.complex < req.minComplexChars) {
            const n = req.minComplexChars;
            failures.push({
              requirement: key,
              message: `minComplexChars: needs at least ${count(n, 'character')} that ${n === 1 ? 'is' : 'are'} neither a letter nor a digit, has ${stats.complex}`,
            });
          }
          break;
        case 'minDigits':
          if (req.minDigits !== undefined && stats.digits < req.minDigits) {
            failures.push({ requirement: key, message: `minDigits: needs at least ${count(req.minDigits, 'digit')} (0-9), has ${stats.digits}` });
          }
          break;
        case 'minLowercase':
          if (req.minLowercase !== undefined && stats.lowercase < req.minLowercase) {
            failures.push({ requirement: key, message: `minLowercase: needs at least ${count(req.minLowercase, 'lowercase letter')} (a-z), has ${stats.lowercase}` });
          }
          break;
        case 'minUppercase':
          if (req.minUppercase !== undefined && stats.uppercase < req.minUppercase) {
            failures.push({ requirement: key, message: `minUppercase: needs at least ${count(req.minUppercase, 'uppercase letter')} (A-Z), has ${stats.uppercase}` });
          }
          break;
        case 'customRegex':
          for (const { rule, matches, refusal } of rules) {
            if (matches === null) {
              regexNotChecked.push({ requirement: key, message: `customRegex ${rule.regex} was not evaluated: ${refusal}` });
            } else if (stats.length > MAX_EVALUATED_PASSCODE_LENGTH) {
              regexNotChecked.push({
                requirement: key,
                message: `customRegex ${rule.regex} was not evaluated: the passcode has ${stats.length} characters, and lockwarden evaluates customRegex up to ${MAX_EVALUATED_PASSCODE_LENGTH}`,
              });
            } else if (!matches(passcode)) {
              failures.push({ requirement: key, message: `customRegex: must match ${rule.regex} as a whole${describeRule(rule)}, and does not` });
            }
          }
          break;
        default:
          break;
      }
    }
    notChecked.push(...deviceFindings, ...regexNotChecked);
    return finish(failures, notChecked);
  };
}

function finish(failures: CheckFinding[], notChecked: readonly CheckFinding[]): PasscodeCheck {
  return { complies: failures.length === 0, failures, notChecked: [...notChecked] };
}

// No examples here ("like 1234"): an example could be the very passcode being checked.
const SIMPLE_KIND_TEXT: Record<SimpleKind, string> = {
  single: 'is a single character',
  repeated: 'repeats one character',
  ascending: 'rises by one character code at every step',
  descending: 'falls by one character code at every step',
};

/** The requirements on the passcode's content that make an empty passcode fail. */
function contentRequirementKeys(req: PasscodeRequirements): RequirementKey[] {
  const set: Partial<Record<RequirementKey, boolean>> = {
    allowSimple: req.allowSimple === false,
    minLength: (req.minLength ?? 0) > 0,
    requireAlphanumeric: req.requireAlphanumeric === true,
    minComplexChars: (req.minComplexChars ?? 0) > 0,
    minDigits: (req.minDigits ?? 0) > 0,
    minLowercase: (req.minLowercase ?? 0) > 0,
    minUppercase: (req.minUppercase ?? 0) > 0,
    customRegex: (req.customRegex?.length ?? 0) > 0,
  };
  return REQUIREMENT_KEYS.filter((key) => set[key] === true);
}

/** Requirements enforced by the device over time; the passcode's text says nothing about them. */
function deviceDependentFindings(req: PasscodeRequirements): CheckFinding[] {
  const findings: CheckFinding[] = [];
  const add = (requirement: RequirementKey, message: string) => findings.push({ requirement, message });
  if (req.maxFailedAttempts !== undefined) {
    add('maxFailedAttempts', `maxFailedAttempts (${req.maxFailedAttempts}): the device counts wrong entries; the passcode itself cannot show this`);
  }
  if (req.minutesUntilFailedLoginReset !== undefined) {
    add('minutesUntilFailedLoginReset', `minutesUntilFailedLoginReset (${req.minutesUntilFailedLoginReset} minutes): depends on the device's history of failed logins`);
  }
  if (req.maxInactivity !== undefined) {
    add('maxInactivity', `maxInactivity (${req.maxInactivity} minutes): auto-lock is a device setting, not a property of the passcode`);
  }
  if (req.maxGracePeriod !== undefined) {
    add('maxGracePeriod', `maxGracePeriod (${req.maxGracePeriod} minutes): how soon a locked device asks for the passcode is a device setting`);
  }
  if (req.maxPINAgeInDays !== undefined) {
    add('maxPINAgeInDays', `maxPINAgeInDays (${req.maxPINAgeInDays} days): depends on when the passcode was set, which only the device knows`);
  }
  if (req.pinHistory !== undefined) {
    add('pinHistory', `pinHistory (${req.pinHistory}): depends on the passcodes used before on the device`);
  }
  if (req.changeAtNextAuth === true) {
    add('changeAtNextAuth', 'changeAtNextAuth: the device asks for a new passcode at the next authentication; the passcode itself cannot show this');
  }
  return findings;
}

interface CharacterCounts {
  length: number;
  letters: number;
  complex: number;
  digits: number;
  lowercase: number;
  uppercase: number;
}

const LETTER = /^\p{L}$/u;
const NUMBER = /^\p{N}$/u;

function countCharacters(passcode: string): CharacterCounts {
  const counts: CharacterCounts = { length: 0, letters: 0, complex: 0, digits: 0, lowercase: 0, uppercase: 0 };
  for (const ch of passcode) {
    counts.length++;
    if (ch >= '0' && ch <= '9') counts.digits++;
    else if (ch >= 'a' && ch <= 'z') counts.lowercase++;
    else if (ch >= 'A' && ch <= 'Z') counts.uppercase++;
    if (LETTER.test(ch)) counts.letters++;
    else if (!NUMBER.test(ch)) counts.complex++;
  }
  return counts;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The rule's own description, in the default language if it has one. */
function describeRule(rule: CustomRegexRule): string {
  const descriptions = rule.description ?? {};
  const text = descriptions['default'] ?? descriptions['en'] ?? descriptions['en-US'] ?? Object.values(descriptions)[0];
  return text === undefined ? '' : ` (${JSON.stringify(text)})`;
}

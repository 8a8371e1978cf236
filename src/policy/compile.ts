// Compiles the canonical policy for one platform and enrollment type: which Apple keys to send,
// what the device will then really enforce, and — for every requirement — how (decision 4: a
// policy is never silently weaker than written; every gap becomes an explained line).
import { classMinimumsRule, describeClassMinimums, hasClassMinimums } from './class-regex.ts';
import { atLeastAsStrict, normalizeRegexRules } from './merge.ts';
import { toAppleRegex } from './profile-content.ts';
import { PLATFORM_NAMES, REQUIREMENT_KEYS } from './model.ts';
import type { CompileTarget, CustomRegexRule, PasscodeRequirements, RequirementKey } from './model.ts';
import { PLATFORM_RULES, USER_ENROLLMENT_FORCED, compareVersions } from './platform-rules.ts';
import type { ApplePayloadKey, PlatformRules } from './platform-rules.ts';

export type EnforcementStatus = 'enforced' | 'capped' | 'approximated' | 'forced' | 'not-enforceable';

export interface EnforcementLine {
  requirement: RequirementKey;
  /** The value the policy asks for; undefined for values the platform forces unasked. */
  written: unknown;
  status: EnforcementStatus;
  /** The Apple keys sent for this requirement. */
  keys: Record<string, unknown>;
  /** One sentence for an administrator. */
  detail: string;
}

export interface CompiledPolicy {
  target: CompileTarget;
  /**
   * Passcode payload dictionaries (Apple keys only; the envelope adds PayloadType, UUIDs…).
   * Usually one; each further customRegex travels in a payload of its own, as macOS applies
   * every passcode payload of a profile.
   */
  payloads: Record<string, unknown>[];
  /** What the device enforces, in canonical terms. */
  effective: PasscodeRequirements;
  lines: EnforcementLine[];
}

export type CompileOutcome = { ok: true; compiled: CompiledPolicy } | { ok: false; reason: string };

/** Apple's key order in the payload schema; compiled payloads list keys in this order. */
const APPLE_KEY_ORDER: readonly ApplePayloadKey[] = [
  'allowSimple', 'forcePIN', 'maxFailedAttempts', 'maxInactivity', 'maxPINAgeInDays', 'minComplexChars',
  'minLength', 'requireAlphanumeric', 'pinHistory', 'maxGracePeriod', 'minutesUntilFailedLoginReset',
  'changeAtNextAuth', 'customRegex',
];

/** Requirements that are one Apple key of the same name and value. */
const DIRECT_KEYS = new Set<RequirementKey>([
  'forcePIN', 'allowSimple', 'minLength', 'requireAlphanumeric', 'minComplexChars', 'maxFailedAttempts',
  'minutesUntilFailedLoginReset', 'maxGracePeriod', 'maxPINAgeInDays', 'pinHistory', 'changeAtNextAuth',
]);

const CLASS_KEYS = ['minDigits', 'minLowercase', 'minUppercase'] as const;

export function targetName(target: CompileTarget): string {
  const name = PLATFORM_NAMES[target.platform];
  const version = target.osVersion ? ` ${target.osVersion}` : '';
  if (target.enrollment === 'user') return `${name}${version} (User Enrollment)`;
  if (target.enrollment === 'shared-ipad') return `${name}${version} (Shared iPad)`;
  return `${name}${version}`;
}

/** Why the payload cannot go to this target at all, or undefined when it can. */
function refusal(target: CompileTarget): string | undefined {
  const name = PLATFORM_NAMES[target.platform];
  if (target.platform === 'tvos') {
    return 'tvOS does not support the Passcode payload (Apple\'s schema: introduced n/a), and Apple TV has no MDM passcode policy';
  }
  const rules = PLATFORM_RULES[target.platform];
  if (target.osVersion && compareVersions(target.osVersion, rules.introduced) < 0) {
    return `${name} ${target.osVersion} predates the Passcode payload (introduced in ${name} ${rules.introduced})`;
  }
  if (target.enrollment === 'shared-ipad') {
    return target.platform === 'ipados' || target.platform === 'ios'
      ? 'the Passcode payload is forbidden on Shared iPad (Apple\'s schema: sharedipad mode forbidden)'
      : `Shared iPad is an iPadOS mode; ${name} has no Shared iPad enrollment`;
  }
  if (target.enrollment === 'user') {
    if (rules.userEnrollment === 'forbidden') return `the Passcode payload is forbidden under User Enrollment on ${name}`;
    if (rules.userEnrollment === 'not-available') return `${name} has no User Enrollment`;
  }
  return undefined;
}

function showValue(value: unknown): string {
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Why a key cannot be enforced on this target, or undefined when it can. */
function unsupportedBecause(key: ApplePayloadKey, rules: PlatformRules, target: CompileTarget): string | undefined {
  const name = PLATFORM_NAMES[target.platform];
  if (rules.unsupported.includes(key)) return `${name} does not support ${key} (Apple's schema: introduced n/a)`;
  const since = rules.keyIntroduced[key];
  if (since && target.osVersion && compareVersions(target.osVersion, since) < 0) {
    return `${key} needs ${name} ${since} or later, and the target is ${name} ${target.osVersion}`;
  }
  return undefined;
}

function compileForDeviceEnrollment(req: PasscodeRequirements, target: CompileTarget, rules: PlatformRules): CompiledPolicy {
  const name = PLATFORM_NAMES[target.platform];
  const sent: Partial<Record<ApplePayloadKey, unknown>> = {};
  const effective: PasscodeRequirements = {};
  const lines: EnforcementLine[] = [];
  const regexRules: CustomRegexRule[] = [];
  const regexBlocked = unsupportedBecause('customRegex', rules, target);
  const line = (requirement: RequirementKey, status: EnforcementStatus, keys: Record<string, unknown>, detail: string) =>
    lines.push({ requirement, written: req[requirement], status, keys, detail });

  for (const key of REQUIREMENT_KEYS) {
    const value = req[key];
    if (value === undefined) continue;
    if (DIRECT_KEYS.has(key)) {
      const appleKey = key as ApplePayloadKey;
      const blocked = unsupportedBecause(appleKey, rules, target);
      if (blocked && !atLeastAsStrict(key, {}, req)) {
        line(key, 'not-enforceable', {}, `not enforceable: ${blocked}`);
        continue;
      }
      if (blocked) {
        // requireAlphanumeric=false and the like demand nothing, so there is nothing to lose.
        line(key, 'enforced', {}, `nothing to enforce: ${key}=${showValue(value)} demands nothing (${blocked})`);
        continue;
      }
      sent[appleKey] = value;
      (effective as Record<string, unknown>)[key] = value;
      const consequence = key === 'maxFailedAttempts' ? ` (after that many failures ${name} ${rules.onFailedAttempts})` : '';
      line(key, 'enforced', { [key]: value }, `enforced as ${key}=${showValue(value)}${consequence}`);
    } else if (key === 'maxInactivity') {
      const minutes = value as number;
      const capped = Math.min(minutes, rules.inactivityCap);
      sent.maxInactivity = capped;
      effective.maxInactivity = capped;
      if (capped < minutes) {
        line(key, 'capped', { maxInactivity: capped }, `capped to maxInactivity=${capped}: ${name} allows at most ${rules.inactivityCap} minutes (stricter than written)`);
      } else {
        line(key, 'enforced', { maxInactivity: capped }, `enforced as maxInactivity=${capped}`);
      }
    } else if (key === 'customRegex') {
      if (regexBlocked) {
        line(key, 'not-enforceable', {}, `not enforceable: ${regexBlocked}`);
        continue;
      }
      const rules = value as CustomRegexRule[];
      regexRules.push(...rules);
      effective.customRegex = normalizeRegexRules(rules);
      line(key, 'enforced', { customRegex: rules.map((r) => r.regex) }, `enforced as customRegex (${rules.length} rule${rules.length === 1 ? '' : 's'}; ${name} matches each against the whole passcode)`);
    }
  }

  // Per-class minimums: exact on macOS 14+ through a generated customRegex, approximated elsewhere.
  const classes = { minDigits: req.minDigits, minLowercase: req.minLowercase, minUppercase: req.minUppercase };
  if (hasClassMinimums(classes)) {
    const present = CLASS_KEYS.filter((k) => (req[k] ?? 0) > 0);
    if (!regexBlocked) {
      const rule = classMinimumsRule(classes);
      regexRules.push(rule);
      for (const k of present) {
        effective[k] = req[k];
        line(k, 'enforced', { customRegex: rule.regex }, `enforced as a generated customRegex: ${describeClassMinimums({ [k]: req[k] })}`);
      }
    } else {
      const letterBlocked = unsupportedBecause('requireAlphanumeric', rules, target);
      for (const k of present) {
        const count = req[k]!;
        if (k === 'minDigits') {
          line(k, 'not-enforceable', {}, `not enforceable on ${name}: Apple's payload cannot count digits; only a customRegex (macOS 14+) can`);
        } else if (letterBlocked) {
          line(k, 'not-enforceable', {}, `not enforceable on ${name}: it supports neither requireAlphanumeric nor customRegex`);
        } else {
          sent.requireAlphanumeric = true;
          effective.requireAlphanumeric = true;
          raiseWrittenAlphanumeric(lines, k);
          const what = k === 'minLowercase' ? 'lowercase' : 'uppercase';
          line(k, 'approximated', { requireAlphanumeric: true }, `approximated by requireAlphanumeric=true: at least one letter, not ${count} ${what} letter${count === 1 ? '' : 's'} (exact counts need customRegex, macOS 14+)`);
        }
      }
    }
  }

  const ordered: Record<string, unknown> = {};
  for (const key of APPLE_KEY_ORDER) if (sent[key] !== undefined) ordered[key] = sent[key];
  const [first, ...rest] = regexRules.map(toAppleRegex);
  if (first) ordered.customRegex = first;
  return { target, payloads: [ordered, ...rest.map((customRegex) => ({ customRegex }))], effective, lines };
}

/** A written requireAlphanumeric=false yields to a letter minimum; its line must say so. */
function raiseWrittenAlphanumeric(lines: EnforcementLine[], because: RequirementKey): void {
  const written = lines.find((l) => l.requirement === 'requireAlphanumeric');
  if (written && written.written === false && written.status === 'enforced') {
    written.status = 'forced';
    written.keys = { requireAlphanumeric: true };
    written.detail = `sent as requireAlphanumeric=true, because ${because} needs letters (stricter than written)`;
  }
}


function compileForUserEnrollment(req: PasscodeRequirements, target: CompileTarget, rules: PlatformRules): CompiledPolicy {
  const name = PLATFORM_NAMES[target.platform];
  const lines: EnforcementLine[] = [];
  const payload: Record<string, unknown> = { allowSimple: false, forcePIN: true };
  const forced: Record<string, boolean | number> = USER_ENROLLMENT_FORCED;
  for (const key of REQUIREMENT_KEYS) {
    const value = req[key];
    if (key in forced) {
      const forcedValue = forced[key]!;
      const keys = { [key]: forcedValue };
      if (value === forcedValue) lines.push({ requirement: key, written: value, status: 'enforced', keys, detail: `enforced as ${key}=${forcedValue} (User Enrollment forces it)` });
      else if (key === 'minLength' && typeof value === 'number' && value > USER_ENROLLMENT_FORCED.minLength) {
        lines.push({ requirement: key, written: value, status: 'not-enforceable', keys, detail: `not enforceable under User Enrollment: ${name} ignores minLength and forces exactly ${forcedValue}` });
      } else {
        lines.push({ requirement: key, written: value, status: 'forced', keys, detail: `forced to ${key}=${forcedValue} by User Enrollment${value === undefined ? '' : ' (stricter than written)'}` });
      }
      continue;
    }
    if (value === undefined) continue;
    if (key === 'maxInactivity') {
      // The key's presence removes "Never" from Auto-Lock; its value is ignored (Apple's schema).
      payload.maxInactivity = Math.min(value as number, rules.inactivityCap);
      lines.push({ requirement: key, written: value, status: 'approximated', keys: { maxInactivity: payload.maxInactivity }, detail: 'approximated: the key removes "Never" from Auto-Lock, but User Enrollment ignores its minutes' });
      continue;
    }
    lines.push({ requirement: key, written: value, status: 'not-enforceable', keys: {}, detail: `not enforceable under User Enrollment: ${name} ignores every Passcode key except the forced ones` });
  }
  payload.minLength = USER_ENROLLMENT_FORCED.minLength;
  const ordered: Record<string, unknown> = {};
  for (const key of APPLE_KEY_ORDER) if (payload[key] !== undefined) ordered[key] = payload[key];
  return { target, payloads: [ordered], effective: { ...USER_ENROLLMENT_FORCED }, lines };
}

export function compilePolicy(req: PasscodeRequirements, target: CompileTarget): CompileOutcome {
  const refused = refusal(target);
  if (refused || target.platform === 'tvos') return { ok: false, reason: refused ?? 'tvOS is not supported' };
  const rules = PLATFORM_RULES[target.platform];
  const compiled = target.enrollment === 'user'
    ? compileForUserEnrollment(req, target, rules)
    : compileForDeviceEnrollment(req, target, rules);
  return { ok: true, compiled };
}

// Several policies on one device: strictest wins, key by key (decision 6).
import { REQUIREMENT_KEYS } from './model.ts';
import type { CustomRegexRule, PasscodeRequirements, RequirementKey } from './model.ts';

/**
 * How each key orders strictness. DDM's combine types say the same for every key but two:
 * `PasscodeReuseLimit` and `FailedAttemptsResetInMinutes` are `number-min` in Apple's schema,
 * yet a longer history and a longer lock-out are the stricter settings, so they take the larger.
 */
export const STRICTER: Record<Exclude<RequirementKey, 'customRegex'>, 'true' | 'false' | 'larger' | 'smaller'> = {
  forcePIN: 'true',
  allowSimple: 'false',
  minLength: 'larger',
  requireAlphanumeric: 'true',
  minComplexChars: 'larger',
  minDigits: 'larger',
  minLowercase: 'larger',
  minUppercase: 'larger',
  maxFailedAttempts: 'smaller',
  minutesUntilFailedLoginReset: 'larger',
  maxInactivity: 'smaller',
  maxGracePeriod: 'smaller',
  maxPINAgeInDays: 'smaller',
  pinHistory: 'larger',
  changeAtNextAuth: 'true',
};

type ScalarKey = keyof typeof STRICTER;

/** What an absent key demands: Apple's defaults (allowSimple true, others false), no minimum, no maximum. */
const ABSENT = { true: false, false: true, larger: 0, smaller: Infinity } as const;

/** The stricter of two present values of one key. */
export function stricterValue<K extends ScalarKey>(key: K, a: NonNullable<PasscodeRequirements[K]>, b: NonNullable<PasscodeRequirements[K]>): NonNullable<PasscodeRequirements[K]> {
  switch (STRICTER[key]) {
    case 'true': return (a || b) as NonNullable<PasscodeRequirements[K]>;
    case 'false': return (a && b) as NonNullable<PasscodeRequirements[K]>;
    case 'larger': return ((a as number) >= (b as number) ? a : b);
    case 'smaller': return ((a as number) <= (b as number) ? a : b);
  }
}

/** True when `candidate` demands at least what `baseline` demands for this key (absent demands nothing). */
export function atLeastAsStrict(key: RequirementKey, candidate: PasscodeRequirements, baseline: PasscodeRequirements): boolean {
  if (key === 'customRegex') {
    const have = new Set((candidate.customRegex ?? []).map((r) => r.regex));
    return (baseline.customRegex ?? []).every((r) => have.has(r.regex));
  }
  const base = baseline[key] ?? ABSENT[STRICTER[key]];
  const cand = candidate[key] ?? ABSENT[STRICTER[key]];
  return stricterValue(key, cand as never, base as never) === cand;
}

function sameRules(a: CustomRegexRule, b: CustomRegexRule): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Puts regex rules in canonical order: sorted by regex, one rule per regex. When two inputs give
 * the same regex different descriptions, descriptions merge per language, the smaller text winning,
 * so the result does not depend on input order.
 */
export function normalizeRegexRules(rules: readonly CustomRegexRule[]): CustomRegexRule[] {
  const byRegex = new Map<string, CustomRegexRule>();
  for (const rule of rules) {
    const seen = byRegex.get(rule.regex);
    if (!seen) {
      byRegex.set(rule.regex, rule.description ? { regex: rule.regex, description: { ...rule.description } } : { regex: rule.regex });
      continue;
    }
    if (!rule.description) continue;
    const description = { ...(seen.description ?? {}) };
    for (const [language, text] of Object.entries(rule.description)) {
      const current = description[language];
      if (current === undefined || text < current) description[language] = text;
    }
    byRegex.set(rule.regex, { regex: rule.regex, description });
  }
  return [...byRegex.values()]
    .map((rule) => rule.description ? { regex: rule.regex, description: sortKeys(rule.description) } : rule)
    .sort((a, b) => (a.regex < b.regex ? -1 : a.regex > b.regex ? 1 : 0));
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export interface MergeResult {
  requirements: PasscodeRequirements;
  /** For each key in the result, the indexes of the inputs whose value it is. */
  sources: Partial<Record<RequirementKey, number[]>>;
}

export function mergeRequirements(inputs: readonly PasscodeRequirements[]): MergeResult {
  const requirements: PasscodeRequirements = {};
  const sources: MergeResult['sources'] = {};
  for (const key of REQUIREMENT_KEYS) {
    if (key === 'customRegex') {
      const contributing = inputs.flatMap((input, i) => (input.customRegex?.length ? [i] : []));
      if (contributing.length === 0) continue;
      requirements.customRegex = normalizeRegexRules(inputs.flatMap((input) => input.customRegex ?? []));
      sources.customRegex = contributing;
      continue;
    }
    let winner: PasscodeRequirements[typeof key];
    for (const input of inputs) {
      const value = input[key];
      if (value === undefined) continue;
      winner = winner === undefined ? value : stricterValue(key, winner as never, value as never);
    }
    if (winner === undefined) continue;
    (requirements as Record<string, unknown>)[key] = winner;
    sources[key] = inputs.flatMap((input, i) => (input[key] === winner ? [i] : []));
  }
  return { requirements, sources };
}

export function requirementsEqual(a: PasscodeRequirements, b: PasscodeRequirements): boolean {
  return REQUIREMENT_KEYS.every((key) => {
    if (key === 'customRegex') {
      const ra = a.customRegex ?? [];
      const rb = b.customRegex ?? [];
      return ra.length === rb.length && ra.every((rule, i) => sameRules(rule, rb[i]!));
    }
    return a[key] === b[key];
  });
}

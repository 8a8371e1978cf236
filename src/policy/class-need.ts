// What the requirements need: the characters of each class checkPasscode counts, and the
// shortest length they allow (customRegex aside).

import type { PasscodeRequirements, RequirementKey } from './model.ts';
import type { CategorySets } from './code-point-set.ts';

export interface ClassNeed {
  key: RequirementKey;
  count: number;
  category: keyof CategorySets;
  /** "digits (0-9)" and "digit (0-9)", for explanations. */
  noun: string;
  one: string;
  /** Counted towards the characters the classes need together. */
  inSum: boolean;
}

export function classNeeds(req: PasscodeRequirements): ClassNeed[] {
  const lower = req.minLowercase ?? 0;
  const upper = req.minUppercase ?? 0;
  const needs: ClassNeed[] = [];
  if (req.requireAlphanumeric === true) {
    // A lowercase or uppercase minimum already brings a letter.
    needs.push({ key: 'requireAlphanumeric', count: 1, category: 'letters', noun: 'letters', one: 'letter', inSum: lower + upper === 0 });
  }
  const counted: [RequirementKey, number, keyof CategorySets, string, string][] = [
    ['minComplexChars', req.minComplexChars ?? 0, 'complex', 'characters that are neither letters nor digits', 'character that is neither a letter nor a digit'],
    ['minDigits', req.minDigits ?? 0, 'digits', 'digits (0-9)', 'digit (0-9)'],
    ['minLowercase', lower, 'lowercase', 'lowercase letters (a-z)', 'lowercase letter (a-z)'],
    ['minUppercase', upper, 'uppercase', 'uppercase letters (A-Z)', 'uppercase letter (A-Z)'],
  ];
  for (const [key, count, category, noun, one] of counted) {
    if (count > 0) needs.push({ key, count, category, noun, one, inSum: true });
  }
  return needs;
}

/** The shortest length the requirements allow (ignoring customRegex). */
export function minimumLength(req: PasscodeRequirements, needs: readonly ClassNeed[]): number {
  const classes = needs.filter((n) => n.inSum).reduce((sum, n) => sum + n.count, 0);
  const contentSet = req.forcePIN === true || needs.length > 0 || (req.minLength ?? 0) > 0 || req.allowSimple === false || (req.customRegex?.length ?? 0) > 0;
  // Every 1-character passcode is simple, and the empty passcode is none.
  const floor = req.allowSimple === false ? 2 : contentSet ? 1 : 0;
  return Math.max(req.minLength ?? 0, classes, floor);
}

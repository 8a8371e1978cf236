// Per-class minimums (digits, lowercase, uppercase) have no Apple key; on macOS 14+ lockwarden
// enforces them with a customRegex it generates in one fixed shape, and reads that shape back
// on import so a compiled profile round-trips to the policy it came from (decision 4).
import type { CustomRegexRule, PasscodeRequirements } from './model.ts';

export type ClassMinimums = Pick<PasscodeRequirements, 'minDigits' | 'minLowercase' | 'minUppercase'>;

const CLASSES = [
  { key: 'minDigits', set: '0-9', one: 'digit', many: 'digits' },
  { key: 'minLowercase', set: 'a-z', one: 'lowercase letter', many: 'lowercase letters' },
  { key: 'minUppercase', set: 'A-Z', one: 'uppercase letter', many: 'uppercase letters' },
] as const;

export function hasClassMinimums(req: ClassMinimums): boolean {
  return CLASSES.some((c) => (req[c.key] ?? 0) > 0);
}

/** "At least 2 digits and 1 uppercase letter" */
export function describeClassMinimums(req: ClassMinimums): string {
  const parts = CLASSES.filter((c) => (req[c.key] ?? 0) > 0).map((c) => {
    const n = req[c.key]!;
    return `${n} ${n === 1 ? c.one : c.many}`;
  });
  const list = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0] ?? '';
  return `At least ${list}`;
}

/** One lookahead per class, e.g. ^(?=(?:[^0-9]*[0-9]){2})(?=(?:[^A-Z]*[A-Z]){1}).*$ */
export function classMinimumsRule(req: ClassMinimums): CustomRegexRule {
  const lookaheads = CLASSES.filter((c) => (req[c.key] ?? 0) > 0)
    .map((c) => `(?=(?:[^${c.set}]*[${c.set}]){${req[c.key]}})`)
    .join('');
  return { regex: `^${lookaheads}.*$`, description: { default: describeClassMinimums(req) } };
}

const GENERATED_SHAPE = /^\^((?:\(\?=\(\?:\[\^(?:0-9|a-z|A-Z)\]\*\[(?:0-9|a-z|A-Z)\]\)\{\d+\}\))+)\.\*\$$/;
const LOOKAHEAD = /\(\?=\(\?:\[\^(0-9|a-z|A-Z)\]\*\[(0-9|a-z|A-Z)\]\)\{(\d+)\}\)/g;

/** The minimums a regex of the generated shape encodes, or undefined for any other regex. */
export function readClassMinimumsRule(regex: string): ClassMinimums | undefined {
  const shape = GENERATED_SHAPE.exec(regex);
  if (!shape) return undefined;
  const out: ClassMinimums = {};
  let lastIndex = -1;
  for (const [, negated, set, count] of shape[1]!.matchAll(LOOKAHEAD)) {
    const index = CLASSES.findIndex((c) => c.set === set);
    const n = Number(count);
    // Only exactly what classMinimumsRule writes: classes in order, each once, counts ≥ 1.
    if (negated !== set || index <= lastIndex || n < 1 || n > 16) return undefined;
    lastIndex = index;
    out[CLASSES[index]!.key] = n;
  }
  return out;
}

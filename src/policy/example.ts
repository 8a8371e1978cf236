// An example passcode for a policy, or proof that none exists. Without customRegex every policy
// has a solution, built directly. With customRegex, each rule's pattern (its regjsparser AST) is
// analysed: what it consumes bounds the passcode's length, its alphabet and how many characters
// of each class it can hold; look-arounds only constrain further, and what they must match adds
// to what the passcode needs. A requirement outside those bounds is a proven conflict. Otherwise
// the passcode is built directly, or found by enumerating a small language completely, or by a
// seeded search guided by the same analysis; every candidate is confirmed by checkPasscode.

import type { PasscodeRequirements } from './model.ts';
import { passcodeChecker } from './check.ts';
import type { PasscodeCheck } from './check.ts';
import { MAX_EVALUATED_PASSCODE_LENGTH, compileCustomRegex } from './icu-regex.ts';
import { CodePointSet, PRINTABLE_ASCII, VISIBLE, categorySets, codePoints } from './code-point-set.ts';
import { classNeeds, minimumLength } from './class-need.ts';
import type { ClassNeed } from './class-need.ts';
import { analyseRule, combinedSpace } from './regex-analysis.ts';
import type { RuleAnalysis } from './regex-analysis.ts';
import { describeRules, exhaustiveCandidates, exhaustiveConflict, proveConflicts } from './conflict-proof.ts';
import type { Conflict } from './conflict-proof.ts';
import { SEARCH_BUDGET, search } from './example-search.ts';

export type { Conflict };
export { SEARCH_BUDGET };

export type ExampleResult =
  | { kind: 'found'; passcode: string }
  | { kind: 'impossible'; conflicts: Conflict[] }
  | { kind: 'unknown'; reason: string };

/**
 * Finds a passcode that complies with `req` (checkPasscode says so, with no customRegex left
 * unevaluated), or proves that none exists and names every requirement in each conflict, or says
 * honestly that neither could be established. Deterministic: the same requirements always give
 * the same answer. The passcode found is the shortest the requirements allow when there is no
 * customRegex (so an empty policy gives the empty passcode, which complies with it).
 */
export function findExamplePasscode(req: PasscodeRequirements): ExampleResult {
  const check = passcodeChecker(req);
  const complies = (candidate: string) => isVerified(check(candidate));
  // With a rule that cannot be evaluated, "passes" means "fails nothing lockwarden can evaluate".
  const passes = (candidate: string) => check(candidate).complies;
  const needs = classNeeds(req);

  const rules = req.customRegex ?? [];
  if (rules.length === 0) {
    const passcode = constructPasscode(needs, minimumLength(req, needs), null);
    if (passcode !== null && complies(passcode)) return { kind: 'found', passcode };
    // Not reachable for valid requirements; kept so a bug shows up as "unknown", not a lie.
    return { kind: 'unknown', reason: 'lockwarden could not build a passcode for these requirements' };
  }

  const analyses: RuleAnalysis[] = [];
  const refused: string[] = [];
  for (const rule of rules) {
    const compiled = compileCustomRegex(rule.regex);
    if (compiled.ok) analyses.push(analyseRule(rule.regex, compiled.regex));
    else refused.push(`customRegex ${rule.regex} cannot be evaluated: ${compiled.reason}`);
  }

  const space = combinedSpace(analyses);
  const conflicts = proveConflicts(req, needs, analyses, space);
  if (conflicts.length > 0) return { kind: 'impossible', conflicts };

  const lengthFloor = Math.max(minimumLength(req, needs), space.min);
  if (lengthFloor > MAX_EVALUATED_PASSCODE_LENGTH) {
    return {
      kind: 'unknown',
      reason: `a compliant passcode needs at least ${lengthFloor} characters, and lockwarden evaluates customRegex up to ${MAX_EVALUATED_PASSCODE_LENGTH}`,
    };
  }
  if (refused.length === 0 && lengthFloor <= space.max) {
    const built = constructPasscode(needs, lengthFloor, space.alphabet);
    if (built !== null && complies(built)) return { kind: 'found', passcode: built };
  }
  const exhaustive = exhaustiveCandidates(analyses, space.alphabet);
  if (exhaustive) {
    const found = exhaustive.strings.find(passes);
    if (found === undefined) {
      return { kind: 'impossible', conflicts: [exhaustiveConflict(req, analyses, exhaustive.rule, exhaustive.strings)] };
    }
    if (complies(found)) return { kind: 'found', passcode: found };
  }
  if (refused.length > 0) return { kind: 'unknown', reason: refused.join('; ') };

  const searched = search(analyses, space, needs, lengthFloor, complies);
  if (searched !== null) return { kind: 'found', passcode: searched };
  return {
    kind: 'unknown',
    reason:
      `no passcode matching ${describeRules(analyses)} and the other requirements was found among ` +
      `${SEARCH_BUDGET} candidates, and no conflict could be proven`,
  };
}

function isVerified(result: PasscodeCheck): boolean {
  return result.complies && !result.notChecked.some((f) => f.requirement === 'customRegex');
}

// ---------------------------------------------------------------------------------------------
// Direct construction

/** Readable characters first; the rest of each ASCII class after them. */
const POOLS = {
  upper: 'KRMTPWXQHNVJLBDFGSYZCEAUIO',
  lower: 'qmxrwtzpkvhnjgbdfsycelauio',
  digit: '7295384610',
  symbol: '#!%@&*?+=$^~-_.:;/',
} as const;
type PoolName = keyof typeof POOLS;
/** What fills the length beyond the class minimums, in turn. */
const PADDING: readonly PoolName[] = ['lower', 'upper', 'digit', 'lower'];
/** Classes interleave in this order: "Kq7#mR2x". */
const INTERLEAVE: readonly PoolName[] = ['upper', 'lower', 'digit', 'symbol'];

/**
 * A readable passcode of exactly `length` characters (or the classes' sum, if larger) that meets
 * every class need, drawn from `allowed` (null: any character). Null when `allowed` lacks a class.
 */
function constructPasscode(needs: readonly ClassNeed[], length: number, allowed: CodePointSet | null): string | null {
  const poolChars: Record<PoolName, string[]> = { upper: [], lower: [], digit: [], symbol: [] };
  for (const name of Object.keys(POOLS) as PoolName[]) {
    poolChars[name] = Array.from(POOLS[name]).filter((ch) => allowed === null || allowed.has(ch.codePointAt(0) as number));
  }
  const extra: string[] = [];
  const counts: Record<PoolName, number> = { upper: 0, lower: 0, digit: 0, symbol: 0 };
  for (const need of needs) {
    if (!need.inSum) continue;
    switch (need.key) {
      case 'minUppercase':
        counts.upper += need.count;
        break;
      case 'minLowercase':
        counts.lower += need.count;
        break;
      case 'minDigits':
        counts.digit += need.count;
        break;
      case 'minComplexChars':
        if (poolChars.symbol.length > 0) counts.symbol += need.count;
        else extra.push(...pickMembers(intersectAllowed(categorySets().complex, allowed), need.count));
        break;
      case 'requireAlphanumeric': {
        const name = (['lower', 'upper'] as const).find((n) => poolChars[n].length > 0);
        if (name) counts[name] += 1;
        else extra.push(...pickMembers(intersectAllowed(categorySets().letters, allowed), 1));
        break;
      }
      default:
        break;
    }
  }
  for (const name of INTERLEAVE) {
    if (counts[name] > 0 && poolChars[name].length === 0) return null;
  }
  let total = counts.upper + counts.lower + counts.digit + counts.symbol + extra.length;
  const padding = PADDING.filter((name) => poolChars[name].length > 0);
  for (let i = 0; total < length; i++, total++) {
    const name = padding[i % Math.max(padding.length, 1)];
    if (name === undefined) {
      extra.push(...pickMembers(allowed ?? PRINTABLE_ASCII, length - total, extra.length));
      break;
    }
    counts[name]++;
  }
  const used: Record<PoolName, number> = { upper: 0, lower: 0, digit: 0, symbol: 0 };
  let out = '';
  for (let progress = true; progress; ) {
    progress = false;
    for (const name of INTERLEAVE) {
      if (used[name] >= counts[name]) continue;
      const chars = poolChars[name];
      out += chars[used[name] % chars.length] as string;
      used[name]++;
      progress = true;
    }
  }
  out += extra.join('');
  if (codePoints(out).length !== Math.max(length, total)) return null;
  return out;
}

function intersectAllowed(set: CodePointSet, allowed: CodePointSet | null): CodePointSet {
  return allowed === null ? set : set.intersect(allowed);
}

/** `n` members of `set`, readable ones (printable ASCII, then other visible characters) first. */
function pickMembers(set: CodePointSet, n: number, offset = 0): string[] {
  const preferred = [set.intersect(PRINTABLE_ASCII), set.intersect(VISIBLE), set];
  const source = preferred.find((s) => s.size > 0);
  if (!source) return [];
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(String.fromCodePoint(source.nth((offset + i) % source.size)));
  return out;
}

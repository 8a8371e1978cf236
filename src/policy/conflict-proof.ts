// Proof that no passcode satisfies a policy: conflicts that follow from what the customRegex rules
// can consume, and the exhaustive check of a rule whose language is small enough to enumerate.

import { REQUIREMENT_KEYS } from './model.ts';
import type { PasscodeRequirements, RequirementKey } from './model.ts';
import { passcodeChecker } from './check.ts';
import { CodePointSet, MAX_CODE_POINT, categorySets } from './code-point-set.ts';
import type { ClassNeed } from './class-need.ts';
import { atomSet, children, isAtom, mandatoryLookarounds } from './regex-analysis.ts';
import type { Node, RuleAnalysis, Space, Summarizer, Summary } from './regex-analysis.ts';

const LOOKAROUNDS: ReadonlySet<string> = new Set(['lookahead', 'lookbehind']);

export interface Conflict {
  /** Every requirement that takes part in the conflict, in REQUIREMENT_KEYS order. */
  requirements: RequirementKey[];
  explanation: string;
}

/** Regex languages up to this many strings are enumerated completely instead of sampled. */
const EXHAUSTIVE_LIMIT = 4096;

// ---------------------------------------------------------------------------------------------
// Proofs

export function describeRules(analyses: readonly RuleAnalysis[]): string {
  return analyses.map((a) => `customRegex ${a.regexText}`).join(' and ');
}

function showChar(cp: number): string {
  return JSON.stringify(String.fromCodePoint(cp));
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function ordered(keys: readonly RequirementKey[]): RequirementKey[] {
  return REQUIREMENT_KEYS.filter((k) => keys.includes(k));
}

/**
 * Conflicts that follow from what the rules can consume. Sound: each one rests on a superset of
 * what the rules match, so it holds for the rules themselves. Not complete: the search, and the
 * exhaustive check of small languages, handle the rest.
 */
export function proveConflicts(req: PasscodeRequirements, needs: readonly ClassNeed[], analyses: readonly RuleAnalysis[], space: Space): Conflict[] {
  if (analyses.length === 0) return [];
  const regexOnly = (explanation: string): Conflict => ({ requirements: ['customRegex'], explanation });
  const alone = analyses.map((a) => a.alone.whole);

  const never = analyses.filter((_, i) => alone[i]?.never);
  if (never.length > 0) return never.map((a) => regexOnly(`customRegex ${a.regexText} can never match anything`));

  const emptyOnly = analyses.filter((_, i) => alone[i]?.max === 0);
  if (emptyOnly.length > 0) {
    return emptyOnly.map((a) => regexOnly(`customRegex ${a.regexText} only matches an empty passcode, but a policy with customRegex requires a passcode`));
  }

  const between: Conflict[] = [];
  for (const [i, a] of analyses.entries()) {
    for (const [j, b] of analyses.entries()) {
      const min = (alone[i] as Summary).min;
      const max = (alone[j] as Summary).max;
      if (i !== j && min > max) {
        between.push(regexOnly(`customRegex ${a.regexText} needs at least ${plural(min, 'character')}, but customRegex ${b.regexText} allows at most ${max}`));
      }
    }
  }
  if (between.length > 0) return between;

  let shared = CodePointSet.of(0, MAX_CODE_POINT);
  for (const s of alone) shared = shared.intersect(s.alphabet);
  if (shared.size === 0) {
    for (const [i, a] of analyses.entries()) {
      for (const [j, b] of analyses.entries()) {
        if (j > i && (alone[i] as Summary).alphabet.intersect((alone[j] as Summary).alphabet).size === 0) {
          return [regexOnly(`no character is allowed by both customRegex ${a.regexText} and customRegex ${b.regexText}, and a policy with customRegex requires a passcode`)];
        }
      }
    }
    return [regexOnly(`no character is allowed by every one of ${describeRules(analyses)}, and a policy with customRegex requires a passcode`)];
  }

  // Look-arounds and alternatives checked against the characters all rules share.
  const restrictedNever = analyses.filter((_, i) => space.restricted[i]?.whole.never);
  if (restrictedNever.length > 0) {
    return restrictedNever.map((a) => regexOnly(analyses.length === 1
      ? `customRegex ${a.regexText} can never match anything: what its look-arounds require cannot be built from the characters it allows`
      : `customRegex ${a.regexText} cannot match any passcode built only from characters that ${describeRules(analyses.filter((o) => o !== a))} also ${analyses.length === 2 ? 'allows' : 'allow'}`));
  }
  const restrictedBetween: Conflict[] = [];
  for (const [i, a] of analyses.entries()) {
    for (const [j, b] of analyses.entries()) {
      const min = (space.restricted[i] as Summarizer).whole.min;
      const max = (space.restricted[j] as Summarizer).whole.max;
      if (i !== j && min > max) {
        restrictedBetween.push(regexOnly(`with only the characters every rule allows, customRegex ${a.regexText} needs at least ${plural(min, 'character')}, but customRegex ${b.regexText} allows at most ${max}`));
      }
    }
  }
  if (restrictedBetween.length > 0) return restrictedBetween;

  const conflicts: Conflict[] = [];
  const shortestIndex = space.restricted.reduce((best, r, i) => (r.whole.max < (space.restricted[best] as Summarizer).whole.max ? i : best), 0);
  const shortest = analyses[shortestIndex] as RuleAnalysis;
  const atMost = `customRegex ${shortest.regexText} allows at most ${plural(space.max, 'character')}`;

  if ((req.minLength ?? 0) > space.max) {
    conflicts.push({ requirements: ['minLength', 'customRegex'], explanation: `${atMost}, but minLength needs at least ${req.minLength}` });
  }

  const failedNeeds = new Set<RequirementKey>();
  for (const need of needs) {
    const set = categorySets()[need.category];
    const bound = Math.min(...space.restricted.map((r) => r.maxCount(set)));
    if (bound >= need.count) continue;
    failedNeeds.add(need.key);
    // Blame one rule when it is enough on its own; otherwise the rules together.
    const aloneCounts = analyses.map((a) => a.alone.maxCount(set));
    const aloneBound = Math.min(...aloneCounts);
    const culprit = analyses[aloneCounts.indexOf(aloneBound)] as RuleAnalysis;
    const many = (n: number) => `${n} ${n === 1 ? need.one : need.noun}`;
    let who: string;
    if (aloneBound < need.count) {
      who = aloneBound === 0 ? `customRegex ${culprit.regexText} allows no ${need.noun}` : `customRegex ${culprit.regexText} allows at most ${many(aloneBound)}`;
    } else {
      who = bound === 0
        ? `no character allowed by every one of ${describeRules(analyses)} is one of the ${need.noun}`
        : `${describeRules(analyses)} together allow at most ${many(bound)}`;
    }
    conflicts.push({ requirements: [need.key, 'customRegex'], explanation: `${who}, but ${need.key} needs at least ${need.count}` });
  }

  // Characters that different demands must spend on different positions add up.
  const demands = [
    ...needs.map((n) => ({ set: categorySets()[n.category].intersect(space.alphabet), count: n.count, key: n.key, label: `${n.key} ${n.count}` })),
    ...analyses.flatMap((a, i) => ruleDemands(a, space.restricted[i] as Summarizer)),
  ];
  const family = heaviestDisjointDemands(demands);
  const total = family.reduce((sum, d) => sum + d.count, 0);
  const keys = family.flatMap((d) => (d.key ? [d.key] : []));
  // A single requirement alone was already compared with what the rules allow, above.
  const news = family.length > 1 || family.some((d) => !d.key);
  if (news && total > space.max && !keys.some((k) => failedNeeds.has(k))) {
    const parts = [...family].sort((x, y) => demandOrder(x) - demandOrder(y)).map((d) => d.label).join(' + ');
    const need = family.length > 1 ? 'need' : 'needs';
    conflicts.push({
      requirements: ordered([...keys, 'customRegex']),
      explanation: `${parts} ${need} at least ${plural(total, 'character')}${family.length > 1 ? ' together' : ''}, but ${atMost}`,
    });
  }

  if (req.allowSimple === false) {
    const forbids = 'which allowSimple=false forbids';
    const single = analyses.find((a) => a.alone.whole.alphabet.size === 1);
    const first = space.alphabet.first() as number;
    if (single || space.alphabet.size === 1) {
      const who = single ? `customRegex ${single.regexText}` : describeRules(analyses);
      const cp = single ? (single.alone.whole.alphabet.first() as number) : first;
      conflicts.push({
        requirements: ['allowSimple', 'customRegex'],
        explanation: `${who} only allows the character ${showChar(cp)}, so every passcode it matches repeats one character, ${forbids}`,
      });
    } else if (space.max <= 1) {
      conflicts.push({ requirements: ['allowSimple', 'customRegex'], explanation: `${atMost}, and every 1-character passcode is simple, ${forbids}` });
    } else if (space.max === 2 && space.alphabet.size === 2 && (space.alphabet.last() as number) === first + 1) {
      conflicts.push({
        requirements: ['allowSimple', 'customRegex'],
        explanation: `${atMost}, all from the neighbouring characters ${showChar(first)} and ${showChar(first + 1)}, so every passcode it matches is simple, ${forbids}`,
      });
    }
  }
  return conflicts;
}

/** At least `count` characters of the passcode lie in `set`. */
interface Demand {
  set: CodePointSet;
  count: number;
  /** The requirement it comes from; absent for what a rule's pattern itself needs. */
  key?: RequirementKey;
  label: string;
}

function demandOrder(d: Demand): number {
  return d.key ? REQUIREMENT_KEYS.indexOf(d.key) : REQUIREMENT_KEYS.length;
}

/**
 * What a rule's consuming part and each of its look-arounds that every match passes need: the
 * characters they must match at least once (or n times). Within one part those are different
 * positions, so each part also yields one demand for all its characters together.
 */
function ruleDemands(analysis: RuleAnalysis, summary: Summarizer): Demand[] {
  const parts: (readonly Node[])[] = [[analysis.root], ...mandatoryLookarounds(analysis.root, LOOKAROUNDS).map(children)];
  const demands: Demand[] = [];
  for (const part of parts) {
    const atoms = new Map<Node, number>();
    collectMandatoryAtoms(part, 1, atoms);
    const bySet = new Map<string, Demand & { raws: string[] }>();
    for (const [node, count] of atoms) {
      const set = summary.atom(node);
      const known = bySet.get(set.key());
      if (known) {
        known.count += count;
        if (!known.raws.includes(node.raw)) known.raws.push(node.raw);
      } else {
        bySet.set(set.key(), { set, count, label: '', raws: [node.raw] });
      }
    }
    const from = `from customRegex ${analysis.regexText}`;
    const each = [...bySet.values()].map((d) => ({ set: d.set, count: d.count, label: `${d.count} × ${d.raws.join(' or ')} ${from}` }));
    demands.push(...each);
    if (each.length > 1) {
      const count = each.reduce((sum, d) => sum + d.count, 0);
      demands.push({ set: each.reduce((u, d) => u.union(d.set), CodePointSet.EMPTY), count, label: `${count} characters ${from}` });
    }
  }
  return demands;
}

/** Look-arounds every match must pass (not under an alternative or an optional part). */
function collectMandatoryAtoms(nodes: readonly Node[], times: number, out: Map<Node, number>): void {
  for (const node of nodes) {
    if (isAtom(node)) out.set(node, (out.get(node) ?? 0) + times);
    else if (node.type === 'alternative' || (node.type === 'group' && (node.behavior === 'normal' || node.behavior === 'ignore'))) {
      collectMandatoryAtoms(children(node), times, out);
    } else if (node.type === 'quantifier' && node.min > 0) {
      collectMandatoryAtoms(node.body, times * node.min, out);
    }
  }
}

/**
 * Demands with pairwise disjoint sets whose counts add up to the most: an exact search over the 16
 * heaviest demands (lighter ones are dropped to bound the search). The sum is a lower bound on the
 * characters a passcode needs, so dropping demands can only weaken a proof, never make one wrong.
 */
function heaviestDisjointDemands(all: readonly Demand[]): Demand[] {
  const list = all.filter((d) => d.count > 0 && d.set.size > 0).sort((a, b) => b.count - a.count).slice(0, 16);
  const rest = list.map((_, i) => list.slice(i).reduce((sum, d) => sum + d.count, 0));
  let best: Demand[] = [];
  let bestTotal = 0;
  const chosen: Demand[] = [];
  const visit = (i: number, total: number): void => {
    if (total > bestTotal) {
      best = [...chosen];
      bestTotal = total;
    }
    if (i >= list.length || total + (rest[i] as number) <= bestTotal) return;
    const d = list[i] as Demand;
    if (chosen.every((c) => c.set.intersect(d.set).size === 0)) {
      chosen.push(d);
      visit(i + 1, total + d.count);
      chosen.pop();
    }
    visit(i + 1, total);
  };
  visit(0, 0);
  return best;
}

// ---------------------------------------------------------------------------------------------
// Exhaustive check of small languages

/**
 * Every string the most restrictive rule can consume from the shared alphabet, when that is at
 * most EXHAUSTIVE_LIMIT strings (null otherwise). A superset of what all rules match together.
 */
export function exhaustiveCandidates(analyses: readonly RuleAnalysis[], alphabet: CodePointSet): { rule: RuleAnalysis; strings: string[] } | null {
  let best: { analysis: RuleAnalysis; count: number } | null = null;
  for (const analysis of analyses) {
    const count = languageSize(analysis.root, analysis, alphabet);
    if (count <= EXHAUSTIVE_LIMIT && (best === null || count < best.count)) best = { analysis, count };
  }
  if (best === null) return null;
  const strings = enumerate(best.analysis.root, best.analysis, alphabet);
  return { rule: best.analysis, strings: [...new Set(strings)] };
}

/** How many strings `node` can consume (an upper bound), or Infinity. */
function languageSize(node: Node, analysis: RuleAnalysis, alphabet: CodePointSet): number {
  if (isAtom(node)) return atomSet(node, analysis).intersect(alphabet).size;
  switch (node.type) {
    case 'alternative':
      return node.body.reduce((n, child) => n * languageSize(child, analysis, alphabet), 1);
    case 'disjunction':
      return node.body.reduce((n, child) => n + languageSize(child, analysis, alphabet), 0);
    case 'group':
      if (node.behavior !== 'normal' && node.behavior !== 'ignore') return 1;
      return node.body.reduce((n, child) => n * languageSize(child, analysis, alphabet), 1);
    case 'quantifier': {
      if (node.max === undefined) return Infinity;
      const base = languageSize(node.body[0], analysis, alphabet);
      if (base === 0) return node.min === 0 ? 1 : 0;
      if (base === 1) return node.max - node.min + 1;
      let total = 0;
      for (let k = node.min; k <= node.max && total <= EXHAUSTIVE_LIMIT; k++) total += base ** k;
      return total;
    }
    case 'reference':
      return Infinity;
    default:
      return 1;
  }
}

function enumerate(node: Node, analysis: RuleAnalysis, alphabet: CodePointSet): string[] {
  if (isAtom(node)) {
    const set = atomSet(node, analysis).intersect(alphabet);
    return Array.from({ length: set.size }, (_, k) => String.fromCodePoint(set.nth(k)));
  }
  const concat = (parts: readonly Node[]): string[] =>
    parts.reduce<string[]>((acc, child) => {
      const next = enumerate(child, analysis, alphabet);
      return acc.flatMap((prefix) => next.map((suffix) => prefix + suffix));
    }, ['']);
  switch (node.type) {
    case 'alternative':
      return concat(node.body);
    case 'disjunction':
      return node.body.flatMap((child) => enumerate(child, analysis, alphabet));
    case 'group':
      return node.behavior === 'normal' || node.behavior === 'ignore' ? concat(node.body) : [''];
    case 'quantifier': {
      const body = enumerate(node.body[0], analysis, alphabet);
      const out: string[] = [];
      let layer = [''];
      for (let k = 0; k <= (node.max as number) && layer.length > 0; k++) {
        if (k >= node.min) out.push(...layer);
        if (k < (node.max as number)) layer = layer.flatMap((prefix) => body.map((s) => prefix + s));
      }
      return out;
    }
    default:
      return [''];
  }
}

/**
 * Every candidate fails: find which requirements take part, by dropping each one in turn and
 * keeping it out while the candidates still all fail.
 */
export function exhaustiveConflict(req: PasscodeRequirements, analyses: readonly RuleAnalysis[], enumerated: RuleAnalysis, candidates: readonly string[]): Conflict {
  const removable: RequirementKey[] = ['allowSimple', 'minLength', 'requireAlphanumeric', 'minComplexChars', 'minDigits', 'minLowercase', 'minUppercase'];
  let current: PasscodeRequirements = { ...req };
  for (const key of removable) {
    if (current[key] === undefined) continue;
    const without: PasscodeRequirements = { ...current };
    delete without[key];
    const check = passcodeChecker(without);
    if (!candidates.some((c) => check(c).complies)) current = without;
  }
  const involved = removable.filter((key) => current[key] !== undefined && isActive(req, key));
  const others = analyses.length > 1 ? ` and ${describeRules(analyses.filter((a) => a !== enumerated))}` : '';
  const rules = `customRegex ${enumerated.regexText}`;
  const settings = involved.map((key) => `${key} (${String(req[key])})`);
  const list = settings.length > 1 ? `${settings.slice(0, -1).join(', ')} and ${settings.at(-1)}` : settings[0];
  const explanation = involved.length === 0
    ? `no passcode matches ${rules}${others}: ${candidates.length === 1 ? 'the only string' : `all ${candidates.length} strings`} ${rules} can produce ${candidates.length === 1 ? 'was' : 'were'} checked`
    : `none of the ${plural(candidates.length, 'passcode')} that ${rules} can match also satisfies ${list}${others}: each was checked`;
  return { requirements: ordered([...involved, 'customRegex']), explanation };
}

function isActive(req: PasscodeRequirements, key: RequirementKey): boolean {
  const value = req[key];
  if (key === 'allowSimple') return value === false;
  if (typeof value === 'boolean') return value;
  return typeof value === 'number' && value > 0;
}

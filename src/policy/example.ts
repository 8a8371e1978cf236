// An example passcode for a policy, or proof that none exists. Without customRegex every policy
// has a solution, built directly. With customRegex, each rule's pattern (its regjsparser AST) is
// analysed: what it consumes bounds the passcode's length, its alphabet and how many characters
// of each class it can hold; look-arounds only constrain further, and what they must match adds
// to what the passcode needs. A requirement outside those bounds is a proven conflict. Otherwise
// the passcode is built directly, or found by enumerating a small language completely, or by a
// seeded search guided by the same analysis; every candidate is confirmed by checkPasscode.

import regjsparser from 'regjsparser';
import type { AstNode } from 'regjsparser';
import { REQUIREMENT_KEYS } from './model.ts';
import type { PasscodeRequirements, RequirementKey } from './model.ts';
import { passcodeChecker } from './check.ts';
import type { PasscodeCheck } from './check.ts';
import { JS_REGEX_FEATURES, MAX_EVALUATED_PASSCODE_LENGTH, compileCustomRegex } from './icu-regex.ts';

export interface Conflict {
  /** Every requirement that takes part in the conflict, in REQUIREMENT_KEYS order. */
  requirements: RequirementKey[];
  explanation: string;
}

export type ExampleResult =
  | { kind: 'found'; passcode: string }
  | { kind: 'impossible'; conflicts: Conflict[] }
  | { kind: 'unknown'; reason: string };

/** Candidates tried by the search before giving up (each one is a full checkPasscode). */
export const SEARCH_BUDGET = 20_000;
/** Regex languages up to this many strings are enumerated completely instead of sampled. */
const EXHAUSTIVE_LIMIT = 4096;
const SEED = 0x10c4_a5de;

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
// What the requirements need

interface ClassNeed {
  key: RequirementKey;
  count: number;
  category: keyof CategorySets;
  /** "digits (0-9)" and "digit (0-9)", for explanations. */
  noun: string;
  one: string;
  /** Counted towards the characters the classes need together. */
  inSum: boolean;
}

function classNeeds(req: PasscodeRequirements): ClassNeed[] {
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
function minimumLength(req: PasscodeRequirements, needs: readonly ClassNeed[]): number {
  const classes = needs.filter((n) => n.inSum).reduce((sum, n) => sum + n.count, 0);
  const contentSet = req.forcePIN === true || needs.length > 0 || (req.minLength ?? 0) > 0 || req.allowSimple === false || (req.customRegex?.length ?? 0) > 0;
  // Every 1-character passcode is simple, and the empty passcode is none.
  const floor = req.allowSimple === false ? 2 : contentSet ? 1 : 0;
  return Math.max(req.minLength ?? 0, classes, floor);
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
      extra.push(...pickMembers(allowed ?? CodePointSet.of(0x21, 0x7e), length - total, extra.length));
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
  const preferred = [set.intersect(CodePointSet.of(0x21, 0x7e)), set.intersect(VISIBLE), set];
  const source = preferred.find((s) => s.size > 0);
  if (!source) return [];
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(String.fromCodePoint(source.nth((offset + i) % source.size)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sets of code points

const MAX_CODE_POINT = 0x10ffff;

/** A set of code points as sorted, disjoint, non-adjacent inclusive ranges [lo0, hi0, lo1, hi1, …]. */
class CodePointSet {
  readonly size: number;

  private constructor(private readonly ranges: readonly number[]) {
    let size = 0;
    for (let i = 0; i < ranges.length; i += 2) size += (ranges[i + 1] as number) - (ranges[i] as number) + 1;
    this.size = size;
  }

  static readonly EMPTY = new CodePointSet([]);

  static of(lo: number, hi = lo): CodePointSet {
    return new CodePointSet([lo, hi]);
  }

  /** From possibly overlapping, unsorted ranges. */
  static fromRanges(pairs: readonly (readonly [number, number])[]): CodePointSet {
    const sorted = [...pairs].sort((a, b) => a[0] - b[0]);
    const out: number[] = [];
    for (const [lo, hi] of sorted) {
      const last = out.length - 1;
      if (last > 0 && lo <= (out[last] as number) + 1) out[last] = Math.max(out[last] as number, hi);
      else out.push(lo, hi);
    }
    return new CodePointSet(out);
  }

  has(cp: number): boolean {
    for (let i = 0; i < this.ranges.length; i += 2) {
      if (cp < (this.ranges[i] as number)) return false;
      if (cp <= (this.ranges[i + 1] as number)) return true;
    }
    return false;
  }

  /** The k-th smallest member (0-based; k < size). */
  nth(k: number): number {
    let rest = k;
    for (let i = 0; i < this.ranges.length; i += 2) {
      const lo = this.ranges[i] as number;
      const width = (this.ranges[i + 1] as number) - lo + 1;
      if (rest < width) return lo + rest;
      rest -= width;
    }
    throw new RangeError(`member ${k} of a set of ${this.size}`);
  }

  /** Equal sets have equal keys. */
  key(): string {
    return this.ranges.join(',');
  }

  first(): number | undefined {
    return this.ranges[0];
  }

  last(): number | undefined {
    return this.ranges[this.ranges.length - 1];
  }

  union(other: CodePointSet): CodePointSet {
    const pairs: [number, number][] = [];
    for (const set of [this, other]) {
      for (let i = 0; i < set.ranges.length; i += 2) pairs.push([set.ranges[i] as number, set.ranges[i + 1] as number]);
    }
    return CodePointSet.fromRanges(pairs);
  }

  intersect(other: CodePointSet): CodePointSet {
    const out: number[] = [];
    let i = 0;
    let j = 0;
    const a = this.ranges;
    const b = other.ranges;
    while (i < a.length && j < b.length) {
      const lo = Math.max(a[i] as number, b[j] as number);
      const hi = Math.min(a[i + 1] as number, b[j + 1] as number);
      if (lo <= hi) out.push(lo, hi);
      if ((a[i + 1] as number) < (b[j + 1] as number)) i += 2;
      else j += 2;
    }
    return new CodePointSet(out);
  }

  complement(): CodePointSet {
    const out: number[] = [];
    let next = 0;
    for (let i = 0; i < this.ranges.length; i += 2) {
      const lo = this.ranges[i] as number;
      if (lo > next) out.push(next, lo - 1);
      next = (this.ranges[i + 1] as number) + 1;
    }
    if (next <= MAX_CODE_POINT) out.push(next, MAX_CODE_POINT);
    return new CodePointSet(out);
  }
}

/** Characters an admin can read back: not controls, separators' oddities, surrogates or private use. */
const VISIBLE = CodePointSet.fromRanges([[0x21, 0x7e], [0xa1, 0xac], [0xae, 0x2ff], [0x370, 0x1fff], [0x2010, 0x2027], [0x2030, 0x205e], [0x2070, 0xd7ff], [0xf900, 0xfdcf], [0xfdf0, 0xfffd], [0x10000, 0x1ffff]]);

interface CategorySets {
  letters: CodePointSet;
  complex: CodePointSet;
  digits: CodePointSet;
  lowercase: CodePointSet;
  uppercase: CodePointSet;
}

let categories: CategorySets | undefined;

/** The character classes checkPasscode counts, as code point sets. */
function categorySets(): CategorySets {
  if (categories) return categories;
  const letters = materialize('\\p{L}', 'u');
  const numbers = materialize('\\p{N}', 'u');
  categories = {
    letters,
    complex: letters.union(numbers).complement(),
    digits: CodePointSet.of(0x30, 0x39),
    lowercase: CodePointSet.of(0x61, 0x7a),
    uppercase: CodePointSet.of(0x41, 0x5a),
  };
  return categories;
}

// Materialising a class that JavaScript defines by Unicode data (\p{…}, negations, case folding)
// means asking the engine about every code point: ~30–50 ms for a property. The results are
// cached per (class, flags): a cache of a pure computation, which never changes an answer.
const MATERIALIZED = new Map<string, CodePointSet>();
const MATERIALIZED_LIMIT = 512;
let scanStrings: { bmpLow: string; bmpHigh: string; astral: string } | undefined;

function allCodePoints(from: number, to: number): string {
  const parts: string[] = [];
  for (let start = from; start <= to; start += 4096) {
    const chunk: number[] = [];
    for (let cp = start; cp <= Math.min(to, start + 4095); cp++) chunk.push(cp);
    parts.push(String.fromCodePoint(...chunk));
  }
  return parts.join('');
}

/** The set of code points the one-character JavaScript pattern `source` matches under `flags`. */
function materialize(source: string, flags: string): CodePointSet {
  const key = `${flags}/${source}`;
  const cached = MATERIALIZED.get(key);
  if (cached) return cached;
  scanStrings ??= { bmpLow: allCodePoints(0, 0xd7ff), bmpHigh: allCodePoints(0xe000, 0xffff), astral: allCodePoints(0x10000, MAX_CODE_POINT) };
  const any = new RegExp(source, flags);
  const only = new RegExp(`^(?:${source})*$`, flags);
  const pairs: [number, number][] = [];
  // Halve each span until it is all in, all out, or small enough to test one by one.
  const scan = (text: string, base: number, width: number, lo: number, hi: number): void => {
    const slice = text.slice((lo - base) * width, (hi - base + 1) * width);
    if (!any.test(slice)) return;
    if (only.test(slice)) {
      pairs.push([lo, hi]);
      return;
    }
    if (hi - lo < 16) {
      for (let cp = lo; cp <= hi; cp++) if (only.test(String.fromCodePoint(cp))) pairs.push([cp, cp]);
      return;
    }
    const mid = (lo + hi) >> 1;
    scan(text, base, width, lo, mid);
    scan(text, base, width, mid + 1, hi);
  };
  scan(scanStrings.bmpLow, 0, 1, 0, 0xd7ff);
  // Lone surrogates cannot sit next to each other in a string without pairing up.
  for (let cp = 0xd800; cp <= 0xdfff; cp++) if (only.test(String.fromCharCode(cp))) pairs.push([cp, cp]);
  scan(scanStrings.bmpHigh, 0xe000, 1, 0xe000, 0xffff);
  scan(scanStrings.astral, 0x10000, 2, 0x10000, MAX_CODE_POINT);
  const set = CodePointSet.fromRanges(pairs);
  if (MATERIALIZED.size >= MATERIALIZED_LIMIT) MATERIALIZED.clear();
  MATERIALIZED.set(key, set);
  return set;
}

// ---------------------------------------------------------------------------------------------
// Rule analysis

type Node = AstNode<typeof JS_REGEX_FEATURES>;

interface Summary {
  /** No string can match (a required part matches nothing). */
  never: boolean;
  min: number;
  max: number;
  /** Every code point a match can consume (a superset). */
  alphabet: CodePointSet;
}

interface RuleAnalysis {
  regexText: string;
  flags: string;
  root: Node;
  /** The rule on its own, with any character. */
  alone: Summarizer;
  /** Classes inside look-arounds: what the rule asks for without consuming it. */
  hints: CodePointSet[];
  atoms: Map<Node, CodePointSet>;
  groups: Node[];
  namedGroups: Map<string, Node>;
}

const EMPTY_SUMMARY: Summary = { never: false, min: 0, max: 0, alphabet: CodePointSet.EMPTY };
const NEVER: Summary = { never: true, min: 0, max: 0, alphabet: CodePointSet.EMPTY };

function analyseRule(regexText: string, regex: RegExp): RuleAnalysis {
  const root = regjsparser.parse(regex.source, regex.flags, JS_REGEX_FEATURES) as Node;
  const partial = { regexText, flags: regex.flags, root, hints: [], atoms: new Map(), groups: [], namedGroups: new Map() };
  const analysis = partial as unknown as RuleAnalysis;
  analysis.alone = new Summarizer(analysis, null);
  collectGroups(root, analysis);
  collectHints(root, analysis, false);
  return analysis;
}

function children(node: Node): readonly Node[] {
  switch (node.type) {
    case 'alternative':
    case 'disjunction':
    case 'group':
      return node.body as readonly Node[];
    case 'quantifier':
      return node.body as readonly Node[];
    default:
      return [];
  }
}

function collectGroups(node: Node, analysis: RuleAnalysis): void {
  if (node.type === 'group' && node.behavior === 'normal') {
    analysis.groups.push(node);
    const name = (node as { name?: { value: string } }).name;
    if (name) analysis.namedGroups.set(name.value, node);
  }
  for (const child of children(node)) collectGroups(child, analysis);
}

function collectHints(node: Node, analysis: RuleAnalysis, inside: boolean): void {
  if (isAtom(node)) {
    if (inside) analysis.hints.push(atomSet(node, analysis));
    return;
  }
  const lookaround = node.type === 'group' && node.behavior !== 'normal' && node.behavior !== 'ignore';
  const positive = lookaround && (node.behavior === 'lookahead' || node.behavior === 'lookbehind');
  if (lookaround && !positive) return;
  for (const child of children(node)) collectHints(child, analysis, inside || positive);
}

function isAtom(node: Node): boolean {
  return node.type === 'value' || node.type === 'characterClass' || node.type === 'characterClassEscape'
    || node.type === 'unicodePropertyEscape' || node.type === 'dot';
}

/** The code points one character atom matches, computed directly when no Unicode data is needed. */
function atomSet(node: Node, analysis: RuleAnalysis): CodePointSet {
  const known = analysis.atoms.get(node);
  if (known) return known;
  const caseless = !analysis.flags.includes('i');
  let set: CodePointSet | undefined;
  if (caseless && node.type === 'value') set = CodePointSet.of(node.codePoint);
  if (caseless && node.type === 'characterClass' && node.kind === 'union'
    && node.body.every((m) => m.type === 'value' || m.type === 'characterClassRange')) {
    const pairs = node.body.map((m): [number, number] => (m.type === 'value' ? [m.codePoint, m.codePoint] : m.type === 'characterClassRange' ? [m.min.codePoint, m.max.codePoint] : [0, -1]));
    set = CodePointSet.fromRanges(pairs);
    if (node.negative) set = set.complement();
  }
  set ??= materialize(node.raw, analysis.flags);
  analysis.atoms.set(node, set);
  return set;
}

function referencedGroup(node: Node, analysis: RuleAnalysis): Node | undefined {
  if (node.type !== 'reference') return undefined;
  const named = node as { name?: { value: string }; matchIndex?: number };
  if (named.name) return analysis.namedGroups.get(named.name.value);
  return named.matchIndex === undefined ? undefined : analysis.groups[named.matchIndex - 1];
}

/**
 * What a rule can match when every character must come from `within` (null: any character).
 * Over-approximates: look-arounds are taken as always passing, except that a positive one whose
 * body can never match fails, so everything it concludes holds for the rule itself.
 */
class Summarizer {
  private readonly cache = new Map<Node, Summary>();

  constructor(
    private readonly analysis: RuleAnalysis,
    private readonly within: CodePointSet | null,
  ) {}

  get whole(): Summary {
    return this.of(this.analysis.root);
  }

  atom(node: Node): CodePointSet {
    const set = atomSet(node, this.analysis);
    return this.within === null ? set : set.intersect(this.within);
  }

  of(node: Node): Summary {
    const known = this.cache.get(node);
    if (known) return known;
    const result = this.compute(node);
    this.cache.set(node, result);
    return result;
  }

  private sequence(nodes: readonly Node[]): Summary {
    let min = 0;
    let max = 0;
    let alphabet = CodePointSet.EMPTY;
    for (const child of nodes) {
      const s = this.of(child);
      if (s.never) return NEVER;
      min += s.min;
      max += s.max;
      alphabet = alphabet.union(s.alphabet);
    }
    return { never: false, min, max, alphabet };
  }

  private compute(node: Node): Summary {
    if (isAtom(node)) {
      const set = this.atom(node);
      return set.size === 0 ? NEVER : { never: false, min: 1, max: 1, alphabet: set };
    }
    switch (node.type) {
      case 'alternative':
        return this.sequence(node.body);
      case 'disjunction': {
        const options = node.body.map((child) => this.of(child)).filter((s) => !s.never);
        if (options.length === 0) return NEVER;
        return {
          never: false,
          min: Math.min(...options.map((s) => s.min)),
          max: Math.max(...options.map((s) => s.max)),
          alphabet: options.reduce((a, s) => a.union(s.alphabet), CodePointSet.EMPTY),
        };
      }
      case 'group': {
        const body = this.sequence(node.body);
        if (node.behavior === 'normal' || node.behavior === 'ignore') return body;
        const positive = node.behavior === 'lookahead' || node.behavior === 'lookbehind';
        return positive && body.never ? NEVER : EMPTY_SUMMARY;
      }
      case 'quantifier': {
        const body = this.of(node.body[0]);
        if (node.max === 0) return EMPTY_SUMMARY;
        if (body.never) return node.min === 0 ? EMPTY_SUMMARY : NEVER;
        return {
          never: false,
          min: body.min * node.min,
          max: body.max === 0 ? 0 : node.max === undefined ? Infinity : body.max * node.max,
          alphabet: body.alphabet,
        };
      }
      case 'reference': {
        // Repeats what the group matched (nothing, if the group did not take part).
        const group = referencedGroup(node, this.analysis);
        const body = group ? this.sequence(children(group)) : EMPTY_SUMMARY;
        return body.never ? EMPTY_SUMMARY : { never: false, min: 0, max: body.max, alphabet: body.alphabet };
      }
      default:
        return EMPTY_SUMMARY; // anchors
    }
  }

  /** At most how many characters of `set` a match can contain. */
  maxCount(set: CodePointSet, node: Node = this.analysis.root): number {
    if (this.of(node).never) return 0;
    if (isAtom(node)) return this.atom(node).intersect(set).size > 0 ? 1 : 0;
    const sum = (nodes: readonly Node[]) => nodes.reduce((n, child) => n + this.maxCount(set, child), 0);
    switch (node.type) {
      case 'alternative':
        return sum(node.body);
      case 'disjunction':
        return Math.max(...node.body.map((child) => this.maxCount(set, child)));
      case 'group':
        return node.behavior === 'normal' || node.behavior === 'ignore' ? sum(node.body) : 0;
      case 'quantifier': {
        const body = this.maxCount(set, node.body[0]);
        return body === 0 || node.max === 0 ? 0 : node.max === undefined ? Infinity : body * node.max;
      }
      case 'reference': {
        const group = referencedGroup(node, this.analysis);
        return group ? sum(children(group)) : 0;
      }
      default:
        return 0;
    }
  }
}

interface Space {
  min: number;
  max: number;
  alphabet: CodePointSet;
  /** Each rule restricted to the characters every rule allows. */
  restricted: Summarizer[];
}

/**
 * What every rule allows at once. A character no rule can do without narrows the others, which
 * may drop their alternatives and narrow the characters again: repeat until nothing changes.
 */
function combinedSpace(analyses: readonly RuleAnalysis[]): Space {
  let alphabet = CodePointSet.of(0, MAX_CODE_POINT);
  for (const a of analyses) alphabet = alphabet.intersect(a.alone.whole.alphabet);
  for (;;) {
    const restricted = analyses.map((a) => new Summarizer(a, alphabet));
    const wholes = restricted.map((r) => r.whole);
    let next = alphabet;
    for (const w of wholes) next = w.never ? next : next.intersect(w.alphabet);
    if (next.size === alphabet.size || wholes.some((w) => w.never)) {
      return {
        min: Math.max(0, ...wholes.map((w) => w.min)),
        max: Math.min(Infinity, ...wholes.map((w) => w.max)),
        alphabet,
        restricted,
      };
    }
    alphabet = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Proofs

function describeRules(analyses: readonly RuleAnalysis[]): string {
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
function proveConflicts(req: PasscodeRequirements, needs: readonly ClassNeed[], analyses: readonly RuleAnalysis[], space: Space): Conflict[] {
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
  const parts: (readonly Node[])[] = [[analysis.root], ...mandatoryLookarounds(analysis.root).map(children)];
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
function mandatoryLookarounds(node: Node): Node[] {
  if (node.type === 'group' && (node.behavior === 'lookahead' || node.behavior === 'lookbehind')) return [node];
  const mandatory = node.type === 'alternative' || (node.type === 'group' && (node.behavior === 'normal' || node.behavior === 'ignore'))
    || (node.type === 'quantifier' && node.min > 0);
  return mandatory ? children(node).flatMap(mandatoryLookarounds) : [];
}

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

/** The demands with pairwise disjoint sets whose counts add up to the most (exact search, ≤ 16 demands). */
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
function exhaustiveCandidates(analyses: readonly RuleAnalysis[], alphabet: CodePointSet): { rule: RuleAnalysis; strings: string[] } | null {
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
function exhaustiveConflict(req: PasscodeRequirements, analyses: readonly RuleAnalysis[], enumerated: RuleAnalysis, candidates: readonly string[]): Conflict {
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
    ? `no passcode matches ${rules}${others}: all ${candidates.length} strings ${rules} can produce were checked`
    : `none of the ${plural(candidates.length, 'passcode')} that ${rules} can match also satisfies ${list}${others}: each was checked`;
  return { requirements: ordered([...involved, 'customRegex']), explanation };
}

function isActive(req: PasscodeRequirements, key: RequirementKey): boolean {
  const value = req[key];
  if (key === 'allowSimple') return value === false;
  if (typeof value === 'boolean') return value;
  return typeof value === 'number' && value > 0;
}

// ---------------------------------------------------------------------------------------------
// Search

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
function seededRandom(seed: number): { int(n: number): number; chance(p: number): boolean } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
  };
}

type Random = ReturnType<typeof seededRandom>;

interface AtomChoices {
  all: CodePointSet;
  readable: CodePointSet;
  byNeed: CodePointSet[];
  hints: CodePointSet[];
}

/**
 * Generates strings from one rule's consuming structure, with characters from the alphabet all
 * rules share, steered towards the classes the requirements still need and the classes the
 * rules' look-arounds ask for.
 */
class Sampler {
  private budget = 0;
  private have: number[] = [];
  private captures = new Map<Node, string>();
  private readonly choices = new Map<Node, AtomChoices>();

  constructor(
    private readonly analysis: RuleAnalysis,
    private readonly summary: Summarizer,
    private readonly needs: readonly ClassNeed[],
    private readonly hints: readonly CodePointSet[],
    private readonly random: Random,
  ) {}

  generate(targetLength: number): string | null {
    this.reset(Math.max(0, targetLength - this.summary.whole.min));
    return this.gen(this.analysis.root);
  }

  /** A string for part of the pattern (a look-ahead's body), with `extra` repetitions to spend. */
  generatePart(nodes: readonly Node[], extra: number): string | null {
    this.reset(extra);
    return this.sequence(nodes);
  }

  private reset(budget: number): void {
    this.budget = budget;
    this.have = this.needs.map(() => 0);
    this.captures = new Map();
  }

  private gen(node: Node): string | null {
    if (isAtom(node)) return this.pick(node);
    switch (node.type) {
      case 'alternative':
        return this.sequence(node.body);
      case 'disjunction': {
        const options = node.body.filter((child) => !this.summary.of(child).never);
        const start = this.random.int(options.length);
        for (let k = 0; k < options.length; k++) {
          const out = this.gen(options[(start + k) % options.length] as Node);
          if (out !== null) return out;
        }
        return null;
      }
      case 'group': {
        if (node.behavior !== 'normal' && node.behavior !== 'ignore') return '';
        const out = this.sequence(node.body);
        if (out !== null && node.behavior === 'normal') this.captures.set(node, out);
        return out;
      }
      case 'quantifier': {
        const body = this.summary.of(node.body[0]);
        const cost = Math.max(body.min, 1);
        const room = node.max === undefined ? Infinity : node.max - node.min;
        const cap = Math.min(room, Math.floor(this.budget / cost));
        const extra = this.random.chance(0.5) ? cap : this.random.int(cap + 1);
        this.budget -= extra * cost;
        let out = '';
        for (let k = 0; k < node.min + extra; k++) {
          const part = this.gen(node.body[0]);
          if (part === null) return k < node.min ? null : out;
          out += part;
        }
        return out;
      }
      case 'reference': {
        const group = referencedGroup(node, this.analysis);
        return (group && this.captures.get(group)) ?? '';
      }
      default:
        return '';
    }
  }

  private sequence(nodes: readonly Node[]): string | null {
    let out = '';
    for (const child of nodes) {
      const part = this.gen(child);
      if (part === null) return null;
      out += part;
    }
    return out;
  }

  private pick(node: Node): string | null {
    const c = this.atomChoices(node);
    if (c.all.size === 0) return null;
    let from: CodePointSet | undefined;
    const wanted = this.needs
      .map((need, i) => ({ i, set: c.byNeed[i] as CodePointSet, short: (this.have[i] as number) < need.count }))
      .filter((w) => w.short && w.set.size > 0);
    if (wanted.length > 0 && this.random.chance(0.6)) {
      from = (wanted[this.random.int(wanted.length)] as { set: CodePointSet }).set;
    } else if (c.hints.length > 0 && this.random.chance(0.3)) {
      from = c.hints[this.random.int(c.hints.length)];
    }
    from ??= c.readable.size > 0 && this.random.chance(0.95) ? c.readable : c.all;
    const readable = from.intersect(READABLE);
    const source = readable.size > 0 ? readable : from;
    const cp = source.nth(this.random.int(source.size));
    this.needs.forEach((need, i) => {
      if (categorySets()[need.category].has(cp)) this.have[i] = (this.have[i] as number) + 1;
    });
    return String.fromCodePoint(cp);
  }

  private atomChoices(node: Node): AtomChoices {
    const known = this.choices.get(node);
    if (known) return known;
    const all = this.summary.atom(node);
    const choices: AtomChoices = {
      all,
      readable: all.intersect(READABLE),
      byNeed: this.needs.map((need) => all.intersect(categorySets()[need.category])),
      hints: this.hints.map((h) => h.intersect(all)).filter((h) => h.size > 0),
    };
    this.choices.set(node, choices);
    return choices;
  }
}

/** Printable ASCII without the space: what an example passcode should preferably use. */
const READABLE = CodePointSet.of(0x21, 0x7e);

function search(
  analyses: readonly RuleAnalysis[],
  space: Space,
  needs: readonly ClassNeed[],
  lengthFloor: number,
  complies: (candidate: string) => boolean,
): string | null {
  if (lengthFloor > space.max) return null;
  const random = seededRandom(SEED);
  const hints = analyses.flatMap((a) => a.hints);
  const samplers = analyses.map((a, i) => new Sampler(a, space.restricted[i] as Summarizer, needs, hints, random));
  const lookaheads = analyses.flatMap((a, i) => positiveLookaheads(a.root).map((node) => ({ sampler: samplers[i] as Sampler, node })));
  const filler = space.alphabet.intersect(READABLE).size > 0 ? space.alphabet.intersect(READABLE) : space.alphabet;
  // Grow the target length slowly from the shortest the requirements allow.
  const spread = Math.min(space.max, lengthFloor + 24) - lengthFloor;
  const tried = new Set<string>();
  for (let attempt = 0; attempt < SEARCH_BUDGET; attempt++) {
    const target = lengthFloor + (Math.floor((attempt / SEARCH_BUDGET) * (spread + 1) * 4) % (spread + 1));
    // Half the time, when the rules have look-aheads, build from what the look-aheads demand.
    const candidate = lookaheads.length > 0 && attempt % 2 === 1
      ? assembleFromLookaheads(lookaheads, needs, filler, target, random)
      : (samplers[(attempt >> 1) % samplers.length] as Sampler).generate(target);
    if (candidate === null || tried.has(candidate)) continue;
    tried.add(candidate);
    if (codePoints(candidate).length >= lengthFloor && complies(candidate)) return candidate;
  }
  return null;
}

/** The look-aheads every match must pass: not under an alternative, an optional part or another look-around. */
function positiveLookaheads(node: Node): Node[] {
  if (node.type === 'group' && node.behavior === 'lookahead') return [node];
  const mandatory = node.type === 'alternative' || (node.type === 'group' && (node.behavior === 'normal' || node.behavior === 'ignore'))
    || (node.type === 'quantifier' && node.min > 0);
  return mandatory ? children(node).flatMap(positiveLookaheads) : [];
}

/**
 * Patterns like ^(?=.*[A-Z])(?=(?:\D*\d){2}).{8,}$ say what they need in look-aheads and accept
 * anything of the right length: sample each look-ahead's body as briefly as possible, add what
 * the class minimums still need, fill up to the target length, and shuffle the pieces.
 */
function assembleFromLookaheads(
  lookaheads: readonly { sampler: Sampler; node: Node }[],
  needs: readonly ClassNeed[],
  filler: CodePointSet,
  target: number,
  random: Random,
): string {
  const pieces: string[] = [];
  for (const { sampler, node } of lookaheads) {
    const part = sampler.generatePart(children(node), random.int(3));
    if (part) pieces.push(part);
  }
  const have = new Map<ClassNeed, number>();
  for (const ch of pieces.join('')) {
    const cp = ch.codePointAt(0) as number;
    for (const need of needs) if (categorySets()[need.category].has(cp)) have.set(need, (have.get(need) ?? 0) + 1);
  }
  for (const need of needs) {
    const options = filler.intersect(categorySets()[need.category]);
    for (let k = have.get(need) ?? 0; k < need.count && options.size > 0; k++) {
      pieces.push(String.fromCodePoint(options.nth(random.int(options.size))));
    }
  }
  let length = codePoints(pieces.join('')).length;
  for (; length < target && filler.size > 0; length++) pieces.push(String.fromCodePoint(filler.nth(random.int(filler.size))));
  for (let i = pieces.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [pieces[i], pieces[j]] = [pieces[j] as string, pieces[i] as string];
  }
  return pieces.join('');
}

function codePoints(text: string): string[] {
  return Array.from(text);
}

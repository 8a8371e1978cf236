// Rule analysis: what a customRegex (its regjsparser AST) can consume bounds the passcode's
// length, its alphabet and how many characters of each class it can hold; look-arounds only
// constrain further.

import regjsparser from 'regjsparser';
import type { AstNode } from 'regjsparser';
import { JS_REGEX_FEATURES } from './icu-regex.ts';
import { CodePointSet, MAX_CODE_POINT, materialize } from './code-point-set.ts';

export type Node = AstNode<typeof JS_REGEX_FEATURES>;

export interface Summary {
  /** No string can match (a required part matches nothing). */
  never: boolean;
  min: number;
  max: number;
  /** Every code point a match can consume (a superset). */
  alphabet: CodePointSet;
}

export interface RuleAnalysis {
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

export function analyseRule(regexText: string, regex: RegExp): RuleAnalysis {
  const root = regjsparser.parse(regex.source, regex.flags, JS_REGEX_FEATURES) as Node;
  const partial = { regexText, flags: regex.flags, root, hints: [], atoms: new Map(), groups: [], namedGroups: new Map() };
  const analysis = partial as unknown as RuleAnalysis;
  analysis.alone = new Summarizer(analysis, null);
  collectGroups(root, analysis);
  collectHints(root, analysis, false);
  return analysis;
}

export function children(node: Node): readonly Node[] {
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

export function isAtom(node: Node): boolean {
  return node.type === 'value' || node.type === 'characterClass' || node.type === 'characterClassEscape'
    || node.type === 'unicodePropertyEscape' || node.type === 'dot';
}

/** The code points one character atom matches, computed directly when no Unicode data is needed. */
export function atomSet(node: Node, analysis: RuleAnalysis): CodePointSet {
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

export function referencedGroup(node: Node, analysis: RuleAnalysis): Node | undefined {
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
export class Summarizer {
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

export interface Space {
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
export function combinedSpace(analyses: readonly RuleAnalysis[]): Space {
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

/**
 * The look-around groups every match must pass through: those reached from `node` without crossing
 * an alternation or an optional quantifier. `behaviors` picks look-aheads, look-behinds or both.
 */
export function mandatoryLookarounds(node: Node, behaviors: ReadonlySet<string>): Node[] {
  if (node.type === 'group' && behaviors.has(node.behavior)) return [node];
  const mandatory = node.type === 'alternative' || (node.type === 'group' && (node.behavior === 'normal' || node.behavior === 'ignore'))
    || (node.type === 'quantifier' && node.min > 0);
  return mandatory ? children(node).flatMap((child) => mandatoryLookarounds(child, behaviors)) : [];
}

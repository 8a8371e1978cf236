// The seeded search for an example passcode, guided by the rule analysis: strings generated from
// each rule's consuming structure, and strings assembled from what its look-aheads demand.

import { CodePointSet, PRINTABLE_ASCII, categorySets, codePoints } from './code-point-set.ts';
import type { ClassNeed } from './class-need.ts';
import { children, isAtom, mandatoryLookarounds, referencedGroup } from './regex-analysis.ts';
import type { Node, RuleAnalysis, Space, Summarizer } from './regex-analysis.ts';

const LOOKAHEADS: ReadonlySet<string> = new Set(['lookahead']);

/** Candidates tried by the search before giving up (each one is a full checkPasscode). */
export const SEARCH_BUDGET = 20_000;
const SEED = 0x10c4_a5de;

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
    const readable = from.intersect(PRINTABLE_ASCII);
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
      readable: all.intersect(PRINTABLE_ASCII),
      byNeed: this.needs.map((need) => all.intersect(categorySets()[need.category])),
      hints: this.hints.map((h) => h.intersect(all)).filter((h) => h.size > 0),
    };
    this.choices.set(node, choices);
    return choices;
  }
}

/** Printable ASCII without the space: what an example passcode should preferably use. */

export function search(
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
  const lookaheads = analyses.flatMap((a, i) => mandatoryLookarounds(a.root, LOOKAHEADS).map((node) => ({ sampler: samplers[i] as Sampler, node })));
  const filler = space.alphabet.intersect(PRINTABLE_ASCII).size > 0 ? space.alphabet.intersect(PRINTABLE_ASCII) : space.alphabet;
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

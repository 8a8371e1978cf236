// customRegex (macOS 14+, com.apple.mobiledevice.passwordpolicy customRegex.passwordContentRegex)
// is written in ICU syntax and evaluated by macOS with ICU. lockwarden evaluates it in JavaScript:
// this file translates what differs between the two dialects when the translation is exact, and
// refuses, naming the construct, when it is not. A refused rule is never evaluated, so callers
// report it as "not checked" instead of guessing (never a silent pass, never a false failure).
//
// Reference: ICU User Guide, "Regular Expressions" (metacharacters, operators, set expressions,
// flag options) and ICU's matcher for the exact behaviour of `$` and `\Z`.

import regjsparser from 'regjsparser';
import type { AstNode, Features } from 'regjsparser';
import { CUSTOM_REGEX_MAX_LENGTH } from './model.ts';

/**
 * Passcodes longer than this many code points are not evaluated against a customRegex: real
 * passcodes are far shorter, and the cap bounds the cost of a backtracking match.
 */
export const MAX_EVALUATED_PASSCODE_LENGTH = 1024;

export type CompiledCustomRegex = { ok: true; regex: RegExp } | { ok: false; reason: string };

/** The regjsparser features every translated pattern may use. */
export const JS_REGEX_FEATURES = {
  unicodePropertyEscape: true,
  namedGroups: true,
  lookbehind: true,
} as const satisfies Features;

/**
 * Translates an ICU customRegex into a JavaScript RegExp (always with the `u` flag, plus `i`
 * when the pattern starts with `(?i)`), or explains why it cannot be evaluated in JavaScript.
 *
 * The RegExp is meant for {@link matchesWholePasscode}: lockwarden, like NSPredicate MATCHES,
 * requires the pattern to match the whole passcode.
 *
 * Translated exactly: `\A` `\z` `\Z` `$` (ICU's `$` and `\Z` also match before a final line
 * terminator), `.` (ICU excludes all seven line terminators), `\d \s \w \h \v` and their
 * negations (Unicode-aware in ICU, ASCII in JavaScript), `\R`, `\a \e \cX \x{…} \U…… \0ooo`,
 * `\Q…\E`, `[:name:]`, loose `\p{…}` names, nested set unions, ICU's "escape any symbol" rule,
 * leading `(?i)`/`(?s)`, `(?#…)` comments, and possessive quantifiers or atomic groups whose
 * meaning does not depend on backtracking (a fixed count of one character; a possessive
 * repetition of one character that ends the pattern; an atomic group of plain characters).
 *
 * Refused, with the construct named: patterns over {@link CUSTOM_REGEX_MAX_LENGTH} characters,
 * other possessive quantifiers and atomic groups, `\b` `\B` `\G` `\X` `\N{…}`, set `&&` and `--`,
 * `(?m)` `(?x)`, flags that change after the start, unbounded look-behind (ICU rejects it),
 * `(?i)` next to literal text that ICU's full case folding would match differently ("ss" ↔ "ß"),
 * nested unbounded quantifiers such as `(a+)+` (exponential backtracking), and anything that is
 * not a valid pattern.
 */
export function compileCustomRegex(source: string): CompiledCustomRegex {
  // Counted in UTF-16 units, as NSString (and parse.ts) count characters.
  if (source.length > CUSTOM_REGEX_MAX_LENGTH) {
    return { ok: false, reason: `longer than Apple's limit of ${CUSTOM_REGEX_MAX_LENGTH} characters (has ${source.length})` };
  }
  let translated: { source: string; flags: string };
  try {
    translated = new IcuTranslator(source).translate();
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, reason: e.message };
    throw e;
  }
  let regex: RegExp;
  try {
    regex = new RegExp(translated.source, translated.flags);
  } catch (e) {
    return { ok: false, reason: `not a valid regular expression (${(e as Error).message})` };
  }
  let ast: AstNode<typeof JS_REGEX_FEATURES>;
  try {
    ast = regjsparser.parse(regex.source, regex.flags, JS_REGEX_FEATURES);
  } catch (e) {
    return { ok: false, reason: `lockwarden cannot analyse this pattern (${(e as Error).message})` };
  }
  const nested = findNestedUnboundedQuantifier(ast, null);
  if (nested) {
    return {
      ok: false,
      reason:
        `nested unbounded quantifiers (${nested}) can backtrack exponentially; ` +
        'rewrite the pattern so that no repeated group contains another unbounded repetition',
    };
  }
  return { ok: true, regex };
}

/**
 * True when `regex` matches the whole passcode (ICU `matches()`, NSPredicate MATCHES), not just a
 * part of it. Throws a RangeError for passcodes over {@link MAX_EVALUATED_PASSCODE_LENGTH} code
 * points: the caller reports those as not checked rather than risk a long backtracking match.
 */
export function matchesWholePasscode(regex: RegExp, passcode: string): boolean {
  return wholePasscodeMatcher(regex)(passcode);
}

/** {@link matchesWholePasscode} with the anchored pattern built once, for checking many passcodes. */
export function wholePasscodeMatcher(regex: RegExp): (passcode: string) => boolean {
  const flags = regex.flags.replace(/[gy]/g, '');
  // `^…$` lets the engine anchor the attempt at position 0; under the `m` flag they would mean
  // line starts and ends, so the position-exact look-arounds are used instead.
  const whole = flags.includes('m')
    ? new RegExp(`(?<![\\s\\S])(?:${regex.source})(?![\\s\\S])`, flags)
    : new RegExp(`^(?:${regex.source})$`, flags);
  return (passcode) => {
    const length = codePointLength(passcode);
    if (length > MAX_EVALUATED_PASSCODE_LENGTH) {
      throw new RangeError(`passcode has ${length} characters; customRegex is evaluated up to ${MAX_EVALUATED_PASSCODE_LENGTH}`);
    }
    return whole.test(passcode);
  };
}

function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Translation

class Refusal extends Error {}

/** ICU's line terminators (`$`, `\Z`, `.`, `\R`, `\v`): LF, VT, FF, CR, NEL, LS, PS. */
const LINE_TERMINATORS = ['\\n', '\\x0B', '\\f', '\\r', '\\x85', '\\u2028', '\\u2029'];
const LINE_TERMINATOR_CLASS = `[${LINE_TERMINATORS.join('')}]`;

/**
 * ICU `$` without (?m), and `\Z`: end of input, or before a line terminator that ends the input
 * (CR LF counts as one; the LF of a final CR LF is not a stopping point).
 */
const ICU_END_OF_INPUT = '(?:$|(?=\\r\\n$)|(?=[\\x0B\\f\\r\\x85\\u2028\\u2029]$)|(?<!\\r)(?=\\n$))';

/** A character class as JavaScript class members, e.g. ["\\t", "\\p{Zs}"]. */
type Members = readonly string[];

/** ICU class escapes (lowercase letter: the positive class; uppercase negates it). */
const CLASS_ESCAPES: Readonly<Record<string, Members>> = {
  d: ['\\p{Nd}'],
  s: ['\\t', '\\n', '\\f', '\\r', '\\p{Z}'],
  h: ['\\t', '\\p{Zs}'],
  v: LINE_TERMINATORS,
  w: ['\\p{Alphabetic}', '\\p{M}', '\\p{Nd}', '\\p{Pc}', '\\u200C', '\\u200D'],
};

const POSSESSIVE_REFUSAL =
  'possessive quantifiers (*+, ++, ?+, {n,m}+) are not available in JavaScript; lockwarden translates them ' +
  'only on a single character with a fixed count or at the very end of the pattern';

interface Piece {
  /** JavaScript source for this piece. */
  text: string;
  kind: 'literal' | 'class' | 'group' | 'anchor' | 'end-anchor' | 'assertion' | 'backref';
  /** Matches exactly one code point, in exactly one way. */
  singleChar: boolean;
  /** Matches in at most one way at any position (no alternation or variable repetition). */
  fixedShape: boolean;
  /** For unquantified literal pieces: the character itself. */
  literal?: string;
  quantified?: boolean;
  /** A possessive repetition that is exact only if nothing but end anchors follow it. */
  possessiveAtEnd?: boolean;
}

interface Disjunction {
  text: string;
  fixedShape: boolean;
}

interface SetBody {
  negated: boolean;
  members: string[];
}

type SetItem =
  | { kind: 'char'; cp: number }
  | { kind: 'members'; members: Members }
  | { kind: 'negated-members'; members: Members };

interface Flags {
  i: boolean;
  s: boolean;
}

class IcuTranslator {
  private pos = 0;
  private flags: Flags = { i: false, s: false };
  private emittedAnything = false;
  private lookbehindDepth = 0;

  constructor(private readonly src: string) {}

  translate(): { source: string; flags: string } {
    const body = this.disjunction(true);
    if (this.pos < this.src.length) {
      // disjunction() only stops early at a ')' that closes nothing.
      throw new Refusal(`unmatched ')' at position ${this.pos + 1}`);
    }
    return { source: body.text, flags: `u${this.flags.i ? 'i' : ''}` };
  }

  // -- pattern structure ----------------------------------------------------------------------

  private disjunction(topLevel: boolean): Disjunction {
    const alternatives = [this.sequence(topLevel)];
    while (this.peek() === '|') {
      this.pos++;
      alternatives.push(this.sequence(topLevel));
    }
    return {
      text: alternatives.map((a) => a.text).join('|'),
      fixedShape: alternatives.length === 1 && alternatives.every((a) => a.fixedShape),
    };
  }

  private sequence(topLevel: boolean): Disjunction {
    const pieces: Piece[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      const atoms = this.atom();
      for (let k = 0; k < atoms.length; k++) {
        const atom = atoms[k] as Piece;
        // A quantifier after \Q…\E applies to its last character only.
        pieces.push(k === atoms.length - 1 ? this.quantified(atom) : atom);
      }
    }
    for (let k = 0; k < pieces.length; k++) {
      const piece = pieces[k] as Piece;
      if (!piece.possessiveAtEnd) continue;
      const onlyEndAnchorsFollow = pieces.slice(k + 1).every((p) => p.kind === 'end-anchor');
      if (!topLevel || !onlyEndAnchorsFollow) throw new Refusal(POSSESSIVE_REFUSAL);
    }
    if (this.flags.i) this.refuseFullCaseFolding(pieces);
    return {
      text: pieces.map((p) => p.text).join(''),
      fixedShape: pieces.every((p) => p.fixedShape),
    };
  }

  private atom(): Piece[] {
    const c = this.peek() as string;
    switch (c) {
      case '(':
        return this.group();
      case '[': {
        this.emittedAnything = true;
        const body = this.set();
        return [classPiece(body)];
      }
      case '.':
        this.pos++;
        this.emittedAnything = true;
        return [
          this.flags.s
            ? { text: '(?:\\r\\n|[\\s\\S])', kind: 'group', singleChar: false, fixedShape: false }
            : { text: `[^${LINE_TERMINATORS.join('')}]`, kind: 'class', singleChar: true, fixedShape: true },
        ];
      case '^':
        this.pos++;
        this.emittedAnything = true;
        return [{ text: '^', kind: 'anchor', singleChar: false, fixedShape: true }];
      case '$':
        this.pos++;
        this.emittedAnything = true;
        return [{ text: ICU_END_OF_INPUT, kind: 'end-anchor', singleChar: false, fixedShape: true }];
      case '\\':
        this.emittedAnything = true;
        return this.escapeOutsideSet();
      case '*':
      case '+':
      case '?':
        throw new Refusal(`quantifier '${c}' at position ${this.pos + 1} has nothing to repeat`);
      case '{':
        throw new Refusal(`'{' at position ${this.pos + 1} is not a valid interval (write \\{ for a literal brace)`);
      default:
        this.pos += c.length;
        this.emittedAnything = true;
        return [literalPiece(c)];
    }
  }

  private quantified(atom: Piece): Piece {
    const start = this.pos;
    const q = this.quantifier();
    if (!q) return atom;
    if (atom.kind === 'anchor' || atom.kind === 'end-anchor' || atom.kind === 'assertion') {
      throw new Refusal(`quantifier at position ${start + 1} follows an anchor or look-around (ICU rejects this)`);
    }
    if (this.lookbehindDepth > 0 && q.max === undefined) {
      throw new Refusal('ICU requires a look-behind to have a bounded length (no *, + or {n,} inside (?<=…) or (?<!…))');
    }
    const bounds = q.max === q.min ? `{${q.min}}` : q.max === undefined ? `{${q.min},}` : `{${q.min},${q.max}}`;
    const symbol =
      q.min === 0 && q.max === undefined ? '*' : q.min === 1 && q.max === undefined ? '+' : q.min === 0 && q.max === 1 ? '?' : bounds;
    const piece: Piece = {
      text: `${atom.text}${symbol}${q.lazy ? '?' : ''}`,
      kind: atom.kind,
      singleChar: atom.singleChar && q.min === 1 && q.max === 1,
      fixedShape: atom.fixedShape && q.min === q.max,
      quantified: true,
    };
    if (q.possessive) {
      // A possessive quantifier never gives back what it took. That equals plain greedy
      // matching when the repeated thing is one character taken a fixed number of times, and,
      // under whole-passcode matching, when nothing but end anchors follows it: the greedy first
      // try is the only one that can reach the end of the input.
      if (!atom.singleChar) throw new Refusal(POSSESSIVE_REFUSAL);
      if (q.min !== q.max) piece.possessiveAtEnd = true;
    }
    return piece;
  }

  private quantifier(): { min: number; max: number | undefined; lazy: boolean; possessive: boolean } | null {
    const c = this.peek();
    let min: number;
    let max: number | undefined;
    if (c === '*' || c === '+' || c === '?') {
      this.pos++;
      [min, max] = c === '*' ? [0, undefined] : c === '+' ? [1, undefined] : [0, 1];
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m) throw new Refusal(`malformed interval at position ${this.pos + 1} (expected {n}, {n,} or {n,m})`);
      this.pos += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
      if (max !== undefined && max < min) throw new Refusal(`interval {${min},${max}} has its bounds the wrong way round`);
    } else {
      return null;
    }
    let lazy = false;
    let possessive = false;
    if (this.peek() === '?') {
      this.pos++;
      lazy = true;
    } else if (this.peek() === '+') {
      this.pos++;
      possessive = true;
    }
    const next = this.peek();
    if (next === '*' || next === '+' || next === '?' || (next === '{' && /^\{\d/.test(this.src.slice(this.pos)))) {
      throw new Refusal(`quantifier at position ${this.pos + 1} follows another quantifier`);
    }
    return { min, max, lazy, possessive };
  }

  private group(): Piece[] {
    const open = this.pos;
    this.pos++; // (
    if (this.peek() !== '?') {
      this.emittedAnything = true;
      const body = this.groupBody(open);
      return [{ text: `(${body.text})`, kind: 'group', singleChar: false, fixedShape: body.fixedShape }];
    }
    this.pos++; // ?
    const rest = this.src.slice(this.pos);
    if (rest.startsWith('#')) {
      const close = this.src.indexOf(')', this.pos);
      if (close < 0) throw new Refusal(`comment (?#… at position ${open + 1} is not closed`);
      this.pos = close + 1;
      return [];
    }
    const simple: Record<string, { prefix: string; kind: Piece['kind']; lookbehind?: boolean }> = {
      ':': { prefix: '(?:', kind: 'group' },
      '=': { prefix: '(?=', kind: 'assertion' },
      '!': { prefix: '(?!', kind: 'assertion' },
      '<=': { prefix: '(?<=', kind: 'assertion', lookbehind: true },
      '<!': { prefix: '(?<!', kind: 'assertion', lookbehind: true },
    };
    for (const [marker, spec] of Object.entries(simple)) {
      if (!rest.startsWith(marker)) continue;
      this.pos += marker.length;
      this.emittedAnything = true;
      if (spec.lookbehind) this.lookbehindDepth++;
      const body = this.groupBody(open);
      if (spec.lookbehind) this.lookbehindDepth--;
      return [{ text: `${spec.prefix}${body.text})`, kind: spec.kind, singleChar: false, fixedShape: body.fixedShape }];
    }
    const named = /^<([A-Za-z][A-Za-z0-9]*)>/.exec(rest);
    if (named) {
      this.pos += named[0].length;
      this.emittedAnything = true;
      const body = this.groupBody(open);
      return [{ text: `(?<${named[1]}>${body.text})`, kind: 'group', singleChar: false, fixedShape: body.fixedShape }];
    }
    if (rest.startsWith('>')) {
      this.pos++;
      this.emittedAnything = true;
      const body = this.groupBody(open);
      if (!body.fixedShape) {
        throw new Refusal(
          'atomic groups (?>…) are not available in JavaScript; lockwarden translates them only when they ' +
            'contain plain characters without alternatives or variable repetition',
        );
      }
      return [{ text: `(?:${body.text})`, kind: 'group', singleChar: false, fixedShape: true }];
    }
    const flagGroup = /^([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(rest);
    if (flagGroup) {
      this.pos += flagGroup[0].length;
      return this.flagGroup(open, flagGroup[1] ?? '', flagGroup[2] ?? '', flagGroup[3] === ':');
    }
    throw new Refusal(`unknown group construct '(?${rest.slice(0, 1)}' at position ${open + 1}`);
  }

  private groupBody(open: number): Disjunction {
    const body = this.disjunction(false);
    if (this.peek() !== ')') throw new Refusal(`group opened at position ${open + 1} is not closed`);
    this.pos++;
    return body;
  }

  private flagGroup(open: number, on: string, off: string, scoped: boolean): Piece[] {
    for (const f of on + off) {
      if (!'ismwx'.includes(f)) throw new Refusal(`unknown flag '${f}' in the group at position ${open + 1}`);
    }
    if (on.includes('x')) throw new Refusal('free-spacing mode (?x) is not supported; write the pattern without it');
    if (on.includes('m')) throw new Refusal('multi-line mode (?m) is not supported; a passcode is a single line');
    // (?w) only changes how \b finds word boundaries, and \b is refused on its own.
    const next: Flags = {
      i: on.includes('i') ? true : off.includes('i') ? false : this.flags.i,
      s: on.includes('s') ? true : off.includes('s') ? false : this.flags.s,
    };
    const changes = next.i !== this.flags.i || next.s !== this.flags.s;
    if (scoped) {
      if (changes) {
        throw new Refusal(`scoped flags (?${on}${off ? `-${off}` : ''}:…) are not supported; set flags once at the start of the pattern`);
      }
      this.emittedAnything = true;
      const body = this.groupBody(open);
      return [{ text: `(?:${body.text})`, kind: 'group', singleChar: false, fixedShape: body.fixedShape }];
    }
    if (changes) {
      if (this.emittedAnything) {
        throw new Refusal(`inline flags (?${on}${off ? `-${off}` : ''}) are supported only at the very start of the pattern`);
      }
      this.flags = next;
    }
    return [];
  }

  // -- escapes --------------------------------------------------------------------------------

  private escapeOutsideSet(): Piece[] {
    const at = this.pos;
    this.pos++; // backslash
    const c = this.peek();
    if (c === undefined) throw new Refusal('the pattern ends with a lone backslash');
    this.pos += c.length;
    switch (c) {
      case 'A':
        return [{ text: '^', kind: 'anchor', singleChar: false, fixedShape: true }];
      case 'z':
        return [{ text: '$', kind: 'end-anchor', singleChar: false, fixedShape: true }];
      case 'Z':
        return [{ text: ICU_END_OF_INPUT, kind: 'end-anchor', singleChar: false, fixedShape: true }];
      case 'b':
      case 'B':
        throw new Refusal(`word boundary \\${c} is not supported (ICU's word rules differ from JavaScript's)`);
      case 'G':
        throw new Refusal('\\G (end of the previous match) has no JavaScript equivalent');
      case 'X':
        throw new Refusal('\\X (grapheme cluster) has no JavaScript equivalent');
      case 'R':
        return [{ text: `(?:\\r\\n|${LINE_TERMINATOR_CLASS})`, kind: 'group', singleChar: false, fixedShape: false }];
      case 'k': {
        const m = /^<([A-Za-z][A-Za-z0-9]*)>/.exec(this.src.slice(this.pos));
        if (!m) throw new Refusal(`\\k at position ${at + 1} must be followed by <name>`);
        this.pos += m[0].length;
        return [{ text: `\\k<${m[1]}>`, kind: 'backref', singleChar: false, fixedShape: false }];
      }
      case 'Q':
        return this.quoted().map((ch) => literalPiece(ch));
      default:
        break;
    }
    if (/^[1-9]$/.test(c)) {
      if (/^[0-9]/.test(this.src.slice(this.pos))) {
        throw new Refusal(`back reference \\${c} at position ${at + 1} is followed by a digit; ICU and JavaScript may read it differently`);
      }
      return [{ text: `\\${c}`, kind: 'backref', singleChar: false, fixedShape: false }];
    }
    const cls = this.classEscape(c);
    if (cls) return [classPiece(cls)];
    const cp = this.characterEscape(c, at, false);
    return [literalPiece(String.fromCodePoint(cp))];
  }

  /** `\d \s \w \h \v \p{…}` and their negations, or null for anything else. */
  private classEscape(c: string): SetBody | null {
    const lower = c.toLowerCase();
    const fixed = CLASS_ESCAPES[lower];
    if (fixed) return { negated: c !== lower, members: [...fixed] };
    if (c === 'p' || c === 'P') {
      const m = /^\{([^}]*)\}/.exec(this.src.slice(this.pos));
      if (!m) throw new Refusal(`\\${c} must be followed by {property name}`);
      this.pos += m[0].length;
      return { negated: c === 'P', members: [...propertyMembers(m[1] ?? '')] };
    }
    return null;
  }

  /** Escapes that stand for one character; returns its code point. */
  private characterEscape(c: string, at: number, inSet: boolean): number {
    const rest = this.src.slice(this.pos);
    switch (c) {
      case 'a':
        return 0x07;
      case 'e':
        return 0x1b;
      case 'f':
        return 0x0c;
      case 'n':
        return 0x0a;
      case 'r':
        return 0x0d;
      case 't':
        return 0x09;
      case 'b':
        if (inSet) return 0x08;
        break;
      case 'c': {
        const letter = rest[0];
        if (letter === undefined || !/[A-Z]/.test(letter)) {
          throw new Refusal(`\\c at position ${at + 1} must be followed by an uppercase letter A–Z`);
        }
        this.pos++;
        return letter.charCodeAt(0) & 0x1f;
      }
      case 'x': {
        const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(rest);
        const plain = /^[0-9A-Fa-f]{2}/.exec(rest);
        const m = braced ?? plain;
        if (!m) throw new Refusal(`\\x at position ${at + 1} must be followed by two hex digits or {1–6 hex digits}`);
        this.pos += m[0].length;
        return checkedCodePoint(parseInt(braced ? (braced[1] ?? '') : m[0], 16), at);
      }
      case 'u': {
        const m = /^[0-9A-Fa-f]{4}/.exec(rest);
        if (!m) throw new Refusal(`\\u at position ${at + 1} must be followed by four hex digits`);
        this.pos += 4;
        return parseInt(m[0], 16);
      }
      case 'U': {
        const m = /^[0-9A-Fa-f]{8}/.exec(rest);
        if (!m) throw new Refusal(`\\U at position ${at + 1} must be followed by eight hex digits`);
        this.pos += 8;
        return checkedCodePoint(parseInt(m[0], 16), at);
      }
      case '0': {
        const m = /^[0-7]{0,3}/.exec(rest) as RegExpExecArray;
        const value = m[0] === '' ? 0 : parseInt(m[0], 8);
        if (value > 0o377) throw new Refusal(`octal escape \\0${m[0]} is larger than \\0377`);
        this.pos += m[0].length;
        return value;
      }
      case 'N':
        throw new Refusal('\\N{…} (named character) is not supported; write the character or \\x{…} instead');
      default:
        break;
    }
    if (/^[A-Za-z0-9]$/.test(c)) {
      throw new Refusal(`\\${c} at position ${at + 1} is not ${inSet ? 'valid inside a set' : 'a known escape'}`);
    }
    // ICU: a backslash before any other character quotes it.
    return c.codePointAt(0) as number;
  }

  /** The text of `\Q…\E` (the `\Q` already consumed), as single characters. */
  private quoted(): string[] {
    const end = this.src.indexOf('\\E', this.pos);
    const text = this.src.slice(this.pos, end < 0 ? undefined : end);
    this.pos = end < 0 ? this.src.length : end + 2;
    return Array.from(text);
  }

  // -- sets -----------------------------------------------------------------------------------

  private set(): SetBody {
    const open = this.pos;
    const posix = /^\[:(\^?)([^:\]]*):\]/.exec(this.src.slice(this.pos));
    if (posix) {
      this.pos += posix[0].length;
      return { negated: posix[1] === '^', members: [...propertyMembers(posix[2] ?? '')] };
    }
    this.pos++; // [
    let negated = false;
    if (this.peek() === '^') {
      this.pos++;
      negated = true;
    }
    if (this.peek() === ']') {
      throw new Refusal(`']' right after '[' at position ${open + 1} (write \\] for a literal bracket)`);
    }
    const items: SetItem[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new Refusal(`set opened at position ${open + 1} is not closed`);
      if (c === ']') {
        this.pos++;
        break;
      }
      const two = this.src.slice(this.pos, this.pos + 2);
      if (two === '&&') throw new Refusal('set intersection (&&) is not supported');
      if (two === '--') throw new Refusal('set difference (--) is not supported');
      if (c === '-') {
        const previous = items[items.length - 1];
        const atEdge = previous === undefined || this.src[this.pos + 1] === ']';
        if (!atEdge && previous.kind !== 'char') {
          throw new Refusal(`'-' after a class at position ${this.pos + 1} is ambiguous (write \\- for a literal hyphen)`);
        }
        this.pos++;
        items.push({ kind: 'char', cp: 0x2d });
        continue;
      }
      const parsed = this.setItem();
      const [first] = parsed;
      const rangeAhead = this.peek() === '-' && this.src[this.pos + 1] !== ']' && this.src[this.pos + 1] !== '-';
      if (parsed.length === 1 && first?.kind === 'char' && rangeAhead) {
        this.pos++; // -
        const [hi, ...extra] = this.setItem();
        if (hi?.kind !== 'char' || extra.length > 0) {
          throw new Refusal(`range at position ${this.pos} must end in a single character`);
        }
        if (hi.cp < first.cp) throw new Refusal(`range ${describeCp(first.cp)}-${describeCp(hi.cp)} is out of order`);
        items.push({ kind: 'members', members: [`${classChar(first.cp)}-${classChar(hi.cp)}`] });
        continue;
      }
      items.push(...parsed);
    }
    const members: string[] = [];
    let flipped: Members | null = null;
    for (const item of items) {
      if (item.kind === 'char') members.push(classChar(item.cp));
      else if (item.kind === 'members') members.push(...item.members);
      else if (items.length === 1) flipped = item.members;
      else {
        throw new Refusal('a negated multi-part class (\\S, \\W, \\H, \\V) cannot share a set with other members');
      }
    }
    if (flipped) return { negated: !negated, members: [...flipped] };
    if (members.length === 0) throw new Refusal(`the set at position ${open + 1} is empty`);
    return { negated, members };
  }

  /** One member of a set: a character, a class, a nested set, or the characters of \Q…\E. */
  private setItem(): SetItem[] {
    const c = this.peek() as string;
    if (c === '[') {
      const nested = this.set();
      return [nested.negated ? negatedMembers(nested.members) : { kind: 'members', members: nested.members }];
    }
    if (c !== '\\') {
      this.pos += c.length;
      return [{ kind: 'char', cp: c.codePointAt(0) as number }];
    }
    const at = this.pos;
    this.pos++;
    const e = this.peek();
    if (e === undefined) throw new Refusal('the pattern ends with a lone backslash');
    this.pos += e.length;
    if (e === 'Q') return this.quoted().map((ch) => ({ kind: 'char', cp: ch.codePointAt(0) as number }));
    if ('AzZGXRkB'.includes(e) || /^[1-9]$/.test(e)) {
      throw new Refusal(`\\${e} at position ${at + 1} is not valid inside a set`);
    }
    const cls = this.classEscape(e);
    if (cls) return [cls.negated ? negatedMembers(cls.members) : { kind: 'members', members: cls.members }];
    return [{ kind: 'char', cp: this.characterEscape(e, at, true) }];
  }

  // -- case folding -----------------------------------------------------------------------------

  /**
   * ICU matches literal text under (?i) with full case folding ("ss" matches "ß", "ß" matches
   * "ss"); JavaScript folds one character at a time. Refuse literal runs where that differs.
   */
  private refuseFullCaseFolding(pieces: readonly Piece[]): void {
    const runs: string[] = [];
    let run = '';
    for (const p of pieces) {
      if (p.kind === 'literal' && !p.quantified && p.literal !== undefined) {
        run += p.literal;
      } else {
        if (run) runs.push(run);
        run = '';
      }
    }
    if (run) runs.push(run);
    if (runs.length === 0) return;
    const hazards = fullCaseFoldingHazards();
    for (const text of runs) {
      for (const ch of text) {
        if (hazards.expanding.has(ch)) {
          throw new Refusal(
            `(?i) with the literal ${JSON.stringify(ch)}: ICU's full case folding also matches ${JSON.stringify(hazards.expanding.get(ch))}, which JavaScript cannot reproduce`,
          );
        }
      }
      const folded = Array.from(text, fullFold).join('');
      for (const [expansion, source] of hazards.expansions) {
        if (folded.includes(expansion)) {
          throw new Refusal(
            `(?i) with the literal text ${JSON.stringify(expansion)}: ICU's full case folding also matches ${JSON.stringify(source)}, which JavaScript cannot reproduce`,
          );
        }
      }
    }
  }

  private peek(): string | undefined {
    const cp = this.src.codePointAt(this.pos);
    return cp === undefined ? undefined : String.fromCodePoint(cp);
  }
}

function literalPiece(ch: string): Piece {
  return { text: outsideChar(ch.codePointAt(0) as number), kind: 'literal', singleChar: true, fixedShape: true, literal: ch };
}

function classPiece(body: SetBody): Piece {
  const [only] = body.members;
  let text: string;
  if (body.members.length === 1 && only !== undefined && /^\\p\{[^}]+\}$/.test(only)) {
    text = body.negated ? `\\P${only.slice(2)}` : only;
  } else {
    text = `[${body.negated ? '^' : ''}${body.members.join('')}]`;
  }
  return { text, kind: 'class', singleChar: true, fixedShape: true };
}

function negatedMembers(members: Members): SetItem {
  const [only] = members;
  if (members.length === 1 && only !== undefined && /^\\p\{[^}]+\}$/.test(only)) {
    return { kind: 'members', members: [`\\P${only.slice(2)}`] };
  }
  return { kind: 'negated-members', members };
}

function checkedCodePoint(cp: number, at: number): number {
  if (cp > 0x10ffff) throw new Refusal(`escape at position ${at + 1} is beyond the last Unicode code point U+10FFFF`);
  return cp;
}

function describeCp(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

function needsHexEscape(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp === 0x2028 || cp === 0x2029 || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfeff;
}

function outsideChar(cp: number): string {
  if (needsHexEscape(cp)) return `\\u{${cp.toString(16).toUpperCase()}}`;
  const ch = String.fromCodePoint(cp);
  return '^$\\.*+?()[]{}|/'.includes(ch) ? `\\${ch}` : ch;
}

function classChar(cp: number): string {
  if (needsHexEscape(cp)) return `\\u{${cp.toString(16).toUpperCase()}}`;
  const ch = String.fromCodePoint(cp);
  return '\\]-[^'.includes(ch) ? `\\${ch}` : ch;
}

// -- Unicode properties ---------------------------------------------------------------------------

/** General_Category values: short name first, then the long and other aliases (UCD PropertyValueAliases). */
const GENERAL_CATEGORIES: readonly (readonly string[])[] = [
  ['C', 'Other'], ['Cc', 'Control', 'cntrl'], ['Cf', 'Format'], ['Cn', 'Unassigned'], ['Co', 'Private_Use'],
  ['Cs', 'Surrogate'], ['L', 'Letter'], ['LC', 'Cased_Letter'], ['Ll', 'Lowercase_Letter'], ['Lm', 'Modifier_Letter'],
  ['Lo', 'Other_Letter'], ['Lt', 'Titlecase_Letter'], ['Lu', 'Uppercase_Letter'], ['M', 'Mark', 'Combining_Mark'],
  ['Mc', 'Spacing_Mark'], ['Me', 'Enclosing_Mark'], ['Mn', 'Nonspacing_Mark'], ['N', 'Number'],
  ['Nd', 'Decimal_Number', 'digit'], ['Nl', 'Letter_Number'], ['No', 'Other_Number'], ['P', 'Punctuation', 'punct'],
  ['Pc', 'Connector_Punctuation'], ['Pd', 'Dash_Punctuation'], ['Pe', 'Close_Punctuation'], ['Pf', 'Final_Punctuation'],
  ['Pi', 'Initial_Punctuation'], ['Po', 'Other_Punctuation'], ['Ps', 'Open_Punctuation'], ['S', 'Symbol'],
  ['Sc', 'Currency_Symbol'], ['Sk', 'Modifier_Symbol'], ['Sm', 'Math_Symbol'], ['So', 'Other_Symbol'],
  ['Z', 'Separator'], ['Zl', 'Line_Separator'], ['Zp', 'Paragraph_Separator'], ['Zs', 'Space_Separator'],
];

/** Binary properties JavaScript supports: canonical name first, then aliases ICU also accepts. */
const BINARY_PROPERTIES: readonly (readonly string[])[] = [
  ['ASCII'], ['ASCII_Hex_Digit', 'AHex'], ['Alphabetic', 'Alpha'], ['Any'], ['Assigned'], ['Bidi_Control', 'Bidi_C'],
  ['Bidi_Mirrored', 'Bidi_M'], ['Case_Ignorable', 'CI'], ['Cased'], ['Changes_When_Casefolded', 'CWCF'],
  ['Changes_When_Casemapped', 'CWCM'], ['Changes_When_Lowercased', 'CWL'], ['Changes_When_NFKC_Casefolded', 'CWKCF'],
  ['Changes_When_Titlecased', 'CWT'], ['Changes_When_Uppercased', 'CWU'], ['Dash'],
  ['Default_Ignorable_Code_Point', 'DI'], ['Deprecated', 'Dep'], ['Diacritic', 'Dia'], ['Emoji'],
  ['Emoji_Component', 'EComp'], ['Emoji_Modifier', 'EMod'], ['Emoji_Modifier_Base', 'EBase'],
  ['Emoji_Presentation', 'EPres'], ['Extended_Pictographic', 'ExtPict'], ['Extender', 'Ext'],
  ['Grapheme_Base', 'Gr_Base'], ['Grapheme_Extend', 'Gr_Ext'], ['Hex_Digit', 'Hex'], ['IDS_Binary_Operator', 'IDSB'],
  ['IDS_Trinary_Operator', 'IDST'], ['ID_Continue', 'IDC'], ['ID_Start', 'IDS'], ['Ideographic', 'Ideo'],
  ['Join_Control', 'Join_C'], ['Logical_Order_Exception', 'LOE'], ['Lowercase', 'Lower'], ['Math'],
  ['Noncharacter_Code_Point', 'NChar'], ['Pattern_Syntax', 'Pat_Syn'], ['Pattern_White_Space', 'Pat_WS'],
  ['Quotation_Mark', 'QMark'], ['Radical'], ['Regional_Indicator', 'RI'], ['Sentence_Terminal', 'STerm'],
  ['Soft_Dotted', 'SD'], ['Terminal_Punctuation', 'Term'], ['Unified_Ideograph', 'UIdeo'], ['Uppercase', 'Upper'],
  ['Variation_Selector', 'VS'], ['White_Space', 'space', 'WSpace', 'Whitespace'], ['XID_Continue', 'XIDC'],
  ['XID_Start', 'XIDS'],
];

/** UTS #18 Annex C compatibility names that are not a single Unicode property. */
const POSIX_COMPATIBILITY: Readonly<Record<string, Members>> = {
  alnum: ['\\p{Alphabetic}', '\\p{Nd}'],
  blank: ['\\t', '\\p{Zs}'],
  xdigit: ['\\p{Nd}', '\\p{Hex_Digit}'],
};

/** UAX #44 loose matching: case, spaces, hyphens and underscores do not matter. */
function looseKey(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, '');
}

function lookupTable(table: readonly (readonly string[])[], name: string): string | undefined {
  const key = looseKey(name);
  return table.find((names) => names.some((n) => looseKey(n) === key))?.[0];
}

function titleCaseWords(value: string): string {
  return value
    .trim()
    .split(/[\s_-]+/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())
    .join('_');
}

function isJsProperty(expr: string): boolean {
  try {
    new RegExp(`\\p{${expr}}`, 'u');
    return true;
  } catch {
    return false;
  }
}

/** `\p{name}` (ICU spelling, loosely matched) as JavaScript class members. */
function propertyMembers(name: string): Members {
  const trimmed = name.trim();
  // Canonical spellings first, so equal sets read the same whichever alias the author used.
  const candidates: string[] = [];
  const eq = trimmed.indexOf('=');
  if (eq < 0) {
    const key = looseKey(trimmed);
    if (Object.hasOwn(POSIX_COMPATIBILITY, key)) return POSIX_COMPATIBILITY[key] as Members;
    const gc = lookupTable(GENERAL_CATEGORIES, trimmed);
    if (gc) candidates.push(gc);
    const binary = lookupTable(BINARY_PROPERTIES, trimmed);
    if (binary) candidates.push(binary);
    candidates.push(trimmed, `Script=${titleCaseWords(trimmed)}`);
  } else {
    const property = looseKey(trimmed.slice(0, eq));
    const value = trimmed.slice(eq + 1);
    if (property === 'gc' || property === 'generalcategory') {
      const gc = lookupTable(GENERAL_CATEGORIES, value);
      if (gc) candidates.push(gc);
    } else if (property === 'sc' || property === 'script') {
      candidates.push(`Script=${titleCaseWords(value)}`);
    } else if (property === 'scx' || property === 'scriptextensions') {
      candidates.push(`Script_Extensions=${titleCaseWords(value)}`);
    }
    candidates.push(trimmed);
  }
  const found = candidates.find(isJsProperty);
  if (found === undefined) {
    throw new Refusal(`Unicode property ${JSON.stringify(trimmed)} is not available in JavaScript`);
  }
  return [`\\p{${found}}`];
}

// -- full case folding ------------------------------------------------------------------------------

interface FoldingHazards {
  /** Characters whose full case folding is several characters, e.g. ß → "ss". */
  expanding: Map<string, string>;
  /** Those foldings, each mapped to one character that folds to it. */
  expansions: Map<string, string>;
}

let foldingHazards: FoldingHazards | undefined;

/** Full case folding of one character, approximated by JavaScript's full case mappings. */
function fullFold(ch: string): string {
  return ch.toLowerCase().toUpperCase().toLowerCase();
}

/**
 * Derived once from the JavaScript engine's own case mappings (multi-character foldings exist
 * only in the BMP). A cache of a pure computation: it never changes a result, only its cost.
 */
function fullCaseFoldingHazards(): FoldingHazards {
  if (foldingHazards) return foldingHazards;
  const expanding = new Map<string, string>();
  const expansions = new Map<string, string>();
  for (let cp = 0; cp <= 0xffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCharCode(cp);
    const folded = fullFold(ch);
    if (codePointLength(folded) > 1) {
      expanding.set(ch, folded);
      if (!expansions.has(folded)) expansions.set(folded, ch);
    }
  }
  foldingHazards = { expanding, expansions };
  return foldingHazards;
}

// -- backtracking guard -----------------------------------------------------------------------------

/**
 * The first unbounded quantifier nested inside another unbounded quantifier, e.g. "(a+)+", or
 * null. Look-around bodies are checked on their own: JavaScript never backtracks into them.
 */
function findNestedUnboundedQuantifier(node: AstNode<typeof JS_REGEX_FEATURES>, outer: string | null): string | null {
  switch (node.type) {
    case 'quantifier': {
      const unbounded = node.max === undefined;
      if (unbounded && outer !== null) return `${node.raw} inside ${outer}`;
      return findNestedUnboundedQuantifier(node.body[0], unbounded ? node.raw : outer);
    }
    case 'group':
      if (node.behavior !== 'normal' && node.behavior !== 'ignore') {
        for (const child of node.body) {
          const found = findNestedUnboundedQuantifier(child, null);
          if (found) return found;
        }
        return null;
      }
      for (const child of node.body) {
        const found = findNestedUnboundedQuantifier(child, outer);
        if (found) return found;
      }
      return null;
    case 'alternative':
    case 'disjunction':
      for (const child of node.body) {
        const found = findNestedUnboundedQuantifier(child, outer);
        if (found) return found;
      }
      return null;
    default:
      return null;
  }
}

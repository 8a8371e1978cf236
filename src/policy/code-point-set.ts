// Sets of code points: what a customRegex atom matches and which characters checkPasscode counts
// in each class, as sorted ranges that example passcodes are built from and proofs reason about.

export const MAX_CODE_POINT = 0x10ffff;

/** A set of code points as sorted, disjoint, non-adjacent inclusive ranges [lo0, hi0, lo1, hi1, …]. */
export class CodePointSet {
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
/** Printable ASCII without the space: what readable example passcodes are made of first. */
export const PRINTABLE_ASCII = CodePointSet.of(0x21, 0x7e);

export const VISIBLE = CodePointSet.fromRanges([[0x21, 0x7e], [0xa1, 0xac], [0xae, 0x2ff], [0x370, 0x1fff], [0x2010, 0x2027], [0x2030, 0x205e], [0x2070, 0xd7ff], [0xf900, 0xfdcf], [0xfdf0, 0xfffd], [0x10000, 0x1ffff]]);

export interface CategorySets {
  letters: CodePointSet;
  complex: CodePointSet;
  digits: CodePointSet;
  lowercase: CodePointSet;
  uppercase: CodePointSet;
}

let categories: CategorySets | undefined;

/** The character classes checkPasscode counts, as code point sets. */
export function categorySets(): CategorySets {
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
export function materialize(source: string, flags: string): CodePointSet {
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

export function codePoints(text: string): string[] {
  return Array.from(text);
}

// The make-up of a simulated fleet: `--mix ios=60,macos=30,watchos=10` read into weights, and N
// devices shared out by them. Pure, so the CLI, the demo and the tests agree on what a mix means.
import { didYouMean } from '../policy/did-you-mean.ts';

export interface MixEntry {
  kind: string;
  weight: number;
}

export type MixResult = { ok: true; entries: MixEntry[] } | { ok: false; error: string };

const MAX_WEIGHT = 1_000_000;

/**
 * Reads "kind=weight,kind=weight". Weights are relative (60/30/10 and 6/3/1 are the same fleet);
 * a kind may appear once; at least one weight must be above zero. Each error names the entry,
 * the value and what is allowed.
 */
export function parseMix(text: string, knownKinds: readonly string[]): MixResult {
  const entries: MixEntry[] = [];
  const seen = new Set<string>();
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const match = /^([A-Za-z0-9-]+)\s*=\s*(\S+)$/.exec(part);
    if (!match) return { ok: false, error: `--mix: "${part}" is not kind=weight (e.g. ios=60)` };
    const [, kind = '', weightText = ''] = match;
    if (!knownKinds.includes(kind)) {
      const suggestion = didYouMean(kind, knownKinds);
      return { ok: false, error: `--mix: unknown kind "${kind}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}; known kinds: ${knownKinds.join(', ')}` };
    }
    const weight = Number(weightText);
    if (!/^\d+$/.test(weightText) || weight > MAX_WEIGHT) {
      return { ok: false, error: `--mix: ${kind}=${weightText}: the weight must be a whole number from 0 to ${MAX_WEIGHT}` };
    }
    if (seen.has(kind)) return { ok: false, error: `--mix: ${kind} is given twice` };
    seen.add(kind);
    entries.push({ kind, weight });
  }
  if (entries.length === 0) return { ok: false, error: '--mix: no kinds given (e.g. ios=60,macos=30,watchos=10)' };
  if (entries.every((e) => e.weight === 0)) return { ok: false, error: '--mix: every weight is 0; at least one must be above 0' };
  return { ok: true, entries };
}

/**
 * `count` kinds in proportion to the weights (largest remainder, so the counts always add up and
 * each is within one of exact), interleaved so that the first devices of a fleet are already
 * mixed: a fleet stopped half-way still has every kind in it.
 */
export function allocateFleet(count: number, entries: readonly MixEntry[]): string[] {
  const total = entries.reduce((sum, e) => sum + e.weight, 0);
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`fleet size must be a whole number ≥ 0, got ${count}`);
  if (total === 0) throw new RangeError('at least one weight must be above 0');
  const exact = entries.map((e) => (count * e.weight) / total);
  const counts = exact.map(Math.floor);
  let left = count - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((value, i) => ({ i, remainder: value - Math.floor(value) })).sort((a, b) => b.remainder - a.remainder || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left === 0) break;
    counts[i]! += 1;
    left -= 1;
  }
  // Interleave: at each step take the kind furthest behind its share so far.
  const placed = entries.map(() => 0);
  const order: string[] = [];
  for (let n = 1; n <= count; n++) {
    let pick = -1;
    let deficit = -Infinity;
    entries.forEach((_, i) => {
      if (placed[i]! >= counts[i]!) return;
      const behind = (n * counts[i]!) / count - placed[i]!;
      if (behind > deficit) {
        deficit = behind;
        pick = i;
      }
    });
    placed[pick]! += 1;
    order.push(entries[pick]!.kind);
  }
  return order;
}

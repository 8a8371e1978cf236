import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSimplePasscode, simplePasscodeKind } from '../../src/policy/simple-passcode.ts';

describe('isSimplePasscode (decision 5)', () => {
  it.each([
    ['1111', 'repeated'],
    ['aa', 'repeated'],
    ['123456', 'ascending'],
    ['654321', 'descending'],
    ['abcdef', 'ascending'],
    ['CBA', 'descending'],
    ['12', 'ascending'],
    ['21', 'descending'],
    ['0123456789', 'ascending'],
    ['yz{', 'ascending'],
    ['/01', 'ascending'],
  ] as const)('%j is simple (%s)', (passcode, kind) => {
    expect(isSimplePasscode(passcode)).toBe(true);
    expect(simplePasscodeKind(passcode)).toBe(kind);
  });

  it.each([
    ['9012', "'9' → '0' is not +1: runs do not wrap"],
    ['7890', "'9' → '0' does not wrap"],
    ['Za', "'a' is seven code points after 'Z'"],
    ['1235', 'the last step is +2'],
    ['1213', 'the direction changes'],
    ['112', 'a repeat followed by a step'],
    ['1221', 'up, repeat, down'],
    ['13', 'a step of two'],
    ['1357', 'a constant step of two is still not simple'],
    ['aA', 'case differs'],
    ['Kq7#mR2x', 'an ordinary passcode'],
  ])('%j is not simple (%s)', (passcode) => {
    expect(isSimplePasscode(passcode)).toBe(false);
    expect(simplePasscodeKind(passcode)).toBeNull();
  });

  it('treats a 1-character passcode as simple: both definitions hold vacuously', () => {
    for (const passcode of ['a', '7', '#', '😀']) {
      expect(isSimplePasscode(passcode)).toBe(true);
      expect(simplePasscodeKind(passcode)).toBe('single');
    }
  });

  it('treats the empty string as no passcode, not a simple one', () => {
    expect(isSimplePasscode('')).toBe(false);
    expect(simplePasscodeKind('')).toBeNull();
  });

  it('works on code points, not UTF-16 units', () => {
    // U+1F600..U+1F602 rise by one code point, but their surrogate pairs do not rise by one unit.
    expect(isSimplePasscode('😀😁😂')).toBe(true);
    expect(simplePasscodeKind('😂😁😀')).toBe('descending');
    expect(simplePasscodeKind('😀😀😀')).toBe('repeated');
    // Two code points, four units: as units this would be D83D DE00 D83D DE00 (not simple).
    expect(simplePasscodeKind('😀😀')).toBe('repeated');
    // One astral character is a single character, not two.
    expect(simplePasscodeKind('😀')).toBe('single');
    // U+FFFF → U+10000 is +1 across the BMP edge.
    expect(isSimplePasscode('\uFFFF\u{10000}')).toBe(true);
    expect(isSimplePasscode('a😀')).toBe(false);
  });

  it('counts lone surrogates as the code points they are', () => {
    expect(isSimplePasscode('\uD800\uD800')).toBe(true);
    expect(isSimplePasscode('\uD800x')).toBe(false);
  });

  // Far enough from the surrogates and the last code point for runs of up to 20 steps.
  const arbCodePoint = fc.integer({ min: 0x21, max: 0x10ff00 }).filter((cp) => cp < 0xd700 || cp > 0xe000);

  it('any repetition of one character is simple', () => {
    fc.assert(fc.property(arbCodePoint, fc.integer({ min: 2, max: 40 }), (cp, n) => {
      expect(simplePasscodeKind(String.fromCodePoint(cp).repeat(n))).toBe('repeated');
    }));
  });

  it('any run that rises by one is simple, and so is its reverse', () => {
    fc.assert(fc.property(arbCodePoint, fc.integer({ min: 2, max: 15 }), (start, n) => {
      const run = Array.from({ length: n }, (_, i) => String.fromCodePoint(start + i));
      expect(simplePasscodeKind(run.join(''))).toBe('ascending');
      expect(simplePasscodeKind([...run].reverse().join(''))).toBe('descending');
    }));
  });

  it('breaking one step of a simple run makes it not simple', () => {
    fc.assert(fc.property(
      arbCodePoint,
      fc.integer({ min: 3, max: 15 }),
      fc.constantFrom(-1, 0, 1),
      fc.nat(),
      fc.integer({ min: 2, max: 5 }),
      (start, n, step, where, jump) => {
        const cps = Array.from({ length: n }, (_, i) => start + i * step);
        const i = 1 + (where % (n - 1));
        // Shift everything from i on, so exactly one step changes (by `jump`, never back to ±1/0 of it).
        for (let k = i; k < n; k++) cps[k] = (cps[k] as number) + jump;
        expect(isSimplePasscode(String.fromCodePoint(...cps))).toBe(false);
      },
    ));
  });
});

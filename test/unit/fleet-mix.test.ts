import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateFleet, parseMix } from '../../src/sim/fleet-mix.ts';

const KINDS = ['ios', 'ipados', 'macos', 'watchos', 'visionos', 'tvos'];

describe('parseMix', () => {
  it('reads kind=weight pairs, spaces and a trailing comma allowed', () => {
    expect(parseMix('ios=60, macos=30,watchos = 10,', KINDS)).toEqual({
      ok: true,
      entries: [{ kind: 'ios', weight: 60 }, { kind: 'macos', weight: 30 }, { kind: 'watchos', weight: 10 }],
    });
  });

  it.each([
    ['ios', /"ios" is not kind=weight/],
    ['iso=5', /unknown kind "iso" \(did you mean "ios"\?\); known kinds: ios, ipados/],
    ['ios=-1', /ios=-1: the weight must be a whole number from 0 to 1000000/],
    ['ios=1.5', /ios=1.5: the weight must be a whole number/],
    ['ios=2000000', /ios=2000000: the weight must be a whole number from 0 to 1000000/],
    ['ios=1,ios=2', /ios is given twice/],
    ['', /no kinds given/],
    ['ios=0,macos=0', /every weight is 0/],
  ])('refuses %j, saying why', (text, message) => {
    const result = parseMix(text, KINDS);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });
});

describe('allocateFleet', () => {
  it('shares out by weight, and the first devices are already mixed', () => {
    const fleet = allocateFleet(10, [{ kind: 'ios', weight: 60 }, { kind: 'macos', weight: 30 }, { kind: 'watchos', weight: 10 }]);
    expect(fleet.filter((k) => k === 'ios')).toHaveLength(6);
    expect(fleet.filter((k) => k === 'macos')).toHaveLength(3);
    expect(fleet.filter((k) => k === 'watchos')).toHaveLength(1);
    expect(new Set(fleet.slice(0, 3))).toEqual(new Set(['ios', 'macos']));
  });

  it('gives nothing to a zero weight and copes with an empty fleet', () => {
    expect(allocateFleet(5, [{ kind: 'ios', weight: 1 }, { kind: 'tvos', weight: 0 }])).toEqual(['ios', 'ios', 'ios', 'ios', 'ios']);
    expect(allocateFleet(0, [{ kind: 'ios', weight: 1 }])).toEqual([]);
  });

  it('always adds up, each count within one of its exact share, and every prefix stays close to the mix', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 500 }),
      fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 6 }).filter((ws) => ws.some((w) => w > 0)),
      (count, weights) => {
        const entries = weights.map((weight, i) => ({ kind: KINDS[i]!, weight }));
        const total = weights.reduce((a, b) => a + b, 0);
        const fleet = allocateFleet(count, entries);
        expect(fleet).toHaveLength(count);
        entries.forEach(({ kind, weight }) => {
          const got = fleet.filter((k) => k === kind).length;
          expect(Math.abs(got - (count * weight) / total)).toBeLessThan(1);
          // Interleaving: in any prefix a kind is never more than two devices off its share.
          let seen = 0;
          fleet.forEach((k, n) => {
            if (k === kind) seen += 1;
            expect(Math.abs(seen - ((n + 1) * got) / Math.max(count, 1))).toBeLessThanOrEqual(2);
          });
        });
      },
    ));
  });
});

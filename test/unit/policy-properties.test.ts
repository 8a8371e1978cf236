// Properties of the policy engine over arbitrary valid policies (fast-check).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../../src/policy/compile.ts';
import { compileDeclaration, importDeclaration } from '../../src/policy/ddm-declaration.ts';
import { importPolicy } from '../../src/policy/import-profile.ts';
import { atLeastAsStrict, mergeRequirements, requirementsEqual } from '../../src/policy/merge.ts';
import { REQUIREMENT_KEYS } from '../../src/policy/model.ts';
import type { CompileTarget, PasscodeRequirements, Platform } from '../../src/policy/model.ts';
import { parsePolicyDocument } from '../../src/policy/parse.ts';
import { profileContent, singlePayload } from '../../src/policy/profile-content.ts';
import { toPolicyDocument } from '../../src/policy/serialize.ts';
import { buildProfile } from '../../src/plist/mobileconfig.ts';
import { decodePlist, encodePlist } from '../../src/plist/plist-codec.ts';
import { arbCustomRegex, arbRequirements } from '../support/policy-arbitraries.ts';
import { combineRegexRules, splitCombinedRegex } from '../../src/policy/regex-combination.ts';
import { compileCustomRegex, matchesWholePasscode } from '../../src/policy/icu-regex.ts';

const DELIVERABLE: readonly Platform[] = ['ios', 'ipados', 'macos', 'watchos', 'visionos'];
const arbTarget: fc.Arbitrary<CompileTarget> = fc.oneof(
  fc.constantFrom(...DELIVERABLE).map((platform) => ({ platform, enrollment: 'device' as const })),
  fc.constantFrom('macos' as const).map((platform) => ({ platform, enrollment: 'device' as const, osVersion: '13.5' })),
);
const meta = { identifier: 'com.example.property', displayName: 'Property' };

function compileOk(req: PasscodeRequirements, target: CompileTarget) {
  const outcome = compilePolicy(req, target);
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome.compiled;
}

function importedRequirements(document: unknown): PasscodeRequirements {
  const result = importPolicy(document);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.value.requirements;
}

describe('compile → import gives back the compiled (effective) policy', () => {
  it('through a .mobileconfig written as XML and read back', () => {
    fc.assert(fc.property(arbRequirements, arbTarget, (req, target) => {
      const compiled = compileOk(req, target);
      const xml = encodePlist(buildProfile(profileContent(compiled, meta)));
      const back = importedRequirements(decodePlist(xml));
      expect(back).toEqual(compiled.effective);
    }), { numRuns: 300 });
  });

  it('through the lone payload dictionary (several rules share one joined description there)', () => {
    const withoutDescriptions = (req: PasscodeRequirements): PasscodeRequirements =>
      (req.customRegex ? { ...req, customRegex: req.customRegex.map((r) => ({ regex: r.regex })) } : req);
    fc.assert(fc.property(arbRequirements, arbTarget, (req, target) => {
      const compiled = compileOk(req, target);
      const back = importedRequirements(decodePlist(encodePlist(singlePayload(compiled, meta))));
      const combined = compiled.payloads.length > 1;
      expect(combined ? withoutDescriptions(back) : back).toEqual(combined ? withoutDescriptions(compiled.effective) : compiled.effective);
    }), { numRuns: 300 });
  });

  it('through a DDM declaration on platforms whose declaration keeps every key', () => {
    const phoneLike = fc.constantFrom<Platform>('ios', 'ipados', 'visionos', 'watchos');
    fc.assert(fc.property(arbRequirements, phoneLike, (req, platform) => {
      const compiled = compileOk(req, { platform, enrollment: 'device' });
      const declaration = compileDeclaration(compiled, meta);
      if (!declaration.ok) throw new Error(declaration.reason);
      const back = importDeclaration(JSON.parse(JSON.stringify(declaration.declaration)));
      expect(back.ok && back.value.requirements).toEqual(compiled.effective);
    }), { numRuns: 300 });
  });

  it('on macOS 14 a policy within macOS\'s caps is enforced exactly as written', () => {
    fc.assert(fc.property(arbRequirements, (req) => {
      fc.pre((req.maxInactivity ?? 0) <= 60);
      const compiled = compileOk(req, { platform: 'macos', enrollment: 'device' });
      // A per-class minimum of 0 asks for nothing, so nothing is sent for it.
      const asked = Object.fromEntries(Object.entries(req).filter(([k, v]) => !(/^min(Digits|Lowercase|Uppercase)$/.test(k) && v === 0)));
      expect(requirementsEqual(compiled.effective, asked)).toBe(true);
    }), { numRuns: 300 });
  });
});

describe('a policy is never silently weaker than written (decision 4)', () => {
  it('every written requirement is enforced at least as strictly, or its line says why not', () => {
    fc.assert(fc.property(arbRequirements, arbTarget, (req, target) => {
      const compiled = compileOk(req, target);
      for (const key of REQUIREMENT_KEYS) {
        if (req[key] === undefined || atLeastAsStrict(key, compiled.effective, req)) continue;
        const line = compiled.lines.find((l) => l.requirement === key);
        expect(line?.status, `${key} on ${target.platform}`).toMatch(/^(not-enforceable|approximated)$/);
      }
    }), { numRuns: 500 });
  });

  it('User Enrollment reports every written requirement it does not enforce', () => {
    fc.assert(fc.property(arbRequirements, fc.constantFrom<Platform>('ios', 'ipados', 'visionos'), (req, platform) => {
      const compiled = compileOk(req, { platform, enrollment: 'user' });
      for (const key of REQUIREMENT_KEYS) {
        if (req[key] === undefined || atLeastAsStrict(key, compiled.effective, req)) continue;
        const line = compiled.lines.find((l) => l.requirement === key);
        expect(line?.status).toMatch(/^(not-enforceable|approximated)$/);
      }
    }), { numRuns: 300 });
  });
});

describe('merge (decision 6)', () => {
  const merged = (...inputs: PasscodeRequirements[]) => mergeRequirements(inputs).requirements;

  it('is commutative', () => {
    fc.assert(fc.property(arbRequirements, arbRequirements, (a, b) => {
      expect(merged(a, b)).toEqual(merged(b, a));
    }), { numRuns: 500 });
  });

  it('is associative', () => {
    fc.assert(fc.property(arbRequirements, arbRequirements, arbRequirements, (a, b, c) => {
      expect(merged(merged(a, b), c)).toEqual(merged(a, merged(b, c)));
    }), { numRuns: 500 });
  });

  it('is idempotent', () => {
    fc.assert(fc.property(arbRequirements, (a) => {
      expect(merged(a, a)).toEqual(merged(a));
      expect(merged(a)).toEqual(a);
    }), { numRuns: 500 });
  });

  it('is never weaker than any input', () => {
    fc.assert(fc.property(fc.array(arbRequirements, { minLength: 1, maxLength: 4 }), (inputs) => {
      const result = merged(...inputs);
      for (const input of inputs) {
        for (const key of REQUIREMENT_KEYS) expect(atLeastAsStrict(key, result, input), key).toBe(true);
      }
    }), { numRuns: 500 });
  });

  it('names, for every key, inputs that hold exactly the merged value', () => {
    fc.assert(fc.property(fc.array(arbRequirements, { minLength: 1, maxLength: 4 }), (inputs) => {
      const { requirements, sources } = mergeRequirements(inputs);
      for (const key of REQUIREMENT_KEYS) {
        if (requirements[key] === undefined) expect(sources[key]).toBeUndefined();
        else if (key !== 'customRegex') {
          expect(sources[key]!.length).toBeGreaterThan(0);
          for (const i of sources[key]!) expect(inputs[i]![key]).toEqual(requirements[key]);
        }
      }
    }), { numRuns: 300 });
  });
});

describe('a canonical policy written out as a document parses back to itself', () => {
  it('holds for every valid policy', () => {
    fc.assert(fc.property(arbRequirements, (req) => {
      const back = parsePolicyDocument(toPolicyDocument({ meta, requirements: req }));
      expect(back.ok && back.value.requirements).toEqual(req);
    }), { numRuns: 500 });
  });
});

describe('several customRegex rules combined into one', () => {
  const passcodeChars = fc.constantFrom(...'aAbBzZ0129!@# é'.split(''));
  it('matches exactly the passcodes every rule matches, and splits back into the rules', () => {
    fc.assert(fc.property(arbCustomRegex, fc.array(fc.string({ unit: passcodeChars, maxLength: 20 }), { minLength: 1, maxLength: 20 }), (rules, passcodes) => {
      fc.pre(rules.length >= 2);
      const combined = combineRegexRules(rules)!;
      expect(splitCombinedRegex(combined.regex)).toEqual(rules.map((r) => r.regex));
      const whole = compileCustomRegex(combined.regex);
      const each = rules.map((r) => compileCustomRegex(r.regex));
      // A rule JavaScript cannot evaluate (a mid-pattern (?i)) cannot be compared here.
      fc.pre(whole.ok && each.every((c) => c.ok));
      for (const passcode of passcodes) {
        const all = each.every((c) => c.ok && matchesWholePasscode(c.regex, passcode));
        expect(whole.ok && matchesWholePasscode(whole.regex, passcode), `${combined.regex} on ${passcode}`).toBe(all);
      }
    }), { numRuns: 300 });
  });
});

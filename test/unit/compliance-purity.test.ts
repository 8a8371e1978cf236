// The compliance core stays pure by rule, checked here because the lint configuration is shared:
// it imports only its own folder, the policy engine and the wire types, does no I/O and reads
// neither the clock nor a random source (so an assessment can be replayed from stored evidence).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '../../src/services/compliance');
const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));

const ALLOWED_IMPORT = [/^\.\/[\w-]+\.ts$/, /^\.\.\/\.\.\/policy\/[\w-]+\.ts$/, /^\.\.\/\.\.\/mdm\/[\w-]+\.ts$/];
const FORBIDDEN_CALLS = [/\bDate\.now\b/, /\bMath\.random\b/, /\bnew Date\(\s*\)/, /\bperformance\.now\b/, /\bprocess\./, /\bsetTimeout\b/, /\bsetInterval\b/, /\bfetch\(/, /\bcrypto\.getRandomValues\b/];

describe('src/services/compliance is pure', () => {
  it('has the files the brief names', () => {
    expect(files).toEqual(expect.arrayContaining(['state.ts', 'transitions.ts', 'delivery-plan.ts', 'index.ts']));
  });

  it.each(files)('%s imports only its folder, src/policy and src/mdm (types)', (file) => {
    const source = readFileSync(join(DIR, file), 'utf8');
    for (const m of source.matchAll(/^(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'/gm)) {
      const [, , typeOnly, from] = m;
      if (from!.startsWith('node:')) {
        expect(typeOnly, `${file}: ${from} may only be imported as a type`).toBeDefined();
        continue;
      }
      expect(ALLOWED_IMPORT.some((re) => re.test(from!)), `${file} imports ${from}`).toBe(true);
      if (from!.startsWith('../../mdm/')) expect(typeOnly, `${file}: only types from ${from}`).toBeDefined();
    }
  });

  it.each(files)('%s reads no clock and no randomness', (file) => {
    const code = readFileSync(join(DIR, file), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const re of FORBIDDEN_CALLS) expect(code, `${file} uses ${re}`).not.toMatch(re);
  });
});

// Runs bin/lockwarden as a process, exactly as an administrator would.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/lockwarden');
const FIXTURES = join(import.meta.dirname, '../fixtures');
const policy = (name: string) => join(FIXTURES, 'policies', name);

interface Outcome { code: number; stdout: string; stderr: string }

async function lockwarden(args: string[], input?: string): Promise<Outcome> {
  const child = run(BIN, args, { encoding: 'utf8', maxBuffer: 10 * 1024 * 1024 });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  } else {
    child.child.stdin!.end();
  }
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function expectNoStackTrace(outcome: Outcome): void {
  expect(outcome.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockwarden-cli-'));
});

describe('lockwarden policy validate', () => {
  it('accepts the seed documents\' own examples', async () => {
    for (const file of [policy('seed-003-example.json'), policy('corporate.yaml'), policy('apple-keys.yaml'), join(FIXTURES, 'seed-002-passcode.mobileconfig')]) {
      const outcome = await lockwarden(['policy', 'validate', file]);
      expect(outcome, file).toMatchObject({ code: 0 });
      expect(outcome.stdout).toMatch(/^valid: \d+ requirement/);
    }
  });

  it('imports Apple\'s example profile (seed 002) with its <real> values as whole numbers', async () => {
    const outcome = await lockwarden(['policy', 'validate', join(FIXTURES, 'seed-002-passcode.mobileconfig'), '--json']);
    expect(outcome.code).toBe(0);
    expect(JSON.parse(outcome.stdout).policy).toEqual({
      meta: { identifier: 'com.example.myprofile', displayName: 'Passcode' },
      requirements: {
        allowSimple: true, forcePIN: true, maxFailedAttempts: 5, maxGracePeriod: 1, maxInactivity: 2,
        maxPINAgeInDays: 30, minLength: 8, pinHistory: 2, requireAlphanumeric: false,
      },
    });
  });

  it('lists every error at once, with path, value and allowed range, and exits 1', async () => {
    const outcome = await lockwarden(['policy', 'validate', policy('invalid.yaml')]);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('5 problems');
    expect(outcome.stderr).toContain('minLenght: is not a known key; did you mean "minLength"? (given: 6)');
    expect(outcome.stderr).toContain('MaxFailedAttempts: is below Apple\'s range');
    expect(outcome.stderr).toContain('MinimumLength: is out of range (given: 20); allowed: 0–16');
    expect(outcome.stderr).toContain('GracePeriod: is not a known grace period (given: "2 hours")');
    expect(outcome.stderr).toContain('RequiredCharacters.MinimumDigit');
    expectNoStackTrace(outcome);
  });

  it('--json gives the errors as data', async () => {
    const outcome = await lockwarden(['policy', 'validate', policy('invalid.yaml'), '--json']);
    expect(outcome.code).toBe(1);
    const report = JSON.parse(outcome.stdout);
    expect(report.valid).toBe(false);
    expect(report.errors).toHaveLength(5);
  });

  it('reads stdin, and refuses malformed YAML and garbage with exit 1 and no stack trace', async () => {
    expect((await lockwarden(['policy', 'validate', '-'], 'MinimumLength: 6\n')).code).toBe(0);
    const yaml = await lockwarden(['policy', 'validate', '-'], 'MinimumLength: [6\n');
    expect(yaml.code).toBe(1);
    expect(yaml.stderr).toContain('not valid JSON or YAML');
    const plist = await lockwarden(['policy', 'validate', '-'], '<plist><dict><key>a</key></plist>');
    expect(plist.code).toBe(1);
    expectNoStackTrace(plist);
  });

  it('exits 2 on usage errors and unreadable files', async () => {
    expect((await lockwarden(['policy', 'validate'])).code).toBe(2);
    expect((await lockwarden(['policy', 'frobnicate'])).code).toBe(2);
    expect((await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--platform', 'android'])).code).toBe(2);
    const missing = await lockwarden(['policy', 'validate', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  });

  it('help exits 0', async () => {
    const outcome = await lockwarden(['--help']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('policy');
  });
});

describe('lockwarden policy compile', () => {
  it('writes an installable profile that imports back to the same effective policy', async () => {
    const out = join(dir, 'corporate.mobileconfig');
    const outcome = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--platform', 'macos', '-o', out]);
    expect(outcome.code).toBe(0);
    const xml = await readFile(out, 'utf8');
    expect(xml).toContain('<string>Configuration</string>');
    expect(xml).toContain('<string>com.apple.mobiledevice.passwordpolicy</string>');
    expect(xml).toContain('<string>com.example.corporate-passcode</string>');
    expect(xml).toContain('<key>PayloadOrganization</key>');
    const back = await lockwarden(['policy', 'validate', out, '--json']);
    expect(JSON.parse(back.stdout).policy.requirements).toEqual({
      allowSimple: false, minLength: 8, minDigits: 1, minUppercase: 1, maxFailedAttempts: 10,
      maxInactivity: 5, maxGracePeriod: 1, maxPINAgeInDays: 90, pinHistory: 5,
    });
  });

  it('reports what it could not enforce on the chosen platform', async () => {
    const outcome = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--platform', 'ios']);
    expect(outcome.code).toBe(0);
    expect(outcome.stderr).toContain('note: minDigits: not enforceable on iOS');
    expect(outcome.stderr).toContain('note: minUppercase: approximated by requireAlphanumeric=true');
    expect(outcome.stdout).toContain('<key>requireAlphanumeric</key>');
  });

  it('prints the payload alone and a DDM declaration', async () => {
    const payload = await lockwarden(['policy', 'compile', policy('apple-keys.yaml'), '--format', 'payload']);
    expect(payload.code).toBe(0);
    expect(payload.stdout).not.toContain('<string>Configuration</string>');
    expect(payload.stdout).toContain('<key>minComplexChars</key>');
    const ddm = await lockwarden(['policy', 'compile', policy('apple-keys.yaml'), '--format', 'ddm', '--platform', 'ios']);
    expect(ddm.code).toBe(0);
    const declaration = JSON.parse(ddm.stdout);
    expect(declaration).toMatchObject({ Type: 'com.apple.configuration.passcode.settings', Identifier: 'com.example.executive-passcode.passcode-settings' });
    expect(declaration.Payload.MinimumLength).toBe(10);
    expect(declaration.ServerToken).toMatch(/^[0-9a-f]{32}$/);
  });

  it('refuses tvOS and macOS User Enrollment with the reason', async () => {
    const tv = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--platform', 'tvos']);
    expect(tv.code).toBe(1);
    expect(tv.stderr).toContain('tvOS does not support the Passcode payload');
    const mac = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--platform', 'macos', '--enrollment', 'user']);
    expect(mac.code).toBe(1);
    expect(mac.stderr).toContain('forbidden under User Enrollment');
  });

  it('signs a profile that openssl smime -verify accepts, and reads the signed profile back', async () => {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=lockwarden test signer',
      '-keyout', join(dir, 'sign.key'), '-out', join(dir, 'sign.pem')]);
    const out = join(dir, 'signed.mobileconfig');
    const outcome = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--sign-cert', join(dir, 'sign.pem'), '--sign-key', join(dir, 'sign.key'), '-o', out]);
    expect(outcome).toMatchObject({ code: 0 });
    const verified = await run('openssl', ['smime', '-verify', '-inform', 'DER', '-in', out, '-CAfile', join(dir, 'sign.pem')], { encoding: 'utf8' });
    expect(verified.stdout).toContain('com.example.corporate-passcode');
    const back = await lockwarden(['policy', 'validate', out]);
    expect(back.code).toBe(0);
    expect(back.stderr).toContain('CMS-signed by');
  });

  it('refuses an unusable signing identity and an unwritable output with a message, not a stack trace', async () => {
    await writeFile(join(dir, 'not-a-key.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const badKey = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--sign-cert', join(dir, 'sign.pem'), '--sign-key', join(dir, 'not-a-key.pem'), '-o', join(dir, 'x.mobileconfig')]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('cannot sign with');
    expectNoStackTrace(badKey);
    const onlyCert = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '--sign-cert', join(dir, 'sign.pem')]);
    expect(onlyCert.code).toBe(2);
    const unwritable = await lockwarden(['policy', 'compile', policy('corporate.yaml'), '-o', join(dir, 'no-such-dir', 'x.mobileconfig')]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toContain('cannot write');
  });

  it('refuses a tampered signed profile', async () => {
    const signed = await readFile(join(dir, 'signed.mobileconfig'));
    const at = signed.indexOf(Buffer.from('<integer>8</integer>'));
    expect(at).toBeGreaterThan(0);
    signed.write('<integer>4</integer>', at);
    await writeFile(join(dir, 'tampered.mobileconfig'), signed);
    const outcome = await lockwarden(['policy', 'validate', join(dir, 'tampered.mobileconfig')]);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('signature does not verify');
  });
});

describe('lockwarden policy explain', () => {
  it('prints the per-platform matrix', async () => {
    const outcome = await lockwarden(['policy', 'explain', policy('mac-regex.yaml')]);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/maxInactivity 30\n\s+iOS\s+capped to maxInactivity=15/);
    expect(outcome.stdout).toMatch(/customRegex .*\n\s+iOS\s+not enforceable: iOS does not support customRegex/);
    expect(outcome.stdout).toMatch(/macOS\s+enforced as customRegex/);
  });

  it('--json has one column per target', async () => {
    const outcome = await lockwarden(['policy', 'explain', policy('seed-003-example.json'), '--json']);
    const report = JSON.parse(outcome.stdout);
    expect(report.columns.map((c: { name: string }) => c.name)).toContain('watchOS');
    expect(report.hasGaps).toBe(true);
  });
});

describe('lockwarden policy check', () => {
  it('exits 0 for a complying passcode and 1 with every reason otherwise', async () => {
    const good = await lockwarden(['policy', 'check', policy('seed-003-example.json'), '--passcode', 'Kq7#mR2x']);
    expect(good).toMatchObject({ code: 0 });
    expect(good.stdout).toContain('complies');
    const bad = await lockwarden(['policy', 'check', policy('seed-003-example.json'), '--passcode', '1234']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('does not comply');
    expect(bad.stdout.split('\n').filter((l) => l.startsWith('  - ')).length).toBeGreaterThanOrEqual(4);
    expect(bad.stdout).not.toContain('1234');
  });

  it('checks against what the platform enforces with --platform', async () => {
    // iOS cannot require digits or uppercase (only "a letter"); macOS 14 can.
    const ios = await lockwarden(['policy', 'check', policy('seed-003-example.json'), '--passcode', 'abcdefg#', '--platform', 'ios']);
    expect(ios.code).toBe(0);
    const mac = await lockwarden(['policy', 'check', policy('seed-003-example.json'), '--passcode', 'abcdefg#', '--platform', 'macos']);
    expect(mac.code).toBe(1);
  });

  it('reads the passcode from stdin', async () => {
    const outcome = await lockwarden(['policy', 'check', policy('seed-003-example.json'), '--passcode-stdin', '--json'], 'Kq7#mR2x\n');
    expect(outcome.code).toBe(0);
    expect(JSON.parse(outcome.stdout).complies).toBe(true);
    expect((await lockwarden(['policy', 'check', policy('seed-003-example.json')])).code).toBe(2);
  });
});

describe('lockwarden policy example', () => {
  it('prints a passcode that policy check accepts, per platform', async () => {
    for (const platform of ['ios', 'macos', 'watchos']) {
      const example = await lockwarden(['policy', 'example', policy('corporate.yaml'), '--platform', platform]);
      expect(example.code).toBe(0);
      const passcode = example.stdout.trim();
      const check = await lockwarden(['policy', 'check', policy('corporate.yaml'), '--platform', platform, '--passcode', passcode]);
      expect(check.code, `${platform}: ${passcode}`).toBe(0);
    }
  });

  it('proves a customRegex cannot meet the length rule, naming both', async () => {
    const outcome = await lockwarden(['policy', 'example', policy('impossible-regex.yaml'), '--platform', 'macos']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('customRegex');
    expect(outcome.stderr).toContain('minLength');
  });
});

describe('lockwarden policy merge', () => {
  it('prints the strictest policy with the source of each key, which compile reads back', async () => {
    const outcome = await lockwarden(['policy', 'merge', policy('corporate.yaml'), policy('apple-keys.yaml')]);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/minLength: 10 # from .*apple-keys\.yaml/);
    expect(outcome.stdout).toMatch(/maxInactivity: 2 # from .*apple-keys\.yaml/);
    expect(outcome.stdout).toMatch(/maxPINAgeInDays: 60 # from .*apple-keys\.yaml/);
    expect(outcome.stdout).toMatch(/allowSimple: false # from .*corporate\.yaml, .*apple-keys\.yaml/);
    const merged = join(dir, 'merged.yaml');
    await writeFile(merged, outcome.stdout);
    expect((await lockwarden(['policy', 'validate', merged])).code).toBe(0);
  });

  it('--json names the files', async () => {
    const outcome = await lockwarden(['policy', 'merge', policy('corporate.yaml'), policy('apple-keys.yaml'), '--json']);
    const report = JSON.parse(outcome.stdout);
    expect(report.requirements.maxFailedAttempts).toBe(6);
    expect(report.sources.maxFailedAttempts).toEqual([policy('apple-keys.yaml')]);
  });
});

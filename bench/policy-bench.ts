// Policy compile throughput, beside JSON.parse of the same policy text as the machine's baseline.
import { compilePolicy, explainPolicy, importPolicy, profileContent } from '../src/policy/index.ts';
import type { PasscodeRequirements } from '../src/policy/index.ts';
import { buildProfile } from '../src/plist/mobileconfig.ts';
import { encodePlist } from '../src/plist/plist-codec.ts';
import { measure, printTable } from './harness.ts';

const POLICY_TEXT = JSON.stringify({
  DisplayName: 'Corporate passcode',
  Identifier: 'com.example.corporate-passcode',
  AllowSimple: false,
  MinimumLength: 10,
  RequiredCharacters: { MinimumDigits: 2, MinimumLowercase: 1, MinimumUppercase: 1, MinimumSymbols: 1 },
  MaxFailedAttempts: 8,
  AutoLockTimeout: 30,
  GracePeriod: '1 minute',
  MaximumAge: 90,
  PasswordHistory: 10,
  CustomRegex: { Regex: '^(?!.*(.)\\1\\1).*$', Description: { default: 'No character three times in a row' } },
});

function parsed(): { requirements: PasscodeRequirements; meta: object } {
  const result = importPolicy(JSON.parse(POLICY_TEXT));
  if (!result.ok) throw new Error('bench policy is invalid');
  return result.value;
}

export function runPolicyBench(): void {
  const policy = parsed();
  const rows = [
    measure('JSON.parse of the policy text (baseline)', () => JSON.parse(POLICY_TEXT)),
    measure('parse + validate (JSON text → canonical policy)', () => importPolicy(JSON.parse(POLICY_TEXT))),
    measure('compile for macOS 14 (canonical → payload + explanation)', () => compilePolicy(policy.requirements, { platform: 'macos', enrollment: 'device' })),
    measure('text → .mobileconfig XML for iOS (parse, compile, envelope, encode)', () => {
      const p = parsed();
      const outcome = compilePolicy(p.requirements, { platform: 'ios', enrollment: 'device' });
      if (!outcome.ok) throw new Error(outcome.reason);
      return encodePlist(buildProfile(profileContent(outcome.compiled, p.meta)));
    }),
    measure('explain for all 11 targets', () => explainPolicy(policy.requirements)),
  ];
  printTable('Policy engine (ops/s; ratio to JSON.parse of the same text)', rows, rows[0]!.name);
}

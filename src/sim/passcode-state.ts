// A simulated device's passcode, judged the way the device judges it: the installed Passcode
// payloads (and passcode settings declarations) become one set of requirements, strictest value
// per key (DESIGN decision 6), with each platform's own rules — keys the platform does not know
// are ignored, User Enrollment forces its fixed values (decision 7), and Shared iPad, macOS User
// Enrollment and tvOS refuse the payload outright. Then the current passcode is compliant, in its
// 60-minute grace period (decision 8), or not compliant. Pure: the time comes in as an argument.

import { checkPasscode } from '../policy/check.ts';
import { importPolicy } from '../policy/import-profile.ts';
import { mergeRequirements } from '../policy/merge.ts';
import { formatError, PLATFORM_NAMES } from '../policy/model.ts';
import type { PasscodeRequirements, Platform, RequirementKey } from '../policy/model.ts';
import { PASSCODE_PAYLOAD_TYPE } from '../policy/parse.ts';
import { compareVersions, PLATFORM_RULES, USER_ENROLLMENT_FORCED } from '../policy/platform-rules.ts';
import type { ApplePayloadKey } from '../policy/platform-rules.ts';
import type { SimEnrollment } from './device-kinds.ts';

export { PASSCODE_PAYLOAD_TYPE };

/** After a stricter policy arrives, the user has this long to change the passcode (decision 8). */
export const PASSCODE_GRACE_MS = 60 * 60_000;

export interface PasscodeTarget {
  platform: Platform;
  enrollment: SimEnrollment;
  osVersion: string;
}

/** Why the device refuses any Passcode payload (InstallProfile fails), or undefined when it takes them. */
export function passcodePayloadRefusal(target: PasscodeTarget): string | undefined {
  const name = PLATFORM_NAMES[target.platform];
  if (target.platform === 'tvos') return `${PASSCODE_PAYLOAD_TYPE} is not supported on tvOS`;
  // com.apple.mobiledevice.passwordpolicy.yaml: sharedipad mode forbidden (iOS), userenrollment
  // mode forbidden (macOS).
  if (target.enrollment === 'shared-ipad') return `${PASSCODE_PAYLOAD_TYPE} is not allowed on Shared iPad`;
  if (target.enrollment === 'user' && target.platform === 'macos') return `${PASSCODE_PAYLOAD_TYPE} is not allowed under User Enrollment on macOS`;
  const introduced = PLATFORM_RULES[target.platform].introduced;
  if (compareVersions(target.osVersion, introduced) < 0) return `${PASSCODE_PAYLOAD_TYPE} needs ${name} ${introduced}`;
  return undefined;
}

export type PayloadReading = { ok: true; requirements: PasscodeRequirements } | { ok: false; reason: string };

/**
 * What one Passcode payload dictionary (or passcode settings declaration) demands on this device,
 * or why the device rejects it. Values outside Apple's ranges are rejected, as the device's
 * profile validation does; keys this platform does not support are ignored, as the device does.
 */
export function payloadRequirements(target: PasscodeTarget, payload: Record<string, unknown>): PayloadReading {
  const refused = passcodePayloadRefusal(target);
  if (refused) return { ok: false, reason: refused };
  // User Enrollment ignores the payload's keys and forces these (Apple's Passcode reference).
  if (target.enrollment === 'user') return { ok: true, requirements: { ...USER_ENROLLMENT_FORCED } };
  const ignored = ignoredKeys(target);
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payload)) if (!ignored.has(key)) kept[key] = value;
  return readWithout(kept, ignored);
}

/**
 * What a com.apple.configuration.passcode.settings declaration demands on this device (whether
 * it applies at all is device-kinds.ts appliesPasscodeDeclaration). Keys the platform does not
 * know are ignored; invalid values reject the declaration.
 */
export function declarationRequirements(target: PasscodeTarget, declaration: Record<string, unknown>): PayloadReading {
  if (target.platform === 'tvos') return { ok: false, reason: 'passcode settings declarations are not supported on tvOS' };
  return readWithout(declaration, ignoredKeys(target));
}

function readWithout(document: Record<string, unknown>, ignored: ReadonlySet<string>): PayloadReading {
  const imported = importPolicy(document);
  if (!imported.ok) return { ok: false, reason: imported.errors.map(formatError).join('; ') };
  const requirements: PasscodeRequirements = { ...imported.value.requirements };
  for (const key of ignored) delete requirements[key as RequirementKey];
  // Per-class minimums only exist as a generated customRegex; where that is ignored, so are they.
  if (ignored.has('customRegex')) {
    delete requirements.minDigits;
    delete requirements.minLowercase;
    delete requirements.minUppercase;
  }
  return { ok: true, requirements };
}

/** Payload keys (= requirement names) this platform and OS version do not know. */
function ignoredKeys(target: PasscodeTarget): Set<string> {
  if (target.platform === 'tvos') return new Set();
  const rules = PLATFORM_RULES[target.platform];
  const ignored = new Set<string>(rules.unsupported);
  for (const [key, since] of Object.entries(rules.keyIntroduced) as [ApplePayloadKey, string][]) {
    if (compareVersions(target.osVersion, since) < 0) ignored.add(key);
  }
  return ignored;
}

/** One source of passcode requirements on the device: a profile's payload or a declaration. */
export interface InstalledPasscodePolicy {
  /** The profile's PayloadIdentifier (plus the payload's), or the declaration's Identifier. */
  source: string;
  /** The payload's PayloadUUID (or the declaration's ServerToken): the same value is the same policy. */
  payloadUuid?: string;
  requirements: PasscodeRequirements;
  /** When the device installed it (virtual clock). */
  installedAt: number;
}

export function effectiveRequirements(policies: readonly InstalledPasscodePolicy[]): PasscodeRequirements {
  return mergeRequirements(policies.map((p) => p.requirements)).requirements;
}

export type ComplianceState = 'compliant' | 'in-grace' | 'non-compliant';

export interface PasscodeEvaluation {
  present: boolean;
  /** The passcode meets every installed requirement right now. */
  meetsRequirements: boolean;
  state: ComplianceState;
  /** Set when the passcode fails a requirement: the end of the grace period (past or future). */
  graceEndsAt?: number;
  /** Sources whose requirements the passcode fails. */
  failingSources: string[];
  /** One line per failed requirement, without the passcode. */
  failures: string[];
  /** What the device reports as PasscodeCompliant / passcode.is-compliant: true until the grace runs out. */
  compliant: boolean;
}

export interface PasscodeSituation {
  /** undefined: no passcode set. */
  passcode: string | undefined;
  /** When the passcode last changed (set, changed or cleared); undefined: since before anything was installed. */
  changedAt: number | undefined;
  policies: readonly InstalledPasscodePolicy[];
  now: number;
}

/**
 * The device's verdict. A passcode that fails an installed policy is still reported compliant for
 * PASSCODE_GRACE_MS after the grace started: when the first policy it fails was installed, or when
 * the passcode last changed if that was later (a ClearPasscode leaves the user the same hour to
 * set a new one). After that it is non-compliant until the user sets a conforming passcode.
 */
export function evaluatePasscode(situation: PasscodeSituation): PasscodeEvaluation {
  const passcode = situation.passcode ?? '';
  const failing = situation.policies
    .map((policy) => ({ policy, check: checkPasscode(passcode, policy.requirements) }))
    .filter(({ check }) => !check.complies);
  const present = situation.passcode !== undefined && situation.passcode !== '';
  if (failing.length === 0) {
    return { present, meetsRequirements: true, state: 'compliant', failingSources: [], failures: [], compliant: true };
  }
  const firstInstalled = Math.min(...failing.map(({ policy }) => policy.installedAt));
  const graceStart = Math.max(firstInstalled, situation.changedAt ?? -Infinity);
  const graceEndsAt = graceStart + PASSCODE_GRACE_MS;
  const state: ComplianceState = situation.now < graceEndsAt ? 'in-grace' : 'non-compliant';
  const failures = [...new Set(failing.flatMap(({ check }) => check.failures.map((f) => f.message)))];
  return {
    present,
    meetsRequirements: false,
    state,
    graceEndsAt,
    failingSources: failing.map(({ policy }) => policy.source),
    failures,
    compliant: state === 'in-grace',
  };
}

/**
 * Whether the device's passcode screen accepts `passcode` as a new passcode: a real device does
 * not let the user choose one that breaks the installed policy. An empty string is "no passcode".
 */
export function passcodeAccepted(passcode: string, policies: readonly InstalledPasscodePolicy[]): { ok: true } | { ok: false; failures: string[] } {
  const check = checkPasscode(passcode, effectiveRequirements(policies));
  return check.complies ? { ok: true } : { ok: false, failures: check.failures.map((f) => f.message) };
}

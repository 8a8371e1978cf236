// The policy as a Declarative Device Management configuration, and back
// (declarative/declarations/configurations/passcode.settings.yaml).
import { classMinimumsRule, hasClassMinimums } from './class-regex.ts';
import type { CompiledPolicy } from './compile.ts';
import { isPlainObject, readBoolean, readInteger, readLocalizedText, readString, describeType } from './field-checks.ts';
import type { Errors } from './field-checks.ts';
import { didYouMean } from './did-you-mean.ts';
import { normalizeRegexRules } from './merge.ts';
import { CUSTOM_REGEX_MAX_LENGTH, NUMERIC_RANGES, PLATFORM_NAMES } from './model.ts';
import type { CustomRegexRule, NumericRequirementKey, ParseResult, PasscodePolicy, PasscodeRequirements, PolicyMeta, PolicyNote } from './model.ts';
import { contentHash, profileIdentity } from './payload-identity.ts';
import { compareVersions } from './platform-rules.ts';
import { combineRegexRules, splitCombinedRegex } from './regex-combination.ts';
import { readClassMinimumsRule } from './class-regex.ts';

export const DDM_PASSCODE_TYPE = 'com.apple.configuration.passcode.settings';

type DdmKey =
  | 'RequirePasscode' | 'RequireAlphanumericPasscode' | 'RequireComplexPasscode' | 'MinimumLength'
  | 'MinimumComplexCharacters' | 'MaximumFailedAttempts' | 'FailedAttemptsResetInMinutes'
  | 'MaximumGracePeriodInMinutes' | 'MaximumInactivityInMinutes' | 'MaximumPasscodeAgeInDays'
  | 'PasscodeReuseLimit' | 'ChangeAtNextAuth' | 'CustomRegex';

interface DdmField {
  key: DdmKey;
  requirement: keyof PasscodeRequirements;
  /** Per platform: the first OS version with the key, or 'n/a'. Absent: the declaration's own. */
  since?: Partial<Record<'ios' | 'macos' | 'watchos' | 'visionos', string>>;
}

const NOT_ON_WATCH = { watchos: 'n/a' } as const;
const MAC_ONLY = { ios: 'n/a', visionos: 'n/a', watchos: 'n/a' } as const;

const FIELDS: readonly DdmField[] = [
  { key: 'RequirePasscode', requirement: 'forcePIN' },
  { key: 'RequireAlphanumericPasscode', requirement: 'requireAlphanumeric', since: { ios: '16.2', macos: '13.1', ...NOT_ON_WATCH } },
  { key: 'RequireComplexPasscode', requirement: 'allowSimple' },
  { key: 'MinimumLength', requirement: 'minLength' },
  { key: 'MinimumComplexCharacters', requirement: 'minComplexChars', since: { ios: '16.2', macos: '13.1', ...NOT_ON_WATCH } },
  { key: 'MaximumFailedAttempts', requirement: 'maxFailedAttempts' },
  { key: 'FailedAttemptsResetInMinutes', requirement: 'minutesUntilFailedLoginReset', since: { macos: '13.1', ...MAC_ONLY } },
  { key: 'MaximumGracePeriodInMinutes', requirement: 'maxGracePeriod' },
  { key: 'MaximumInactivityInMinutes', requirement: 'maxInactivity' },
  { key: 'MaximumPasscodeAgeInDays', requirement: 'maxPINAgeInDays', since: { ios: '16.2', macos: '13.1' } },
  { key: 'PasscodeReuseLimit', requirement: 'pinHistory' },
  { key: 'ChangeAtNextAuth', requirement: 'changeAtNextAuth', since: { macos: '13.1', ...MAC_ONLY } },
  { key: 'CustomRegex', requirement: 'customRegex', since: { macos: '14.0', ...MAC_ONLY } },
];

/** The declaration's own first versions and enrollment limits (allowed-enrollments). */
const DECLARATION_SUPPORT = {
  ios: { since: '15.0', note: undefined },
  ipados: { since: '15.0', note: undefined },
  visionos: { since: '2.0', note: undefined },
  macos: { since: '13.0', note: 'macOS applies it only on supervised (or local) enrollments' },
  watchos: { since: '10.0', note: 'watchOS applies it only on supervised (or local) enrollments' },
} as const;

/** DDM's MaximumInactivityInMinutes range is 0–15 on every platform, macOS included. */
const DDM_INACTIVITY_CAP = 15;

export interface Declaration {
  Type: typeof DDM_PASSCODE_TYPE;
  Identifier: string;
  ServerToken: string;
  Payload: Record<string, unknown>;
}

export type DeclarationOutcome = { ok: true; declaration: Declaration; notes: string[] } | { ok: false; reason: string };

export function compileDeclaration(compiled: CompiledPolicy, meta: PolicyMeta): DeclarationOutcome {
  const { platform, osVersion } = compiled.target;
  if (platform === 'tvos') return { ok: false, reason: 'tvOS does not support passcode settings declarations' };
  const name = PLATFORM_NAMES[platform];
  const support = DECLARATION_SUPPORT[platform];
  if (osVersion && compareVersions(osVersion, support.since) < 0) {
    return { ok: false, reason: `passcode settings declarations need ${name} ${support.since} or later` };
  }
  const notes: string[] = support.note ? [support.note] : [];
  const versionKey = platform === 'ipados' ? 'ios' : platform;
  const req = compiled.effective;
  const payload: Record<string, unknown> = {};
  for (const field of FIELDS) {
    let value: unknown = req[field.requirement];
    if (field.key === 'CustomRegex') {
      const rules = [...(req.customRegex ?? [])];
      if (hasClassMinimums(req)) rules.push(classMinimumsRule(req));
      const combined = combineRegexRules(rules);
      value = combined && (combined.description ? { Regex: combined.regex, Description: combined.description } : { Regex: combined.regex });
    }
    if (value === undefined) continue;
    const since = field.since?.[versionKey];
    if (since === 'n/a') {
      notes.push(`${field.key} is not available on ${name}; left out`);
      continue;
    }
    if (since && osVersion && compareVersions(osVersion, since) < 0) {
      notes.push(`${field.key} needs ${name} ${since}; left out for ${name} ${osVersion}`);
      continue;
    }
    if (since) notes.push(`${field.key} needs ${name} ${since} or later; older versions ignore it`);
    if (field.key === 'RequireComplexPasscode') value = !value;
    if (field.key === 'MaximumInactivityInMinutes' && (value as number) > DDM_INACTIVITY_CAP) {
      notes.push(`MaximumInactivityInMinutes capped to ${DDM_INACTIVITY_CAP} (the declaration's range is 0–15 on every platform)`);
      value = DDM_INACTIVITY_CAP;
    }
    payload[field.key] = value;
  }
  const identity = profileIdentity(meta);
  return {
    ok: true,
    declaration: {
      Type: DDM_PASSCODE_TYPE,
      Identifier: `${identity.identifier}.passcode-settings`,
      // Changes whenever the payload does, which is how a device learns to re-apply it.
      ServerToken: contentHash(payload).slice(0, 32),
      Payload: payload,
    },
    notes,
  };
}

const RANGE_OF: Partial<Record<DdmKey, NumericRequirementKey>> = {
  MinimumLength: 'minLength',
  MinimumComplexCharacters: 'minComplexChars',
  MaximumFailedAttempts: 'maxFailedAttempts',
  FailedAttemptsResetInMinutes: 'minutesUntilFailedLoginReset',
  MaximumGracePeriodInMinutes: 'maxGracePeriod',
  MaximumPasscodeAgeInDays: 'maxPINAgeInDays',
  PasscodeReuseLimit: 'pinHistory',
};

function readDdmRegex(path: string, value: unknown, errors: Errors): CustomRegexRule[] | undefined {
  if (!isPlainObject(value)) {
    errors.push({ path, value, message: `must be a dictionary, not ${describeType(value)}`, allowed: '{Regex: "…", Description: {default: "…"}}' });
    return undefined;
  }
  const regex = readString(`${path}.Regex`, value.Regex, errors, `an ICU regular expression of at most ${CUSTOM_REGEX_MAX_LENGTH} characters`);
  const description = value.Description === undefined ? undefined : readLocalizedText(`${path}.Description`, value.Description, errors);
  if (regex === undefined) return undefined;
  const parts = splitCombinedRegex(regex);
  if (parts) return parts.map((r) => ({ regex: r }));
  return [description ? { regex, description } : { regex }];
}

/** Reads a passcode settings declaration (as compileDeclaration writes it) back into a policy. */
export function importDeclaration(declaration: Record<string, unknown>): ParseResult<PasscodePolicy> {
  const errors: Errors = [];
  const notes: PolicyNote[] = [];
  const payload = declaration.Payload;
  if (!isPlainObject(payload)) {
    return { ok: false, errors: [{ path: 'Payload', value: describeType(payload), message: 'must be a dictionary of passcode settings' }], notes };
  }
  const req: PasscodeRequirements = {};
  const known = FIELDS.map((f) => f.key as string);
  for (const [key, value] of Object.entries(payload)) {
    const path = `Payload.${key}`;
    const field = FIELDS.find((f) => f.key === key);
    if (!field) {
      const suggestion = didYouMean(key, known);
      errors.push({ path, value, message: suggestion ? `is not a known key; did you mean "${suggestion}"?` : 'is not a known key' });
      continue;
    }
    if (key === 'CustomRegex') {
      const rules = readDdmRegex(path, value, errors);
      for (const rule of rules ?? []) {
        const classes = readClassMinimumsRule(rule.regex);
        if (classes) Object.assign(req, classes);
        else req.customRegex = normalizeRegexRules([...(req.customRegex ?? []), rule]);
      }
    } else if (key === 'MaximumInactivityInMinutes') {
      const read = readInteger(path, value, { min: 0, max: DDM_INACTIVITY_CAP }, errors);
      if (read !== undefined) req.maxInactivity = read;
    } else if (RANGE_OF[field.key]) {
      const target = RANGE_OF[field.key]!;
      const read = readInteger(path, value, NUMERIC_RANGES[target], errors);
      if (read !== undefined) (req as Record<string, unknown>)[target] = read;
    } else {
      const read = readBoolean(path, value, errors);
      if (read !== undefined) (req as Record<string, unknown>)[field.requirement] = key === 'RequireComplexPasscode' ? !read : read;
    }
  }
  const meta: PolicyMeta = {};
  if (typeof declaration.Identifier === 'string') {
    meta.identifier = declaration.Identifier.replace(/\.passcode-settings$/, '');
  }
  if (errors.length > 0) return { ok: false, errors, notes };
  return { ok: true, value: { meta, requirements: req }, notes };
}

// Parses a policy written in either key style (decision 1) into the canonical policy, reporting
// every problem at once. Apple's keys are exactly those of the Passcode payload
// (mdm/profiles/com.apple.mobiledevice.passwordpolicy.yaml); the friendly keys are those of the
// third-party "Passcode Policies" page, plus DDM's names for what that page does not cover.
import { didYouMean } from './did-you-mean.ts';
import { isPlainObject, readBoolean, readInteger, readLocalizedText, readString, describeType } from './field-checks.ts';
import type { Errors } from './field-checks.ts';
import { normalizeRegexRules } from './merge.ts';
import { CUSTOM_REGEX_MAX_LENGTH, NUMERIC_RANGES } from './model.ts';
import type {
  CustomRegexRule,
  NumericRequirementKey,
  ParseResult,
  PasscodePolicy,
  PasscodeRequirements,
  PolicyMeta,
  PolicyNote,
  RequirementKey,
} from './model.ts';

export const PASSCODE_PAYLOAD_TYPE = 'com.apple.mobiledevice.passwordpolicy';

/** Friendly GracePeriod options → maxGracePeriod minutes (decision 2). */
export const GRACE_PERIODS: Readonly<Record<string, number>> = {
  Immediate: 0,
  '1 minute': 1,
  '5 minutes': 5,
  '15 minutes': 15,
  '1 hour': 60,
  '4 hours': 240,
};

type FieldSpec =
  | { kind: 'boolean'; target: RequirementKey }
  | {
      kind: 'integer';
      target: NumericRequirementKey;
      range: { min: number; max: number };
      /** The friendly style's "0 means no requirement". */
      zeroMeansNone?: string;
      allowed?: string;
    }
  | { kind: 'gracePeriod' }
  | { kind: 'customRegex'; regexKey: string; descriptionKey: string }
  | { kind: 'requiredCharacters' }
  | { kind: 'meta'; target: keyof PolicyMeta }
  | { kind: 'payloadType' }
  | { kind: 'ignored'; why: string };

const appleInteger = (target: NumericRequirementKey, range: { min: number; max: number } = NUMERIC_RANGES[target]): FieldSpec =>
  ({ kind: 'integer', target, range });

/** Keys of the Passcode payload, plus the common payload keys every payload carries. */
export const APPLE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  allowSimple: { kind: 'boolean', target: 'allowSimple' },
  forcePIN: { kind: 'boolean', target: 'forcePIN' },
  maxFailedAttempts: appleInteger('maxFailedAttempts'),
  // Apple's range is 0–15, and 60 on macOS; larger values are capped per platform at compile time.
  maxInactivity: { kind: 'integer', target: 'maxInactivity', range: { min: 0, max: 60 }, allowed: '0–60 (capped to 15 on iOS, iPadOS, watchOS and visionOS)' },
  // Apple's range starts at 0; lockwarden reads 0 as "never expires", as Apple Configurator does.
  maxPINAgeInDays: { kind: 'integer', target: 'maxPINAgeInDays', range: { min: 0, max: 730 }, zeroMeansNone: 'maxPINAgeInDays 0: the passcode never expires; no requirement' },
  minComplexChars: appleInteger('minComplexChars'),
  minLength: appleInteger('minLength'),
  requireAlphanumeric: { kind: 'boolean', target: 'requireAlphanumeric' },
  pinHistory: appleInteger('pinHistory'),
  maxGracePeriod: appleInteger('maxGracePeriod'),
  minutesUntilFailedLoginReset: appleInteger('minutesUntilFailedLoginReset'),
  changeAtNextAuth: { kind: 'boolean', target: 'changeAtNextAuth' },
  customRegex: { kind: 'customRegex', regexKey: 'passwordContentRegex', descriptionKey: 'passwordContentDescription' },
  PayloadIdentifier: { kind: 'meta', target: 'identifier' },
  PayloadDisplayName: { kind: 'meta', target: 'displayName' },
  PayloadOrganization: { kind: 'meta', target: 'organization' },
  PayloadDescription: { kind: 'meta', target: 'description' },
  PayloadType: { kind: 'payloadType' },
  PayloadUUID: { kind: 'ignored', why: 'lockwarden derives payload UUIDs from the policy' },
  PayloadVersion: { kind: 'ignored', why: 'always 1' },
};

/** Keys of the friendly style. */
export const FRIENDLY_FIELDS: Readonly<Record<string, FieldSpec>> = {
  AllowSimple: { kind: 'boolean', target: 'allowSimple' },
  MinimumLength: appleInteger('minLength'),
  RequiredCharacters: { kind: 'requiredCharacters' },
  MaxFailedAttempts: {
    kind: 'integer', target: 'maxFailedAttempts', range: { min: 0, max: 11 },
    zeroMeansNone: 'MaxFailedAttempts 0: the device is never wiped for failed attempts; maxFailedAttempts is left out',
    allowed: '0 (no wipe) or 2–11 (Apple rejects 1)',
  },
  AutoLockTimeout: { kind: 'integer', target: 'maxInactivity', range: { min: 1, max: 60 } },
  GracePeriod: { kind: 'gracePeriod' },
  MaximumInactivity: { kind: 'integer', target: 'maxInactivity', range: { min: 1, max: 99_999 } },
  MaximumAge: {
    kind: 'integer', target: 'maxPINAgeInDays', range: { min: 0, max: 730 },
    zeroMeansNone: 'MaximumAge 0: the passcode never expires; maxPINAgeInDays is left out',
    allowed: '0 (never expires) or 1–730',
  },
  PasswordHistory: {
    kind: 'integer', target: 'pinHistory', range: { min: 0, max: 50 },
    zeroMeansNone: 'PasswordHistory 0: no history is enforced; pinHistory is left out',
    allowed: '0 (no history) or 1–50',
  },
  // Not on the friendly page; named as Apple's declarative passcode settings name them.
  RequirePasscode: { kind: 'boolean', target: 'forcePIN' },
  RequireAlphanumeric: { kind: 'boolean', target: 'requireAlphanumeric' },
  FailedAttemptsResetInMinutes: appleInteger('minutesUntilFailedLoginReset'),
  ChangeAtNextAuth: { kind: 'boolean', target: 'changeAtNextAuth' },
  CustomRegex: { kind: 'customRegex', regexKey: 'Regex', descriptionKey: 'Description' },
  Identifier: { kind: 'meta', target: 'identifier' },
  DisplayName: { kind: 'meta', target: 'displayName' },
  Name: { kind: 'meta', target: 'displayName' },
  Organization: { kind: 'meta', target: 'organization' },
  Description: { kind: 'meta', target: 'description' },
};

const REQUIRED_CHARACTERS: Readonly<Record<string, NumericRequirementKey>> = {
  MinimumDigits: 'minDigits',
  MinimumLowercase: 'minLowercase',
  MinimumUppercase: 'minUppercase',
  MinimumSymbols: 'minComplexChars',
};

/** Keys Apple once documented and no longer does: accepted on import with a note, never compiled. */
const RETIRED_APPLE_KEYS: Readonly<Record<string, string>> = {
  allowFingerprintModification: 'allowFingerprintModification is not in Apple\'s current Passcode payload schema (it moved to Restrictions); ignored',
};

const INACTIVITY_KEYS = new Set(['maxInactivity', 'AutoLockTimeout', 'MaximumInactivity']);

export type KeyStyle = 'apple' | 'friendly' | 'any';

interface ParseState {
  requirements: PasscodeRequirements;
  meta: PolicyMeta;
  errors: Errors;
  notes: PolicyNote[];
  /** Which input key set each canonical field, to catch the same requirement given twice. */
  setBy: Map<string, string>;
  inactivity: Array<{ key: string; value: number }>;
}

const FIELDS_BY_STYLE: Readonly<Record<KeyStyle, Readonly<Record<string, FieldSpec>>>> = {
  apple: APPLE_FIELDS,
  friendly: FRIENDLY_FIELDS,
  any: { ...APPLE_FIELDS, ...FRIENDLY_FIELDS },
};

function assign(state: ParseState, key: string, target: RequirementKey | `meta.${keyof PolicyMeta}`, apply: () => void): void {
  const earlier = state.setBy.get(target);
  if (earlier !== undefined) {
    state.errors.push({ path: key, value: undefined, message: `sets the same requirement as ${earlier}; give it once` });
    return;
  }
  state.setBy.set(target, key);
  apply();
}

function readCustomRegex(path: string, value: unknown, spec: { regexKey: string; descriptionKey: string }, errors: Errors): CustomRegexRule | undefined {
  if (!isPlainObject(value)) {
    errors.push({ path, value, message: `must be a dictionary, not ${describeType(value)}`, allowed: `{${spec.regexKey}: "…", ${spec.descriptionKey}: {default: "…"}}` });
    return undefined;
  }
  const before = errors.length;
  let regex: string | undefined;
  let description: Record<string, string> | undefined;
  for (const [key, sub] of Object.entries(value)) {
    if (key === spec.regexKey) regex = readString(`${path}.${key}`, sub, errors, `an ICU regular expression of at most ${CUSTOM_REGEX_MAX_LENGTH} characters`);
    else if (key === spec.descriptionKey) description = readLocalizedText(`${path}.${key}`, sub, errors);
    else unknownKey(`${path}.${key}`, key, sub, [spec.regexKey, spec.descriptionKey], errors);
  }
  if (regex === undefined && !(spec.regexKey in value)) {
    errors.push({ path: `${path}.${spec.regexKey}`, value: undefined, message: 'is required', allowed: `an ICU regular expression of at most ${CUSTOM_REGEX_MAX_LENGTH} characters` });
  }
  if (regex !== undefined && (regex.length === 0 || regex.length > CUSTOM_REGEX_MAX_LENGTH)) {
    errors.push({ path: `${path}.${spec.regexKey}`, value: regex.length > 80 ? `${regex.slice(0, 77)}…` : regex, message: `has ${regex.length} characters`, allowed: `1–${CUSTOM_REGEX_MAX_LENGTH} characters` });
  }
  if (errors.length > before || regex === undefined) return undefined;
  return description ? { regex, description } : { regex };
}

function unknownKey(path: string, key: string, value: unknown, known: readonly string[], errors: Errors): void {
  const suggestion = didYouMean(key, known);
  errors.push({
    path,
    value,
    message: suggestion ? `is not a known key; did you mean "${suggestion}"?` : 'is not a known key',
  });
}

function readField(state: ParseState, path: string, key: string, value: unknown, spec: FieldSpec): void {
  const { errors } = state;
  switch (spec.kind) {
    case 'boolean': {
      const read = readBoolean(path, value, errors);
      if (read !== undefined) assign(state, path, spec.target, () => { (state.requirements as Record<string, unknown>)[spec.target] = read; });
      return;
    }
    case 'integer': {
      if (spec.target === 'maxFailedAttempts' && value === 1) {
        // The friendly page allows 1–11; Apple's schema starts at 2 (decision 2).
        errors.push({ path, value, message: "is below Apple's range: devices accept 2–11 failed attempts, not 1", allowed: spec.allowed ?? '2–11' });
        return;
      }
      const read = readInteger(path, value, spec.range, errors, spec.allowed);
      if (read === undefined) return;
      if (INACTIVITY_KEYS.has(key)) {
        state.inactivity.push({ key: path, value: read });
        return;
      }
      if (read === 0 && spec.zeroMeansNone) {
        state.notes.push({ path, message: spec.zeroMeansNone });
        assign(state, path, spec.target, () => undefined);
        return;
      }
      assign(state, path, spec.target, () => { state.requirements[spec.target] = read; });
      return;
    }
    case 'gracePeriod': {
      const options = Object.keys(GRACE_PERIODS);
      const allowed = options.map((o) => `"${o}"`).join(', ');
      if (typeof value !== 'string') {
        errors.push({ path, value, message: `must be one of the named periods, not ${describeType(value)}`, allowed });
        return;
      }
      const match = options.find((o) => o.toLowerCase() === value.trim().toLowerCase());
      if (match === undefined) {
        errors.push({ path, value, message: 'is not a known grace period', allowed });
        return;
      }
      assign(state, path, 'maxGracePeriod', () => { state.requirements.maxGracePeriod = GRACE_PERIODS[match]; });
      return;
    }
    case 'customRegex': {
      // Apple's key holds one rule; lockwarden also accepts a list (a merged policy can have several).
      const items = Array.isArray(value) ? value : [value];
      const rules = items.map((item, i) => readCustomRegex(Array.isArray(value) ? `${path}[${i}]` : path, item, spec, errors));
      if (items.length === 0) errors.push({ path, value, message: 'is an empty list', allowed: 'one rule or a list of rules' });
      else if (rules.every((r) => r !== undefined)) assign(state, path, 'customRegex', () => { state.requirements.customRegex = rules as CustomRegexRule[]; });
      return;
    }
    case 'requiredCharacters': {
      if (!isPlainObject(value)) {
        errors.push({ path, value, message: `must be a dictionary, not ${describeType(value)}`, allowed: Object.keys(REQUIRED_CHARACTERS).join(', ') });
        return;
      }
      for (const [sub, subValue] of Object.entries(value)) {
        const target = Object.hasOwn(REQUIRED_CHARACTERS, sub) ? REQUIRED_CHARACTERS[sub] : undefined;
        const subPath = `${path}.${sub}`;
        if (target === undefined) unknownKey(subPath, sub, subValue, Object.keys(REQUIRED_CHARACTERS), errors);
        else readField(state, subPath, sub, subValue, appleInteger(target));
      }
      return;
    }
    case 'meta': {
      const read = readString(path, value, errors);
      if (read === undefined) return;
      if (spec.target === 'identifier' && !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(read)) {
        errors.push({ path, value, message: 'must be a reverse-DNS identifier', allowed: 'letters, digits, "." and "-", e.g. com.example.passcode' });
        return;
      }
      assign(state, path, `meta.${spec.target}`, () => { state.meta[spec.target] = read; });
      return;
    }
    case 'payloadType':
      if (value !== PASSCODE_PAYLOAD_TYPE) {
        errors.push({ path, value, message: 'is not a passcode payload', allowed: PASSCODE_PAYLOAD_TYPE });
      }
      return;
    case 'ignored':
      return;
  }
}

/**
 * Parses one dictionary of passcode settings. `style` limits the accepted keys: a profile payload
 * holds only Apple's keys, a policy file may use either style.
 */
export function parsePolicyDocument(document: unknown, style: KeyStyle = 'any'): ParseResult<PasscodePolicy> {
  const notes: PolicyNote[] = [];
  if (!isPlainObject(document)) {
    return { ok: false, errors: [{ path: '', value: describeType(document), message: 'a policy must be a dictionary of passcode settings' }], notes };
  }
  const state: ParseState = { requirements: {}, meta: {}, errors: [], notes, setBy: new Map(), inactivity: [] };
  const fields = FIELDS_BY_STYLE[style];
  for (const [key, value] of Object.entries(document)) {
    const spec = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (spec) readField(state, key, key, value, spec);
    else if (Object.hasOwn(RETIRED_APPLE_KEYS, key) && style !== 'friendly') notes.push({ path: key, message: RETIRED_APPLE_KEYS[key]! });
    else unknownKey(key, key, value, Object.keys(fields), state.errors);
  }
  if (state.inactivity.length > 0) {
    // AutoLockTimeout and MaximumInactivity both bound the same Apple key; the smaller one applies.
    const smallest = state.inactivity.reduce((a, b) => (b.value < a.value ? b : a));
    state.requirements.maxInactivity = smallest.value;
    if (state.inactivity.length > 1) {
      const given = state.inactivity.map((i) => `${i.key} ${i.value}`).join(' and ');
      notes.push({ path: smallest.key, message: `${given} all bound maxInactivity; the smallest, ${smallest.value} minutes, applies` });
    }
  }
  const { requirements } = state;
  if (requirements.minutesUntilFailedLoginReset !== undefined && requirements.maxFailedAttempts === undefined) {
    notes.push({ path: state.setBy.get('minutesUntilFailedLoginReset') ?? 'minutesUntilFailedLoginReset', message: 'has no effect without maxFailedAttempts (Apple: "This key requires setting maxFailedAttempts")' });
  }
  if (requirements.customRegex) requirements.customRegex = normalizeRegexRules(requirements.customRegex);
  if (state.errors.length > 0) return { ok: false, errors: state.errors, notes };
  return { ok: true, value: { meta: state.meta, requirements }, notes };
}

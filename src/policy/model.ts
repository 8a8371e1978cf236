// The canonical passcode policy and the vocabulary every stage of the engine shares.
// Field names follow Apple's Passcode payload (com.apple.mobiledevice.passwordpolicy) where
// Apple has a key; the per-class minimums come from the friendly style and have no Apple key.

export const PLATFORMS = ['ios', 'ipados', 'macos', 'watchos', 'visionos', 'tvos'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const ENROLLMENTS = ['device', 'user', 'shared-ipad'] as const;
export type Enrollment = (typeof ENROLLMENTS)[number];

export const PLATFORM_NAMES: Record<Platform, string> = {
  ios: 'iOS',
  ipados: 'iPadOS',
  macos: 'macOS',
  watchos: 'watchOS',
  visionos: 'visionOS',
  tvos: 'tvOS',
};

/** A customRegex rule (macOS 14+). `regex` is ICU syntax and must match the whole passcode. */
export interface CustomRegexRule {
  regex: string;
  /** Language ID (e.g. "en-US", or "default") → localized description. */
  description?: Record<string, string>;
}

/**
 * What a policy requires of a passcode and of the device. Absent means "no requirement".
 * Every stage (parse, merge, compile, check, example) speaks this shape.
 */
export interface PasscodeRequirements {
  /** forcePIN: a passcode must be set. */
  forcePIN?: boolean;
  /** allowSimple=false forbids repeated and rising/falling runs (see simple-passcode.ts). */
  allowSimple?: boolean;
  minLength?: number;
  /** At least one letter (Apple: "alphabetic characters instead of only numeric"). */
  requireAlphanumeric?: boolean;
  /** Characters that are neither letters nor digits (friendly MinimumSymbols). */
  minComplexChars?: number;
  /** Per-class minimums, ASCII classes as the friendly style defines them: 0-9, a-z, A-Z. */
  minDigits?: number;
  minLowercase?: number;
  minUppercase?: number;
  maxFailedAttempts?: number;
  /** macOS only; needs maxFailedAttempts. */
  minutesUntilFailedLoginReset?: number;
  /** Minutes; uncapped here, capped per platform at compile time (decision 3). */
  maxInactivity?: number;
  maxGracePeriod?: number;
  maxPINAgeInDays?: number;
  pinHistory?: number;
  /** macOS only. */
  changeAtNextAuth?: boolean;
  /** macOS 14+ only. Kept sorted by regex and de-duplicated, so merging is a set union. */
  customRegex?: CustomRegexRule[];
}

export type RequirementKey = keyof PasscodeRequirements;

/** The order requirements are listed in by explain, merge and check. */
export const REQUIREMENT_KEYS: readonly RequirementKey[] = [
  'forcePIN',
  'allowSimple',
  'minLength',
  'requireAlphanumeric',
  'minComplexChars',
  'minDigits',
  'minLowercase',
  'minUppercase',
  'maxFailedAttempts',
  'minutesUntilFailedLoginReset',
  'maxInactivity',
  'maxGracePeriod',
  'maxPINAgeInDays',
  'pinHistory',
  'changeAtNextAuth',
  'customRegex',
];

/** Profile metadata carried alongside the requirements. */
export interface PolicyMeta {
  /** Reverse-DNS identity; the same identifier replaces the installed profile in place. */
  identifier?: string;
  displayName?: string;
  organization?: string;
  description?: string;
}

export interface PasscodePolicy {
  meta: PolicyMeta;
  requirements: PasscodeRequirements;
}

/** One problem with the input: where, what was given, and what would be accepted. */
export interface PolicyError {
  /** Field path as written by the user, e.g. "RequiredCharacters.MinimumDigits". */
  path: string;
  value: unknown;
  message: string;
  /** The allowed range or values, e.g. "2–11" or "true or false". */
  allowed?: string;
}

/** Something the user should know that does not make the input invalid. */
export interface PolicyNote {
  path: string;
  message: string;
}

export type ParseResult<T> =
  | { ok: true; value: T; notes: PolicyNote[] }
  | { ok: false; errors: PolicyError[]; notes: PolicyNote[] };

export interface CompileTarget {
  platform: Platform;
  enrollment: Enrollment;
  /** Oldest OS version the target fleet runs, e.g. "13.0". Unset: the current release. */
  osVersion?: string;
}

export function formatError(e: PolicyError): string {
  const shown = e.value === undefined ? '' : ` (given: ${JSON.stringify(e.value)})`;
  const allowed = e.allowed ? `; allowed: ${e.allowed}` : '';
  return `${e.path || '(document)'}: ${e.message}${shown}${allowed}`;
}

/**
 * Allowed values of each numeric requirement in the canonical policy. Apple's ranges from
 * com.apple.mobiledevice.passwordpolicy.yaml win over the seeds (decision 2); inactivity is the
 * exception decision 3 makes: any value is accepted and compile caps it per platform.
 */
export const NUMERIC_RANGES = {
  minLength: { min: 0, max: 16 },
  minComplexChars: { min: 0, max: 4 },
  minDigits: { min: 0, max: 16 },
  minLowercase: { min: 0, max: 16 },
  minUppercase: { min: 0, max: 16 },
  maxFailedAttempts: { min: 2, max: 11 },
  minutesUntilFailedLoginReset: { min: 0, max: 525_600 },
  maxInactivity: { min: 0, max: 99_999 },
  maxGracePeriod: { min: 0, max: 240 },
  maxPINAgeInDays: { min: 1, max: 730 },
  pinHistory: { min: 1, max: 50 },
} as const satisfies Partial<Record<RequirementKey, { min: number; max: number }>>;

export type NumericRequirementKey = keyof typeof NUMERIC_RANGES;

/** Apple caps customRegex's passwordContentRegex at 2048 characters. */
export const CUSTOM_REGEX_MAX_LENGTH = 2048;

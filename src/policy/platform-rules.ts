// What each platform does with the Passcode payload, from Apple's schema
// (mdm/profiles/com.apple.mobiledevice.passwordpolicy.yaml, supportedOS of the payload and its keys).
import type { Platform } from './model.ts';

export type ApplePayloadKey =
  | 'allowSimple' | 'forcePIN' | 'maxFailedAttempts' | 'maxInactivity' | 'maxPINAgeInDays'
  | 'minComplexChars' | 'minLength' | 'requireAlphanumeric' | 'pinHistory' | 'maxGracePeriod'
  | 'minutesUntilFailedLoginReset' | 'changeAtNextAuth' | 'customRegex';

export interface PlatformRules {
  /** First OS version with the Passcode payload. */
  introduced: string;
  /** Auto-Lock ceiling in minutes (decision 3). */
  inactivityCap: number;
  /** Keys Apple marks `introduced: n/a` on this platform. */
  unsupported: readonly ApplePayloadKey[];
  /** Keys that arrived after the payload itself did. */
  keyIntroduced: Partial<Record<ApplePayloadKey, string>>;
  /** User Enrollment: the payload is forbidden, or it forces fixed values and ignores the rest. */
  userEnrollment: 'forced-values' | 'forbidden' | 'not-available';
  /** What the device does when failed attempts run out. */
  onFailedAttempts: string;
}

const MAC_ONLY: readonly ApplePayloadKey[] = ['minutesUntilFailedLoginReset', 'changeAtNextAuth', 'customRegex'];

const PHONE_LIKE: Omit<PlatformRules, 'introduced'> = {
  inactivityCap: 15,
  unsupported: MAC_ONLY,
  keyIntroduced: {},
  userEnrollment: 'forced-values',
  onFailedAttempts: 'erases the device',
};

export const PLATFORM_RULES: Record<Exclude<Platform, 'tvos'>, PlatformRules> = {
  ios: { ...PHONE_LIKE, introduced: '4.0' },
  ipados: { ...PHONE_LIKE, introduced: '4.0' },
  visionos: { ...PHONE_LIKE, introduced: '2.0' },
  watchos: {
    ...PHONE_LIKE,
    introduced: '10.0',
    unsupported: [...MAC_ONLY, 'minComplexChars', 'requireAlphanumeric'],
    userEnrollment: 'not-available',
  },
  macos: {
    introduced: '10.7',
    inactivityCap: 60,
    unsupported: [],
    keyIntroduced: { minutesUntilFailedLoginReset: '10.10', changeAtNextAuth: '10.13', customRegex: '14.0' },
    userEnrollment: 'forbidden',
    onFailedAttempts: 'locks the Mac',
  },
};

/** Values a user-enrolled device forces, ignoring the payload's own (Apple's Passcode reference). */
export const USER_ENROLLMENT_FORCED = { forcePIN: true, allowSimple: false, minLength: 6 } as const;

/** Compares dotted versions: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isVersion(text: string): boolean {
  return /^\d+(\.\d+){0,2}$/.test(text);
}

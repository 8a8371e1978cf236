// Where each command lockwarden builds may be sent, transcribed from the `payload.supportedOS` of
// reference/apple-device-management/mdm/commands/*.yaml (test/mdm/command-rules.test.ts re-reads
// the YAML when it is present and compares). Shared by services (refuse with a reason before
// queueing) and the simulator (answer like a real device would).
//
// `notNowWhenLocked` is not in the YAML. Apple's MDM protocol reference listed the commands a
// device executes even while locked: DeviceInformation, ProfileList, DeviceLock, EraseDevice,
// ClearPasscode, CertificateList, ProvisioningProfileList, InstalledApplicationList and
// Restrictions; anything else may come back NotNow until the user unlocks (Data Protection).
// Observed in the field for InstallProfile and SecurityInfo (Apple Developer Forums thread
// 747460). Apple's "Handling NotNow status responses" article gives the rule, not the list.

import type { EnrollmentType } from './enrollment-id.ts';

export type AppleOS = 'iOS' | 'macOS' | 'tvOS' | 'visionOS' | 'watchOS';
export const APPLE_OSES: readonly AppleOS[] = ['iOS', 'macOS', 'tvOS', 'visionOS', 'watchOS'];

/**
 * AccessRights bits of the com.apple.mdm payload (mdm/profiles/com.apple.mdm.yaml), under the
 * symbolic names the command YAML uses (SUMMARY.md §2 matches names to bits).
 */
export const ACCESS_RIGHTS = {
  AllowInspection: 1,
  AllowInstallationRemoval: 2,
  AllowPasscodeRemovalAndLock: 4,
  AllowDeviceErase: 8,
  AllowQueryDeviceInformation: 16,
  AllowQueryNetworkInformation: 32,
  AllowProvisioningInspection: 64,
  AllowProvisioningInstallationRemoval: 128,
  AllowQueryApplications: 256,
  AllowQueryRestrictions: 512,
  AllowQuerySecurity: 1024,
  AllowSettings: 2048,
  AllowAppInstallation: 4096,
} as const;
export type AccessRightName = keyof typeof ACCESS_RIGHTS;

export interface OsRule {
  /** Minimum OS version (`introduced`). */
  introduced: string;
  supervised: boolean;
  /** undefined where the OS has no User Enrollment (tvOS, watchOS). */
  userEnrollment?: 'allowed' | 'forbidden';
  deviceChannel: boolean;
  /** The macOS user channel, or on iOS the Shared iPad user channel. */
  userChannel: boolean;
  /** iOS only: Shared iPad. */
  sharedIPad?: 'allowed' | 'forbidden';
}

export interface CommandRule {
  /**
   * The AccessRights bit the enrollment must grant. `null`: none. 'per-query': DeviceInformation
   * ("Special Case"), where each query needs its own right (mostly 16 or 32).
   */
  accessRight: AccessRightName | null | 'per-query';
  /** OSes absent here do not support the command (`introduced: n/a`). */
  os: Partial<Record<AppleOS, OsRule>>;
  /** true: a locked device may answer NotNow; false: Apple runs it even while locked. */
  notNowWhenLocked: boolean;
}

export const BUILT_REQUEST_TYPES = [
  'InstallProfile',
  'RemoveProfile',
  'ProfileList',
  'SecurityInfo',
  'DeviceInformation',
  'ClearPasscode',
  'DeviceLock',
  'EraseDevice',
  'DeclarativeManagement',
] as const;
export type BuiltRequestType = (typeof BUILT_REQUEST_TYPES)[number];

const deviceOnly = { deviceChannel: true, userChannel: false } as const;
const bothChannels = { deviceChannel: true, userChannel: true } as const;
const unsupervised = { supervised: false } as const;

/** profile.install/remove/list and information.device share one availability. */
function profileLike(introduced: { iOS: string; macOS: string; tvOS: string; visionOS: string; watchOS: string }) {
  return {
    iOS: { introduced: introduced.iOS, ...unsupervised, ...bothChannels, userEnrollment: 'allowed', sharedIPad: 'allowed' },
    macOS: { introduced: introduced.macOS, ...unsupervised, ...bothChannels, userEnrollment: 'allowed' },
    tvOS: { introduced: introduced.tvOS, ...unsupervised, ...deviceOnly },
    visionOS: { introduced: introduced.visionOS, ...unsupervised, ...deviceOnly, userEnrollment: 'allowed' },
    watchOS: { introduced: introduced.watchOS, ...unsupervised, ...deviceOnly },
  } satisfies Partial<Record<AppleOS, OsRule>>;
}

const SINCE_FIRST = { iOS: '4.0', macOS: '10.7', tvOS: '9.0', visionOS: '1.1', watchOS: '10.0' };

export const COMMAND_RULES: Readonly<Record<BuiltRequestType, CommandRule>> = {
  // profile.install.yaml
  InstallProfile: { accessRight: 'AllowInstallationRemoval', os: profileLike(SINCE_FIRST), notNowWhenLocked: true },
  // profile.remove.yaml
  RemoveProfile: { accessRight: 'AllowInstallationRemoval', os: profileLike(SINCE_FIRST), notNowWhenLocked: true },
  // profile.list.yaml
  ProfileList: { accessRight: 'AllowInspection', os: profileLike(SINCE_FIRST), notNowWhenLocked: false },
  // information.security.yaml: on iOS only the Shared iPad device channel, on macOS both channels.
  SecurityInfo: {
    accessRight: 'AllowQuerySecurity',
    os: {
      ...profileLike(SINCE_FIRST),
      iOS: { introduced: '4.0', ...unsupervised, ...deviceOnly, userEnrollment: 'allowed', sharedIPad: 'allowed' },
    },
    notNowWhenLocked: true,
  },
  // information.device.yaml
  DeviceInformation: { accessRight: 'per-query', os: profileLike(SINCE_FIRST), notNowWhenLocked: false },
  // passcode.clear.yaml: never macOS/tvOS, never Shared iPad or User Enrollment.
  ClearPasscode: {
    accessRight: 'AllowPasscodeRemovalAndLock',
    os: {
      iOS: { introduced: '4.0', ...unsupervised, ...deviceOnly, userEnrollment: 'forbidden', sharedIPad: 'forbidden' },
      visionOS: { introduced: '1.1', ...unsupervised, ...deviceOnly, userEnrollment: 'forbidden' },
      watchOS: { introduced: '10.0', ...unsupervised, ...deviceOnly },
    },
    notNowWhenLocked: false,
  },
  // device.lock.yaml
  DeviceLock: {
    accessRight: 'AllowPasscodeRemovalAndLock',
    os: {
      iOS: { introduced: '4.0', ...unsupervised, ...deviceOnly, userEnrollment: 'allowed', sharedIPad: 'allowed' },
      macOS: { introduced: '10.7', ...unsupervised, ...deviceOnly, userEnrollment: 'forbidden' },
      visionOS: { introduced: '2.0', ...unsupervised, ...deviceOnly, userEnrollment: 'allowed' },
      watchOS: { introduced: '10.0', ...unsupervised, ...deviceOnly },
    },
    notNowWhenLocked: false,
  },
  // device.erase.yaml
  EraseDevice: {
    accessRight: 'AllowDeviceErase',
    os: {
      iOS: { introduced: '4.0', ...unsupervised, ...deviceOnly, userEnrollment: 'forbidden', sharedIPad: 'allowed' },
      macOS: { introduced: '10.7', ...unsupervised, ...deviceOnly, userEnrollment: 'forbidden' },
      tvOS: { introduced: '10.2', ...unsupervised, ...deviceOnly },
      visionOS: { introduced: '1.1', ...unsupervised, ...deviceOnly, userEnrollment: 'forbidden' },
      watchOS: { introduced: '10.0', ...unsupervised, ...deviceOnly },
    },
    notNowWhenLocked: false,
  },
  // declarativemanagement.yaml (command)
  DeclarativeManagement: {
    accessRight: null,
    os: profileLike({ iOS: '15.0', macOS: '13.0', tvOS: '16.0', visionOS: '1.1', watchOS: '10.0' }),
    notNowWhenLocked: true,
  },
};

export interface CommandTarget {
  os: AppleOS;
  /** Unknown: the minimum version is not checked. */
  osVersion?: string;
  enrollmentType: EnrollmentType;
  /** The device is a Shared iPad (DeviceInformation IsMultiUser); implied by enrollmentType 'Shared iPad'. */
  sharedIPad?: boolean;
  /** The enrollment's AccessRights; unknown: not checked. Ignored under User Enrollment, as Apple does. */
  accessRights?: number;
  supervised?: boolean;
}

/**
 * Why `requestType` cannot be sent to `target`, or undefined when the YAML allows it. Unknown
 * RequestTypes (raw commands) are not judged: undefined.
 */
export function commandRefusal(requestType: string, target: CommandTarget): string | undefined {
  if (!Object.hasOwn(COMMAND_RULES, requestType)) return undefined;
  const rule = COMMAND_RULES[requestType as BuiltRequestType];
  const os = rule.os[target.os];
  if (!os) return `${requestType} is not supported on ${target.os}`;
  if (target.osVersion !== undefined && compareVersions(target.osVersion, os.introduced) < 0) {
    return `${requestType} needs ${target.os} ${os.introduced} or later (the device runs ${target.osVersion})`;
  }
  if (os.supervised && target.supervised === false) return `${requestType} needs a supervised device`;
  const userEnrollment = target.enrollmentType === 'User Enrollment' || target.enrollmentType === 'User Enrollment (Device)';
  if (userEnrollment && os.userEnrollment !== 'allowed') {
    return `${requestType} is not allowed under User Enrollment on ${target.os}`;
  }
  const sharedIPad = target.sharedIPad === true || target.enrollmentType === 'Shared iPad';
  if (sharedIPad && os.sharedIPad !== 'allowed') return `${requestType} is not allowed on a Shared iPad`;
  const userChannel =
    target.enrollmentType === 'User' || target.enrollmentType === 'User Enrollment' || target.enrollmentType === 'Shared iPad';
  if (userChannel && !os.userChannel) return `${requestType} is not available on the user channel on ${target.os}`;
  if (!userChannel && !os.deviceChannel) return `${requestType} is not available on the device channel on ${target.os}`;
  const right = rule.accessRight;
  if (right !== null && right !== 'per-query' && !userEnrollment && target.accessRights !== undefined) {
    const bit = ACCESS_RIGHTS[right];
    if ((target.accessRights & bit) === 0) {
      return `${requestType} needs AccessRights bit ${bit} (${right}), which this enrollment does not grant`;
    }
  }
  return undefined;
}

/** Numeric dotted-version order: "9.3.2" < "10.0", "17" = "17.0". */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

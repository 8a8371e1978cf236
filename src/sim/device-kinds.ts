// The kinds of simulated Apple device, as data: platform, enrollment, supervision, what the
// device says about itself, and which SecurityInfo keys and DeviceInformation queries it answers.
// The key and query tables are transcribed from Apple's schema
// (../shared/reference/apple-device-management/mdm/commands/information.security.yaml and
// information.device.yaml, `supportedOS` per key, including `userenrollment.mode: forbidden`),
// so a simulated device reports what its real counterpart documents and nothing more: a Mac has
// no passcode keys in SecurityInfo, a user-enrolled iPhone no UDID or serial number.

import { ACCESS_RIGHTS } from '../mdm/command-rules.ts';
import type { AppleOS } from '../mdm/command-rules.ts';
import { UNLOCK_TOKEN_PLATFORMS } from '../mdm/unlock-token.ts';
import type { Platform } from '../policy/model.ts';

export type SimEnrollment = 'device' | 'user' | 'shared-ipad';

export interface DeviceKind {
  /** The preset's name, or a name of the caller's choosing. */
  name: string;
  platform: Platform;
  enrollment: SimEnrollment;
  supervised: boolean;
  /** Apple's model identifier; platformOfProductName (src/mdm/device-information-response.ts) maps it back. */
  productName: string;
  /** Marketing name, as DeviceInformation ModelName answers ("iPhone", "MacBook Air"). */
  modelName: string;
  /** Part number, as DeviceInformation Model answers ("MYMG3LL/A"). */
  model: string;
  osVersion: string;
  buildVersion: string;
  /** Has a cellular modem: Authenticate and DeviceInformation carry an IMEI. */
  cellular: boolean;
  /** The SecurityInfo keys it answers. */
  securityInfoKeys: readonly SecurityInfoKey[];
  /** The DeviceInformation queries it answers; any other query is left out of QueryResponses. */
  deviceInformationQueries: readonly DeviceQuery[];
  /** It has a lock screen (and so Data Protection that can defer commands). Apple TV has neither. */
  lockable: boolean;
}

export const APPLE_OS_OF: Record<Platform, AppleOS> = {
  ios: 'iOS',
  ipados: 'iOS',
  macos: 'macOS',
  watchos: 'watchOS',
  visionos: 'visionOS',
  tvos: 'tvOS',
};

// ---------------------------------------------------------------- SecurityInfo

export type SecurityInfoKey =
  | 'HardwareEncryptionCaps' | 'PasscodePresent' | 'PasscodeCompliant' | 'PasscodeCompliantWithProfiles'
  | 'PasscodeLockGracePeriod' | 'PasscodeLockGracePeriodEnforced' | 'AutoLockTime' | 'ManagementStatus'
  | 'FDE_Enabled' | 'FDE_HasPersonalRecoveryKey' | 'FDE_HasInstitutionalRecoveryKey'
  | 'SystemIntegrityProtectionEnabled' | 'FirewallSettings' | 'SecureBoot' | 'RemoteDesktopEnabled'
  | 'AuthenticatedRootVolumeEnabled' | 'BootstrapTokenAllowedForAuthentication'
  | 'BootstrapTokenRequiredForSoftwareUpdate' | 'BootstrapTokenRequiredForKernelExtensionApproval'
  | 'IsRecoveryLockEnabled';

interface KeyRule {
  os: readonly AppleOS[];
  /** `userenrollment.mode: forbidden` on these OSes. */
  ueForbidden?: readonly AppleOS[];
  /** Only on Shared iPad (the key's text says so, or `sharedipad.mode: required`). */
  sharedIPadOnly?: boolean;
}

const NOT_MAC: readonly AppleOS[] = ['iOS', 'tvOS', 'visionOS', 'watchOS'];
const MAC: readonly AppleOS[] = ['macOS'];
const EVERY_OS: readonly AppleOS[] = ['iOS', 'macOS', 'tvOS', 'visionOS', 'watchOS'];

// information.security.yaml, responsekeys.SecurityInfo.subkeys. Keys that exist only on Intel
// Macs (FirmwarePasswordStatus) or only once recovery keys are escrowed (FDE_PersonalRecoveryKeyCMS,
// FDE_PersonalRecoveryKeyDeviceKey) are not listed: the simulated Mac is Apple silicon with
// nothing escrowed.
const SECURITY_INFO_RULES: Record<SecurityInfoKey, KeyRule> = {
  HardwareEncryptionCaps: { os: NOT_MAC },
  PasscodePresent: { os: NOT_MAC, ueForbidden: ['iOS', 'visionOS'] },
  PasscodeCompliant: { os: NOT_MAC },
  PasscodeCompliantWithProfiles: { os: NOT_MAC, ueForbidden: ['iOS', 'visionOS'] },
  // "This value is only available for Shared iPad."
  PasscodeLockGracePeriod: { os: ['iOS'], ueForbidden: ['iOS'], sharedIPadOnly: true },
  PasscodeLockGracePeriodEnforced: { os: ['iOS'], ueForbidden: ['iOS'], sharedIPadOnly: true },
  AutoLockTime: { os: ['iOS'], ueForbidden: ['iOS'], sharedIPadOnly: true },
  ManagementStatus: { os: EVERY_OS },
  FDE_Enabled: { os: MAC },
  FDE_HasPersonalRecoveryKey: { os: MAC, ueForbidden: MAC },
  FDE_HasInstitutionalRecoveryKey: { os: MAC, ueForbidden: MAC },
  SystemIntegrityProtectionEnabled: { os: MAC },
  FirewallSettings: { os: MAC },
  SecureBoot: { os: MAC },
  RemoteDesktopEnabled: { os: MAC, ueForbidden: MAC },
  AuthenticatedRootVolumeEnabled: { os: MAC },
  BootstrapTokenAllowedForAuthentication: { os: MAC, ueForbidden: MAC },
  BootstrapTokenRequiredForSoftwareUpdate: { os: MAC, ueForbidden: MAC },
  BootstrapTokenRequiredForKernelExtensionApproval: { os: MAC, ueForbidden: MAC },
  IsRecoveryLockEnabled: { os: MAC, ueForbidden: MAC },
};

/** The SecurityInfo keys Apple documents for this platform and enrollment. */
export function securityInfoKeysFor(platform: Platform, enrollment: SimEnrollment): SecurityInfoKey[] {
  return (Object.keys(SECURITY_INFO_RULES) as SecurityInfoKey[]).filter((key) => allowed(SECURITY_INFO_RULES[key], platform, enrollment));
}

// ---------------------------------------------------------------- DeviceInformation

export type DeviceQuery =
  | 'UDID' | 'DeviceName' | 'OSVersion' | 'BuildVersion' | 'ModelName' | 'Model' | 'ModelNumber' | 'ProductName'
  | 'SerialNumber' | 'DeviceCapacity' | 'AvailableDeviceCapacity' | 'BatteryLevel' | 'IMEI' | 'IsSupervised'
  | 'IsMultiUser' | 'IsDeviceLocatorServiceEnabled' | 'IsActivationLockEnabled' | 'IsMDMLostModeEnabled'
  | 'AwaitingConfiguration' | 'TimeZone' | 'WiFiMAC' | 'BluetoothMAC' | 'IsAppleSilicon'
  | 'PINRequiredForDeviceLock' | 'PINRequiredForEraseDevice';

interface QueryRule extends KeyRule {
  /** The AccessRights bit the query needs (information.device.yaml `accessrights`); none when absent. */
  right?: number;
}

const INFO = ACCESS_RIGHTS.AllowQueryDeviceInformation;
const NETWORK = ACCESS_RIGHTS.AllowQueryNetworkInformation;
const IOS_MAC_VISION: readonly AppleOS[] = ['iOS', 'macOS', 'visionOS'];

// information.device.yaml, payloadkeys.Queries.QueriesItem.subkeys (the versions are all older
// than the presets' OS versions, so only "supported at all" is kept).
const QUERY_RULES: Record<DeviceQuery, QueryRule> = {
  UDID: { os: EVERY_OS, ueForbidden: IOS_MAC_VISION },
  DeviceName: { os: EVERY_OS, right: INFO },
  OSVersion: { os: EVERY_OS, right: INFO },
  BuildVersion: { os: EVERY_OS, right: INFO },
  ModelName: { os: EVERY_OS, right: INFO },
  Model: { os: ['iOS', 'macOS', 'tvOS', 'watchOS'], right: INFO },
  ModelNumber: { os: EVERY_OS, right: INFO },
  ProductName: { os: EVERY_OS, right: INFO },
  SerialNumber: { os: EVERY_OS, ueForbidden: IOS_MAC_VISION, right: INFO },
  DeviceCapacity: { os: ['iOS', 'macOS', 'visionOS', 'watchOS'], right: INFO },
  AvailableDeviceCapacity: { os: ['iOS', 'macOS', 'visionOS', 'watchOS'], right: INFO },
  BatteryLevel: { os: ['iOS', 'macOS', 'visionOS', 'watchOS'], right: INFO },
  IMEI: { os: ['iOS'], ueForbidden: ['iOS'], right: INFO },
  IsSupervised: { os: EVERY_OS, right: INFO },
  IsMultiUser: { os: ['iOS'], right: INFO },
  IsDeviceLocatorServiceEnabled: { os: ['iOS', 'visionOS', 'watchOS'], right: INFO },
  IsActivationLockEnabled: { os: ['iOS', 'macOS', 'watchOS'], ueForbidden: ['iOS', 'macOS'], right: INFO },
  IsMDMLostModeEnabled: { os: ['iOS', 'watchOS'], ueForbidden: ['iOS'], right: INFO },
  AwaitingConfiguration: { os: EVERY_OS, ueForbidden: IOS_MAC_VISION },
  TimeZone: { os: ['iOS', 'tvOS', 'visionOS', 'watchOS'], right: INFO },
  WiFiMAC: { os: EVERY_OS, ueForbidden: IOS_MAC_VISION, right: NETWORK },
  BluetoothMAC: { os: ['iOS', 'macOS', 'tvOS', 'visionOS'], ueForbidden: IOS_MAC_VISION, right: NETWORK },
  IsAppleSilicon: { os: MAC, right: INFO },
  PINRequiredForDeviceLock: { os: MAC, ueForbidden: MAC, right: INFO },
  PINRequiredForEraseDevice: { os: MAC, ueForbidden: MAC, right: INFO },
};

/** The DeviceInformation queries Apple documents for this platform and enrollment. */
export function deviceInformationQueriesFor(platform: Platform, enrollment: SimEnrollment): DeviceQuery[] {
  return (Object.keys(QUERY_RULES) as DeviceQuery[]).filter((query) => allowed(QUERY_RULES[query], platform, enrollment));
}

/** The AccessRights bit a query needs, or undefined when it needs none (UDID, AwaitingConfiguration). */
export function accessRightForQuery(query: string): number | undefined {
  return Object.hasOwn(QUERY_RULES, query) ? QUERY_RULES[query as DeviceQuery].right : undefined;
}

function allowed(rule: KeyRule, platform: Platform, enrollment: SimEnrollment): boolean {
  const os = APPLE_OS_OF[platform];
  if (!rule.os.includes(os)) return false;
  if (enrollment === 'user' && rule.ueForbidden?.includes(os)) return false;
  if (rule.sharedIPadOnly && enrollment !== 'shared-ipad') return false;
  return true;
}

// ---------------------------------------------------------------- rules that depend on the kind

/**
 * Whether TokenUpdate carries an UnlockToken (DESIGN decision 9, mdm/checkin/tokenupdate.yaml
 * UnlockToken): iOS, iPadOS, watchOS and visionOS only; never under User Enrollment or on Shared
 * iPad; and only when the enrollment profile grants AccessRights bit 4 (device lock and passcode
 * removal).
 */
export function mayEscrowUnlockToken(kind: Pick<DeviceKind, 'platform' | 'enrollment'>, accessRights: number | undefined): boolean {
  if (!UNLOCK_TOKEN_PLATFORMS.includes(kind.platform) || kind.enrollment !== 'device') return false;
  return ((accessRights ?? 0) & ACCESS_RIGHTS.AllowPasscodeRemovalAndLock) !== 0;
}

/**
 * Whether a com.apple.configuration.passcode.settings declaration applies
 * (passcode.settings.yaml allowed-enrollments): iOS and visionOS on device and user enrollments
 * (Shared iPad has no allowed scope), macOS and watchOS only supervised, never tvOS.
 */
export function appliesPasscodeDeclaration(kind: Pick<DeviceKind, 'platform' | 'enrollment' | 'supervised'>): boolean {
  switch (kind.platform) {
    case 'ios':
    case 'ipados':
      return kind.enrollment !== 'shared-ipad';
    case 'visionos':
      return true;
    case 'macos':
    case 'watchos':
      return kind.supervised && kind.enrollment === 'device';
    case 'tvos':
      return false;
  }
}

/**
 * Whether a com.apple.configuration.management.status-subscriptions declaration applies
 * (management.status-subscriptions.yaml allowed-enrollments): iOS, iPadOS (Shared iPad included),
 * visionOS and tvOS on every enrollment they have; macOS supervised or under User Enrollment, not
 * an unsupervised Device Enrollment; watchOS only supervised.
 */
export function appliesStatusSubscriptions(kind: Pick<DeviceKind, 'platform' | 'enrollment' | 'supervised'>): boolean {
  switch (kind.platform) {
    case 'ios':
    case 'ipados':
    case 'visionos':
    case 'tvos':
      return true;
    case 'macos':
      return kind.supervised || kind.enrollment === 'user';
    case 'watchos':
      return kind.supervised;
  }
}

/**
 * Whether the passcode.is-compliant / passcode.is-present status items exist
 * (declarative/status/passcode.*.yaml): iOS and visionOS on every enrollment, watchOS only
 * supervised, never macOS or tvOS.
 */
export function reportsPasscodeStatus(kind: Pick<DeviceKind, 'platform' | 'supervised'>): boolean {
  switch (kind.platform) {
    case 'ios':
    case 'ipados':
    case 'visionos':
      return true;
    case 'watchos':
      return kind.supervised;
    case 'macos':
    case 'tvos':
      return false;
  }
}

// ---------------------------------------------------------------- presets

type KindFacts = Omit<DeviceKind, 'securityInfoKeys' | 'deviceInformationQueries'>;

/** A kind with its SecurityInfo keys and DeviceInformation queries taken from the tables above. */
export function defineKind(facts: KindFacts): DeviceKind {
  if (facts.enrollment === 'shared-ipad' && facts.platform !== 'ipados') throw new Error(`${facts.name}: Shared iPad is an iPadOS mode`);
  if (facts.enrollment === 'user' && (facts.platform === 'watchos' || facts.platform === 'tvos')) {
    throw new Error(`${facts.name}: ${facts.platform} has no User Enrollment`);
  }
  return {
    ...facts,
    securityInfoKeys: securityInfoKeysFor(facts.platform, facts.enrollment),
    deviceInformationQueries: deviceInformationQueriesFor(facts.platform, facts.enrollment),
  };
}

const IPHONE = {
  platform: 'ios', productName: 'iPhone17,1', modelName: 'iPhone', model: 'MYMG3LL/A',
  osVersion: '18.1', buildVersion: '22B83', cellular: true, lockable: true,
} as const;
const MAC_FACTS = {
  platform: 'macos', productName: 'Mac14,2', modelName: 'MacBook Air', model: 'Mac14,2',
  osVersion: '15.1', buildVersion: '24B83', cellular: false, lockable: true,
} as const;

export const DEVICE_KIND_PRESETS = {
  iphone: defineKind({ name: 'iphone', ...IPHONE, enrollment: 'device', supervised: false }),
  'iphone-supervised': defineKind({ name: 'iphone-supervised', ...IPHONE, enrollment: 'device', supervised: true }),
  'iphone-user-enrollment': defineKind({ name: 'iphone-user-enrollment', ...IPHONE, enrollment: 'user', supervised: false }),
  ipad: defineKind({
    name: 'ipad', platform: 'ipados', enrollment: 'device', supervised: false, productName: 'iPad16,3', modelName: 'iPad Pro',
    model: 'MVV83LL/A', osVersion: '18.1', buildVersion: '22B83', cellular: false, lockable: true,
  }),
  // Shared iPad needs supervision (Apple Business/School Manager), so it always is.
  'shared-ipad': defineKind({
    name: 'shared-ipad', platform: 'ipados', enrollment: 'shared-ipad', supervised: true, productName: 'iPad13,18', modelName: 'iPad',
    model: 'MPQ03LL/A', osVersion: '18.1', buildVersion: '22B83', cellular: false, lockable: true,
  }),
  mac: defineKind({ name: 'mac', ...MAC_FACTS, enrollment: 'device', supervised: false }),
  'mac-user-enrollment': defineKind({ name: 'mac-user-enrollment', ...MAC_FACTS, enrollment: 'user', supervised: false }),
  'apple-watch': defineKind({
    name: 'apple-watch', platform: 'watchos', enrollment: 'device', supervised: false, productName: 'Watch7,1', modelName: 'Apple Watch',
    model: 'MR933LL/A', osVersion: '11.1', buildVersion: '22R423', cellular: false, lockable: true,
  }),
  'vision-pro': defineKind({
    name: 'vision-pro', platform: 'visionos', enrollment: 'device', supervised: false, productName: 'RealityDevice14,1',
    modelName: 'Apple Vision Pro', model: 'MW8X3LL/A', osVersion: '2.1', buildVersion: '22N580', cellular: false, lockable: true,
  }),
  'apple-tv': defineKind({
    name: 'apple-tv', platform: 'tvos', enrollment: 'device', supervised: true, productName: 'AppleTV14,1', modelName: 'Apple TV',
    model: 'MN893LL/A', osVersion: '18.1', buildVersion: '22J580', cellular: false, lockable: false,
  }),
} as const satisfies Record<string, DeviceKind>;

export type PresetName = keyof typeof DEVICE_KIND_PRESETS;
export const PRESET_NAMES = Object.keys(DEVICE_KIND_PRESETS) as PresetName[];

/** Platform names as `--mix` takes them (ios=60,macos=30…) → the preset standing for the platform. */
export const PRESET_FOR_PLATFORM: Record<Platform, PresetName> = {
  ios: 'iphone',
  ipados: 'ipad',
  macos: 'mac',
  watchos: 'apple-watch',
  visionos: 'vision-pro',
  tvos: 'apple-tv',
};

export function deviceKind(name: PresetName | DeviceKind): DeviceKind {
  if (typeof name !== 'string') return name;
  if (!Object.hasOwn(DEVICE_KIND_PRESETS, name)) throw new Error(`unknown device kind ${JSON.stringify(name)}; known kinds: ${PRESET_NAMES.join(', ')}`);
  return DEVICE_KIND_PRESETS[name];
}

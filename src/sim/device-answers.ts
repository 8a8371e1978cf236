// What a simulated device answers to the information commands, as pure functions of its state:
// SecurityInfo (only the keys its kind documents, see device-kinds.ts), DeviceInformation (only
// the queries asked that its kind supports and its AccessRights allow) and ProfileList (every
// profile it holds, in the shape of mdm/commands/profile.list.yaml).

import { accessRightForQuery } from './device-kinds.ts';
import type { DeviceKind, SecurityInfoKey } from './device-kinds.ts';
import type { PasscodeEvaluation } from './passcode-state.ts';

/** Facts of one simulated device that its answers report. */
export interface DeviceFacts {
  udid: string;
  serialNumber: string;
  deviceName: string;
  imei?: string;
  wifiMac: string;
  bluetoothMac: string;
}

export function securityInfoAnswer(kind: DeviceKind, passcode: PasscodeEvaluation): Record<string, unknown> {
  const userEnrolled = kind.enrollment === 'user';
  const mac = kind.platform === 'macos';
  const values: Record<SecurityInfoKey, () => unknown> = {
    // 3: block- and file-level encryption, what every current iPhone, iPad, Watch, Vision Pro and Apple TV has.
    HardwareEncryptionCaps: () => 3,
    PasscodePresent: () => passcode.present,
    PasscodeCompliant: () => passcode.compliant,
    PasscodeCompliantWithProfiles: () => passcode.compliant,
    // Seconds: the Shared iPad asks for the passcode at once after locking.
    PasscodeLockGracePeriod: () => 0,
    PasscodeLockGracePeriodEnforced: () => 0,
    AutoLockTime: () => 120,
    ManagementStatus: () => mac
      ? { EnrolledViaDEP: kind.supervised, UserApprovedEnrollment: true, IsUserEnrollment: userEnrolled, IsActivationLockManageable: kind.supervised && !userEnrolled }
      // On iOS-family devices only IsUserEnrollment is defined (information.security.yaml).
      : { IsUserEnrollment: userEnrolled },
    FDE_Enabled: () => true,
    FDE_HasPersonalRecoveryKey: () => false,
    FDE_HasInstitutionalRecoveryKey: () => false,
    SystemIntegrityProtectionEnabled: () => true,
    FirewallSettings: () => ({
      FirewallEnabled: true,
      BlockAllIncoming: false,
      StealthMode: false,
      // Applications: userenrollment forbidden.
      ...(!userEnrolled && { Applications: [] }),
      LoggingEnabled: false,
      LoggingOption: 'throttled',
    }),
    SecureBoot: () => ({
      SecureBootLevel: 'full',
      ExternalBootLevel: 'disallowed',
      ReducedSecurity: { AllowsAnyAppleSignedOS: false, AllowsMDM: false, AllowsUserKextApproval: false },
    }),
    RemoteDesktopEnabled: () => false,
    AuthenticatedRootVolumeEnabled: () => true,
    // Set automatically for Macs from Automated Device Enrollment (supervised here).
    BootstrapTokenAllowedForAuthentication: () => (kind.supervised ? 'allowed' : 'disallowed'),
    BootstrapTokenRequiredForSoftwareUpdate: () => false,
    BootstrapTokenRequiredForKernelExtensionApproval: () => false,
    IsRecoveryLockEnabled: () => false,
  };
  const info: Record<string, unknown> = {};
  for (const key of kind.securityInfoKeys) info[key] = values[key]();
  return { SecurityInfo: info };
}

export interface DeviceInformationInput {
  kind: DeviceKind;
  facts: DeviceFacts;
  queries: readonly string[];
  /** The enrollment's AccessRights; ignored under User Enrollment, as the device does. */
  accessRights: number | undefined;
}

export function deviceInformationAnswer({ kind, facts, queries, accessRights }: DeviceInformationInput): Record<string, unknown> {
  const values: Record<string, () => unknown> = {
    UDID: () => facts.udid,
    DeviceName: () => facts.deviceName,
    OSVersion: () => kind.osVersion,
    BuildVersion: () => kind.buildVersion,
    ModelName: () => kind.modelName,
    Model: () => kind.model,
    // "MYMG3LL/A" is part MYMG3 for region LL; a Mac's Model is its identifier, with no part number in it.
    ModelNumber: () => (kind.model.includes('/') ? kind.model.slice(0, kind.model.indexOf('/')).replace(/LL$/, '') : undefined),
    ProductName: () => kind.productName,
    SerialNumber: () => facts.serialNumber,
    // Gigabytes, as <real>.
    DeviceCapacity: () => 238.5,
    AvailableDeviceCapacity: () => 171.25,
    BatteryLevel: () => 0.85,
    IMEI: () => facts.imei,
    IsSupervised: () => kind.supervised,
    IsMultiUser: () => kind.enrollment === 'shared-ipad',
    IsDeviceLocatorServiceEnabled: () => !kind.supervised,
    IsActivationLockEnabled: () => false,
    IsMDMLostModeEnabled: () => false,
    AwaitingConfiguration: () => false,
    TimeZone: () => 'Europe/Berlin',
    WiFiMAC: () => facts.wifiMac,
    BluetoothMAC: () => facts.bluetoothMac,
    IsAppleSilicon: () => true,
    // Apple silicon Macs lock and erase without a Find My PIN.
    PINRequiredForDeviceLock: () => false,
    PINRequiredForEraseDevice: () => false,
  };
  const supported = new Set<string>(kind.deviceInformationQueries);
  const responses: Record<string, unknown> = {};
  for (const query of queries) {
    if (!supported.has(query) || !Object.hasOwn(values, query)) continue;
    const right = accessRightForQuery(query);
    if (right !== undefined && kind.enrollment !== 'user' && ((accessRights ?? 0) & right) === 0) continue;
    const value = values[query]!();
    if (value !== undefined) responses[query] = value;
  }
  return { QueryResponses: responses };
}

/** One profile as the device holds it. */
export interface HeldProfile {
  /** The top-level Configuration dictionary as installed. */
  profile: Record<string, unknown>;
  /** Installed by this MDM (false: the enrollment profile the user installed). */
  managed: boolean;
}

/** A ProfileList item (profile.list.yaml responsekeys.ProfileList.ProfileListItem). */
export function profileListItem(kind: DeviceKind, held: HeldProfile): Record<string, unknown> {
  const p = held.profile;
  const item: Record<string, unknown> = {
    PayloadIdentifier: p.PayloadIdentifier,
    PayloadUUID: p.PayloadUUID,
    PayloadVersion: typeof p.PayloadVersion === 'number' ? p.PayloadVersion : 1,
  };
  for (const key of ['PayloadDisplayName', 'PayloadOrganization', 'PayloadDescription'] as const) {
    if (typeof p[key] === 'string') item[key] = p[key];
  }
  item.PayloadRemovalDisallowed = p.PayloadRemovalDisallowed === true;
  item.HasRemovalPasscode = p.HasRemovalPasscode === true;
  item.IsEncrypted = false;
  // IsManaged: not on macOS, and "MDM doesn't return this value for supervised devices".
  if (kind.platform !== 'macos' && !kind.supervised) item.IsManaged = held.managed;
  const content = Array.isArray(p.PayloadContent) ? p.PayloadContent : [];
  item.PayloadContent = content.filter(isDict).map((payload) => {
    const entry: Record<string, unknown> = {};
    for (const key of ['PayloadType', 'PayloadVersion', 'PayloadIdentifier', 'PayloadUUID', 'PayloadDisplayName', 'PayloadDescription', 'PayloadOrganization']) {
      if (payload[key] !== undefined) entry[key] = payload[key];
    }
    return entry;
  });
  return item;
}

export function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Date);
}

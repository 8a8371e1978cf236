// DeviceInformation results (reference/apple-device-management/mdm/commands/information.device.yaml,
// responsekeys.QueryResponses). Typed: the keys lockwarden decides with (which platform and
// version, supervised or not, Shared iPad, Mac PIN needs, lost mode, Setup Assistant). Every other
// query answer stays in `raw`, as decoded.

import type { Platform } from '../policy/model.ts';
import { expectDict, readFields } from './wire-fields.ts';
import type { FieldTable, PlistDict } from './wire-fields.ts';

export interface DeviceQueryResponses {
  UDID?: string;
  DeviceName?: string;
  OSVersion?: string;
  BuildVersion?: string;
  /** e.g. "iPhone15,2", "iPad13,4", "Mac14,2", "Watch6,1", "RealityDevice14,1"; see platformOfProductName. */
  ProductName?: string;
  Model?: string;
  ModelName?: string;
  SerialNumber?: string;
  /** iOS 6, macOS 10.15, tvOS 9. */
  IsSupervised?: boolean;
  /** iOS 9.3: the device is a Shared iPad. */
  IsMultiUser?: boolean;
  /** iOS 9.3. */
  IsMDMLostModeEnabled?: boolean;
  /** iOS 7, macOS 10.9, watchOS. */
  IsActivationLockEnabled?: boolean;
  /** iOS 9, macOS 10.11, tvOS 10.2, visionOS 2: Setup Assistant waits for DeviceConfigured. */
  AwaitingConfiguration?: boolean;
  /** macOS 11: DeviceLock needs a PIN. */
  PINRequiredForDeviceLock?: boolean;
  /** macOS 11: EraseDevice needs a PIN. */
  PINRequiredForEraseDevice?: boolean;
  /** macOS 12. */
  IsAppleSilicon?: boolean;
  raw: PlistDict;
}

export interface DeviceInformationResponse {
  QueryResponses: DeviceQueryResponses;
}

const QUERY_RESPONSES: FieldTable<DeviceQueryResponses, 'raw'> = {
  UDID: { kind: 'string' },
  DeviceName: { kind: 'string' },
  OSVersion: { kind: 'string' },
  BuildVersion: { kind: 'string' },
  ProductName: { kind: 'string' },
  Model: { kind: 'string' },
  ModelName: { kind: 'string' },
  SerialNumber: { kind: 'string' },
  IsSupervised: { kind: 'boolean' },
  IsMultiUser: { kind: 'boolean' },
  IsMDMLostModeEnabled: { kind: 'boolean' },
  IsActivationLockEnabled: { kind: 'boolean' },
  AwaitingConfiguration: { kind: 'boolean' },
  PINRequiredForDeviceLock: { kind: 'boolean' },
  PINRequiredForEraseDevice: { kind: 'boolean' },
  IsAppleSilicon: { kind: 'boolean' },
};

/**
 * Reads a DeviceInformation result: a CommandReport's `response` (or the whole decoded report).
 * `QueryResponses` is required; a device answers only the queries it was asked and supports, so
 * every key inside is optional, but a present key of the wrong type is an MdmProtocolError.
 */
export function parseDeviceInformationResponse(value: unknown): DeviceInformationResponse {
  const response = expectDict(value, 'DeviceInformation response');
  const { fields } = readFields<{ QueryResponses: PlistDict }>(response, { QueryResponses: { kind: 'dictionary', required: true } }, '');
  const { fields: typed, raw } = readFields<Omit<DeviceQueryResponses, 'raw'>>(fields.QueryResponses, QUERY_RESPONSES, 'QueryResponses');
  return { QueryResponses: { ...typed, raw } };
}

// ProductName prefixes (Apple's model identifiers). A prefix this table does not know gives
// undefined rather than a guess: the platform decides whether ClearPasscode is possible.
const PRODUCT_PREFIXES: readonly [RegExp, Platform][] = [
  [/^(iPhone|iPod)\d/, 'ios'],
  [/^iPad\d/, 'ipados'],
  [/^(Mac|MacBook|MacBookAir|MacBookPro|iMac|iMacPro|Macmini|MacPro|VirtualMac)\d/, 'macos'],
  [/^Watch\d/, 'watchos'],
  [/^RealityDevice\d/, 'visionos'],
  [/^AppleTV\d/, 'tvos'],
];

/** The lockwarden platform of a ProductName ("iPad13,4" → ipados), or undefined if unknown. */
export function platformOfProductName(productName: string): Platform | undefined {
  for (const [pattern, platform] of PRODUCT_PREFIXES) if (pattern.test(productName)) return platform;
  return undefined;
}

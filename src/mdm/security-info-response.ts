// SecurityInfo results (reference/apple-device-management/mdm/commands/information.security.yaml).
// The passcode keys are lockwarden's compliance evidence on iOS, iPadOS, watchOS and visionOS
// (DESIGN decision 8). macOS reports none of them, so their absence is normal, not an error;
// everything lockwarden does not read stays in `raw` for the audit trail.

import { expectDict, readFields } from './wire-fields.ts';
import type { FieldTable, PlistDict } from './wire-fields.ts';

export interface ManagementStatus {
  /** macOS 10.13.2. */
  EnrolledViaDEP?: boolean;
  /** macOS 10.13.2. */
  UserApprovedEnrollment?: boolean;
  /** iOS 13, macOS 10.15. */
  IsUserEnrollment?: boolean;
  /** macOS 10.15. */
  IsActivationLockManageable?: boolean;
  raw: PlistDict;
}

export interface SecurityInfo {
  /** Not on macOS; forbidden under User Enrollment. */
  PasscodePresent?: boolean;
  /** The passcode meets every requirement (profiles and accounts such as Exchange). Not on macOS. */
  PasscodeCompliant?: boolean;
  /** The passcode meets the profiles' requirements. Not on macOS; forbidden under User Enrollment. */
  PasscodeCompliantWithProfiles?: boolean;
  /** Seconds; iOS 9.3.2, Shared iPad only. */
  PasscodeLockGracePeriod?: number;
  /** Seconds; iOS 9.3.2, Shared iPad only. */
  PasscodeLockGracePeriodEnforced?: number;
  /** Seconds before sleep; iOS 17 Shared iPad. */
  AutoLockTime?: number;
  /** 1 block-level, 2 file-level, 3 both (data protection needs 3 and PasscodePresent). Not on macOS. */
  HardwareEncryptionCaps?: number;
  /** iOS 13, tvOS 13, macOS 10.13.2. */
  ManagementStatus?: ManagementStatus;
  /** Every other SecurityInfo key (FDE_*, FirewallSettings, SecureBoot, …), as decoded. */
  raw: PlistDict;
}

export interface SecurityInfoResponse {
  SecurityInfo: SecurityInfo;
}

const MANAGEMENT_STATUS: FieldTable<ManagementStatus, 'raw'> = {
  EnrolledViaDEP: { kind: 'boolean' },
  UserApprovedEnrollment: { kind: 'boolean' },
  IsUserEnrollment: { kind: 'boolean' },
  IsActivationLockManageable: { kind: 'boolean' },
};

const SECURITY_INFO: FieldTable<SecurityInfo, 'raw'> = {
  PasscodePresent: { kind: 'boolean' },
  PasscodeCompliant: { kind: 'boolean' },
  PasscodeCompliantWithProfiles: { kind: 'boolean' },
  PasscodeLockGracePeriod: { kind: 'integer' },
  PasscodeLockGracePeriodEnforced: { kind: 'integer' },
  AutoLockTime: { kind: 'integer' },
  HardwareEncryptionCaps: { kind: 'integer' },
  ManagementStatus: {
    parse: (value, path) => {
      const { fields, raw } = readFields<Omit<ManagementStatus, 'raw'>>(expectDict(value, path), MANAGEMENT_STATUS, path);
      return { ...fields, raw };
    },
  },
};

/**
 * Reads a SecurityInfo result: a CommandReport's `response` (or the whole decoded report).
 * `SecurityInfo` is required; inside it every key is optional, but a present key of the wrong
 * type is an MdmProtocolError naming it (e.g. "SecurityInfo.PasscodePresent: expected a boolean").
 */
export function parseSecurityInfoResponse(value: unknown): SecurityInfoResponse {
  const response = expectDict(value, 'SecurityInfo response');
  const { fields } = readFields<{ SecurityInfo: PlistDict }>(response, { SecurityInfo: { kind: 'dictionary', required: true } }, '');
  const { fields: info, raw } = readFields<Omit<SecurityInfo, 'raw'>>(fields.SecurityInfo, SECURITY_INFO, 'SecurityInfo');
  return { SecurityInfo: { ...info, raw } };
}

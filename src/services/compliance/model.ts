// The vocabulary of compliance: what lockwarden wants on a device, what it has heard back, and
// what it concludes. Pure data; every time is epoch milliseconds passed in by the caller (no clock
// is read anywhere in this folder, so an assessment is a function of its input).
import type { ErrorChainItem } from '../../mdm/command-report.ts';
import type { Enrollment, Platform } from '../../policy/index.ts';

/**
 * Apple's "Managing Passcodes": after a profile with a stricter passcode policy lands, "a 60-minute
 * countdown begins"; after it the user must change the passcode to launch any app (DESIGN decision 8).
 */
export const PASSCODE_GRACE_MS = 60 * 60_000;

export interface DeviceFacts {
  /** Any stable per-device id (UDID or EnrollmentID); it seeds the poll jitter. */
  id: string;
  platform: Platform;
  enrollment: Enrollment;
  supervised: boolean;
  /** e.g. "17.4". Unknown: lockwarden assumes the least capable version. */
  osVersion?: string;
}

export type Channel = 'profile' | 'ddm';

/** A signed configuration profile carrying the Passcode payload(s). */
export interface DesiredProfile {
  channel: 'profile';
  /** The profile's PayloadIdentifier: stable, so an update replaces the installed profile in place. */
  identifier: string;
  /** The profile's top-level PayloadUUID, when the caller knows it. */
  profileUuid?: string;
  /** The inner Passcode payloads' PayloadUUIDs; they follow the settings (policy/profile-content.ts). */
  payloadUuids: readonly string[];
  /** Identifies this version in delivery records. */
  contentHash: string;
  /** When this version was decided; evidence from before it says nothing about it. */
  since: number;
}

/** A com.apple.configuration.passcode.settings declaration. */
export interface DesiredDeclaration {
  channel: 'ddm';
  /** The declaration's Identifier. */
  identifier: string;
  /** Follows the payload (policy/ddm-declaration.ts), so the device's status names the version it has. */
  serverToken: string;
  contentHash: string;
  since: number;
}

export type DesiredDelivery = DesiredProfile | DesiredDeclaration;

export type DesiredState =
  | { kind: 'none' }
  | { kind: 'not-applicable'; reason: string }
  | { kind: 'desired'; delivery: DesiredDelivery };

export type DeliveryResultStatus = 'Acknowledged' | 'Error' | 'CommandFormatError' | 'NotNow';

/** The latest command that carried the desired version: InstallProfile, or the DDM sync nudge. */
export interface DeliveryRecord {
  command: 'InstallProfile' | 'DeclarativeManagement';
  commandUuid: string;
  /** The version it carried (DesiredDelivery.contentHash); a record for another version is ignored. */
  contentHash: string;
  queuedAt: number;
  /** When the device fetched it; undefined while it waits in the queue. */
  sentAt?: number;
  /** The device's answer; undefined while none has arrived. */
  result?: { status: DeliveryResultStatus; at: number; errorChain?: readonly ErrorChainItem[] };
}

export interface InstalledProfile {
  identifier: string;
  profileUuid?: string;
  /**
   * Every PayloadContent item's PayloadUUID. Undefined when the device does not report them:
   * profile.list.yaml gives PayloadContent[].PayloadUUID only from iOS 17, macOS 14, tvOS 17, and
   * encrypted profiles have no PayloadContent at all.
   */
  payloadUuids?: readonly string[];
}

export interface ProfileListEvidence {
  at: number;
  profiles: readonly InstalledProfile[];
}

/** SecurityInfo's passcode keys (information.security.yaml); each may be absent (macOS, User Enrollment). */
export interface SecurityInfoEvidence {
  at: number;
  passcodePresent?: boolean;
  passcodeCompliant?: boolean;
  passcodeCompliantWithProfiles?: boolean;
}

/** One entry of the management.declarations status item's `configurations` array. */
export interface DeclarationStatus {
  identifier: string;
  serverToken: string;
  active: boolean;
  valid: 'valid' | 'invalid' | 'unknown';
  reasons?: readonly { code: string; description?: string }[];
}

export interface DeclarationsEvidence {
  at: number;
  /** The device's current configurations: a full report, or incremental ones merged (ddm-status.ts). */
  items: readonly DeclarationStatus[];
}

export interface PasscodeStatusEvidence {
  /** When passcode.is-compliant was last reported (is-present alone does not move it). */
  at: number;
  /** passcode.is-compliant (iOS 16, visionOS 1.1, watchOS 10; n/a on macOS and tvOS). */
  isCompliant?: boolean;
  /** passcode.is-present (same platforms). */
  isPresent?: boolean;
}

/** DDM status items arrive separately and incrementally, so each part keeps its own time. */
export interface DdmStatusEvidence {
  declarations?: DeclarationsEvidence;
  passcode?: PasscodeStatusEvidence;
}

export type ComplianceState =
  | 'unknown'
  | 'pending-delivery'
  | 'installed-awaiting-report'
  | 'compliant'
  | 'in-grace'
  | 'non-compliant'
  | 'not-observable'
  | 'not-applicable'
  | 'error';

export const COMPLIANCE_STATES: readonly ComplianceState[] = [
  'unknown', 'pending-delivery', 'installed-awaiting-report', 'compliant', 'in-grace', 'non-compliant',
  'not-observable', 'not-applicable', 'error',
];

/**
 * The class of a reason: the reason's text carries times and details that change on every poll,
 * its code does not, so history compares codes (transitions.ts).
 */
export type ReasonCode =
  | 'no-policy'
  | 'not-applicable'
  | 'not-sent'
  | 'awaiting-result'
  | 'not-now'
  | 'acknowledged-unverified'
  | 'evidence-predates-version'
  | 'previous-version-installed'
  | 'declaration-processing'
  | 'removed'
  | 'drifted'
  | 'missing-after-acknowledged'
  | 'reinstalling'
  | 'install-error'
  | 'declaration-invalid'
  | 'declaration-inactive'
  | 'awaiting-report'
  | 'reported-compliant'
  | 'compliant-within-grace'
  | 'reported-non-compliant'
  | 'grace-ended-awaiting-report'
  | 'platform-not-observable'
  | 'report-lacks-passcode-keys';

export type EvidenceKind =
  | 'ProfileList'
  | 'SecurityInfo'
  | 'DDM status'
  | 'InstallProfile result'
  | 'DeclarativeManagement result';

/** Which report a conclusion rests on, and when it arrived. */
export interface EvidenceRef {
  kind: EvidenceKind;
  at: number;
  detail: string;
}

export interface NextSteps {
  /** Send SecurityInfo at (or after) this time. */
  pollSecurityInfoAt?: number;
  /** Send ProfileList at (or after) this time: to confirm an install, or to catch a removal. */
  verifyInstallAt?: number;
  /** The policy left the device (removed by the user, or never landed): deliver it again. */
  reinstall?: boolean;
}

export interface Assessment {
  state: ComplianceState;
  reasonCode: ReasonCode;
  /** One or two sentences for an administrator, with the times of the reports. */
  reason: string;
  /** The `now` it was made at. */
  assessedAt: number;
  channel?: Channel;
  /** When the desired version was installed; the caller persists it and passes it back. */
  installedAt?: number;
  /** installedAt + 60 minutes, set for in-grace and non-compliant. */
  graceDeadline?: number;
  evidence: EvidenceRef[];
  next: NextSteps;
}

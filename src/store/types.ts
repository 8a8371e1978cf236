// Domain types the repositories return. Plain data: no query builders, no rows with 0/1
// booleans, no secret bytes on objects that an API layer might serialise by accident.

export type StoreDialect = 'sqlite' | 'postgres';

/** The MDM channel a check-in arrives on: the device channel, or a (macOS) user channel. */
export type EnrollmentChannel = 'device' | 'user';

/** How the device as a whole is enrolled. */
export type EnrollmentKind = 'device' | 'user' | 'shared-ipad';

/** Enrollment types as NanoMDM names them; the service derives one from the check-in message. */
export type EnrollmentType =
  | 'Device'
  | 'User Enrollment (Device)'
  | 'User'
  | 'User Enrollment'
  | 'Shared iPad';

/** Device facts reported in Authenticate (all optional: User Enrollment withholds most of them). */
export interface DeviceFacts {
  platform?: string | null;
  serialNumber?: string | null;
  model?: string | null;
  modelName?: string | null;
  productName?: string | null;
  osVersion?: string | null;
  buildVersion?: string | null;
  deviceName?: string | null;
}

export interface Device extends Required<DeviceFacts> {
  /** UDID, or the EnrollmentID under User Enrollment. */
  id: string;
  enrollmentKind: EnrollmentKind;
  /** Whether an UnlockToken is in custody; the ciphertext itself only via EnrollmentStore.getUnlockToken. */
  hasUnlockToken: boolean;
  unlockTokenAt: number | null;
  hasBootstrapToken: boolean;
  /** The Authenticate plist as received, for support. */
  lastAuthenticate: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Enrollment {
  /** Device channel: the device id. User channel: `${deviceId}:${userId}`. */
  id: string;
  deviceId: string;
  channel: EnrollmentChannel;
  type: EnrollmentType;
  topic: string;
  pushToken: Buffer | null;
  pushMagic: string | null;
  /** TokenUpdates since the last Authenticate: 1 means the enrollment has just completed. */
  tokenUpdateCount: number;
  enabled: boolean;
  /** Hex SHA-256 of the identity certificate bound at Authenticate. */
  certHash: string;
  enrollmentTokenId: string | null;
  accessRights: number | null;
  userId: string | null;
  userShortName: string | null;
  userLongName: string | null;
  lastSeenAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface AuthenticateInput extends DeviceFacts {
  /** UDID, or EnrollmentID under User Enrollment. Authenticate only ever arrives on the device
   * channel, so the enrollment id is the device id. */
  deviceId: string;
  /** Accepted for symmetry with TokenUpdate; must equal deviceId when given. */
  enrollmentId?: string;
  /** Accepted for symmetry with TokenUpdate; must be 'device' when given. */
  channel?: EnrollmentChannel;
  type: EnrollmentType;
  /** Defaults to 'user' for 'User Enrollment (Device)', 'device' otherwise; when absent, a
   * re-Authenticate keeps the stored kind (so a Shared iPad stays one). */
  enrollmentKind?: EnrollmentKind;
  topic: string;
  certHash: string;
  enrollmentTokenId?: string | null;
  accessRights?: number | null;
  rawAuthenticate?: string | null;
  now: number;
}

export interface TokenUpdateInput {
  enrollmentId: string;
  deviceId: string;
  channel: EnrollmentChannel;
  type: EnrollmentType;
  topic: string;
  pushToken: Buffer;
  pushMagic: string;
  /** Ciphertext. Absent means "not sent this time", never "erase the one in custody". */
  unlockToken?: Buffer | null;
  userId?: string | null;
  userShortName?: string | null;
  userLongName?: string | null;
  /**
   * Device channel only: apply the update only while the channel is bound to this certificate
   * hash, checked in the same statement as the write. Otherwise UnknownEnrollmentError, nothing
   * written; the caller finds out why (unknown, or another certificate) with boundCertHash.
   */
  boundCertHash?: string;
  now: number;
}

export interface PushTarget {
  enrollmentId: string;
  topic: string;
  pushToken: Buffer;
  pushMagic: string;
}

export const QUEUE_STATUSES = ['pending', 'NotNow', 'Acknowledged', 'Error', 'CommandFormatError', 'Expired'] as const;
export type QueueStatus = (typeof QUEUE_STATUSES)[number];

/** The statuses a device can report in a command response. */
export type ReportStatus = 'Acknowledged' | 'Error' | 'CommandFormatError' | 'NotNow';

export interface NewCommand {
  uuid: string;
  requestType: string;
  /** The full command plist. */
  body: Buffer;
}

export interface EnqueueOptions {
  /** Higher runs first; default 0. */
  priority?: number;
  expiresAt?: number | null;
  now: number;
}

/** A command ready to be sent to a device. */
export interface PendingCommand {
  enrollmentId: string;
  uuid: string;
  requestType: string;
  body: Buffer;
  priority: number;
  status: 'pending' | 'NotNow';
  notNowCount: number;
  expiresAt: number | null;
  createdAt: number;
}

export interface QueuedCommand {
  enrollmentId: string;
  uuid: string;
  requestType: string;
  body: Buffer;
  priority: number;
  status: QueueStatus;
  notNowCount: number;
  notNowAt: number | null;
  expiresAt: number | null;
  /** The device's full response plist. */
  result: Buffer | null;
  createdAt: number;
  updatedAt: number;
}

export interface NextOptions {
  /** True while the device is answering a command; false when it sent Idle, which makes NotNow
   * commands eligible again. */
  skipNotNow: boolean;
  now: number;
}

export interface CommandReport {
  uuid: string;
  status: ReportStatus;
  /** The device's full response plist. */
  result?: Uint8Array | null;
}

export interface PruneResult {
  queueRows: number;
  commands: number;
}

export type EnrollmentTokenIdentity = 'scep' | 'pkcs12' | 'any';

export interface EnrollmentToken {
  id: string;
  tokenHash: string;
  label: string;
  expiresAt: number | null;
  /** null: unlimited. */
  maxUses: number | null;
  uses: number;
  identity: EnrollmentTokenIdentity;
  createdBy: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface NewEnrollmentToken {
  id: string;
  /** Hex SHA-256 of the token; the store never sees the token itself. */
  tokenHash: string;
  label: string;
  expiresAt?: number | null;
  maxUses?: number | null;
  identity: EnrollmentTokenIdentity;
  createdBy?: string | null;
  now: number;
}

export type ConsumeResult =
  | { ok: true; token: EnrollmentToken }
  | { ok: false; reason: 'unknown' | 'expired' | 'exhausted' | 'revoked' };

export type ApiTokenRole = 'admin' | 'operator' | 'auditor' | 'device-api';

export interface ApiToken {
  id: string;
  tokenHash: string;
  name: string;
  role: ApiTokenRole;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface NewApiToken {
  id: string;
  tokenHash: string;
  name: string;
  role: ApiTokenRole;
  now: number;
}

export interface IssuedCertificate {
  /** Serial number as lowercase hex. */
  serial: string;
  certHash: string;
  subject: string;
  enrollmentTokenId: string | null;
  notAfter: number;
  issuedAt: number;
}

export interface NewAuditEvent {
  at: number;
  /** An API token id, or 'system' / 'cli'. */
  actor: string;
  actorName: string;
  action: string;
  target: string | null;
  /** Stored as JSON text. Never a secret: the audit log is readable by every auditor. */
  details: Record<string, unknown>;
}

export interface AuditEvent extends NewAuditEvent {
  seq: number;
  /** Hex; the previous event's mac, or AUDIT_GENESIS_MAC for seq 1. */
  prevMac: string;
  mac: string;
}

/**
 * The keyed MAC the chain is built with, as lowercase hex. Supplied by the service layer, which
 * holds the key: the store never sees it.
 */
export type AuditMac = (input: Buffer) => string;

export interface AuditQuery {
  limit: number;
  /** Default 'desc', newest first. */
  order?: 'asc' | 'desc';
  /** Cursor: events after this seq in `order` (older for 'desc', newer for 'asc'). */
  after?: number;
  action?: string;
  target?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
}

/** Why the chain breaks at a seq: missing (a gap), link (prev_mac is not the previous mac), mac. */
export type AuditBreak = 'missing' | 'link' | 'mac';

export type AuditVerification =
  | { ok: true; count: number; head: { seq: number; mac: string } | null }
  | { ok: false; /** Events verified before the break. */ count: number; seq: number; problem: AuditBreak; message: string };

/** Where a policy assignment points: one device, a group of devices, or the whole fleet. */
export type AssignmentKind = 'device' | 'group' | 'all';

export type AssignmentTarget = { kind: 'device'; udid: string } | { kind: 'group'; group: string } | { kind: 'all' };

/**
 * One version of a stored policy. The JSON parts are the policy engine's own shapes (document,
 * PasscodeRequirements, PolicyMeta), kept opaque here: the store does not interpret policies.
 */
export interface PolicyVersion {
  policyId: string;
  version: number;
  document: Record<string, unknown>;
  requirements: Record<string, unknown>;
  meta: Record<string, unknown>;
  createdAt: number;
  /** An API token id, or 'system' / 'cli'. */
  createdBy: string | null;
}

export type PolicyVersionSummary = Pick<PolicyVersion, 'version' | 'createdAt' | 'createdBy'>;

/** A live policy with its current version. */
export interface StoredPolicy {
  id: string;
  name: string;
  identifier: string;
  currentVersion: number;
  createdAt: number;
  updatedAt: number;
  current: PolicyVersion;
}

export interface NewPolicyVersion {
  document: Record<string, unknown>;
  requirements: Record<string, unknown>;
  meta: Record<string, unknown>;
  createdBy: string | null;
  now: number;
}

export interface NewPolicy extends NewPolicyVersion {
  /** Default: a short random id. */
  id?: string;
  name: string;
  identifier: string;
}

export interface PolicyAssignment {
  policyId: string;
  target: AssignmentTarget;
  createdAt: number;
  createdBy: string | null;
}

/** A policy that applies to a device: its current version, and every route it reaches the device by. */
export interface AssignedPolicy {
  policyId: string;
  name: string;
  identifier: string;
  version: number;
  requirements: Record<string, unknown>;
  meta: Record<string, unknown>;
  via: AssignmentTarget[];
}

/** The four kinds of declaration (declarative/protocol/declarationitemsresponse.yaml). */
export type DeclarationGroup = 'activation' | 'configuration' | 'asset' | 'management';

/** A StatusReport error (declarative/protocol/statusreport.yaml Errors), as the device sent it. */
export interface DeclarativeReportError {
  StatusItem: string;
  Reasons?: Record<string, unknown>[];
}

/** An enrollment's declarative status as stored: Apple's JSON, incremental reports merged in. */
export interface StoredDeclarativeStatus {
  /** StatusItems nested by the dots in their names (`passcode.is-compliant` → passcode["is-compliant"]). */
  statusItems: Record<string, unknown>;
  /** Errors still standing, one per status item. */
  errors: DeclarativeReportError[];
  /** The DeclarationsToken of the manifest the device had fetched when it last reported. */
  declarationsToken: string | null;
  updatedAt: number;
}

export interface DeclarationStatusReason {
  code: string;
  description?: string;
  details?: Record<string, unknown>;
}

/** One declaration as the device reports it (declarative/status/management.declarations.yaml). */
export interface ReportedDeclaration {
  group: DeclarationGroup;
  identifier: string;
  serverToken: string;
  active: boolean;
  valid: 'valid' | 'invalid' | 'unknown';
  reasons?: DeclarationStatusReason[];
}

/** The typed reading of StoredDeclarativeStatus that compliance works from. */
export interface DeclarativeStatus {
  /** passcode.is-compliant, when the device has reported it (iOS 16, visionOS 1.1, watchOS 10). */
  passcodeIsCompliant?: boolean;
  /** passcode.is-present, likewise. */
  passcodeIsPresent?: boolean;
  /** management.declarations, every group; entries the schema does not allow are left out. */
  declarations: ReportedDeclaration[];
  /** Status items the device said it could not report, with why. */
  errors: { statusItem: string; reasons: DeclarationStatusReason[] }[];
  /** The DeclarationsToken of the manifest the device had fetched when it last reported. */
  declarationsToken: string | null;
  updatedAt: number;
}

/** What lockwarden wants on a device: nothing, nothing possible, a profile or a declaration. */
export type ComplianceDesiredKind = 'none' | 'not-applicable' | 'profile' | 'ddm';

/** The commands lockwarden issues for compliance, whose results it takes in. */
export type ComplianceCommandKind = 'InstallProfile' | 'RemoveProfile' | 'ProfileList' | 'SecurityInfo' | 'DeclarativeManagement';

/** The desired delivery as stored; the compliance service reads it in its own terms. */
export interface StoredDesired {
  kind: ComplianceDesiredKind;
  /** not-applicable: why. */
  reason: string | null;
  identifier: string | null;
  /** The version: the profile's SHA-256, or the declaration's ServerToken. */
  contentHash: string | null;
  profileUuid: string | null;
  payloadUuids: string[] | null;
  serverToken: string | null;
  /** When this version was decided. */
  since: number | null;
}

/** The latest command that carried the desired policy (InstallProfile, or the DDM sync). */
export interface StoredDelivery {
  command: 'InstallProfile' | 'DeclarativeManagement';
  commandUuid: string;
  contentHash: string;
  queuedAt: number;
  resultStatus: string | null;
  resultAt: number | null;
  errorChain: unknown[] | null;
}

/** One device's compliance record. Evidence and assessment details are opaque JSON here. */
export interface ComplianceRecord {
  deviceId: string;
  platform: string | null;
  channel: 'profile' | 'ddm' | null;
  channelReason: string | null;
  desired: StoredDesired;
  /** The passcode declaration the DDM manifest serves this device, if any. */
  servedDeclaration: Record<string, unknown> | null;
  delivery: StoredDelivery | null;
  profileManaged: boolean;
  /** Evidence as the compliance service wrote it (each with its `at`). */
  profileList: unknown;
  securityInfo: unknown;
  ddmStatus: unknown;
  ddmStatusAt: number | null;
  profileListFailedAt: number | null;
  securityInfoFailedAt: number | null;
  installedAt: number | null;
  reinstallCount: number;
  reinstallDue: boolean;
  state: string;
  reasonCode: string;
  reason: string;
  graceDeadline: number | null;
  evidence: unknown[];
  nextProfileListAt: number | null;
  nextSecurityInfoAt: number | null;
  assessedAt: number;
  historyCount: number;
  updatedAt: number;
}

/** A compliance command still waiting for its result to be taken in. */
export interface ComplianceCommand {
  enrollmentId: string;
  commandUuid: string;
  kind: ComplianceCommandKind;
  contentHash: string | null;
  queuedAt: number;
  /** The last status taken in (NotNow), if any. */
  seenStatus: string | null;
}

/** A compliance command whose queue row has an answer not taken in yet. */
export interface AnsweredComplianceCommand extends ComplianceCommand {
  /** The queue row's status, or null when the row is gone (pruned, or the enrollment re-authenticated). */
  queueStatus: QueueStatus | null;
}

export interface ComplianceHistoryEntry {
  deviceId: string;
  seq: number;
  at: number;
  fromState: string | null;
  toState: string;
  reasonCode: string;
  reason: string;
  graceDeadline: number | null;
  evidence: unknown[];
}

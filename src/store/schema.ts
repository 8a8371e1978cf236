// The tables as Kysely sees them. Conventions on both dialects: times are epoch milliseconds
// (BIGINT; PostgreSQL's int8 is parsed to a JS number per pool), booleans are integers 0/1,
// binary columns are Buffers (BLOB / bytea), secrets are ciphertext produced above the store.

import type {
  ApiTokenRole,
  AssignmentKind,
  ComplianceCommandKind,
  ComplianceDesiredKind,
  EnrollmentChannel,
  EnrollmentKind,
  EnrollmentTokenIdentity,
  EnrollmentType,
  QueueStatus,
} from './types.ts';

export interface DevicesTable {
  id: string;
  platform: string | null;
  serial_number: string | null;
  model: string | null;
  model_name: string | null;
  product_name: string | null;
  os_version: string | null;
  build_version: string | null;
  device_name: string | null;
  enrollment_kind: EnrollmentKind;
  unlock_token: Buffer | null;
  unlock_token_at: number | null;
  bootstrap_token: Buffer | null;
  bootstrap_token_at: number | null;
  last_authenticate: string | null;
  created_at: number;
  updated_at: number;
}

export interface EnrollmentsTable {
  id: string;
  device_id: string;
  channel: EnrollmentChannel;
  type: EnrollmentType;
  topic: string;
  push_token: Buffer | null;
  push_magic: string | null;
  token_update_count: number;
  enabled: number;
  cert_hash: string;
  enrollment_token_id: string | null;
  access_rights: number | null;
  user_id: string | null;
  user_short_name: string | null;
  user_long_name: string | null;
  last_seen_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface CommandsTable {
  uuid: string;
  request_type: string;
  body: Buffer;
  created_at: number;
}

export interface CommandQueueTable {
  enrollment_id: string;
  command_uuid: string;
  priority: number;
  status: QueueStatus;
  /**
   * The delivery order class: 0 = fresh pending, 1 = deferred by NotNow, NULL = terminal.
   * Derived from status and kept beside it so "next command" is one range scan of one partial
   * index, (enrollment_id, delivery_rank, priority DESC, created_at, command_uuid), for both the
   * skip-NotNow and the Idle case; a status string has no order that puts NotNow last.
   */
  delivery_rank: number | null;
  not_now_count: number;
  not_now_at: number | null;
  expires_at: number | null;
  result: Buffer | null;
  created_at: number;
  updated_at: number;
}

export interface EnrollmentTokensTable {
  id: string;
  token_hash: string;
  label: string;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  identity: EnrollmentTokenIdentity;
  created_by: string | null;
  created_at: number;
  revoked_at: number | null;
}

export interface ApiTokensTable {
  id: string;
  token_hash: string;
  name: string;
  role: ApiTokenRole;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface SecretsTable {
  name: string;
  value: Buffer;
  created_at: number;
  updated_at: number;
}

export interface CertificatesTable {
  serial: string;
  cert_hash: string;
  subject: string;
  enrollment_token_id: string | null;
  not_after: number;
  issued_at: number;
}

/** One audit event, chained to the previous one (audit-store.ts). */
export interface AuditEventsTable {
  seq: number;
  at: number;
  /** An API token id, or 'system' / 'cli'. */
  actor: string;
  actor_name: string;
  action: string;
  target: string | null;
  /** JSON text, exactly as covered by `mac`; never a secret. */
  details: string;
  prev_mac: string;
  mac: string;
}

/** A stored policy; its content is in policy_versions (current_version is the live one). */
export interface PoliciesTable {
  id: string;
  /** Unique among policies not deleted. */
  name: string;
  /** PayloadIdentifier base, fixed at creation. */
  identifier: string;
  current_version: number;
  created_at: number;
  updated_at: number;
  /** Soft delete: the versions stay for the record, the assignments go. */
  deleted_at: number | null;
}

export interface PolicyVersionsTable {
  policy_id: string;
  version: number;
  /** JSON: the policy document as the engine writes it back (toPolicyDocument). */
  document: string;
  /** JSON: the canonical requirements, ready to merge without parsing the document again. */
  requirements: string;
  /** JSON: identifier, display name, organization, description. */
  meta: string;
  created_at: number;
  /** An API token id, or 'system' / 'cli'. */
  created_by: string | null;
}

export interface DeviceGroupsTable {
  device_id: string;
  name: string;
}

export interface PolicyAssignmentsTable {
  policy_id: string;
  target_kind: AssignmentKind;
  /** A device id, a group name, or '' for the whole fleet. */
  target: string;
  created_at: number;
  created_by: string | null;
}

/** Declarative Device Management status per enrollment (declarative-store.ts). */
export interface DeclarativeStatusTable {
  enrollment_id: string;
  /** JSON: the merged StatusItems, nested by the dots in their names. */
  status: string;
  /** JSON: StatusReport Errors still standing, one per status item. */
  errors: string;
  /** The DeclarationsToken of the manifest the device had fetched when it reported. */
  declarations_token_reported: string | null;
  updated_at: number;
}

/** The DeclarationsToken served per enrollment and when it last changed (the SyncTokens Timestamp). */
export interface DeclarativeTokensTable {
  enrollment_id: string;
  token: string;
  changed_at: number;
  fetched_token: string | null;
  fetched_at: number | null;
}

/** Passcode compliance per device (compliance-store.ts); JSON columns are opaque to the store. */
export interface ComplianceDevicesTable {
  device_id: string;
  platform: string | null;
  channel: 'profile' | 'ddm' | null;
  channel_reason: string | null;
  desired_kind: ComplianceDesiredKind;
  desired_reason: string | null;
  desired_identifier: string | null;
  desired_hash: string | null;
  desired_profile_uuid: string | null;
  desired_payload_uuids: string | null;
  desired_server_token: string | null;
  desired_since: number | null;
  served_declaration: string | null;
  delivery_command: string | null;
  delivery_uuid: string | null;
  delivery_hash: string | null;
  delivery_queued_at: number | null;
  delivery_result_status: string | null;
  delivery_result_at: number | null;
  delivery_error_chain: string | null;
  profile_managed: number;
  profile_list: string | null;
  security_info: string | null;
  ddm_status: string | null;
  ddm_status_at: number | null;
  profile_list_failed_at: number | null;
  security_info_failed_at: number | null;
  installed_at: number | null;
  reinstall_count: number;
  reinstall_due: number;
  state: string;
  reason_code: string;
  reason: string;
  grace_deadline: number | null;
  evidence: string;
  next_profile_list_at: number | null;
  next_security_info_at: number | null;
  next_poll_at: number | null;
  assessed_at: number;
  history_count: number;
  updated_at: number;
}

/** Commands lockwarden issued for compliance whose result has not been taken in yet. */
export interface ComplianceCommandsTable {
  enrollment_id: string;
  command_uuid: string;
  kind: ComplianceCommandKind;
  content_hash: string | null;
  queued_at: number;
  seen_status: string | null;
}

export interface ComplianceHistoryTable {
  device_id: string;
  seq: number;
  at: number;
  from_state: string | null;
  to_state: string;
  reason_code: string;
  reason: string;
  grace_deadline: number | null;
  evidence: string;
}

export interface Database {
  devices: DevicesTable;
  enrollments: EnrollmentsTable;
  commands: CommandsTable;
  command_queue: CommandQueueTable;
  enrollment_tokens: EnrollmentTokensTable;
  api_tokens: ApiTokensTable;
  secrets: SecretsTable;
  certificates: CertificatesTable;
  audit_events: AuditEventsTable;
  policies: PoliciesTable;
  policy_versions: PolicyVersionsTable;
  device_groups: DeviceGroupsTable;
  policy_assignments: PolicyAssignmentsTable;
  declarative_status: DeclarativeStatusTable;
  declarative_tokens: DeclarativeTokensTable;
  compliance_devices: ComplianceDevicesTable;
  compliance_commands: ComplianceCommandsTable;
  compliance_history: ComplianceHistoryTable;
}

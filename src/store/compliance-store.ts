// Passcode compliance per device: the desired delivery, the latest delivery command, the latest
// reports as evidence and the assessment made from them (one row per device); the compliance
// commands still waiting for their result (the compliance processor's work list, kept in the
// database so a restart or another replica picks it up); and each device's history of state changes.
// Evidence and assessment details are opaque JSON here: the compliance service reads them.

import type { Kysely, Selectable } from 'kysely';
import type { ComplianceDevicesTable, Database } from './schema.ts';
import type {
  AnsweredComplianceCommand,
  ComplianceCommand,
  ComplianceHistoryEntry,
  ComplianceRecord,
  QueueStatus,
  StoreDialect,
} from './types.ts';

export interface ComplianceStore {
  get(deviceId: string): Promise<ComplianceRecord | undefined>;
  /** Inside Store.transaction: the record with its row held until the transaction ends (PostgreSQL; SQLite's transactions hold the write lock). */
  lock(deviceId: string): Promise<ComplianceRecord | undefined>;
  getMany(deviceIds: readonly string[]): Promise<Map<string, ComplianceRecord>>;
  /** Inserts or replaces the device's record. */
  put(record: ComplianceRecord): Promise<void>;
  /** Appends one history entry; `seq` must be the record's historyCount after the change. */
  appendHistory(entry: ComplianceHistoryEntry): Promise<void>;
  /** The device's history, newest first, `limit` at a time before `beforeSeq`. */
  history(deviceId: string, opts: { limit: number; beforeSeq?: number }): Promise<ComplianceHistoryEntry[]>;
  /** Records commands lockwarden queued for compliance, whose results are to be taken in. */
  addCommands(commands: readonly ComplianceCommand[]): Promise<void>;
  /** The outstanding compliance commands of these enrollments. */
  outstanding(enrollmentIds: readonly string[]): Promise<ComplianceCommand[]>;
  command(enrollmentId: string, commandUuid: string): Promise<ComplianceCommand | undefined>;
  /**
   * Claims a result for processing, once across replicas: a final status (or a queue row that is
   * gone) removes the command from the work list, NotNow marks it seen. False when another
   * processor took it first (or it is not outstanding).
   */
  take(enrollmentId: string, commandUuid: string, status: QueueStatus | null): Promise<boolean>;
  /**
   * Outstanding commands whose queue row has an answer not taken in yet, or is gone; a missing
   * queue row counts only for commands recorded before `goneBefore` (they are recorded just before
   * they are queued).
   */
  answered(limit: number, goneBefore: number): Promise<AnsweredComplianceCommand[]>;
  /** Devices whose next poll time has passed, the longest waiting first. */
  dueForPoll(now: number, limit: number): Promise<string[]>;
  /** Devices on the DDM channel whose stored DDM status is newer than what their evidence holds. */
  statusChanged(limit: number): Promise<string[]>;
  /** The passcode declaration served to this device over DDM (one primary-key read). */
  servedDeclaration(deviceId: string): Promise<Record<string, unknown> | undefined>;
  /** Devices per compliance state. */
  countByState(): Promise<Record<string, number>>;
}

const FINAL: ReadonlySet<string> = new Set(['Acknowledged', 'Error', 'CommandFormatError', 'Expired']);

const json = <T>(text: string | null): T | null => (text === null ? null : JSON.parse(text) as T);
const text = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

function toRecord(row: Selectable<ComplianceDevicesTable>): ComplianceRecord {
  return {
    deviceId: row.device_id,
    platform: row.platform,
    channel: row.channel,
    channelReason: row.channel_reason,
    desired: {
      kind: row.desired_kind,
      reason: row.desired_reason,
      identifier: row.desired_identifier,
      contentHash: row.desired_hash,
      profileUuid: row.desired_profile_uuid,
      payloadUuids: json<string[]>(row.desired_payload_uuids),
      serverToken: row.desired_server_token,
      since: row.desired_since,
    },
    servedDeclaration: json<Record<string, unknown>>(row.served_declaration),
    delivery: row.delivery_uuid === null || row.delivery_command === null || row.delivery_hash === null || row.delivery_queued_at === null
      ? null
      : {
          command: row.delivery_command as 'InstallProfile' | 'DeclarativeManagement',
          commandUuid: row.delivery_uuid,
          contentHash: row.delivery_hash,
          queuedAt: row.delivery_queued_at,
          resultStatus: row.delivery_result_status,
          resultAt: row.delivery_result_at,
          errorChain: json<unknown[]>(row.delivery_error_chain),
        },
    profileManaged: row.profile_managed === 1,
    profileList: json(row.profile_list),
    securityInfo: json(row.security_info),
    ddmStatus: json(row.ddm_status),
    ddmStatusAt: row.ddm_status_at,
    profileListFailedAt: row.profile_list_failed_at,
    securityInfoFailedAt: row.security_info_failed_at,
    installedAt: row.installed_at,
    reinstallCount: row.reinstall_count,
    reinstallDue: row.reinstall_due === 1,
    state: row.state,
    reasonCode: row.reason_code,
    reason: row.reason,
    graceDeadline: row.grace_deadline,
    evidence: json<unknown[]>(row.evidence) ?? [],
    nextProfileListAt: row.next_profile_list_at,
    nextSecurityInfoAt: row.next_security_info_at,
    assessedAt: row.assessed_at,
    historyCount: row.history_count,
    updatedAt: row.updated_at,
  };
}

function toRow(r: ComplianceRecord): Selectable<ComplianceDevicesTable> {
  const polls = [r.nextProfileListAt, r.nextSecurityInfoAt].filter((t): t is number => t !== null);
  return {
    device_id: r.deviceId,
    platform: r.platform,
    channel: r.channel,
    channel_reason: r.channelReason,
    desired_kind: r.desired.kind,
    desired_reason: r.desired.reason,
    desired_identifier: r.desired.identifier,
    desired_hash: r.desired.contentHash,
    desired_profile_uuid: r.desired.profileUuid,
    desired_payload_uuids: text(r.desired.payloadUuids),
    desired_server_token: r.desired.serverToken,
    desired_since: r.desired.since,
    served_declaration: text(r.servedDeclaration),
    delivery_command: r.delivery?.command ?? null,
    delivery_uuid: r.delivery?.commandUuid ?? null,
    delivery_hash: r.delivery?.contentHash ?? null,
    delivery_queued_at: r.delivery?.queuedAt ?? null,
    delivery_result_status: r.delivery?.resultStatus ?? null,
    delivery_result_at: r.delivery?.resultAt ?? null,
    delivery_error_chain: text(r.delivery?.errorChain),
    profile_managed: r.profileManaged ? 1 : 0,
    profile_list: text(r.profileList),
    security_info: text(r.securityInfo),
    ddm_status: text(r.ddmStatus),
    ddm_status_at: r.ddmStatusAt,
    profile_list_failed_at: r.profileListFailedAt,
    security_info_failed_at: r.securityInfoFailedAt,
    installed_at: r.installedAt,
    reinstall_count: r.reinstallCount,
    reinstall_due: r.reinstallDue ? 1 : 0,
    state: r.state,
    reason_code: r.reasonCode,
    reason: r.reason,
    grace_deadline: r.graceDeadline,
    evidence: JSON.stringify(r.evidence),
    next_profile_list_at: r.nextProfileListAt,
    next_security_info_at: r.nextSecurityInfoAt,
    next_poll_at: polls.length === 0 ? null : Math.min(...polls),
    assessed_at: r.assessedAt,
    history_count: r.historyCount,
    updated_at: r.updatedAt,
  };
}

function toCommand(row: { enrollment_id: string; command_uuid: string; kind: ComplianceCommand['kind']; content_hash: string | null; queued_at: number; seen_status: string | null }): ComplianceCommand {
  return {
    enrollmentId: row.enrollment_id,
    commandUuid: row.command_uuid,
    kind: row.kind,
    contentHash: row.content_hash,
    queuedAt: row.queued_at,
    seenStatus: row.seen_status,
  };
}

export function createComplianceStore(db: Kysely<Database>, dialect: StoreDialect): ComplianceStore {
  const select = () => db.selectFrom('compliance_devices').selectAll();

  return {
    async get(deviceId) {
      const row = await select().where('device_id', '=', deviceId).executeTakeFirst();
      return row && toRecord(row);
    },

    async lock(deviceId) {
      let query = select().where('device_id', '=', deviceId);
      if (dialect === 'postgres') query = query.forUpdate();
      const row = await query.executeTakeFirst();
      return row && toRecord(row);
    },

    async getMany(deviceIds) {
      const found = new Map<string, ComplianceRecord>();
      if (deviceIds.length === 0) return found;
      for (const row of await select().where('device_id', 'in', [...deviceIds]).execute()) found.set(row.device_id, toRecord(row));
      return found;
    },

    async put(record) {
      const { device_id: _id, ...values } = toRow(record);
      await db.insertInto('compliance_devices').values(toRow(record))
        .onConflict((oc) => oc.column('device_id').doUpdateSet(values))
        .execute();
    },

    async appendHistory(entry) {
      await db.insertInto('compliance_history').values({
        device_id: entry.deviceId,
        seq: entry.seq,
        at: entry.at,
        from_state: entry.fromState,
        to_state: entry.toState,
        reason_code: entry.reasonCode,
        reason: entry.reason,
        grace_deadline: entry.graceDeadline,
        evidence: JSON.stringify(entry.evidence),
      }).execute();
    },

    async history(deviceId, { limit, beforeSeq }) {
      let query = db.selectFrom('compliance_history').selectAll().where('device_id', '=', deviceId).orderBy('seq', 'desc').limit(limit);
      if (beforeSeq !== undefined) query = query.where('seq', '<', beforeSeq);
      return (await query.execute()).map((row) => ({
        deviceId: row.device_id,
        seq: row.seq,
        at: row.at,
        fromState: row.from_state,
        toState: row.to_state,
        reasonCode: row.reason_code,
        reason: row.reason,
        graceDeadline: row.grace_deadline,
        evidence: json<unknown[]>(row.evidence) ?? [],
      }));
    },

    async addCommands(commands) {
      if (commands.length === 0) return;
      // Several hundred rows per statement keep within SQLite's and PostgreSQL's parameter limits.
      for (let i = 0; i < commands.length; i += 500) {
        await db.insertInto('compliance_commands').values(commands.slice(i, i + 500).map((c) => ({
          enrollment_id: c.enrollmentId,
          command_uuid: c.commandUuid,
          kind: c.kind,
          content_hash: c.contentHash,
          queued_at: c.queuedAt,
          seen_status: c.seenStatus,
        }))).onConflict((oc) => oc.columns(['enrollment_id', 'command_uuid']).doNothing()).execute();
      }
    },

    async outstanding(enrollmentIds) {
      if (enrollmentIds.length === 0) return [];
      const rows = await db.selectFrom('compliance_commands').selectAll().where('enrollment_id', 'in', [...enrollmentIds]).orderBy('queued_at').execute();
      return rows.map(toCommand);
    },

    async command(enrollmentId, commandUuid) {
      const row = await db.selectFrom('compliance_commands').selectAll()
        .where('enrollment_id', '=', enrollmentId).where('command_uuid', '=', commandUuid).executeTakeFirst();
      return row && toCommand(row);
    },

    async take(enrollmentId, commandUuid, status) {
      if (status === null || FINAL.has(status)) {
        const deleted = await db.deleteFrom('compliance_commands')
          .where('enrollment_id', '=', enrollmentId).where('command_uuid', '=', commandUuid).executeTakeFirst();
        return deleted.numDeletedRows > 0n;
      }
      const updated = await db.updateTable('compliance_commands').set({ seen_status: status })
        .where('enrollment_id', '=', enrollmentId).where('command_uuid', '=', commandUuid)
        .where((eb) => eb.or([eb('seen_status', 'is', null), eb('seen_status', '<>', status)]))
        .executeTakeFirst();
      return updated.numUpdatedRows > 0n;
    },

    async answered(limit, goneBefore) {
      // Each outstanding command probes the queue's primary key; the work list is small (at most
      // a few commands per device that has not answered yet).
      const rows = await db.selectFrom('compliance_commands as cc')
        .leftJoin('command_queue as q', (join) => join.onRef('q.enrollment_id', '=', 'cc.enrollment_id').onRef('q.command_uuid', '=', 'cc.command_uuid'))
        .select(['cc.enrollment_id', 'cc.command_uuid', 'cc.kind', 'cc.content_hash', 'cc.queued_at', 'cc.seen_status', 'q.status as queue_status'])
        .where((eb) => eb.or([
          eb.and([eb('q.status', 'is', null), eb('cc.queued_at', '<', goneBefore)]),
          eb.and([eb('q.status', '<>', 'pending'), eb.or([eb('cc.seen_status', 'is', null), eb('cc.seen_status', '<>', eb.ref('q.status'))])]),
        ]))
        .orderBy('cc.queued_at')
        .limit(limit)
        .execute();
      return rows.map((row) => ({ ...toCommand(row), queueStatus: row.queue_status }));
    },

    async dueForPoll(now, limit) {
      const rows = await db.selectFrom('compliance_devices').select('device_id')
        .where('next_poll_at', 'is not', null).where('next_poll_at', '<=', now)
        .orderBy('next_poll_at').limit(limit).execute();
      return rows.map((row) => row.device_id);
    },

    async statusChanged(limit) {
      const rows = await db.selectFrom('compliance_devices as c')
        .innerJoin('declarative_status as s', 's.enrollment_id', 'c.device_id')
        .select('c.device_id')
        .where('c.desired_kind', '=', 'ddm')
        .where((eb) => eb.or([eb('c.ddm_status_at', 'is', null), eb('s.updated_at', '>', eb.ref('c.ddm_status_at'))]))
        .limit(limit)
        .execute();
      return rows.map((row) => row.device_id);
    },

    async servedDeclaration(deviceId) {
      const row = await db.selectFrom('compliance_devices').select('served_declaration').where('device_id', '=', deviceId).executeTakeFirst();
      return json<Record<string, unknown>>(row?.served_declaration ?? null) ?? undefined;
    },

    async countByState() {
      const rows = await db.selectFrom('compliance_devices')
        .select((eb) => ['state', eb.fn.countAll<number>().as('count')])
        .groupBy('state')
        .execute();
      return Object.fromEntries(rows.map((row) => [row.state, Number(row.count)]));
    },
  };
}

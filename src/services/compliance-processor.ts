// Taking in the answers to what lockwarden asked for compliance: the results of its InstallProfile,
// RemoveProfile, ProfileList, SecurityInfo and DeclarativeManagement commands, and the DDM status
// reports devices send. Each becomes evidence on the device's record (read with the src/mdm
// parsers), the record is re-assessed by the pure core, the state and history are stored, and what
// the assessment asks for next (deliver again, poll now) is handed to policy delivery.
//
// Nothing here runs on a device's request: command-service and the declarative service only call
// notify()/notifyStatus(), which note the key in memory. The work itself reads stored rows — the
// compliance_commands work list, the queue row with the device's result, the stored DDM status —
// so a restart or another replica finds the same work (processPending), and a result is taken in
// once: claiming it (compliance_commands) is part of the transaction that stores its evidence.
import { parseCommandReport } from '../mdm/command-report.ts';
import type { ErrorChainItem } from '../mdm/command-report.ts';
import type { MdmLogger } from '../mdm/handler.ts';
import { parseProfileListResponse } from '../mdm/profile-list-response.ts';
import { parseSecurityInfoResponse } from '../mdm/security-info-response.ts';
import { decodePlist } from '../plist/plist-codec.ts';
import type { Store } from '../store/database.ts';
import type { ComplianceCommand, ComplianceRecord, QueueStatus } from '../store/types.ts';
import { createBackgroundQueue } from './background-queue.ts';
import { DEFAULT_POLL_SCHEDULE, foldStatusReport, profileListEvidence, securityInfoEvidence } from './compliance/index.ts';
import type { PollSchedule } from './compliance/index.ts';
import { assessAndStore, ddmStatusOf, deviceFactsOf, profileListOf, securityInfoOf } from './compliance-assessment.ts';
import type { ComplianceChange, ComplianceChangeListener } from './compliance-assessment.ts';

/** A compliance command with no queue row this long after it was recorded was never queued, or was removed. */
export const GONE_AFTER_MS = 5 * 60_000;

export interface ComplianceProcessorDeps {
  store: Store;
  now: () => number;
  log: MdmLogger;
  /** Asks policy delivery to reconcile these devices (deliver again, poll now); must not wait. */
  reconcile: (deviceIds: string[]) => void;
  schedule?: PollSchedule;
  onChange?: ComplianceChangeListener;
}

export interface ComplianceProcessor {
  /** A device reported a command result (not Idle). In memory only: no I/O, nothing awaited. */
  notify(enrollmentId: string, commandUuid: string, status: string): void;
  /** A DDM status report was stored for the enrollment. In memory only. */
  notifyStatus(enrollmentId: string): void;
  /**
   * Takes in everything waiting, from the stored rows: answered compliance commands and DDM
   * statuses newer than the evidence. Returns how many items were taken in.
   */
  processPending(): Promise<number>;
  idle(): Promise<void>;
  close(): Promise<void>;
  /** Something is queued or being taken in. */
  readonly busy: boolean;
}

type Work = { kind: 'result'; enrollmentId: string; commandUuid: string } | { kind: 'status'; enrollmentId: string };

const PAGE = 500;

function errorChainOf(report: Record<string, unknown> | undefined): ErrorChainItem[] | undefined {
  if (!report) return undefined;
  try {
    return parseCommandReport(report).errorChain;
  } catch {
    return undefined;
  }
}

export function createComplianceProcessor(deps: ComplianceProcessorDeps): ComplianceProcessor {
  const { store, now, log, reconcile } = deps;
  const schedule = deps.schedule ?? DEFAULT_POLL_SCHEDULE;

  /** The record with the answer taken in, and whether delivery must plan again. */
  function takeIn(record: ComplianceRecord, cmd: ComplianceCommand, status: QueueStatus | null, at: number, report: Record<string, unknown> | undefined): { record: ComplianceRecord; replan: boolean } {
    const next: ComplianceRecord = { ...record };
    const gone = status === null || status === 'Expired';
    switch (cmd.kind) {
      case 'InstallProfile':
      case 'DeclarativeManagement': {
        // Only the latest delivery counts; an answer to one it replaced says nothing.
        if (next.delivery?.commandUuid !== cmd.commandUuid) return { record: next, replan: false };
        if (gone) {
          next.delivery = null;
          return { record: next, replan: true };
        }
        const errorChain = status === 'Error' || status === 'CommandFormatError' ? errorChainOf(report) : undefined;
        next.delivery = { ...next.delivery, resultStatus: status, resultAt: at, errorChain: errorChain ?? null };
        return { record: next, replan: false };
      }
      case 'RemoveProfile':
        if (gone || status === 'NotNow') return { record: next, replan: gone };
        // Acknowledged, or Error (most often: the user had removed it already). Either way it is
        // not lockwarden's to remove again, unless an InstallProfile went out after this removal.
        if (!(next.delivery?.command === 'InstallProfile' && next.delivery.queuedAt > cmd.queuedAt)) next.profileManaged = false;
        if (status !== 'Acknowledged') log.warn({ deviceId: record.deviceId, commandUuid: cmd.commandUuid, status, errorChain: errorChainOf(report) }, 'RemoveProfile was not acknowledged');
        return { record: next, replan: false };
      case 'ProfileList':
      case 'SecurityInfo': {
        if (status !== 'Acknowledged' && status !== 'Error' && status !== 'CommandFormatError') return { record: next, replan: false };
        const isList = cmd.kind === 'ProfileList';
        try {
          if (status !== 'Acknowledged' || !report) throw new Error(`${cmd.kind} answered ${status}`);
          if (isList) {
            const evidence = profileListEvidence(at, parseProfileListResponse(report));
            // Results may be taken in out of order: the newest listing stays.
            if ((profileListOf(next)?.at ?? -Infinity) <= at) next.profileList = evidence;
            next.profileListFailedAt = null;
          } else {
            const evidence = securityInfoEvidence(at, parseSecurityInfoResponse(report).SecurityInfo);
            if ((securityInfoOf(next)?.at ?? -Infinity) <= at) next.securityInfo = evidence;
            next.securityInfoFailedAt = null;
          }
        } catch (err) {
          log.warn({ deviceId: record.deviceId, commandUuid: cmd.commandUuid, status, err: err instanceof Error ? err.message : String(err) }, `${cmd.kind} gave no evidence`);
          if (isList) next.profileListFailedAt = at;
          else next.securityInfoFailedAt = at;
        }
        return { record: next, replan: false };
      }
    }
  }

  /** Whether delivery has something to do for the device now. */
  function wantsDelivery(record: ComplianceRecord, at: number): boolean {
    const due = (t: number | null) => t !== null && t <= at;
    const leftovers = (record.profileManaged && record.desired.kind !== 'profile') || (record.servedDeclaration !== null && record.desired.kind !== 'ddm');
    return record.reinstallDue || due(record.nextProfileListAt) || due(record.nextSecurityInfoAt) || leftovers;
  }

  async function deviceFacts(tx: Pick<Store, 'enrollments'>, deviceId: string) {
    const device = await tx.enrollments.getDevice(deviceId);
    return device && deviceFactsOf(device);
  }

  async function ingest(cmd: ComplianceCommand, status: QueueStatus | null): Promise<boolean> {
    const at = now();
    let change: ComplianceChange | undefined;
    let replan = false;
    const taken = await store.transaction(async (tx) => {
      if (!(await tx.compliance.take(cmd.enrollmentId, cmd.commandUuid, status))) return false;
      // Compliance commands go to the device channel, whose id is the device id.
      const record = await tx.compliance.lock(cmd.enrollmentId);
      const facts = record && await deviceFacts(tx, cmd.enrollmentId);
      if (!record || !facts) return true;
      const queued = status === null ? undefined : await tx.commands.get(cmd.enrollmentId, cmd.commandUuid);
      let report: Record<string, unknown> | undefined;
      if (queued?.result) {
        try {
          report = decodePlist(queued.result) as Record<string, unknown>;
        } catch (err) {
          log.warn({ deviceId: record.deviceId, commandUuid: cmd.commandUuid, err: err instanceof Error ? err.message : String(err) }, 'stored result is not a plist');
        }
      }
      // The device's answer is dated when the server received it.
      const taken = takeIn(record, cmd, status, queued?.updatedAt ?? at, report);
      const assessed = await assessAndStore(tx, taken.record, facts, { now: at, schedule });
      change = assessed.change;
      replan = taken.replan || wantsDelivery(assessed.record, at);
      return true;
    });
    if (change) deps.onChange?.(change);
    if (replan) reconcile([cmd.enrollmentId]);
    return taken;
  }

  async function ingestStatus(deviceId: string): Promise<boolean> {
    const at = now();
    let change: ComplianceChange | undefined;
    let replan = false;
    const taken = await store.transaction(async (tx) => {
      const record = await tx.compliance.lock(deviceId);
      if (!record) return false;
      const stored = await tx.declarative.storedStatus(deviceId);
      if (!stored || (record.ddmStatusAt !== null && stored.updatedAt <= record.ddmStatusAt)) return false;
      const facts = await deviceFacts(tx, deviceId);
      if (!facts) return false;
      // The stored status is the device's whole current status (incremental reports already merged
      // by the declarative service), so it is folded in as a full report as of its last update.
      const ddmStatus = foldStatusReport(ddmStatusOf(record), { StatusItems: stored.statusItems, FullReport: true }, stored.updatedAt);
      const assessed = await assessAndStore(tx, { ...record, ddmStatus, ddmStatusAt: stored.updatedAt }, facts, { now: at, schedule });
      change = assessed.change;
      replan = wantsDelivery(assessed.record, at);
      return true;
    });
    if (change) deps.onChange?.(change);
    if (replan) reconcile([deviceId]);
    return taken;
  }

  async function work(item: Work): Promise<boolean> {
    if (item.kind === 'status') return ingestStatus(item.enrollmentId);
    const cmd = await store.compliance.command(item.enrollmentId, item.commandUuid);
    // Most reports are not for compliance commands: one primary-key read says so.
    if (!cmd) return false;
    const queued = await store.commands.get(item.enrollmentId, item.commandUuid);
    if (queued?.status === 'pending') return false;
    return ingest(cmd, queued?.status ?? null);
  }

  const queue = createBackgroundQueue<Work>(async (batch) => {
    for (const [, item] of batch) await work(item);
  }, { batchSize: 100, onError: (err) => log.error({ err }, 'taking in a compliance result failed; the sweep retries it') });

  return {
    notify(enrollmentId, commandUuid) {
      queue.add(`r\n${enrollmentId}\n${commandUuid}`, { kind: 'result', enrollmentId, commandUuid });
    },
    notifyStatus(enrollmentId) {
      queue.add(`s\n${enrollmentId}`, { kind: 'status', enrollmentId });
    },
    async processPending() {
      await queue.idle();
      let count = 0;
      for (;;) {
        const answered = await store.compliance.answered(PAGE, now() - GONE_AFTER_MS);
        let progressed = 0;
        for (const cmd of answered) if (await ingest(cmd, cmd.queueStatus)) progressed++;
        count += progressed;
        if (answered.length < PAGE || progressed === 0) break;
      }
      for (;;) {
        const changed = await store.compliance.statusChanged(PAGE);
        let progressed = 0;
        for (const id of changed) if (await ingestStatus(id)) progressed++;
        count += progressed;
        if (changed.length < PAGE || progressed === 0) break;
      }
      return count;
    },
    idle: () => queue.idle(),
    close: () => queue.close(),
    get busy() {
      return queue.busy;
    },
  };
}

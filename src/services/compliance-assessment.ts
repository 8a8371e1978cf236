// A device's stored compliance record read in the pure core's terms, assessed, and written back:
// the one place that turns rows into DesiredState / DeliveryRecord / evidence and an Assessment
// into state, history and next poll times. Delivery (policy-delivery.ts) and the processor
// (compliance-processor.ts) both go through it, so the same stored evidence always gives the same
// state whichever of them wrote last.
import type { ErrorChainItem } from '../mdm/command-report.ts';
import { PLATFORMS } from '../policy/index.ts';
import type { Platform } from '../policy/index.ts';
import type { Repositories } from '../store/database.ts';
import type { ComplianceCommandKind, ComplianceHistoryEntry, ComplianceRecord, Device } from '../store/types.ts';
import { assessCompliance, transition } from './compliance/index.ts';
import type {
  Assessment, DdmStatusEvidence, DeliveryRecord, DeliveryResultStatus, DesiredState, DeviceFacts, EvidenceRef, HistoryEntry,
  PollSchedule, ProfileListEvidence, SecurityInfoEvidence,
} from './compliance/index.ts';

/** After a ProfileList or SecurityInfo the device could not answer, ask again no sooner than this. */
export const POLL_RETRY_MS = 15 * 60_000;

/** A state change, as webhooks and logs report it: a history entry without its bookkeeping. */
export type ComplianceChange = Omit<ComplianceHistoryEntry, 'seq' | 'evidence'>;

export type ComplianceChangeListener = (change: ComplianceChange) => void;

function knownPlatform(platform: string | null): Platform | undefined {
  return PLATFORMS.find((p) => p === platform);
}

/**
 * What the core needs to know about the device. Supervision is not reported by Authenticate, so
 * it is taken as false: the least capable reading (channel-choice.ts then prefers the profile on
 * macOS and watchOS, which every enrollment takes).
 */
export function deviceFactsOf(device: Pick<Device, 'id' | 'platform' | 'enrollmentKind' | 'osVersion'>): DeviceFacts {
  return {
    id: device.id,
    // An unknown platform never has a desired delivery (policies.ts answers not-applicable), so
    // the placeholder is never assessed; tvOS is the one that takes nothing.
    platform: knownPlatform(device.platform) ?? 'tvos',
    enrollment: device.enrollmentKind,
    supervised: false,
    ...(device.osVersion !== null && { osVersion: device.osVersion }),
  };
}

export function desiredStateOf(record: ComplianceRecord): DesiredState {
  const d = record.desired;
  if (d.kind === 'none') return { kind: 'none' };
  if (d.kind === 'not-applicable') return { kind: 'not-applicable', reason: d.reason ?? 'no passcode policy can reach this device' };
  if (d.kind === 'profile') {
    return {
      kind: 'desired',
      delivery: {
        channel: 'profile',
        identifier: d.identifier!,
        ...(d.profileUuid !== null && { profileUuid: d.profileUuid }),
        payloadUuids: d.payloadUuids ?? [],
        contentHash: d.contentHash!,
        since: d.since!,
      },
    };
  }
  return { kind: 'desired', delivery: { channel: 'ddm', identifier: d.identifier!, serverToken: d.serverToken!, contentHash: d.contentHash!, since: d.since! } };
}

export function deliveryRecordOf(record: ComplianceRecord): DeliveryRecord | undefined {
  const d = record.delivery;
  if (!d) return undefined;
  return {
    command: d.command,
    commandUuid: d.commandUuid,
    contentHash: d.contentHash,
    queuedAt: d.queuedAt,
    ...(d.resultStatus !== null && d.resultAt !== null && {
      result: {
        status: d.resultStatus as DeliveryResultStatus,
        at: d.resultAt,
        ...(d.errorChain && { errorChain: d.errorChain as ErrorChainItem[] }),
      },
    }),
  };
}

// The evidence columns hold what this module's callers wrote from the core's own types.
export const profileListOf = (record: ComplianceRecord) => (record.profileList ?? undefined) as ProfileListEvidence | undefined;
export const securityInfoOf = (record: ComplianceRecord) => (record.securityInfo ?? undefined) as SecurityInfoEvidence | undefined;
export const ddmStatusOf = (record: ComplianceRecord) => (record.ddmStatus ?? undefined) as DdmStatusEvidence | undefined;

/** A record for a device seen for the first time: nothing desired yet, nothing assessed. */
export function newRecord(deviceId: string, platform: string | null, now: number): ComplianceRecord {
  return {
    deviceId,
    platform,
    channel: null,
    channelReason: null,
    desired: { kind: 'none', reason: null, identifier: null, contentHash: null, profileUuid: null, payloadUuids: null, serverToken: null, since: null },
    servedDeclaration: null,
    delivery: null,
    profileManaged: false,
    profileList: null,
    securityInfo: null,
    ddmStatus: null,
    ddmStatusAt: null,
    profileListFailedAt: null,
    securityInfoFailedAt: null,
    installedAt: null,
    reinstallCount: 0,
    reinstallDue: false,
    state: 'unknown',
    reasonCode: 'no-policy',
    reason: 'not assessed yet',
    graceDeadline: null,
    evidence: [],
    nextProfileListAt: null,
    nextSecurityInfoAt: null,
    assessedAt: now,
    historyCount: 0,
    updatedAt: now,
  };
}

/** The stored assessment, as much of it as transition() compares; undefined before the first one. */
function previousAssessment(record: ComplianceRecord): Assessment | undefined {
  if (record.historyCount === 0) return undefined;
  return {
    state: record.state as Assessment['state'],
    reasonCode: record.reasonCode as Assessment['reasonCode'],
    reason: record.reason,
    assessedAt: record.assessedAt,
    ...(record.graceDeadline !== null && { graceDeadline: record.graceDeadline }),
    evidence: record.evidence as EvidenceRef[],
    next: {},
  };
}

/** A poll is asked once at a time: none while one is outstanding, and not right after one failed. */
function nextPoll(at: number | undefined, outstanding: boolean, failedAt: number | null): number | null {
  if (at === undefined || outstanding) return null;
  return failedAt === null ? at : Math.max(at, failedAt + POLL_RETRY_MS);
}

export interface Assessed {
  record: ComplianceRecord;
  assessment: Assessment;
  /** Set when the state (or its reason class, or the grace deadline) changed. */
  entry?: HistoryEntry;
}

/** Assesses the record from its stored evidence and returns it updated (pure). */
export function assessRecord(
  record: ComplianceRecord,
  device: DeviceFacts,
  opts: { now: number; schedule: PollSchedule; outstanding: ReadonlySet<ComplianceCommandKind> },
): Assessed {
  const { now, outstanding } = opts;
  const profileList = profileListOf(record);
  const securityInfo = securityInfoOf(record);
  const ddmStatus = ddmStatusOf(record);
  const delivery = deliveryRecordOf(record);
  const assessment = assessCompliance({
    device,
    desired: desiredStateOf(record),
    ...(delivery && { delivery }),
    ...(profileList && { profileList }),
    ...(securityInfo && { securityInfo }),
    ...(ddmStatus && { ddmStatus }),
    ...(record.installedAt !== null && { installedAt: record.installedAt }),
    now,
    schedule: opts.schedule,
  });
  const entry = transition(previousAssessment(record), assessment);
  return {
    assessment,
    ...(entry && { entry }),
    record: {
      ...record,
      channel: assessment.channel ?? null,
      state: assessment.state,
      reasonCode: assessment.reasonCode,
      reason: assessment.reason,
      graceDeadline: assessment.graceDeadline ?? null,
      evidence: assessment.evidence,
      installedAt: assessment.installedAt ?? null,
      reinstallDue: assessment.next.reinstall === true,
      nextProfileListAt: nextPoll(assessment.next.verifyInstallAt, outstanding.has('ProfileList'), record.profileListFailedAt),
      nextSecurityInfoAt: nextPoll(assessment.next.pollSecurityInfoAt, outstanding.has('SecurityInfo'), record.securityInfoFailedAt),
      assessedAt: now,
      historyCount: record.historyCount + (entry ? 1 : 0),
      updatedAt: now,
    },
  };
}

/**
 * Reads the device's outstanding compliance commands, assesses the record and stores it with its
 * history entry, in the caller's transaction. Returns the change, if the state changed.
 */
export async function assessAndStore(
  tx: Repositories,
  record: ComplianceRecord,
  device: DeviceFacts,
  opts: { now: number; schedule: PollSchedule },
): Promise<Assessed & { change?: ComplianceChange }> {
  const outstanding = new Set((await tx.compliance.outstanding([record.deviceId])).map((c) => c.kind));
  const assessed = assessRecord(record, device, { ...opts, outstanding });
  await tx.compliance.put(assessed.record);
  const entry = assessed.entry;
  if (!entry) return assessed;
  const change: ComplianceChange = {
    deviceId: record.deviceId,
    at: entry.at,
    fromState: entry.from?.state ?? null,
    toState: entry.to,
    reasonCode: entry.reasonCode,
    reason: entry.reason,
    graceDeadline: entry.graceDeadline ?? null,
  };
  await tx.compliance.appendHistory({
    deviceId: record.deviceId,
    seq: assessed.record.historyCount,
    at: entry.at,
    fromState: change.fromState,
    toState: entry.to,
    reasonCode: entry.reasonCode,
    reason: entry.reason,
    graceDeadline: change.graceDeadline,
    evidence: entry.evidence,
  });
  return { ...assessed, change };
}

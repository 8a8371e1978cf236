// The history of a device's compliance: one entry when something that matters changed (the state,
// the class of its reason, the grace deadline), none for a poll that found the same situation
// again, so a device polled every few hours does not grow its history on every answer.
import type { Assessment, ComplianceState, EvidenceRef, ReasonCode } from './model.ts';

export interface HistoryEntry {
  at: number;
  /** Undefined for the first entry of a device. */
  from?: { state: ComplianceState; reasonCode: ReasonCode };
  to: ComplianceState;
  reasonCode: ReasonCode;
  reason: string;
  graceDeadline?: number;
  evidence: EvidenceRef[];
}

/**
 * Reason codes that name one situation: the policy is not on the device and must be delivered
 * again. Which one is reported depends on whether the caller still knew the installation time.
 */
const LEFT_DEVICE: ReadonlySet<ReasonCode> = new Set(['removed', 'drifted', 'missing-after-acknowledged']);

export function reasonClass(code: ReasonCode): string {
  return LEFT_DEVICE.has(code) ? 'left-device' : code;
}

export function transition(previous: Assessment | undefined, next: Assessment): HistoryEntry | undefined {
  if (
    previous &&
    previous.state === next.state &&
    reasonClass(previous.reasonCode) === reasonClass(next.reasonCode) &&
    previous.graceDeadline === next.graceDeadline
  ) {
    return undefined;
  }
  return {
    at: next.assessedAt,
    ...(previous && { from: { state: previous.state, reasonCode: previous.reasonCode } }),
    to: next.state,
    reasonCode: next.reasonCode,
    reason: next.reason,
    ...(next.graceDeadline !== undefined && { graceDeadline: next.graceDeadline }),
    evidence: next.evidence,
  };
}

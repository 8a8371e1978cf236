// Device reports turned into compliance evidence, and the one question every rule asks of a
// ProfileList: is exactly this version of our profile on the device?
import type { ErrorChainItem } from '../../mdm/command-report.ts';
import type { ProfileListResponse } from '../../mdm/profile-list-response.ts';
import type { SecurityInfo } from '../../mdm/security-info-response.ts';
import type { DeliveryRecord, DesiredProfile, InstalledProfile, ProfileListEvidence, SecurityInfoEvidence } from './model.ts';

export function profileListEvidence(at: number, response: ProfileListResponse): ProfileListEvidence {
  return {
    at,
    profiles: response.ProfileList.map((item): InstalledProfile => {
      const content = item.PayloadContent;
      // One payload without a PayloadUUID means this OS does not report them (before iOS 17 /
      // macOS 14): then no version can be read from the list, rather than a partial one.
      const uuids = content?.map((p) => p.PayloadUUID);
      const payloadUuids = uuids && uuids.every((u): u is string => u !== undefined) ? uuids : undefined;
      return { identifier: item.PayloadIdentifier, profileUuid: item.PayloadUUID, ...(payloadUuids && { payloadUuids }) };
    }),
  };
}

export function securityInfoEvidence(at: number, info: SecurityInfo): SecurityInfoEvidence {
  return {
    at,
    ...(info.PasscodePresent !== undefined && { passcodePresent: info.PasscodePresent }),
    ...(info.PasscodeCompliant !== undefined && { passcodeCompliant: info.PasscodeCompliant }),
    ...(info.PasscodeCompliantWithProfiles !== undefined && { passcodeCompliantWithProfiles: info.PasscodeCompliantWithProfiles }),
  };
}

export type ProfileMatch =
  /** Listed with exactly the desired payload UUIDs. */
  | 'exact'
  /**
   * Listed, the OS reports no payload UUIDs, and this version's InstallProfile was acknowledged
   * before the list was taken: the acknowledgment names the version, the list proves it stayed.
   */
  | 'listed-after-acknowledged'
  /** Listed, no payload UUIDs reported, and nothing ties the listing to this version. */
  | 'listed-version-unknown'
  /** Listed with other payload UUIDs (or another profile UUID): another version. */
  | 'other-version'
  | 'absent';

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const upper = new Set(a.map((u) => u.toUpperCase()));
  return upper.size === a.length && b.every((u) => upper.has(u.toUpperCase()));
}

/** The time this version's InstallProfile was acknowledged, if it was (and after `since`). */
export function acknowledgedAt(desired: { contentHash: string; since: number }, record: DeliveryRecord | undefined): number | undefined {
  const result = relevantRecord(desired, record)?.result;
  return result?.status === 'Acknowledged' ? result.at : undefined;
}

/** The record if it carried this version and was queued after the version was decided. */
export function relevantRecord(desired: { contentHash: string; since: number }, record: DeliveryRecord | undefined): DeliveryRecord | undefined {
  return record && record.contentHash === desired.contentHash && record.queuedAt >= desired.since ? record : undefined;
}

export function matchProfile(desired: DesiredProfile, list: ProfileListEvidence, record: DeliveryRecord | undefined): ProfileMatch {
  const item = list.profiles.find((p) => p.identifier === desired.identifier);
  if (!item) return 'absent';
  // UUIDs are compared without case: PayloadUUID is a string and some tools lower-case it.
  if (desired.profileUuid && item.profileUuid && desired.profileUuid.toUpperCase() !== item.profileUuid.toUpperCase()) return 'other-version';
  if (item.payloadUuids) return sameSet(item.payloadUuids, desired.payloadUuids) ? 'exact' : 'other-version';
  const ack = record?.command === 'InstallProfile' ? acknowledgedAt(desired, record) : undefined;
  return ack !== undefined && ack <= list.at ? 'listed-after-acknowledged' : 'listed-version-unknown';
}

/** The device's ErrorChain as one line: the outermost error first, each cause after it. */
export function errorChainText(chain: readonly ErrorChainItem[] | undefined): string {
  if (!chain || chain.length === 0) return 'no ErrorChain given';
  return chain
    .map((e) => {
      const text = e.USEnglishDescription ?? e.LocalizedDescription;
      return `${e.ErrorDomain} ${e.ErrorCode}${text ? `: ${text}` : ''}`;
    })
    .join('; caused by ');
}

/** Times in reasons: ISO 8601 UTC, formatted from the given number (no clock involved). */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

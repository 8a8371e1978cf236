// What to send a device so that it ends up with exactly the desired passcode policy and nothing
// lockwarden left behind: run on enrollment, on every policy or assignment change, and when drift
// is found. The plan is computed from what the device last reported, so running it twice on the
// same reports plans the same thing, and running it after the device carried out a plan plans
// nothing (idempotent; see `deferred` for the one two-step case).
//
// Rules: never an install where no passcode policy can go (tvOS, Shared iPad, macOS User
// Enrollment…); never a RemoveProfile for an identifier lockwarden did not install; nothing when
// the installed payload UUIDs (or the declaration's server token) already match; a command that
// is queued or was answered NotNow is not sent again (pushed once); a version that failed with
// Error is not retried by the plan (the assessment shows the error; a new version or an explicit
// retry by the caller sends it again).
import { chooseChannel } from './channel-choice.ts';
import { iso, matchProfile, relevantRecord } from './evidence.ts';
import type {
  Channel, DeclarationsEvidence, DeliveryRecord, DesiredDeclaration, DesiredProfile, DesiredState, DeviceFacts, ProfileListEvidence,
} from './model.ts';

export { chooseChannel } from './channel-choice.ts';
export type { ChannelChoice } from './channel-choice.ts';

export type DeliveryAction =
  | { kind: 'install-profile'; identifier: string; reason: string }
  | { kind: 'remove-profile'; identifier: string; reason: string }
  | { kind: 'ddm-sync'; reason: string }
  | { kind: 'profile-list'; reason: string }
  | { kind: 'security-info'; reason: string };

export interface DeliveryPlanInput {
  device: DeviceFacts;
  desired: DesiredState;
  /** The latest ProfileList; undefined when the device was never asked (just enrolled). */
  installed?: ProfileListEvidence;
  /** The device's declarations as its DDM status reports them (ddm-status.ts). */
  declarations?: DeclarationsEvidence;
  /** Profile PayloadIdentifiers lockwarden installed on this device before; the only ones it removes. */
  previouslyManagedIdentifiers: readonly string[];
  /** Declaration Identifiers lockwarden served this device before. */
  previouslyManagedDeclarations?: readonly string[];
  /** DDM may be used with this device (see chooseChannel). */
  ddmSupported: boolean;
  /** The latest delivery command for the desired identifier. */
  delivery?: DeliveryRecord;
}

export interface DeliveryPlan {
  /** The channel of the desired delivery, when there is one. */
  channel?: Channel;
  /** Why that channel (chooseChannel), so the caller can say which was used. */
  channelReason?: string;
  actions: DeliveryAction[];
  /**
   * Removals held back until the policy is confirmed on its new channel (profile → declaration or
   * back), so the device is never left without one; they are planned once the confirmation arrives.
   */
  deferred: string[];
  /** Why something was not planned (a failed version, a command still queued, no DDM…). */
  notes: string[];
}

interface Delivering {
  /** The action that delivers the desired policy, if one is needed. */
  deliver?: DeliveryAction;
  /** Ask the device to prove what it has (ProfileList, or a DDM sync for a fresh status report). */
  verify?: string;
  /** The desired policy is confirmed on its channel: the other channel's leftovers may go. */
  confirmed: boolean;
}

function gateByRecord(
  record: DeliveryRecord | undefined,
  evidenceAt: number | undefined,
  notes: string[],
  send: (why: string) => DeliveryAction,
  why: string,
  proof: string,
): Delivering {
  if (!record) return { deliver: send(why), confirmed: false };
  const result = record.result;
  if (!result || result.status === 'NotNow') {
    notes.push(`${record.command} ${record.commandUuid} for this version is ${result ? `deferred by the device (NotNow at ${iso(result.at)})` : 'still queued or in flight'}; not sent again`);
    return { confirmed: false };
  }
  if (result.status === 'Acknowledged') {
    if (evidenceAt === undefined || evidenceAt < result.at) return { verify: `${record.command} acknowledged at ${iso(result.at)}; ${proof} confirms it`, confirmed: false };
    return { deliver: send(`${why}, although ${record.command} was acknowledged at ${iso(result.at)}: delivering again`), confirmed: false };
  }
  notes.push(`${record.command} ${record.commandUuid} for this version failed at ${iso(result.at)} (${result.status}); not retried automatically`);
  return { confirmed: false };
}

function planProfile(d: DesiredProfile, input: DeliveryPlanInput, notes: string[]): Delivering {
  const record = input.delivery?.command === 'InstallProfile' ? relevantRecord(d, input.delivery) : undefined;
  const list = input.installed;
  let why = `${d.identifier}: no ProfileList yet`;
  if (list) {
    const match = matchProfile(d, list, record);
    if (match === 'exact' || match === 'listed-after-acknowledged') {
      return list.at >= d.since
        ? { confirmed: true }
        : { verify: `ProfileList at ${iso(list.at)} predates this version (${iso(d.since)}); confirm it is still installed`, confirmed: false };
    }
    why = match === 'absent'
      ? `${d.identifier} is not installed`
      : match === 'other-version'
        ? `${d.identifier} is installed in another version; the same PayloadIdentifier replaces it in place`
        : `${d.identifier} is listed but this OS does not report payload UUIDs; sending it again replaces it in place`;
  }
  const send = (reason: string): DeliveryAction => ({ kind: 'install-profile', identifier: d.identifier, reason });
  return gateByRecord(record, list?.at, notes, send, why, 'a ProfileList');
}

function planDeclaration(d: DesiredDeclaration, input: DeliveryPlanInput, notes: string[]): Delivering {
  const record = input.delivery?.command === 'DeclarativeManagement' ? relevantRecord(d, input.delivery) : undefined;
  const status = input.declarations;
  const item = status?.items.find((i) => i.identifier === d.identifier);
  if (status && item && item.serverToken === d.serverToken) {
    if (item.valid === 'valid' && item.active) {
      return status.at >= d.since
        ? { confirmed: true }
        : { verify: `declarations status at ${iso(status.at)} predates this version (${iso(d.since)}); a sync makes the device report again`, confirmed: false };
    }
    if (item.valid === 'unknown') return { confirmed: false };
    notes.push(item.valid === 'invalid'
      ? `the device rejected ${d.identifier} (server token ${d.serverToken}); sending it again would not help`
      : `${d.identifier} is valid but not active: check the activation that should reference it`);
    return { confirmed: false };
  }
  const why = status
    ? item ? `${d.identifier} is at another version (server token ${item.serverToken})` : `${d.identifier} is not on the device`
    : `${d.identifier}: no declarations status yet`;
  const send = (reason: string): DeliveryAction => ({ kind: 'ddm-sync', reason });
  return gateByRecord(record, status?.at, notes, send, why, 'the status report after the sync');
}

/** The devices that report PasscodeCompliant (information.security.yaml: every platform but macOS). */
function reportsCompliance(device: DeviceFacts): boolean {
  return device.platform !== 'macos' && device.platform !== 'tvos';
}

export function planDelivery(input: DeliveryPlanInput): DeliveryPlan {
  const { device, desired, installed, declarations, ddmSupported } = input;
  const notes: string[] = [];
  const deferred: string[] = [];
  const choice = chooseChannel(device, ddmSupported);
  let target = desired.kind === 'desired' ? desired.delivery : undefined;
  if (target && choice.channel === 'none') {
    notes.push(`nothing delivered: ${choice.reason}`);
    target = undefined;
  }
  // A desired delivery that cannot be made: keep whatever lockwarden already has on the device.
  let blocked = false;
  if (target?.channel === 'ddm' && !ddmSupported) {
    notes.push(`the desired policy is a declaration, but DDM is not available for this device; choose the channel with chooseChannel (${choice.reason})`);
    target = undefined;
    blocked = true;
  } else if (target && choice.channel !== target.channel) {
    notes.push(`the desired policy uses the ${target.channel} channel; chooseChannel would use ${choice.channel} (${choice.reason})`);
  }

  const delivering: Delivering = target?.channel === 'profile'
    ? planProfile(target, input, notes)
    : target?.channel === 'ddm'
      ? planDeclaration(target, input, notes)
      : { confirmed: true };

  // Leftover profiles: lockwarden's own, other than the desired one. When the policy moves to a
  // declaration they stay until the declaration is confirmed active.
  const keepProfile = target?.channel === 'profile' ? target.identifier : undefined;
  const managedProfiles = new Set(input.previouslyManagedIdentifiers);
  managedProfiles.delete(keepProfile ?? '');
  const leftoverProfiles = installed
    ? installed.profiles.map((p) => p.identifier).filter((id) => managedProfiles.has(id))
    : [...managedProfiles];
  const removals: DeliveryAction[] = [];
  for (const identifier of [...new Set(leftoverProfiles)].sort()) {
    if (blocked || (target?.channel === 'ddm' && !delivering.confirmed)) {
      deferred.push(identifier);
      continue;
    }
    const why = target ? `replaced by ${target.identifier}` : desired.kind === 'none' ? 'no passcode policy is assigned any more' : 'no passcode policy applies to this device';
    const seen = installed ? `installed by lockwarden (ProfileList at ${iso(installed.at)})` : 'installed by lockwarden before (no ProfileList yet; an absent profile makes RemoveProfile fail harmlessly)';
    removals.push({ kind: 'remove-profile', identifier, reason: `${identifier} ${seen}; ${why}` });
  }

  // Leftover declarations: removed by serving a manifest without them and syncing.
  const keepDeclaration = target?.channel === 'ddm' ? target.identifier : undefined;
  const managedDeclarations = new Set(input.previouslyManagedDeclarations ?? []);
  managedDeclarations.delete(keepDeclaration ?? '');
  const leftoverDeclarations = declarations
    ? declarations.items.map((i) => i.identifier).filter((id) => managedDeclarations.has(id))
    : [...managedDeclarations];
  let cleanupSync: string | undefined;
  if (leftoverDeclarations.length > 0) {
    const ids = [...new Set(leftoverDeclarations)].sort();
    if (!ddmSupported) notes.push(`declarations ${ids.join(', ')} cannot be removed: DDM is not available for this device`);
    else if (blocked || (target?.channel === 'profile' && !delivering.confirmed)) deferred.push(...ids);
    else cleanupSync = `remove ${ids.join(', ')} (the declarations manifest no longer lists them)`;
  }

  const actions: DeliveryAction[] = [];
  const deliver = delivering.deliver;
  if (deliver?.kind === 'ddm-sync' && cleanupSync) actions.push({ kind: 'ddm-sync', reason: `${deliver.reason}; ${cleanupSync}` });
  else if (deliver) actions.push(deliver);
  actions.push(...removals);
  if (cleanupSync && deliver?.kind !== 'ddm-sync') actions.push({ kind: 'ddm-sync', reason: cleanupSync });

  const touchedProfiles = deliver?.kind === 'install-profile' || removals.length > 0;
  const verifyByList = delivering.verify !== undefined && target?.channel === 'profile';
  const verifyBySync = delivering.verify !== undefined && target?.channel === 'ddm';
  if (verifyBySync && !actions.some((a) => a.kind === 'ddm-sync')) actions.push({ kind: 'ddm-sync', reason: delivering.verify! });
  if (touchedProfiles || verifyByList) {
    actions.push({ kind: 'profile-list', reason: touchedProfiles ? 'confirm what is installed after these changes' : delivering.verify! });
  }
  if (deliver && reportsCompliance(device)) {
    actions.push({ kind: 'security-info', reason: 'read PasscodePresent / PasscodeCompliant once the policy is in place' });
  }

  return {
    ...(target && { channel: target.channel }),
    ...(target && choice.channel === target.channel && { channelReason: choice.reason }),
    actions,
    deferred,
    notes,
  };
}

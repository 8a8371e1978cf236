// A device's passcode compliance, decided only from evidence (DESIGN decision 8). The rules, and
// where they come from:
//
// 1. Installed means seen installed. An InstallProfile "Acknowledged" only says the command ran;
//    the policy counts as installed when a ProfileList lists our PayloadIdentifier with exactly
//    the desired payload UUIDs (profile.list.yaml), or a DDM status report lists our declaration
//    with our ServerToken, valid and active (management.declarations). Before iOS 17 / macOS 14
//    ProfileList omits payload UUIDs; there a listing taken after this version's acknowledged
//    install is accepted, because the acknowledgment names the version and the list proves it stayed.
// 2. Evidence older than the desired version (`since`) says nothing about it, and a compliance
//    report older than the installation cannot prove compliance with the new policy.
// 3. After installation, a ProfileList (or declarations status) without our policy, or with
//    another version of it, means the user removed it or it drifted: deliver it again.
// 4. Apple's "Managing Passcodes": installing a stricter passcode policy starts a 60-minute
//    countdown during which the user may keep working. Any passcode report dated before
//    installation + 60 min is "in grace" with that deadline — false because the user still has
//    time, true because a device may report compliance while its grace runs — and the next
//    report is asked for right after the deadline; a report dated at or after it decides:
//    "compliant", or "non-compliant" with the reason.
// 5. PasscodeCompliant true, and PasscodeCompliantWithProfiles not false, is compliant
//    (information.security.yaml: the first covers every requirement, Exchange included; the
//    second only profiles, and is forbidden under User Enrollment so may be absent).
// 6. macOS reports neither SecurityInfo passcode keys nor the DDM passcode status items: once the
//    profile is verified installed, compliance is "not observable", and the assessment says so.
// 7. InstallProfile Error / CommandFormatError is "error" with the device's ErrorChain; NotNow
//    means the device was locked or busy and the command stays queued: still pending delivery.
import { passcodeRefusal } from './channel-choice.ts';
import { acknowledgedAt, errorChainText, iso, matchProfile, relevantRecord } from './evidence.ts';
import { DEFAULT_POLL_SCHEDULE, checkSchedule, nextRegularPoll } from './poll-schedule.ts';
import type { PollSchedule } from './poll-schedule.ts';
import { PASSCODE_GRACE_MS } from './model.ts';
import type {
  Assessment, ComplianceState, DdmStatusEvidence, DeliveryRecord, DesiredDeclaration, DesiredDelivery, DesiredProfile,
  DesiredState, DeviceFacts, EvidenceRef, NextSteps, ProfileListEvidence, ReasonCode, SecurityInfoEvidence,
} from './model.ts';

export interface AssessmentInput {
  device: DeviceFacts;
  desired: DesiredState;
  /** The latest delivery command for the desired identifier (any version; others are ignored). */
  delivery?: DeliveryRecord;
  /** The latest ProfileList. */
  profileList?: ProfileListEvidence;
  /** The latest SecurityInfo. */
  securityInfo?: SecurityInfoEvidence;
  /** The latest DDM status, as folded by ddm-status.ts. */
  ddmStatus?: DdmStatusEvidence;
  /** Assessment.installedAt from the previous assessment; ignored when older than `since`. */
  installedAt?: number;
  now: number;
  schedule?: PollSchedule;
}

type InstallFinding =
  | { kind: 'confirmed'; installedAt: number; evidence: EvidenceRef[]; how: string }
  | { kind: 'missing'; code: 'removed' | 'drifted' | 'missing-after-acknowledged'; at: number; detail: string; evidence: EvidenceRef[] }
  | { kind: 'unconfirmed'; code?: ReasonCode; detail?: string; evidence: EvidenceRef[] }
  | { kind: 'invalid'; code: 'declaration-invalid' | 'declaration-inactive'; detail: string; evidence: EvidenceRef[] };

interface Context {
  input: AssessmentInput;
  desired: DesiredDelivery;
  record: DeliveryRecord | undefined;
  schedule: PollSchedule;
  /** A previous installation of this version, when one is known. */
  priorInstalledAt: number | undefined;
}

export function assessCompliance(input: AssessmentInput): Assessment {
  const { desired, now } = input;
  const schedule = checkSchedule(input.schedule ?? DEFAULT_POLL_SCHEDULE);
  const base = { assessedAt: now, evidence: [] as EvidenceRef[], next: {} };
  if (desired.kind === 'none') {
    return { ...base, state: 'unknown', reasonCode: 'no-policy', reason: 'no passcode policy is assigned to this device' };
  }
  if (desired.kind === 'not-applicable') {
    return { ...base, state: 'not-applicable', reasonCode: 'not-applicable', reason: desired.reason };
  }
  // A desired delivery for a device that cannot take one is the caller's mistake; answer truthfully.
  const refused = passcodeRefusal(input.device);
  if (refused !== undefined) return { ...base, state: 'not-applicable', reasonCode: 'not-applicable', reason: refused };

  const d = desired.delivery;
  const command = d.channel === 'profile' ? 'InstallProfile' : 'DeclarativeManagement';
  const record = input.delivery?.command === command ? relevantRecord(d, input.delivery) : undefined;
  const priorInstalledAt = input.installedAt !== undefined && input.installedAt >= d.since ? input.installedAt : undefined;
  const ctx: Context = { input, desired: d, record, schedule, priorInstalledAt };
  const finding = d.channel === 'profile' ? profileFinding(ctx, d) : declarationFinding(ctx, d);
  return { channel: d.channel, ...fromFinding(ctx, finding) };
}

// ------------------------------------------------------------------ installation

function profileFinding(ctx: Context, d: DesiredProfile): InstallFinding {
  const { input, record, priorInstalledAt } = ctx;
  const list = input.profileList && input.profileList.at >= d.since ? input.profileList : undefined;
  const prior = (): InstallFinding => ({
    kind: 'confirmed',
    installedAt: priorInstalledAt!,
    how: `installed since ${iso(priorInstalledAt!)}`,
    evidence: [{ kind: 'ProfileList', at: priorInstalledAt!, detail: `${d.identifier} installed (confirmed by an earlier ProfileList)` }],
  });
  if (!list || (priorInstalledAt !== undefined && list.at < priorInstalledAt)) {
    if (priorInstalledAt !== undefined) return prior();
    const stale = input.profileList && input.profileList.at < d.since ? input.profileList : undefined;
    return stale
      ? { kind: 'unconfirmed', code: 'evidence-predates-version', detail: `the last ProfileList (${iso(stale.at)}) predates this version of the policy (${iso(d.since)})`, evidence: [] }
      : { kind: 'unconfirmed', evidence: [] };
  }
  const match = matchProfile(d, list, record);
  const ack = acknowledgedAt(d, record);
  if (match === 'exact' || match === 'listed-after-acknowledged' || (match === 'listed-version-unknown' && priorInstalledAt !== undefined)) {
    // The device installs before it acknowledges, so an acknowledged and then listed version was
    // installed at the acknowledgment; the grace countdown started no later than that.
    const installedAt = priorInstalledAt ?? (ack !== undefined && ack <= list.at ? ack : list.at);
    const detail = match === 'exact'
      ? `${d.identifier} listed with payload UUIDs ${d.payloadUuids.join(', ')}`
      : `${d.identifier} listed (this OS does not report payload UUIDs; version from the InstallProfile acknowledged at ${iso(ack ?? installedAt)})`;
    const evidence: EvidenceRef[] = [{ kind: 'ProfileList', at: list.at, detail }];
    if (ack !== undefined && ack <= list.at) evidence.unshift({ kind: 'InstallProfile result', at: ack, detail: 'Acknowledged' });
    return { kind: 'confirmed', installedAt, how: `ProfileList at ${iso(list.at)} lists ${d.identifier}`, evidence };
  }
  const listed = match === 'listed-version-unknown'
    ? `lists ${d.identifier}, but this OS does not report payload UUIDs`
    : match === 'other-version' ? `lists ${d.identifier} with other payload UUIDs (another version)` : `does not list ${d.identifier}`;
  const evidence: EvidenceRef[] = [{ kind: 'ProfileList', at: list.at, detail: listed }];
  if (priorInstalledAt !== undefined && match !== 'listed-version-unknown') {
    return {
      kind: 'missing',
      code: match === 'absent' ? 'removed' : 'drifted',
      at: list.at,
      detail: match === 'absent'
        ? `${d.identifier}, installed at ${iso(priorInstalledAt)}, was removed from the device: ProfileList at ${iso(list.at)} does not list it`
        : `${d.identifier} drifted: ProfileList at ${iso(list.at)} lists other payload UUIDs than the installed version's`,
      evidence,
    };
  }
  if (ack !== undefined && ack <= list.at && match !== 'listed-version-unknown') {
    // The device acknowledged this version and then listed something else: it did not stay.
    return {
      kind: 'missing',
      code: 'missing-after-acknowledged',
      at: list.at,
      detail: `InstallProfile was acknowledged at ${iso(ack)}, but ProfileList at ${iso(list.at)} ${listed}`,
      evidence: [{ kind: 'InstallProfile result', at: ack, detail: 'Acknowledged' }, ...evidence],
    };
  }
  return {
    kind: 'unconfirmed',
    ...(match === 'other-version' && { code: 'previous-version-installed' as const }),
    detail: `ProfileList at ${iso(list.at)} ${listed}`,
    evidence,
  };
}

function declarationFinding(ctx: Context, d: DesiredDeclaration): InstallFinding {
  const { input, priorInstalledAt } = ctx;
  const status = input.ddmStatus?.declarations;
  const fresh = status && status.at >= d.since && (priorInstalledAt === undefined || status.at >= priorInstalledAt) ? status : undefined;
  if (!fresh) {
    if (priorInstalledAt !== undefined) {
      return {
        kind: 'confirmed',
        installedAt: priorInstalledAt,
        how: `active since ${iso(priorInstalledAt)}`,
        evidence: [{ kind: 'DDM status', at: priorInstalledAt, detail: `${d.identifier} valid and active (confirmed by an earlier status report)` }],
      };
    }
    return status && status.at < d.since
      ? { kind: 'unconfirmed', code: 'evidence-predates-version', detail: `the last declarations status (${iso(status.at)}) predates this version of the policy (${iso(d.since)})`, evidence: [] }
      : { kind: 'unconfirmed', evidence: [] };
  }
  const item = fresh.items.find((i) => i.identifier === d.identifier);
  const ref = (detail: string): EvidenceRef[] => [{ kind: 'DDM status', at: fresh.at, detail }];
  if (item && item.serverToken === d.serverToken) {
    if (item.valid === 'valid' && item.active) {
      return {
        kind: 'confirmed',
        installedAt: priorInstalledAt ?? fresh.at,
        how: `DDM status at ${iso(fresh.at)} reports ${d.identifier} valid and active`,
        evidence: ref(`${d.identifier} (server token ${d.serverToken}) valid and active`),
      };
    }
    if (item.valid === 'invalid') {
      const reasons = (item.reasons ?? []).map((r) => (r.description ? `${r.code}: ${r.description}` : r.code)).join('; ') || 'no reason given';
      return { kind: 'invalid', code: 'declaration-invalid', detail: `the device rejected ${d.identifier} (DDM status at ${iso(fresh.at)}): ${reasons}`, evidence: ref(`${d.identifier} invalid: ${reasons}`) };
    }
    if (item.valid === 'unknown') {
      return { kind: 'unconfirmed', code: 'declaration-processing', detail: `DDM status at ${iso(fresh.at)}: the device has not finished validating ${d.identifier}`, evidence: ref(`${d.identifier} validity unknown`) };
    }
    return {
      kind: 'invalid',
      code: 'declaration-inactive',
      detail: `${d.identifier} is valid but not active (DDM status at ${iso(fresh.at)}): no activation applies it`,
      evidence: ref(`${d.identifier} valid, not active`),
    };
  }
  const listed = item ? `reports ${d.identifier} with server token ${item.serverToken} (another version)` : `does not report ${d.identifier}`;
  if (priorInstalledAt !== undefined) {
    return {
      kind: 'missing',
      code: item ? 'drifted' : 'removed',
      at: fresh.at,
      detail: `${d.identifier}, active since ${iso(priorInstalledAt)}, is gone: DDM status at ${iso(fresh.at)} ${listed}`,
      evidence: ref(listed),
    };
  }
  // A DeclarativeManagement acknowledgment only starts a sync, so a status without our token after
  // it may simply predate the sync's end: not yet a reason to deliver again.
  return {
    kind: 'unconfirmed',
    ...(item && { code: 'previous-version-installed' as const }),
    detail: `DDM status at ${iso(fresh.at)} ${listed}`,
    evidence: ref(listed),
  };
}

// ------------------------------------------------------------------ states

type Outcome = Omit<Assessment, 'channel' | 'assessedAt'>;

function fromFinding(ctx: Context, finding: InstallFinding): Omit<Assessment, 'channel'> {
  const now = ctx.input.now;
  const result = ((): Outcome => {
    switch (finding.kind) {
      case 'confirmed':
        return observed(ctx, finding);
      case 'invalid':
        return { state: 'error', reasonCode: finding.code, reason: finding.detail, evidence: finding.evidence, next: {} };
      case 'missing':
        return missing(ctx, finding);
      case 'unconfirmed':
        return pending(ctx, finding);
    }
  })();
  return { ...result, assessedAt: now };
}

function recordEvidence(record: DeliveryRecord): EvidenceRef[] {
  if (!record.result) return [];
  const kind = record.command === 'InstallProfile' ? 'InstallProfile result' : 'DeclarativeManagement result';
  const detail = record.result.status === 'Error' || record.result.status === 'CommandFormatError'
    ? `${record.result.status}: ${errorChainText(record.result.errorChain)}`
    : record.result.status;
  return [{ kind, at: record.result.at, detail }];
}

function missing(ctx: Context, finding: Extract<InstallFinding, { kind: 'missing' }>): Outcome {
  const { record } = ctx;
  // A delivery queued after the removal was seen is the re-install: follow it instead of asking again.
  if (record && record.queuedAt >= finding.at) {
    const failed = failure(record);
    if (failed) return failed;
    const under = pending(ctx, { kind: 'unconfirmed', evidence: finding.evidence });
    return { ...under, reasonCode: 'reinstalling', reason: `${finding.detail}; re-delivery: ${under.reason}` };
  }
  return {
    state: 'pending-delivery',
    reasonCode: finding.code,
    reason: `${finding.detail}; it will be delivered again`,
    evidence: finding.evidence,
    next: { reinstall: true },
  };
}

function failure(record: DeliveryRecord): Outcome | undefined {
  const result = record.result;
  if (result?.status !== 'Error' && result?.status !== 'CommandFormatError') return undefined;
  return {
    state: 'error',
    reasonCode: 'install-error',
    reason: `${record.command} ${record.commandUuid} failed at ${iso(result.at)} (${result.status}): ${errorChainText(result.errorChain)}`,
    evidence: recordEvidence(record),
    next: {},
  };
}

function pending(ctx: Context, finding: Extract<InstallFinding, { kind: 'unconfirmed' }>): Outcome {
  const { record, desired, input } = ctx;
  const seen = finding.detail ? `; ${finding.detail}` : '';
  const state: ComplianceState = 'pending-delivery';
  if (!record) {
    // Evidence from before this version can still show it is there: ask, rather than re-send.
    const verify = finding.code === 'evidence-predates-version' ? { verifyInstallAt: input.now } : {};
    return { state, reasonCode: finding.code ?? 'not-sent', reason: `not delivered yet${seen}`, evidence: finding.evidence, next: verify };
  }
  const failed = failure(record);
  if (failed) return failed;
  const evidence = [...recordEvidence(record), ...finding.evidence];
  const result = record.result;
  if (!result) {
    const where = record.sentAt !== undefined ? `sent to the device at ${iso(record.sentAt)}, no result yet` : `queued at ${iso(record.queuedAt)}, not yet fetched by the device`;
    return { state, reasonCode: 'awaiting-result', reason: `${record.command} ${where}${seen}`, evidence, next: {} };
  }
  if (result.status === 'NotNow') {
    return {
      state,
      reasonCode: 'not-now',
      reason: `the device answered NotNow at ${iso(result.at)} (locked or busy); the command stays queued and is retried when it checks in again${seen}`,
      evidence,
      next: {},
    };
  }
  // Acknowledged is not installed: ask for the proof.
  const proof = desired.channel === 'profile' ? 'a ProfileList' : 'a DDM status report';
  const code: ReasonCode = finding.code === 'declaration-processing' ? finding.code : 'acknowledged-unverified';
  return {
    state,
    reasonCode: code,
    reason: `${record.command} acknowledged at ${iso(result.at)}; waiting for ${proof} to confirm the installation${seen}`,
    evidence,
    next: { verifyInstallAt: Math.max(input.now, result.at) },
  };
}

interface ComplianceReading {
  source: 'SecurityInfo' | 'DDM status';
  at: number;
  compliant: boolean;
  /** e.g. "PasscodeCompliant false in SecurityInfo at …; passcode present: yes". */
  detail: string;
}

function yesNo(value: boolean | undefined): string {
  return value === undefined ? 'not reported' : value ? 'yes' : 'no';
}

function readings(ctx: Context, installedAt: number): ComplianceReading[] {
  const out: ComplianceReading[] = [];
  const si = ctx.input.securityInfo;
  if (si && si.at >= installedAt && si.passcodeCompliant !== undefined) {
    const withProfiles = si.passcodeCompliantWithProfiles;
    const compliant = si.passcodeCompliant && withProfiles !== false;
    const keys = `PasscodeCompliant ${si.passcodeCompliant}${withProfiles === undefined ? '' : `, PasscodeCompliantWithProfiles ${withProfiles}`}`;
    out.push({ source: 'SecurityInfo', at: si.at, compliant, detail: `${keys} in SecurityInfo at ${iso(si.at)}; passcode present: ${yesNo(si.passcodePresent)}` });
  }
  const dp = ctx.input.ddmStatus?.passcode;
  if (dp && dp.at >= installedAt && dp.isCompliant !== undefined) {
    out.push({
      source: 'DDM status',
      at: dp.at,
      compliant: dp.isCompliant,
      detail: `passcode.is-compliant ${dp.isCompliant} in DDM status at ${iso(dp.at)}; passcode present: ${yesNo(dp.isPresent)}`,
    });
  }
  // The newest reading decides; at the same instant, the one that does not claim compliance.
  return out.sort((a, b) => b.at - a.at || Number(a.compliant) - Number(b.compliant));
}

function observed(ctx: Context, finding: Extract<InstallFinding, { kind: 'confirmed' }>): Outcome {
  const { input, desired, schedule } = ctx;
  const { installedAt } = finding;
  const seed = input.device.id;
  const deadline = installedAt + PASSCODE_GRACE_MS;
  const afterGrace = deadline + schedule.afterGraceMs;
  const base = { installedAt, evidence: [...finding.evidence] };
  // Removal is only caught by asking; DDM devices report their declarations' state themselves.
  const verify: NextSteps = desired.channel === 'profile'
    ? { verifyInstallAt: nextRegularPoll(seed, input.profileList?.at ?? installedAt, input.now, schedule) }
    : {};
  const regularPoll = (last: number | undefined) => nextRegularPoll(seed, last, input.now, schedule);

  if (input.device.platform === 'macos') {
    return {
      ...base,
      state: 'not-observable',
      reasonCode: 'platform-not-observable',
      reason: `the policy is installed (${finding.how}), but macOS does not report passcode compliance: SecurityInfo has no PasscodePresent/PasscodeCompliant on macOS and the passcode.is-compliant status item is not available there, so lockwarden cannot prove the passcode complies`,
      next: verify,
    };
  }
  const [latest] = readings(ctx, installedAt);
  const si = input.securityInfo;
  if (!latest) {
    if (si && si.at >= installedAt) {
      return {
        ...base,
        evidence: [...base.evidence, { kind: 'SecurityInfo', at: si.at, detail: 'no passcode keys' }],
        state: 'not-observable',
        reasonCode: 'report-lacks-passcode-keys',
        reason: `the policy is installed (${finding.how}), but SecurityInfo at ${iso(si.at)} carried no PasscodeCompliant, so compliance cannot be proven`,
        next: { ...verify, pollSecurityInfoAt: regularPoll(si.at) },
      };
    }
    const stale = si ? `; SecurityInfo at ${iso(si.at)} predates the installation and cannot prove compliance with this policy` : '';
    return {
      ...base,
      state: 'installed-awaiting-report',
      reasonCode: 'awaiting-report',
      reason: `installed (${finding.how}); waiting for a SecurityInfo or passcode status report${stale}`,
      next: { ...verify, pollSecurityInfoAt: input.now },
    };
  }
  const evidence: EvidenceRef[] = [...base.evidence, { kind: latest.source, at: latest.at, detail: latest.detail }];
  if (latest.at < deadline) {
    // Inside the grace window no report settles compliance: a device may report compliant while
    // the user still has time to change the passcode (the simulator does, as the issue describes),
    // so only a report after the deadline is evidence either way. Ask right after it.
    const ended = input.now >= deadline;
    const said = latest.compliant
      ? `${latest.detail}, but a device may report compliance while its grace period runs`
      : `${latest.detail}; the device gives the user until ${iso(deadline)} (60 minutes after installation) to change the passcode`;
    return {
      ...base,
      evidence,
      state: 'in-grace',
      reasonCode: ended ? 'grace-ended-awaiting-report' : latest.compliant ? 'compliant-within-grace' : 'reported-non-compliant',
      reason: ended
        ? `${latest.detail}, within the 60-minute grace period that ended at ${iso(deadline)}; waiting for a report after it`
        : `${said}; compliance is decided by the first report after ${iso(deadline)}`,
      graceDeadline: deadline,
      next: { ...verify, pollSecurityInfoAt: Math.max(input.now, afterGrace) },
    };
  }
  if (latest.compliant) {
    return { ...base, evidence, state: 'compliant', reasonCode: 'reported-compliant', reason: latest.detail, next: { ...verify, pollSecurityInfoAt: regularPoll(si?.at ?? latest.at) } };
  }
  return {
    ...base,
    evidence,
    state: 'non-compliant',
    reasonCode: 'reported-non-compliant',
    reason: `${latest.detail}; the 60-minute grace period ended at ${iso(deadline)}`,
    graceDeadline: deadline,
    next: { ...verify, pollSecurityInfoAt: regularPoll(si?.at ?? latest.at) },
  };
}

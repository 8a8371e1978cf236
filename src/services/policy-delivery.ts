// Delivering each device's effective passcode policy without the user doing anything: for every
// device asked about, the effective policy (policies.ts) becomes the desired delivery on the channel
// chooseChannel picks, planDelivery (pure) says what to send given what the device last reported,
// and this module carries the plan out — InstallProfile with the profile signed when a signing
// identity is configured, RemoveProfile for lockwarden's own profile once nothing applies, a DDM
// sync after the declaration to serve was stored, ProfileList / SecurityInfo to verify — then
// stores the delivery records and re-assesses (compliance-assessment.ts).
//
// Devices that get the same bytes share one command: a policy change that reaches 100 000 devices
// queues one InstallProfile per distinct profile (one statement each, see command-queue-store.ts)
// and one audit event, not 100 000. Each device is pushed once per reconcile, after every command
// for it is queued. Work for one process is serialised, so two triggers for one device do not plan
// the same command twice.
//
// Order of writes: the delivery records and the outstanding-command rows are committed before the
// commands are queued, so whichever replica takes in a result finds what it belongs to. A command
// that then fails to queue leaves a record whose queue row never appears; the processor treats it
// as gone after a while and plans again (compliance-processor.ts).
import { signCms } from '../crypto/cms-signer.ts';
import type { SigningIdentity } from '../crypto/cms-signer.ts';
import {
  installProfileCommand, newCommandUuid, profileListCommand, removeProfileCommand, securityInfoCommand,
} from '../mdm/commands.ts';
import type { MdmLogger } from '../mdm/handler.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import type { Store } from '../store/database.ts';
import { NotEnrolledError } from '../store/errors.ts';
import type { ComplianceCommand, ComplianceCommandKind, ComplianceRecord, StoredDesired } from '../store/types.ts';
import { SYSTEM_ACTOR } from './audit-log.ts';
import type { AuditActor, AuditLog } from './audit-log.ts';
import { createBackgroundQueue } from './background-queue.ts';
import { enqueueAudited } from './command-enqueue.ts';
import { chooseChannel, DEFAULT_POLL_SCHEDULE, planDelivery } from './compliance/index.ts';
import type { DeviceFacts, PollSchedule } from './compliance/index.ts';
import {
  assessAndStore, ddmStatusOf, deliveryRecordOf, desiredStateOf, deviceFactsOf, newRecord, profileListOf,
} from './compliance-assessment.ts';
import type { ComplianceChange, ComplianceChangeListener } from './compliance-assessment.ts';
import type { DeclarationsProvider, DeclarativeService } from './declarative-service.ts';
import { EFFECTIVE_PROFILE_IDENTIFIER, effectiveDeclaration } from './policies.ts';
import type { PolicyService } from './policies.ts';

/** 'auto': chooseChannel decides (DDM where it is as capable as the profile); 'profile': never DDM. */
export type PasscodeChannelSetting = 'auto' | 'profile';

export interface PolicyDeliveryDeps {
  store: Store;
  audit: AuditLog;
  policies: Pick<PolicyService, 'effectivePolicy'>;
  declarative: Pick<DeclarativeService, 'requestSync'>;
  /** Wakes enrollments (runtime.push). */
  push: (enrollmentIds: string[]) => Promise<unknown>;
  /** Signs the profiles lockwarden installs; absent: they go unsigned. */
  signingIdentity?: SigningIdentity;
  now: () => number;
  log: MdmLogger;
  channel?: PasscodeChannelSetting;
  schedule?: PollSchedule;
  onChange?: ComplianceChangeListener;
  /** Devices per reconcile batch (default 200). */
  batchSize?: number;
}

export interface QueuedCompliance {
  requestType: ComplianceCommandKind;
  commandUuid: string;
  deviceIds: string[];
}

export interface ReconcileResult {
  /** Devices reconciled (unknown and checked-out devices are skipped). */
  devices: number;
  /** One entry per command queued; devices that got the same bytes share one. */
  commands: QueuedCompliance[];
  /** Devices pushed, once each. */
  pushed: string[];
  changes: ComplianceChange[];
}

export interface PolicyDelivery {
  /** Plans and sends what each device needs now, and re-assesses it. */
  reconcile(deviceIds: readonly string[], opts?: { actor?: AuditActor }): Promise<ReconcileResult>;
  /** reconcile, later: off the caller's path (in memory; never awaited by a device request). */
  schedule(deviceIds: Iterable<string>, actor?: AuditActor): void;
  /** Reconciles the devices whose next poll time has passed, `limit` at most. */
  pollDue(opts?: { limit?: number }): Promise<number>;
  /** What the DDM manifest serves each enrollment: its passcode declaration, if it has one. */
  declarationsFor: DeclarationsProvider;
  /** Resolves when nothing scheduled is left. */
  idle(): Promise<void>;
  /** Something is scheduled or being reconciled. */
  readonly busy: boolean;
  close(): Promise<void>;
}

/** The DDM provider: the declaration stored for the device channel, one primary-key read. */
export function servedDeclarations(store: Pick<Store, 'compliance'>): DeclarationsProvider {
  return async (enrollment) => {
    if (enrollment.channel !== 'device') return { configurations: [] };
    const served = await store.compliance.servedDeclaration(enrollment.deviceId);
    if (!served) return { configurations: [] };
    return { configurations: [served as { Type: string; Identifier: string; ServerToken: string; Payload: Record<string, unknown> }] };
  };
}

interface Plan {
  deviceId: string;
  facts: DeviceFacts;
  platform: string | null;
  desired: StoredDesired;
  channelReason: string | null;
  /** The declaration to serve, when the desired delivery is one. */
  declaration?: Record<string, unknown>;
  /** The unsigned profile, when an InstallProfile goes out. */
  profile?: { contentHash: string; bytes: Buffer };
  sends: ComplianceCommandKind[];
  /** Stop serving the old declaration (the plan removes it with this sync). */
  clearServed: boolean;
}

interface Group {
  kind: ComplianceCommandKind;
  commandUuid: string;
  /** Queue time: strictly increasing per command, so each device's queue keeps the plan's order. */
  at: number;
  deviceIds: string[];
  contentHash?: string;
  bytes?: Buffer;
}

const RECORDS_PER_TRANSACTION = 50;

const ORDER: readonly ComplianceCommandKind[] = ['InstallProfile', 'RemoveProfile', 'DeclarativeManagement', 'ProfileList', 'SecurityInfo'];

function sameVersion(a: StoredDesired, b: StoredDesired): boolean {
  return a.kind === b.kind && a.contentHash === b.contentHash;
}

export function createPolicyDelivery(deps: PolicyDeliveryDeps): PolicyDelivery {
  const { store, audit, policies, declarative, push, now, log } = deps;
  const schedule = deps.schedule ?? DEFAULT_POLL_SCHEDULE;
  const ddmAllowed = (deps.channel ?? 'auto') === 'auto';
  const batchSize = deps.batchSize ?? 200;
  let lastQueuedAt = 0;
  let chain: Promise<unknown> = Promise.resolve();
  let running = 0;
  // Signing is the slow part of a profile (PKI.js); a fleet-wide change signs each distinct profile once.
  const signed = new Map<string, Buffer>();

  const queueTime = () => (lastQueuedAt = Math.max(lastQueuedAt + 1, now()));

  async function signedBytes(contentHash: string, bytes: Buffer): Promise<Buffer> {
    if (!deps.signingIdentity) return bytes;
    let out = signed.get(contentHash);
    if (!out) {
      out = await signCms(bytes, deps.signingIdentity);
      if (signed.size >= 32) signed.delete(signed.keys().next().value!);
      signed.set(contentHash, out);
    }
    return out;
  }

  async function planDevice(deviceId: string, record: ComplianceRecord | undefined, outstanding: readonly ComplianceCommand[], at: number): Promise<Plan | undefined> {
    const effective = await policies.effectivePolicy(deviceId);
    if (!effective) return undefined;
    const facts = deviceFactsOf({ id: deviceId, platform: effective.device.platform, enrollmentKind: effective.device.enrollment, osVersion: effective.device.osVersion });
    const blank: StoredDesired = { kind: 'none', reason: null, identifier: null, contentHash: null, profileUuid: null, payloadUuids: null, serverToken: null, since: null };
    const current = record ?? newRecord(deviceId, effective.device.platform, at);
    let desired: StoredDesired = blank;
    let declaration: Record<string, unknown> | undefined;
    let profile: Plan['profile'];
    let channelReason: string | null = null;
    if (effective.status === 'not-applicable') {
      desired = { ...blank, kind: 'not-applicable', reason: effective.reason };
    } else if (effective.status === 'compiled') {
      const choice = chooseChannel(facts, ddmAllowed);
      const ddm = choice.channel === 'ddm' ? effectiveDeclaration(effective.compiled) : undefined;
      if (ddm?.ok) {
        const d = ddm.declaration;
        desired = { ...blank, kind: 'ddm', identifier: d.Identifier, contentHash: d.ServerToken, serverToken: d.ServerToken };
        declaration = { ...d };
        channelReason = choice.reason;
      } else {
        const p = effective.profile;
        desired = { ...blank, kind: 'profile', identifier: p.identifier, contentHash: p.sha256, profileUuid: p.uuid, payloadUuids: p.payloadUuids };
        profile = { contentHash: p.sha256, bytes: p.bytes };
        channelReason = choice.channel === 'profile' ? choice.reason : `configuration profile: ${ddm && !ddm.ok ? ddm.reason : choice.reason}`;
      }
    }
    // A version keeps the time it was first decided: evidence after it counts for it.
    if (desired.kind === 'profile' || desired.kind === 'ddm') desired.since = sameVersion(current.desired, desired) ? current.desired.since ?? at : at;

    const working: ComplianceRecord = { ...current, desired, ...(declaration && { servedDeclaration: declaration }) };
    const list = profileListOf(working);
    // A listing older than the last InstallProfile cannot say what is installed now.
    const lastInstall = working.delivery?.command === 'InstallProfile' ? working.delivery.queuedAt : undefined;
    const installed = list && (lastInstall === undefined || list.at >= lastInstall) ? list : undefined;
    const declarations = ddmStatusOf(working)?.declarations;
    const served = working.servedDeclaration;
    const delivery = deliveryRecordOf(working);
    const plan = planDelivery({
      device: facts,
      desired: desiredStateOf(working),
      ...(installed && { installed }),
      ...(declarations && { declarations }),
      previouslyManagedIdentifiers: working.profileManaged ? [EFFECTIVE_PROFILE_IDENTIFIER] : [],
      previouslyManagedDeclarations: served && desired.kind !== 'ddm' ? [String(served.Identifier)] : [],
      ddmSupported: ddmAllowed,
      ...(delivery && { delivery }),
    });
    for (const note of plan.notes) log.debug({ deviceId, note }, 'delivery plan note');

    const waiting = new Set(outstanding.map((c) => c.kind));
    const sends = new Set<ComplianceCommandKind>();
    let clearServed = false;
    for (const action of plan.actions) {
      switch (action.kind) {
        case 'install-profile':
          sends.add('InstallProfile');
          break;
        case 'remove-profile':
          // planDelivery does not know a removal is already on its way.
          if (!waiting.has('RemoveProfile')) sends.add('RemoveProfile');
          break;
        case 'ddm-sync':
          if (desired.kind === 'ddm' || !waiting.has('DeclarativeManagement')) sends.add('DeclarativeManagement');
          if (desired.kind !== 'ddm') clearServed = true;
          break;
        case 'profile-list':
          if (!waiting.has('ProfileList')) sends.add('ProfileList');
          break;
        case 'security-info':
          if (!waiting.has('SecurityInfo')) sends.add('SecurityInfo');
          break;
      }
    }
    // Scheduled polls (the assessment's next times), unless one of that kind is still out.
    const due = (t: number | null) => t !== null && t <= at;
    if (due(current.nextProfileListAt) && !waiting.has('ProfileList')) sends.add('ProfileList');
    if (due(current.nextSecurityInfoAt) && !waiting.has('SecurityInfo')) sends.add('SecurityInfo');

    return {
      deviceId,
      facts,
      platform: effective.device.platform,
      desired,
      channelReason,
      ...(declaration && { declaration }),
      ...(profile && sends.has('InstallProfile') && { profile }),
      sends: ORDER.filter((k) => sends.has(k)),
      clearServed,
    };
  }

  async function commandBody(group: Group): Promise<Buffer> {
    switch (group.kind) {
      case 'InstallProfile':
        return Buffer.from(encodePlist(installProfileCommand({ Payload: await signedBytes(group.contentHash!, group.bytes!) }, group.commandUuid)));
      case 'RemoveProfile':
        return Buffer.from(encodePlist(removeProfileCommand({ Identifier: EFFECTIVE_PROFILE_IDENTIFIER }, group.commandUuid)));
      case 'ProfileList':
        // Managed profiles only: lockwarden looks for its own, and the answer stays small.
        return Buffer.from(encodePlist(profileListCommand({ ManagedOnly: true }, group.commandUuid)));
      case 'SecurityInfo':
        return Buffer.from(encodePlist(securityInfoCommand({}, group.commandUuid)));
      case 'DeclarativeManagement':
        throw new Error('DeclarativeManagement is queued by the declarative service');
    }
  }

  async function enqueue(group: Group, actor: AuditActor): Promise<string[]> {
    let ids = group.deviceIds;
    for (let attempt = 0; attempt < 2 && ids.length > 0; attempt++) {
      try {
        if (group.kind === 'DeclarativeManagement') {
          await declarative.requestSync(ids, { actor, push: false, commandUuid: group.commandUuid });
        } else {
          await enqueueAudited(store, audit, actor, { uuid: group.commandUuid, requestType: group.kind, body: await commandBody(group) }, ids, { now: group.at });
        }
        return ids;
      } catch (err) {
        // A device that checked out meanwhile must not keep the command from the others.
        if (!(err instanceof NotEnrolledError) || attempt > 0) throw err;
        const gone = new Set(err.enrollmentIds);
        ids = ids.filter((id) => !gone.has(id));
      }
    }
    return [];
  }

  async function reconcileBatch(deviceIds: readonly string[], actor: AuditActor): Promise<ReconcileResult> {
    const at = now();
    const result: ReconcileResult = { devices: 0, commands: [], pushed: [], changes: [] };
    const enrolled: string[] = [];
    const stale: string[] = [];
    for (const id of new Set(deviceIds)) {
      const enrollment = await store.enrollments.get(id);
      if (enrollment?.enabled && enrollment.channel === 'device') enrolled.push(id);
      else stale.push(id);
    }
    const records = await store.compliance.getMany([...enrolled, ...stale]);
    // Nothing can be asked of a device that is not enrolled: its polls stop until it comes back.
    for (const id of stale) {
      const record = records.get(id);
      if (record && (record.nextProfileListAt !== null || record.nextSecurityInfoAt !== null)) {
        await store.compliance.put({ ...record, nextProfileListAt: null, nextSecurityInfoAt: null, updatedAt: at });
      }
    }
    const outstanding = new Map<string, ComplianceCommand[]>();
    for (const c of await store.compliance.outstanding(enrolled)) outstanding.set(c.enrollmentId, [...(outstanding.get(c.enrollmentId) ?? []), c]);

    const plans: Plan[] = [];
    for (const id of enrolled) {
      const plan = await planDevice(id, records.get(id), outstanding.get(id) ?? [], at);
      if (plan) plans.push(plan);
    }
    result.devices = plans.length;

    // One command per distinct content: every device with the same profile shares its InstallProfile.
    const groups: Group[] = [];
    const installs = new Map<string, Group>();
    const shared = new Map<ComplianceCommandKind, Group>();
    const groupFor = new Map<string, Group>();
    for (const kind of ORDER) {
      for (const plan of plans) {
        if (!plan.sends.includes(kind)) continue;
        let group: Group | undefined;
        if (kind === 'InstallProfile') {
          const hash = plan.profile!.contentHash;
          group = installs.get(hash);
          if (!group) {
            group = { kind, commandUuid: newCommandUuid(), at: queueTime(), deviceIds: [], contentHash: hash, bytes: plan.profile!.bytes };
            installs.set(hash, group);
            groups.push(group);
          }
        } else {
          group = shared.get(kind);
          if (!group) {
            group = { kind, commandUuid: newCommandUuid(), at: queueTime(), deviceIds: [] };
            shared.set(kind, group);
            groups.push(group);
          }
        }
        group.deviceIds.push(plan.deviceId);
        groupFor.set(`${kind}\n${plan.deviceId}`, group);
      }
    }
    const groupOf = (deviceId: string, kind: ComplianceCommandKind) => groupFor.get(`${kind}\n${deviceId}`)!;

    // Records first (see the header), then the commands. A few devices per transaction: on SQLite a
    // transaction holds the write lock, and check-ins must not wait behind a fleet-wide change.
    for (let i = 0; i < plans.length; i += RECORDS_PER_TRANSACTION) {
      await store.transaction(async (tx) => {
        for (const plan of plans.slice(i, i + RECORDS_PER_TRANSACTION)) {
          const locked = await tx.compliance.lock(plan.deviceId);
          const record: ComplianceRecord = { ...(locked ?? newRecord(plan.deviceId, plan.platform, at)) };
          record.platform = plan.platform;
          record.channelReason = plan.channelReason;
          record.desired = sameVersion(record.desired, plan.desired) ? { ...plan.desired, since: record.desired.since } : plan.desired;
          if (plan.declaration) record.servedDeclaration = plan.declaration;
          else if (plan.clearServed) record.servedDeclaration = null;
          const commands: ComplianceCommand[] = [];
          for (const kind of plan.sends) {
            const group = groupOf(plan.deviceId, kind);
            commands.push({ enrollmentId: plan.deviceId, commandUuid: group.commandUuid, kind, contentHash: group.contentHash ?? null, queuedAt: group.at, seenStatus: null });
            const delivers = kind === 'InstallProfile' || (kind === 'DeclarativeManagement' && record.desired.kind === 'ddm');
            if (!delivers) continue;
            record.delivery = {
              command: kind as 'InstallProfile' | 'DeclarativeManagement',
              commandUuid: group.commandUuid,
              contentHash: record.desired.contentHash!,
              queuedAt: group.at,
              resultStatus: null,
              resultAt: null,
              errorChain: null,
            };
            if (kind === 'InstallProfile') record.profileManaged = true;
            // The assessment asked for this delivery because the policy had left the device.
            if (record.reinstallDue) {
              record.reinstallCount += 1;
              record.reinstallDue = false;
            }
          }
          await tx.compliance.addCommands(commands);
          const assessed = await assessAndStore(tx, record, plan.facts, { now: at, schedule });
          if (assessed.change) result.changes.push(assessed.change);
        }
      });
    }

    const toPush = new Set<string>();
    for (const group of groups) {
      try {
        const queued = await enqueue(group, actor);
        result.commands.push({ requestType: group.kind, commandUuid: group.commandUuid, deviceIds: queued });
        for (const id of queued) toPush.add(id);
      } catch (err) {
        log.error({ err, requestType: group.kind, commandUuid: group.commandUuid, devices: group.deviceIds.length }, 'compliance command not queued; it is planned again later');
      }
    }
    for (const change of result.changes) deps.onChange?.(change);
    result.pushed = [...toPush];
    if (result.pushed.length > 0) {
      try {
        await push(result.pushed);
      } catch (err) {
        // The commands stay queued; the devices fetch them at their next check-in.
        log.warn({ err, devices: result.pushed.length }, 'push after compliance commands failed');
      }
    }
    return result;
  }

  async function reconcileNow(deviceIds: readonly string[], actor: AuditActor): Promise<ReconcileResult> {
    const total: ReconcileResult = { devices: 0, commands: [], pushed: [], changes: [] };
    const ids = [...new Set(deviceIds)];
    for (let i = 0; i < ids.length; i += batchSize) {
      const part = await reconcileBatch(ids.slice(i, i + batchSize), actor);
      total.devices += part.devices;
      total.commands.push(...part.commands);
      total.pushed.push(...part.pushed);
      total.changes.push(...part.changes);
    }
    return total;
  }

  /** One reconcile at a time in this process. */
  function serialised<T>(work: () => Promise<T>): Promise<T> {
    running++;
    const run = chain.then(work, work).finally(() => { running--; });
    chain = run.catch(() => undefined);
    return run;
  }

  const reconcile: PolicyDelivery['reconcile'] = (deviceIds, opts = {}) => serialised(() => reconcileNow(deviceIds, opts.actor ?? SYSTEM_ACTOR));

  const scheduled = createBackgroundQueue<AuditActor>(async (batch) => {
    // One reconcile per actor, so each command's audit event names who caused it.
    const byActor = new Map<string, { actor: AuditActor; ids: string[] }>();
    for (const [id, actor] of batch) {
      const entry = byActor.get(actor.id) ?? { actor, ids: [] };
      entry.ids.push(id);
      byActor.set(actor.id, entry);
    }
    for (const { actor, ids } of byActor.values()) await reconcile(ids, { actor });
  }, { batchSize, onError: (err) => log.error({ err }, 'scheduled policy delivery failed') });

  return {
    reconcile,
    schedule(deviceIds, actor = SYSTEM_ACTOR) {
      for (const id of deviceIds) scheduled.add(id, actor);
    },
    async pollDue({ limit = 1000 } = {}) {
      const due = await store.compliance.dueForPoll(now(), limit);
      if (due.length > 0) await reconcile(due);
      return due.length;
    },
    declarationsFor: servedDeclarations(store),
    async idle() {
      await scheduled.idle();
      await chain;
    },
    async close() {
      await scheduled.close();
      await chain;
    },
    get busy() {
      return scheduled.busy || running > 0;
    },
  };
}

// Policy delivery and the compliance processor over a real store, without HTTP: devices are rows
// (Authenticate + TokenUpdate), a device's answer is a result written into the queue as
// PUT /mdm/connect would, pushes are recorded, and the clock is a number the test moves. For the
// service tests of reconcile and of taking results in, on both databases.
import { randomBytes } from 'node:crypto';
import { encodePlist, decodePlist } from '../../src/plist/plist-codec.ts';
import { createAuditLog } from '../../src/services/audit-log.ts';
import type { AuditLog } from '../../src/services/audit-log.ts';
import { createComplianceProcessor } from '../../src/services/compliance-processor.ts';
import type { ComplianceProcessor } from '../../src/services/compliance-processor.ts';
import { createDeclarativeService } from '../../src/services/declarative-service.ts';
import type { DeclarativeService } from '../../src/services/declarative-service.ts';
import { withDeliveryTriggers } from '../../src/services/delivery-triggers.ts';
import { createPolicyService, EFFECTIVE_PROFILE_IDENTIFIER } from '../../src/services/policies.ts';
import type { PolicyService } from '../../src/services/policies.ts';
import { createPolicyDelivery, servedDeclarations } from '../../src/services/policy-delivery.ts';
import type { PasscodeChannelSetting, PolicyDelivery } from '../../src/services/policy-delivery.ts';
import type { ComplianceChange } from '../../src/services/compliance-assessment.ts';
import type { Store } from '../../src/store/database.ts';
import type { QueuedCommand, ReportStatus } from '../../src/store/types.ts';

export const ADMIN = { id: 'token-admin', name: 'admin' };
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

export interface World {
  store: Store;
  audit: AuditLog;
  /** The policy service with delivery triggers, as the runtime has it. */
  policies: PolicyService;
  declarative: DeclarativeService;
  delivery: PolicyDelivery;
  processor: ComplianceProcessor;
  /** Each push() call's enrollment ids. */
  pushes: string[][];
  changes: ComplianceChange[];
  now(): number;
  advance(ms: number): void;
  /** A device channel that has completed enrollment. */
  enroll(id: string, facts?: { platform?: string | null; productName?: string; osVersion?: string }): Promise<void>;
  /** The device's queue, oldest first, that it has not answered yet. */
  pendingCommands(id: string): Promise<QueuedCommand[]>;
  /** The device answers one command (as PUT /mdm/connect stores it). */
  answer(id: string, commandUuid: string, status: ReportStatus, response?: Record<string, unknown>): Promise<void>;
  /** The command's body as queued. */
  body(id: string, commandUuid: string): Promise<Record<string, unknown> & { Command: Record<string, unknown> }>;
  /** A ProfileList answer holding the effective profile (with its payload UUIDs), or nothing. */
  profileList(id: string, options?: { installed?: boolean; payloadUuids?: string[] }): Promise<Record<string, unknown>>;
  securityInfo(compliant: boolean): Record<string, unknown>;
  createPolicy(name: string, policy: unknown): Promise<string>;
  /** Delivery and the processor have nothing queued. */
  settle(): Promise<void>;
  /** Stops delivery and the processor (the store is the caller's to close). */
  close(): Promise<void>;
}

export async function openWorld(store: Store, options: { channel?: PasscodeChannelSetting } = {}): Promise<World> {
  let t = 1_800_000_000_000;
  const now = () => t;
  const audit = createAuditLog(store, randomBytes(32), now);
  const plain = createPolicyService(store, audit, now);
  const declarative = createDeclarativeService({ store, audit, now, declarationsFor: servedDeclarations(store) });
  const pushes: string[][] = [];
  const changes: ComplianceChange[] = [];
  const delivery = createPolicyDelivery({
    store, audit, now, log: SILENT, policies: plain, declarative,
    push: async (ids) => { pushes.push([...ids]); },
    channel: options.channel ?? 'profile',
    onChange: (c) => changes.push(c),
  });
  const processor = createComplianceProcessor({ store, now, log: SILENT, reconcile: (ids) => delivery.schedule(ids), onChange: (c) => changes.push(c) });
  const policies = withDeliveryTriggers(plain, store, (ids, actor) => delivery.schedule(ids, actor));

  const world: World = {
    store, audit, policies, declarative, delivery, processor, pushes, changes, now,
    advance(ms) { t += ms; },
    async enroll(id, facts = {}) {
      await store.enrollments.authenticate({
        deviceId: id, type: 'Device', topic: 't', certHash: `cert-${id}`, now: t,
        platform: facts.platform === undefined ? 'ios' : facts.platform, productName: facts.productName ?? 'iPhone17,1', osVersion: facts.osVersion ?? '18.1',
      });
      await store.enrollments.tokenUpdate({ enrollmentId: id, deviceId: id, channel: 'device', type: 'Device', topic: 't', pushToken: randomBytes(32), pushMagic: 'magic', now: t });
    },
    async pendingCommands(id) {
      return (await store.commands.list(id, { limit: 100 })).filter((c) => c.status === 'pending' || c.status === 'NotNow').reverse();
    },
    async answer(id, commandUuid, status, response = {}) {
      const report = { UDID: id, Status: status, CommandUUID: commandUuid, ...response };
      if (!(await store.commands.report(id, commandUuid, status, Buffer.from(encodePlist(report)), t))) throw new Error(`${commandUuid} is not queued for ${id}`);
    },
    async body(id, commandUuid) {
      const queued = await store.commands.get(id, commandUuid);
      if (!queued) throw new Error(`${commandUuid} is not queued for ${id}`);
      return decodePlist(queued.body) as Record<string, unknown> & { Command: Record<string, unknown> };
    },
    async profileList(id, { installed = true, payloadUuids } = {}) {
      const effective = await plain.effectivePolicy(id);
      if (!installed || effective?.status !== 'compiled') return { ProfileList: [] };
      const uuids = payloadUuids ?? effective.profile.payloadUuids;
      return {
        ProfileList: [{
          PayloadIdentifier: EFFECTIVE_PROFILE_IDENTIFIER,
          PayloadUUID: effective.profile.uuid,
          PayloadContent: uuids.map((u, i) => ({ PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadIdentifier: `${EFFECTIVE_PROFILE_IDENTIFIER}.${i}`, PayloadUUID: u })),
        }],
      };
    },
    securityInfo(compliant) {
      return { SecurityInfo: { PasscodePresent: true, PasscodeCompliant: compliant, PasscodeCompliantWithProfiles: compliant } };
    },
    async createPolicy(name, policy) {
      const created = await policies.create(ADMIN, { name, policy });
      if (!created.ok) throw new Error(`create ${name}: ${JSON.stringify(created)}`);
      return created.policy.id;
    },
    async settle() {
      do {
        await processor.idle();
        await delivery.idle();
      } while (processor.busy || delivery.busy);
    },
    async close() {
      await delivery.close();
      await processor.close();
    },
  };
  return world;
}

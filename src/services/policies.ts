// Stored passcode policies as an administrator manages them: written in either key style and
// validated by the policy engine (every error at once), versioned, assigned to devices, groups or
// the whole fleet, each change audited in its own transaction; and each device's effective
// policy: everything assigned to it, merged strictest-wins and compiled for what the device is.

import { createHash } from 'node:crypto';
import {
  compileDeclaration, compilePolicy, explainPolicy, importPolicy, isVersion, mergeRequirements, PLATFORMS, profileContent, toPolicyDocument,
} from '../policy/index.ts';
import type {
  CompiledPolicy, CompileTarget, Declaration, Explanation, PasscodePolicy, PasscodeRequirements, ParseResult, Platform, PolicyError,
  PolicyMeta, PolicyNote, RequirementKey,
} from '../policy/index.ts';
import { buildProfile } from '../plist/mobileconfig.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import type { Store } from '../store/database.ts';
import { DuplicateKeyError, PolicyVersionConflictError, UnknownPolicyError } from '../store/errors.ts';
import { newPolicyId } from '../store/policy-store.ts';
import type {
  AssignmentTarget, Device, EnrollmentKind, PolicyAssignment, PolicyVersion, PolicyVersionSummary, StoredPolicy,
} from '../store/types.ts';
import type { AuditActor, AuditDetails, AuditLog } from './audit-log.ts';
import { readPolicySource } from './policy-source.ts';

/**
 * The PayloadIdentifier of the one passcode profile lockwarden keeps on each device. Nothing in
 * it names a device or a policy: whatever the device's policies become, the next profile has the
 * same identifier and replaces the installed one in place.
 */
export const EFFECTIVE_PROFILE_IDENTIFIER = 'com.lockwarden.passcode';

/**
 * The effective profile's envelope. Constant on purpose: its bytes must follow the compiled
 * requirements alone, so the same requirements give the same bytes whichever policies they came from.
 */
const EFFECTIVE_PROFILE_META: PolicyMeta = {
  identifier: EFFECTIVE_PROFILE_IDENTIFIER,
  displayName: 'Passcode policy',
  description: 'The passcode policy your organisation manages on this device with lockwarden.',
};

/**
 * The effective policy as a passcode settings declaration (the DDM channel), with the same
 * constant envelope as the profile, so its Identifier is the same on every device and its
 * ServerToken follows the compiled requirements alone.
 */
export function effectiveDeclaration(compiled: CompiledPolicy): { ok: true; declaration: Declaration } | { ok: false; reason: string } {
  const outcome = compileDeclaration(compiled, EFFECTIVE_PROFILE_META);
  return outcome.ok ? { ok: true, declaration: outcome.declaration } : outcome;
}

export const PLATFORM_NOT_KNOWN = 'platform not known yet (no Authenticate with a ProductName)';

/** A policy as a version holds it, read back in the engine's terms. */
export function policyOf(version: PolicyVersion): PasscodePolicy {
  // Written by this service from the engine's own output, so read back as such.
  return { meta: version.meta as PolicyMeta, requirements: version.requirements as PasscodeRequirements };
}

export type PolicyWriteOutcome =
  | { ok: true; policy: StoredPolicy; notes: PolicyNote[]; explanation: Explanation }
  | { ok: false; reason: 'invalid'; errors: PolicyError[]; notes: PolicyNote[] }
  | { ok: false; reason: 'name-taken' | 'unknown' }
  | { ok: false; reason: 'conflict'; currentVersion: number };

export type AssignOutcome =
  | { ok: true; assignment: PolicyAssignment; created: boolean }
  | { ok: false; reason: 'unknown-policy' | 'unknown-device' };

export type UnassignOutcome = { ok: true } | { ok: false; reason: 'unknown-policy' | 'not-assigned' };

/** One line of the per-platform summary: can the policy go there, and what it loses there. */
export interface ExplainSummaryLine {
  name: string;
  platform: Platform;
  enrollment: CompileTarget['enrollment'];
  deliverable: boolean;
  refused?: string;
  /** Requirements not enforced exactly as written (capped, approximated, forced, not enforceable). */
  gaps: Array<{ requirement: RequirementKey; status: string; detail: string }>;
}

/** A policy version that contributes to a device's effective policy. */
export interface PolicySource {
  policyId: string;
  name: string;
  version: number;
}

export interface EffectiveDevice {
  udid: string;
  platform: string | null;
  enrollment: EnrollmentKind;
  osVersion: string | null;
}

export interface EffectiveProfile {
  identifier: string;
  /** The profile's PayloadUUID: follows the identifier only. */
  uuid: string;
  /** Each passcode payload's PayloadUUID: follows its content, so any change gives new ones. */
  payloadUuids: string[];
  /** SHA-256 of the .mobileconfig bytes, hex. */
  sha256: string;
  /** The unsigned .mobileconfig (XML plist). */
  bytes: Buffer;
}

interface Merged {
  device: EffectiveDevice;
  /** The strictest value of each key over every assigned policy. */
  requirements: PasscodeRequirements;
  /** For each key, the policy versions whose value it is. */
  sources: Partial<Record<RequirementKey, PolicySource[]>>;
  /** Every policy assigned to the device, and how it reaches it. */
  policies: Array<PolicySource & { via: AssignmentTarget[] }>;
}

export type EffectivePolicy =
  | { status: 'none'; device: EffectiveDevice }
  | (Merged & { status: 'not-applicable'; reason: string })
  | (Merged & { status: 'compiled'; target: CompileTarget; compiled: CompiledPolicy; profile: EffectiveProfile });

export interface PolicyService {
  /** `policy`: a dictionary in either key style (or a profile / declaration), or its JSON/YAML/plist text. */
  create(actor: AuditActor, input: { name: string; policy: unknown }): Promise<PolicyWriteOutcome>;
  /** A new version; with `expectedVersion`, only if the policy is still at that version. */
  update(actor: AuditActor, id: string, input: { policy: unknown; expectedVersion?: number }): Promise<PolicyWriteOutcome>;
  /** The policy as it was, or undefined when there was no live policy with this id. */
  delete(actor: AuditActor, id: string): Promise<StoredPolicy | undefined>;
  get(id: string): Promise<{ policy: StoredPolicy; versions: PolicyVersionSummary[] } | undefined>;
  list(opts: { limit: number; afterName?: string }): Promise<StoredPolicy[]>;
  /** A version of a live policy. */
  version(id: string, version: number): Promise<PolicyVersion | undefined>;
  explain(id: string): Promise<{ policy: StoredPolicy; explanation: Explanation } | undefined>;
  assign(actor: AuditActor, id: string, target: AssignmentTarget): Promise<AssignOutcome>;
  unassign(actor: AuditActor, id: string, target: AssignmentTarget): Promise<UnassignOutcome>;
  assignments(id: string): Promise<PolicyAssignment[] | undefined>;
  /** Replaces the device's groups; undefined for an unknown device. */
  setDeviceGroups(actor: AuditActor, udid: string, groups: readonly string[]): Promise<string[] | undefined>;
  groupsOf(udid: string): Promise<string[]>;
  /** Undefined for an unknown device. */
  effectivePolicy(udid: string): Promise<EffectivePolicy | undefined>;
}

/** The engine's per-platform matrix, reduced to what an administrator checks after a change. */
export function explainSummary(explanation: Explanation): ExplainSummaryLine[] {
  return explanation.columns.map((column) => ({
    name: column.name,
    platform: column.target.platform,
    enrollment: column.target.enrollment,
    deliverable: column.refused === undefined,
    ...(column.refused !== undefined && { refused: column.refused }),
    gaps: column.lines
      .filter((line) => line.status !== 'enforced')
      .map((line) => ({ requirement: line.requirement, status: line.status, detail: line.detail })),
  }));
}

/** JSON or YAML text (or a plist) goes through the same reader as `lockwarden policy validate`. */
async function readPolicyInput(input: unknown): Promise<ParseResult<PasscodePolicy>> {
  if (typeof input === 'string') return readPolicySource(Buffer.from(input, 'utf8'));
  return importPolicy(input);
}

function identifierKeyOf(input: unknown): string {
  return typeof input === 'object' && input !== null && 'Identifier' in input ? 'Identifier' : 'PayloadIdentifier';
}

function storedVersion(policy: PasscodePolicy, identifier: string) {
  const meta: PolicyMeta = { ...policy.meta, identifier };
  return {
    // toPolicyDocument writes keys in the engine's fixed order, so equal policies store equal text.
    document: toPolicyDocument({ meta, requirements: policy.requirements }),
    requirements: policy.requirements as Record<string, unknown>,
    meta: meta as Record<string, unknown>,
  };
}

function targetDetails(target: AssignmentTarget): AuditDetails {
  switch (target.kind) {
    case 'device': return { kind: 'device', udid: target.udid };
    case 'group': return { kind: 'group', group: target.group };
    case 'all': return { kind: 'all' };
  }
}

function effectiveDevice(device: Device): EffectiveDevice {
  return { udid: device.id, platform: device.platform, enrollment: device.enrollmentKind, osVersion: device.osVersion };
}

function knownPlatform(platform: string | null): Platform | undefined {
  return PLATFORMS.find((p) => p === platform);
}

export function createPolicyService(store: Store, audit: AuditLog, now: () => number = Date.now): PolicyService {
  return {
    async create(actor, { name, policy }) {
      const parsed = await readPolicyInput(policy);
      if (!parsed.ok) return { ok: false, reason: 'invalid', errors: parsed.errors, notes: parsed.notes };
      const id = newPolicyId();
      const identifier = parsed.value.meta.identifier ?? `com.lockwarden.policy.${id}`;
      try {
        const created = await store.transaction(async (tx) => {
          const stored = await tx.policies.create({ id, name, identifier, ...storedVersion(parsed.value, identifier), createdBy: actor.id, now: now() });
          await audit.record(actor, 'policy.create', stored.id, { name, identifier, version: 1 }, tx);
          return stored;
        });
        return { ok: true, policy: created, notes: parsed.notes, explanation: explainPolicy(parsed.value.requirements) };
      } catch (err) {
        if (err instanceof DuplicateKeyError) return { ok: false, reason: 'name-taken' };
        throw err;
      }
    },

    async update(actor, id, { policy, expectedVersion }) {
      const current = await store.policies.get(id);
      if (!current) return { ok: false, reason: 'unknown' };
      const parsed = await readPolicyInput(policy);
      if (!parsed.ok) return { ok: false, reason: 'invalid', errors: parsed.errors, notes: parsed.notes };
      const given = parsed.value.meta.identifier;
      if (given !== undefined && given !== current.identifier) {
        // The identifier is what replaces an installed profile in place; changing it would leave
        // the old profile behind on every device.
        return {
          ok: false, reason: 'invalid', notes: parsed.notes,
          errors: [{ path: identifierKeyOf(policy), value: given, message: 'is fixed when the policy is created; every version keeps it', allowed: current.identifier }],
        };
      }
      try {
        const updated = await store.transaction(async (tx) => {
          const stored = await tx.policies.addVersion(id, {
            ...storedVersion(parsed.value, current.identifier), createdBy: actor.id, now: now(),
            ...(expectedVersion !== undefined && { expectedVersion }),
          });
          await audit.record(actor, 'policy.update', id, { name: stored.name, fromVersion: stored.currentVersion - 1, toVersion: stored.currentVersion }, tx);
          return stored;
        });
        return { ok: true, policy: updated, notes: parsed.notes, explanation: explainPolicy(parsed.value.requirements) };
      } catch (err) {
        if (err instanceof PolicyVersionConflictError) return { ok: false, reason: 'conflict', currentVersion: err.currentVersion };
        if (err instanceof UnknownPolicyError) return { ok: false, reason: 'unknown' };
        throw err;
      }
    },

    async delete(actor, id) {
      return store.transaction(async (tx) => {
        const deleted = await tx.policies.delete(id, now());
        if (deleted) await audit.record(actor, 'policy.delete', id, { name: deleted.name, version: deleted.currentVersion }, tx);
        return deleted;
      });
    },

    async get(id) {
      const policy = await store.policies.get(id);
      return policy && { policy, versions: await store.policies.versions(id) };
    },

    list: (opts) => store.policies.list(opts),

    async version(id, version) {
      if (!(await store.policies.get(id))) return undefined;
      return store.policies.version(id, version);
    },

    async explain(id) {
      const policy = await store.policies.get(id);
      return policy && { policy, explanation: explainPolicy(policyOf(policy.current).requirements) };
    },

    async assign(actor, id, target) {
      const policy = await store.policies.get(id);
      if (!policy) return { ok: false, reason: 'unknown-policy' };
      if (target.kind === 'device' && !(await store.enrollments.getDevice(target.udid))) return { ok: false, reason: 'unknown-device' };
      try {
        return await store.transaction(async (tx) => {
          const result = await tx.policies.assign(id, target, { createdBy: actor.id, now: now() });
          // Idempotent: assigning again changes nothing, so records nothing.
          if (result.created) await audit.record(actor, 'policy.assign', id, { name: policy.name, ...targetDetails(target) }, tx);
          return { ok: true as const, ...result };
        });
      } catch (err) {
        if (err instanceof UnknownPolicyError) return { ok: false, reason: 'unknown-policy' };
        throw err;
      }
    },

    async unassign(actor, id, target) {
      const policy = await store.policies.get(id);
      if (!policy) return { ok: false, reason: 'unknown-policy' };
      return store.transaction(async (tx) => {
        if (!(await tx.policies.unassign(id, target))) return { ok: false, reason: 'not-assigned' };
        await audit.record(actor, 'policy.unassign', id, { name: policy.name, ...targetDetails(target) }, tx);
        return { ok: true };
      });
    },

    async assignments(id) {
      if (!(await store.policies.get(id))) return undefined;
      return store.policies.assignmentsOf(id);
    },

    async setDeviceGroups(actor, udid, groups) {
      return store.transaction(async (tx) => {
        const changed = await tx.policies.setDeviceGroups(udid, groups);
        if (!changed) return undefined;
        const added = changed.after.filter((g) => !changed.before.includes(g));
        const removed = changed.before.filter((g) => !changed.after.includes(g));
        if (added.length > 0 || removed.length > 0) {
          await audit.record(actor, 'device.groups', udid, { groups: changed.after, added, removed }, tx);
        }
        return changed.after;
      });
    },

    groupsOf: (udid) => store.policies.groupsOf(udid),

    async effectivePolicy(udid) {
      const device = await store.enrollments.getDevice(udid);
      if (!device) return undefined;
      const assigned = await store.policies.policiesForDevice(udid);
      if (assigned.length === 0) return { status: 'none', device: effectiveDevice(device) };

      const policies = assigned.map((p) => ({ policyId: p.policyId, name: p.name, version: p.version, via: p.via }));
      const merge = mergeRequirements(assigned.map((p) => p.requirements as PasscodeRequirements));
      const sources: Merged['sources'] = {};
      for (const [key, indexes] of Object.entries(merge.sources) as Array<[RequirementKey, number[]]>) {
        sources[key] = indexes.map((i) => ({ policyId: policies[i]!.policyId, name: policies[i]!.name, version: policies[i]!.version }));
      }
      const merged: Merged = { device: effectiveDevice(device), requirements: merge.requirements, sources, policies };

      const platform = knownPlatform(device.platform);
      if (!platform) {
        const reason = device.platform === null ? PLATFORM_NOT_KNOWN : `platform ${JSON.stringify(device.platform)} is not one lockwarden knows`;
        return { status: 'not-applicable', reason, ...merged };
      }
      // The OS version matters where a key arrived later (customRegex on macOS 14): compiled for
      // the version the device runs, a key it would ignore is reported, not claimed.
      const osVersion = device.osVersion !== null && isVersion(device.osVersion) ? device.osVersion : undefined;
      const target: CompileTarget = { platform, enrollment: device.enrollmentKind, ...(osVersion && { osVersion }) };
      const outcome = compilePolicy(merge.requirements, target);
      if (!outcome.ok) return { status: 'not-applicable', reason: outcome.reason, ...merged };

      const content = profileContent(outcome.compiled, EFFECTIVE_PROFILE_META);
      const bytes = Buffer.from(encodePlist(buildProfile(content)), 'utf8');
      return {
        status: 'compiled',
        ...merged,
        target,
        compiled: outcome.compiled,
        profile: {
          identifier: content.identifier,
          uuid: content.uuid,
          payloadUuids: content.payloads.map((payload) => String(payload.PayloadUUID)),
          sha256: createHash('sha256').update(bytes).digest('hex'),
          bytes,
        },
      };
    },
  };
}

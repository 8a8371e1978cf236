// Stored passcode policies: every version kept, the current one named by the policy row; group
// names on devices; assignments of a policy to a device, a group or the whole fleet; and the two
// questions delivery asks at fan-out time — which policies reach this device, which devices does
// this policy reach. Policies are opaque JSON here: the service validates them with the engine.

import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { atomically } from './atomically.ts';
import { DuplicateKeyError, isUniqueViolation, PolicyVersionConflictError, UnknownPolicyError } from './errors.ts';
import { precompile } from './precompiled.ts';
import type { Database, PoliciesTable, PolicyAssignmentsTable } from './schema.ts';
import type {
  AssignedPolicy,
  AssignmentKind,
  AssignmentTarget,
  NewPolicy,
  NewPolicyVersion,
  PolicyAssignment,
  PolicyVersion,
  PolicyVersionSummary,
  StoreDialect,
  StoredPolicy,
} from './types.ts';

export interface PolicyStore {
  /** A new policy at version 1. DuplicateKeyError when a live policy has the name. */
  create(p: NewPolicy): Promise<StoredPolicy>;
  /**
   * Stores the next version (current + 1) and makes it current, atomically: two concurrent
   * updates get two distinct versions. With `expectedVersion`, refuses with
   * PolicyVersionConflictError unless the policy is still at that version. UnknownPolicyError
   * for an unknown or deleted policy.
   */
  addVersion(policyId: string, v: NewPolicyVersion & { expectedVersion?: number }): Promise<StoredPolicy>;
  /** A live policy with its current version. */
  get(policyId: string): Promise<StoredPolicy | undefined>;
  /** Live policies by name, `limit` at a time after `afterName` (keyset pagination). */
  list(opts: { limit: number; afterName?: string }): Promise<StoredPolicy[]>;
  /** Every version of a policy, oldest first (kept after a delete). */
  versions(policyId: string): Promise<PolicyVersionSummary[]>;
  version(policyId: string, version: number): Promise<PolicyVersion | undefined>;
  /** Soft delete: the versions stay, the assignments go. The policy as it was, or undefined if none was live. */
  delete(policyId: string, now: number): Promise<StoredPolicy | undefined>;
  /** Idempotent: `created` is false when the assignment existed. UnknownPolicyError for an unknown or deleted policy. */
  assign(policyId: string, target: AssignmentTarget, opts: { createdBy: string | null; now: number }): Promise<{ assignment: PolicyAssignment; created: boolean }>;
  /** False when there was no such assignment. */
  unassign(policyId: string, target: AssignmentTarget): Promise<boolean>;
  assignmentsOf(policyId: string): Promise<PolicyAssignment[]>;
  /** Replaces the device's groups; the sets before and after (sorted), or undefined for an unknown device. */
  setDeviceGroups(deviceId: string, names: readonly string[]): Promise<{ before: string[]; after: string[] } | undefined>;
  groupsOf(deviceId: string): Promise<string[]>;
  /**
   * The current version of every live policy that reaches the device directly, through one of
   * its groups, or through an assignment to all — one statement, oldest policy first (ties by id).
   */
  policiesForDevice(deviceId: string): Promise<AssignedPolicy[]>;
  /** Ids of the devices a live policy reaches, ordered, `limit` at a time after `afterId`. */
  devicesForPolicy(policyId: string, opts: { limit: number; afterId?: string }): Promise<string[]>;
}

/** A short random policy id (64 bits, hex): readable in URLs, safe inside a PayloadIdentifier. */
export function newPolicyId(): string {
  return randomBytes(8).toString('hex');
}

const KIND_ORDER: Record<AssignmentKind, number> = { all: 0, group: 1, device: 2 };

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function targetColumns(target: AssignmentTarget): { target_kind: AssignmentKind; target: string } {
  switch (target.kind) {
    case 'device': return { target_kind: 'device', target: target.udid };
    case 'group': return { target_kind: 'group', target: target.group };
    case 'all': return { target_kind: 'all', target: '' };
  }
}

function toTarget(kind: AssignmentKind, target: string): AssignmentTarget {
  switch (kind) {
    case 'device': return { kind: 'device', udid: target };
    case 'group': return { kind: 'group', group: target };
    case 'all': return { kind: 'all' };
  }
}

function compareTargets(a: AssignmentTarget, b: AssignmentTarget): number {
  const ca = targetColumns(a);
  const cb = targetColumns(b);
  return KIND_ORDER[ca.target_kind] - KIND_ORDER[cb.target_kind] || byCodeUnits(ca.target, cb.target);
}

function toAssignment(row: Selectable<PolicyAssignmentsTable>): PolicyAssignment {
  return { policyId: row.policy_id, target: toTarget(row.target_kind, row.target), createdAt: row.created_at, createdBy: row.created_by };
}

const json = (text: string) => JSON.parse(text) as Record<string, unknown>;

interface PolicyRow extends Selectable<PoliciesTable> {
  document: string;
  requirements: string;
  meta: string;
  version_created_at: number;
  version_created_by: string | null;
}

function toStoredPolicy(row: PolicyRow): StoredPolicy {
  return {
    id: row.id,
    name: row.name,
    identifier: row.identifier,
    currentVersion: row.current_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    current: {
      policyId: row.id,
      version: row.current_version,
      document: json(row.document),
      requirements: json(row.requirements),
      meta: json(row.meta),
      createdAt: row.version_created_at,
      createdBy: row.version_created_by,
    },
  };
}

function versionValues(policyId: string, version: number, v: NewPolicyVersion) {
  return {
    policy_id: policyId,
    version,
    document: JSON.stringify(v.document),
    requirements: JSON.stringify(v.requirements),
    meta: JSON.stringify(v.meta),
    created_at: v.now,
    created_by: v.createdBy,
  };
}

export function createPolicyStore(db: Kysely<Database>, dialect: StoreDialect): PolicyStore {
  /** Policies joined with their current version; deleted ones included only when asked. */
  const selectPolicies = (trx: Kysely<Database> = db) => trx
    .selectFrom('policies as p')
    .innerJoin('policy_versions as v', (join) => join.onRef('v.policy_id', '=', 'p.id').onRef('v.version', '=', 'p.current_version'))
    .select([
      'p.id', 'p.name', 'p.identifier', 'p.current_version', 'p.created_at', 'p.updated_at', 'p.deleted_at',
      'v.document', 'v.requirements', 'v.meta', 'v.created_at as version_created_at', 'v.created_by as version_created_by',
    ]);

  /**
   * Takes the policy's row lock (PostgreSQL; SQLite's transactions already hold the write lock)
   * and says whether it is live, so that an assignment cannot slip in beside a concurrent delete.
   */
  const lockLivePolicy = async (trx: Kysely<Database>, policyId: string): Promise<boolean> => {
    let query = trx.selectFrom('policies').select('id').where('id', '=', policyId).where('deleted_at', 'is', null);
    if (dialect === 'postgres') query = query.forUpdate();
    return (await query.executeTakeFirst()) !== undefined;
  };

  // Runs for every device at fan-out, so compiled once. Each branch of the union is one range of
  // an index: policy_assignments (target_kind, target, policy_id) for 'all', for the device, and
  // for each of its groups, read from device_groups' primary key (device_id, name). A policy
  // reaching the device by several routes comes back once per route; the caller folds them.
  const policiesForDeviceStatement = precompile((p: { deviceId: string }) => db
    .selectFrom((eb) => eb
      .selectFrom('policy_assignments')
      .select(['policy_id', 'target_kind', 'target'])
      .where('target_kind', '=', 'all')
      .where('target', '=', '')
      .unionAll(eb
        .selectFrom('policy_assignments')
        .select(['policy_id', 'target_kind', 'target'])
        .where('target_kind', '=', 'device')
        .where('target', '=', p.deviceId))
      // IN rather than a join: SQLite, without statistics, would otherwise walk every group
      // assignment and probe the device's groups, instead of the device's few groups probing it.
      .unionAll(eb
        .selectFrom('policy_assignments')
        .select(['policy_id', 'target_kind', 'target'])
        .where('target_kind', '=', 'group')
        .where('target', 'in', eb.selectFrom('device_groups').select('name').where('device_id', '=', p.deviceId)))
      .as('a'))
    .innerJoin('policies as p', 'p.id', 'a.policy_id')
    .innerJoin('policy_versions as v', (join) => join.onRef('v.policy_id', '=', 'p.id').onRef('v.version', '=', 'p.current_version'))
    .where('p.deleted_at', 'is', null)
    .select(['p.id', 'p.name', 'p.identifier', 'p.current_version', 'p.created_at', 'v.requirements', 'v.meta', 'a.target_kind', 'a.target'])
    .orderBy('p.created_at')
    .orderBy('p.id'));

  return {
    async create(p) {
      const id = p.id ?? newPolicyId();
      try {
        return await atomically(db, 'policy_create', async (trx) => {
          await trx.insertInto('policies').values({
            id, name: p.name, identifier: p.identifier, current_version: 1, created_at: p.now, updated_at: p.now, deleted_at: null,
          }).execute();
          await trx.insertInto('policy_versions').values(versionValues(id, 1, p)).execute();
          return toStoredPolicy((await selectPolicies(trx).where('p.id', '=', id).executeTakeFirstOrThrow()));
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new DuplicateKeyError(`a policy named ${JSON.stringify(p.name)}`);
        throw err;
      }
    },

    async addVersion(policyId, v) {
      return atomically(db, 'policy_add_version', async (trx) => {
        // The increment and its check are one statement: PostgreSQL re-checks the WHERE clause on
        // the latest row after waiting for a concurrent updater, SQLite serialises writers.
        let bump = trx
          .updateTable('policies')
          .set((eb) => ({ current_version: eb('current_version', '+', 1), updated_at: v.now }))
          .where('id', '=', policyId)
          .where('deleted_at', 'is', null);
        if (v.expectedVersion !== undefined) bump = bump.where('current_version', '=', v.expectedVersion);
        const bumped = await bump.returning('current_version').executeTakeFirst();
        if (bumped === undefined) {
          const live = await trx.selectFrom('policies').select('current_version').where('id', '=', policyId).where('deleted_at', 'is', null).executeTakeFirst();
          if (live === undefined) throw new UnknownPolicyError(policyId);
          throw new PolicyVersionConflictError(policyId, v.expectedVersion!, live.current_version);
        }
        await trx.insertInto('policy_versions').values(versionValues(policyId, bumped.current_version, v)).execute();
        return toStoredPolicy(await selectPolicies(trx).where('p.id', '=', policyId).executeTakeFirstOrThrow());
      });
    },

    async get(policyId) {
      const row = await selectPolicies().where('p.id', '=', policyId).where('p.deleted_at', 'is', null).executeTakeFirst();
      return row === undefined ? undefined : toStoredPolicy(row);
    },

    async list({ limit, afterName }) {
      let query = selectPolicies().where('p.deleted_at', 'is', null).orderBy('p.name').limit(limit);
      if (afterName !== undefined) query = query.where('p.name', '>', afterName);
      return (await query.execute()).map(toStoredPolicy);
    },

    async versions(policyId) {
      const rows = await db
        .selectFrom('policy_versions')
        .select(['version', 'created_at', 'created_by'])
        .where('policy_id', '=', policyId)
        .orderBy('version')
        .execute();
      return rows.map((row) => ({ version: row.version, createdAt: row.created_at, createdBy: row.created_by }));
    },

    async version(policyId, version) {
      const row = await db
        .selectFrom('policy_versions')
        .selectAll()
        .where('policy_id', '=', policyId)
        .where('version', '=', version)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return {
        policyId: row.policy_id,
        version: row.version,
        document: json(row.document),
        requirements: json(row.requirements),
        meta: json(row.meta),
        createdAt: row.created_at,
        createdBy: row.created_by,
      };
    },

    async delete(policyId, now) {
      return atomically(db, 'policy_delete', async (trx) => {
        const deleted = await trx
          .updateTable('policies')
          .set({ deleted_at: now, updated_at: now })
          .where('id', '=', policyId)
          .where('deleted_at', 'is', null)
          .returning('id')
          .executeTakeFirst();
        if (deleted === undefined) return undefined;
        await trx.deleteFrom('policy_assignments').where('policy_id', '=', policyId).execute();
        const row = await selectPolicies(trx).where('p.id', '=', policyId).executeTakeFirstOrThrow();
        return toStoredPolicy(row);
      });
    },

    async assign(policyId, target, { createdBy, now }) {
      const columns = targetColumns(target);
      return atomically(db, 'policy_assign', async (trx) => {
        if (!(await lockLivePolicy(trx, policyId))) throw new UnknownPolicyError(policyId);
        const inserted = await trx
          .insertInto('policy_assignments')
          .values({ policy_id: policyId, ...columns, created_at: now, created_by: createdBy })
          .onConflict((oc) => oc.columns(['policy_id', 'target_kind', 'target']).doNothing())
          .returningAll()
          .executeTakeFirst();
        if (inserted !== undefined) return { assignment: toAssignment(inserted), created: true };
        const existing = await trx
          .selectFrom('policy_assignments')
          .selectAll()
          .where('policy_id', '=', policyId)
          .where('target_kind', '=', columns.target_kind)
          .where('target', '=', columns.target)
          .executeTakeFirstOrThrow();
        return { assignment: toAssignment(existing), created: false };
      });
    },

    async unassign(policyId, target) {
      const columns = targetColumns(target);
      const result = await db
        .deleteFrom('policy_assignments')
        .where('policy_id', '=', policyId)
        .where('target_kind', '=', columns.target_kind)
        .where('target', '=', columns.target)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async assignmentsOf(policyId) {
      const rows = await db.selectFrom('policy_assignments').selectAll().where('policy_id', '=', policyId).execute();
      return rows.map(toAssignment).sort((a, b) => compareTargets(a.target, b.target));
    },

    async setDeviceGroups(deviceId, names) {
      // Code-unit order, the same on both databases (their collations differ).
      const after = [...new Set(names)].sort(byCodeUnits);
      return atomically(db, 'device_groups_set', async (trx) => {
        const device = await trx.selectFrom('devices').select('id').where('id', '=', deviceId).executeTakeFirst();
        if (device === undefined) return undefined;
        const before = (await trx.selectFrom('device_groups').select('name').where('device_id', '=', deviceId).execute())
          .map((row) => row.name)
          .sort(byCodeUnits);
        let removal = trx.deleteFrom('device_groups').where('device_id', '=', deviceId);
        if (after.length > 0) removal = removal.where('name', 'not in', after);
        await removal.execute();
        const added = after.filter((name) => !before.includes(name));
        if (added.length > 0) {
          // A concurrent replacement may have added the same name since `before` was read.
          await trx.insertInto('device_groups').values(added.map((name) => ({ device_id: deviceId, name })))
            .onConflict((oc) => oc.columns(['device_id', 'name']).doNothing())
            .execute();
        }
        return { before, after };
      });
    },

    async groupsOf(deviceId) {
      const rows = await db.selectFrom('device_groups').select('name').where('device_id', '=', deviceId).execute();
      return rows.map((row) => row.name).sort(byCodeUnits);
    },

    async policiesForDevice(deviceId) {
      const { rows } = await policiesForDeviceStatement.run(db, { deviceId });
      const byPolicy = new Map<string, AssignedPolicy>();
      for (const row of rows) {
        const via = toTarget(row.target_kind, row.target);
        const seen = byPolicy.get(row.id);
        if (seen) {
          seen.via.push(via);
          continue;
        }
        byPolicy.set(row.id, {
          policyId: row.id,
          name: row.name,
          identifier: row.identifier,
          version: row.current_version,
          requirements: json(row.requirements),
          meta: json(row.meta),
          via: [via],
        });
      }
      for (const policy of byPolicy.values()) policy.via.sort(compareTargets);
      return [...byPolicy.values()];
    },

    async devicesForPolicy(policyId, { limit, afterId }) {
      const after = afterId ?? '';
      const everyone = await db
        .selectFrom('policy_assignments')
        .select('policy_id')
        .where('policy_id', '=', policyId)
        .where('target_kind', '=', 'all')
        .executeTakeFirst();
      if (everyone !== undefined) {
        // The whole fleet: a range of the devices' primary key.
        const rows = await db.selectFrom('devices').select('id').where('id', '>', after).orderBy('id').limit(limit).execute();
        return rows.map((row) => row.id);
      }
      // Each branch is ordered by an index and stops at `limit`, so a page reads at most 2 × limit
      // rows per group instead of the whole membership; the union removes devices reached twice.
      const rows = await db
        .selectFrom((eb) => eb
          .selectFrom((inner) => inner
            .selectFrom('policy_assignments as a')
            .innerJoin('devices as d', 'd.id', 'a.target')
            .select('d.id')
            .where('a.policy_id', '=', policyId)
            .where('a.target_kind', '=', 'device')
            .where('d.id', '>', after)
            .orderBy('d.id')
            .limit(limit)
            .as('direct'))
          .select('direct.id')
          .union(eb
            .selectFrom((inner) => inner
              .selectFrom('policy_assignments as a')
              .innerJoin('device_groups as g', (join) => join.onRef('g.name', '=', 'a.target'))
              .select('g.device_id as id')
              // Distinct: a device in two assigned groups must not take two of the `limit` places.
              .distinct()
              .where('a.policy_id', '=', policyId)
              .where('a.target_kind', '=', 'group')
              .where('g.device_id', '>', after)
              .orderBy('g.device_id')
              .limit(limit)
              .as('grouped'))
            .select('grouped.id'))
          .as('reached'))
        .select('reached.id')
        .orderBy('reached.id')
        .limit(limit)
        .execute();
      return rows.map((row) => row.id);
    },
  };
}

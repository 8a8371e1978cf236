// Every change that can change a device's effective policy asks policy delivery to reconcile the
// devices it affects, and only those: a new version or an assignment reaches the devices the policy
// reaches afterwards; a deletion or an unassignment the devices it reached before; a device's groups
// the device itself. A wrapper around the policy service, so no route can change a policy and forget
// delivery. The reconcile is scheduled, not awaited: the admin's request answers at once, and one
// reconcile per device pushes it once however many triggers arrived meanwhile.
import type { Store } from '../store/database.ts';
import type { AssignmentTarget } from '../store/types.ts';
import type { AuditActor } from './audit-log.ts';
import type { PolicyService } from './policies.ts';

/** Devices per page when listing the devices a policy reaches. */
const PAGE = 1000;

export function withDeliveryTriggers(
  policies: PolicyService,
  store: Pick<Store, 'policies'>,
  schedule: (deviceIds: Iterable<string>, actor: AuditActor) => void,
): PolicyService {
  const reached = async (policyId: string): Promise<string[]> => {
    const all: string[] = [];
    for (let after: string | undefined; ;) {
      const page = await store.policies.devicesForPolicy(policyId, { limit: PAGE, ...(after !== undefined && { afterId: after }) });
      all.push(...page);
      if (page.length < PAGE) return all;
      after = page.at(-1);
    }
  };
  // A device assignment affects that device alone; groups and "all" whoever the policy reaches.
  const affected = (policyId: string, target: AssignmentTarget) => (target.kind === 'device' ? Promise.resolve([target.udid]) : reached(policyId));

  return {
    ...policies,
    async update(actor, id, input) {
      const outcome = await policies.update(actor, id, input);
      if (outcome.ok) schedule(await reached(id), actor);
      return outcome;
    },
    async delete(actor, id) {
      const before = await reached(id);
      const deleted = await policies.delete(actor, id);
      if (deleted) schedule(before, actor);
      return deleted;
    },
    async assign(actor, id, target) {
      const outcome = await policies.assign(actor, id, target);
      if (outcome.ok && outcome.created) schedule(await affected(id, target), actor);
      return outcome;
    },
    async unassign(actor, id, target) {
      const before = await affected(id, target);
      const outcome = await policies.unassign(actor, id, target);
      if (outcome.ok) schedule(before, actor);
      return outcome;
    },
    async setDeviceGroups(actor, udid, groups) {
      const before = await policies.groupsOf(udid);
      const after = await policies.setDeviceGroups(actor, udid, groups);
      if (after && (after.length !== before.length || after.some((g, i) => g !== before[i]))) schedule([udid], actor);
      return after;
    },
  };
}

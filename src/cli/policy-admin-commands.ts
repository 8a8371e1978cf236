// `lockwarden policies …` and `lockwarden devices groups|effective-policy`, over the admin API.
// A policy file is read here exactly as `lockwarden policy validate` reads it (JSON, YAML,
// .mobileconfig signed or not, a DDM declaration), so a mistake is reported before anything is
// sent; the server validates again and keeps every version.
import { toPolicyDocument } from '../policy/index.ts';
import { call } from './admin-commands.ts';
import type { ServerOptions } from './admin-commands.ts';
import { CliError, EXIT_USAGE, printJson } from './output.ts';
import { loadPolicy } from './policy-commands.ts';

interface PolicyView { id: string; name: string; identifier: string; version: number; updatedAt?: string }
interface TargetOptions { all?: boolean; group?: string; udid?: string }

const path = (...parts: string[]) => `/api/v1/${parts.map(encodeURIComponent).join('/')}`;

export async function createPolicyCommand(file: string, options: ServerOptions & { name: string; json?: boolean }): Promise<void> {
  const policy = toPolicyDocument(await loadPolicy(file));
  const created = await call(options, 'POST', '/api/v1/policies', { name: options.name, policy }) as PolicyView;
  if (options.json) return printJson(created);
  process.stdout.write(`policy ${created.id} "${created.name}" created (version ${created.version}, identifier ${created.identifier})\n`);
}

export async function updatePolicyCommand(id: string, file: string, options: ServerOptions & { expectedVersion?: string; json?: boolean }): Promise<void> {
  const policy = toPolicyDocument(await loadPolicy(file));
  const expected = options.expectedVersion === undefined ? undefined : Number(options.expectedVersion);
  if (expected !== undefined && (!Number.isInteger(expected) || expected < 1)) throw new CliError('--expected-version must be a whole number ≥ 1', EXIT_USAGE);
  const updated = await call(options, 'PUT', path('policies', id), { policy, ...(expected !== undefined && { expectedVersion: expected }) }) as PolicyView;
  if (options.json) return printJson(updated);
  process.stdout.write(`policy ${updated.id} "${updated.name}" is now at version ${updated.version}\n`);
}

export async function listPoliciesCommand(options: ServerOptions & { json?: boolean }): Promise<void> {
  const result = await call(options, 'GET', '/api/v1/policies?limit=1000') as { policies: PolicyView[] };
  if (options.json) return printJson(result);
  for (const p of result.policies) process.stdout.write(`${p.id}\tv${p.version}\t${p.identifier}\t${p.name}\n`);
}

export async function showPolicyCommand(id: string, options: ServerOptions): Promise<void> {
  printJson(await call(options, 'GET', path('policies', id)));
}

function targetOf(options: TargetOptions): Record<string, unknown> {
  const given = [options.all ? 'all' : undefined, options.group, options.udid].filter((t) => t !== undefined);
  if (given.length !== 1) throw new CliError('name exactly one target: --all, --group G or --udid U', EXIT_USAGE);
  if (options.all) return { all: true };
  return options.group !== undefined ? { group: options.group } : { udid: options.udid };
}

export async function assignPolicyCommand(id: string, options: ServerOptions & TargetOptions): Promise<void> {
  const target = targetOf(options);
  await call(options, 'POST', path('policies', id, 'assignments'), target);
  process.stdout.write(`policy ${id} assigned to ${options.all ? 'every device' : options.group !== undefined ? `group ${options.group}` : `device ${options.udid}`}\n`);
}

export async function unassignPolicyCommand(id: string, options: ServerOptions & TargetOptions): Promise<void> {
  await call(options, 'DELETE', path('policies', id, 'assignments'), targetOf(options));
  process.stdout.write(`policy ${id} no longer assigned to ${options.all ? 'every device' : options.group !== undefined ? `group ${options.group}` : `device ${options.udid}`}\n`);
}

export async function setDeviceGroupsCommand(udid: string, groups: string[], options: ServerOptions): Promise<void> {
  const result = await call(options, 'PUT', path('devices', udid, 'groups'), { groups }) as { groups: string[] };
  process.stdout.write(`${udid}: ${result.groups.length === 0 ? 'no groups' : result.groups.join(', ')}\n`);
}

export async function effectivePolicyCommand(udid: string, options: ServerOptions): Promise<void> {
  printJson(await call(options, 'GET', path('devices', udid, 'effective-policy')));
}

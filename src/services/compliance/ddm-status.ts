// Declarative status reports (declarative/protocol/statusreport.yaml) folded into evidence. Items
// are nested by the dots in their names (`passcode.is-compliant` arrives as
// {"passcode": {"is-compliant": …}}). Reports are incremental unless FullReport is true: an
// incremental report carries only what changed, and an array entry with `_removed: true` is gone,
// so the declarations list is merged into the previous one rather than replacing it.
import type { DdmStatusEvidence, DeclarationStatus } from './model.ts';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function at(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (!isObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

function readDeclaration(value: unknown): DeclarationStatus | 'removed' | undefined {
  if (!isObject(value) || typeof value.identifier !== 'string') return undefined;
  if (value._removed === true) return 'removed';
  const token = value['server-token'];
  const valid = value.valid;
  if (typeof token !== 'string' || typeof value.active !== 'boolean') return undefined;
  if (valid !== 'valid' && valid !== 'invalid' && valid !== 'unknown') return undefined;
  const reasons = Array.isArray(value.reasons)
    ? value.reasons.filter(isObject).flatMap((r) =>
        typeof r.code === 'string' ? [{ code: r.code, ...(typeof r.description === 'string' && { description: r.description }) }] : [])
    : undefined;
  return { identifier: value.identifier, serverToken: token, active: value.active, valid, ...(reasons && reasons.length > 0 && { reasons }) };
}

/**
 * The evidence after one StatusReport received at `receivedAt`: `report` is the decoded JSON
 * (with StatusItems), `previous` what was known before. Entries lockwarden cannot read are skipped
 * rather than guessed at; parts the report does not mention keep their previous value and time.
 */
export function foldStatusReport(previous: DdmStatusEvidence | undefined, report: unknown, receivedAt: number): DdmStatusEvidence {
  const out: DdmStatusEvidence = { ...previous };
  const items = at(report, ['StatusItems']);
  const full = at(report, ['FullReport']) === true;

  const configurations = at(items, ['management', 'declarations', 'configurations']);
  if (Array.isArray(configurations)) {
    const merged = new Map<string, DeclarationStatus>();
    if (!full) for (const d of previous?.declarations?.items ?? []) merged.set(d.identifier, d);
    for (const entry of configurations) {
      const read = readDeclaration(entry);
      if (read === 'removed') merged.delete((entry as { identifier: string }).identifier);
      else if (read) merged.set(read.identifier, read);
    }
    out.declarations = { at: receivedAt, items: [...merged.values()] };
  }

  const isCompliant = at(items, ['passcode', 'is-compliant']);
  const isPresent = at(items, ['passcode', 'is-present']);
  const before = previous?.passcode;
  if (typeof isCompliant === 'boolean') {
    // `at` dates the compliance reading, the one that decides a state; is-present only describes it.
    const present = typeof isPresent === 'boolean' ? isPresent : full ? undefined : before?.isPresent;
    out.passcode = { at: receivedAt, isCompliant, ...(present !== undefined && { isPresent: present }) };
  } else if (typeof isPresent === 'boolean') {
    out.passcode = before ? { ...before, isPresent } : { at: receivedAt, isPresent };
  }
  return out;
}

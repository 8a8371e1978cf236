// The per-platform enforcement matrix: for every requirement of a policy, what each platform
// will really do with it.
import { compilePolicy, targetName } from './compile.ts';
import type { EnforcementLine } from './compile.ts';
import { PLATFORMS, REQUIREMENT_KEYS } from './model.ts';
import type { CompileTarget, PasscodeRequirements, RequirementKey } from './model.ts';

export interface ExplainColumn {
  target: CompileTarget;
  name: string;
  /** Set when the policy cannot be delivered to this target at all. */
  refused?: string;
  lines: EnforcementLine[];
}

export interface Explanation {
  columns: ExplainColumn[];
  /** True when some written requirement is not enforced as written somewhere. */
  hasGaps: boolean;
}

/** Every platform with device enrollment, then the User Enrollment variants Apple allows. */
export const EXPLAIN_TARGETS: readonly CompileTarget[] = [
  ...PLATFORMS.map((platform) => ({ platform, enrollment: 'device' as const })),
  { platform: 'ios', enrollment: 'user' },
  { platform: 'ipados', enrollment: 'user' },
  { platform: 'visionos', enrollment: 'user' },
  { platform: 'macos', enrollment: 'user' },
  { platform: 'ipados', enrollment: 'shared-ipad' },
];

export function explainPolicy(req: PasscodeRequirements, targets: readonly CompileTarget[] = EXPLAIN_TARGETS): Explanation {
  const columns = targets.map((target): ExplainColumn => {
    const outcome = compilePolicy(req, target);
    const name = targetName(target);
    return outcome.ok ? { target, name, lines: outcome.compiled.lines } : { target, name, refused: outcome.reason, lines: [] };
  });
  const hasGaps = columns.some((c) => c.refused !== undefined || c.lines.some((l) => l.status === 'not-enforceable' || l.status === 'approximated'));
  return { columns, hasGaps };
}

function showWritten(value: unknown): string {
  if (value === undefined) return '(not written)';
  if (Array.isArray(value)) return value.map((r: { regex: string }) => r.regex).join(' and ');
  return String(value);
}

/** The matrix as text, grouped by requirement, one line per platform. */
export function formatExplanation(req: PasscodeRequirements, explanation: Explanation): string {
  const width = Math.max(...explanation.columns.map((c) => c.name.length)) + 2;
  const out: string[] = [];
  const requirements = REQUIREMENT_KEYS.filter((key) =>
    explanation.columns.some((c) => c.lines.some((l) => l.requirement === key)));
  for (const key of requirements) {
    out.push(`${key} ${showWritten(req[key as RequirementKey])}`);
    for (const column of explanation.columns) {
      if (column.refused) continue;
      const line = column.lines.find((l) => l.requirement === key);
      out.push(`  ${column.name.padEnd(width)}${line ? line.detail : 'no requirement'}`);
    }
    out.push('');
  }
  const refused = explanation.columns.filter((c) => c.refused);
  if (refused.length > 0) {
    out.push('not deliverable');
    for (const column of refused) out.push(`  ${column.name.padEnd(width)}${column.refused}`);
    out.push('');
  }
  if (requirements.length === 0) out.unshift('The policy sets no requirements; the payload alone asks each device to offer a passcode.', '');
  return out.join('\n').trimEnd() + '\n';
}

// Writes a canonical policy back as a policy document that parsePolicyDocument reads, in Apple's
// keys wherever Apple has one (the friendly RequiredCharacters for the per-class minimums).
import { REQUIREMENT_KEYS } from './model.ts';
import type { PasscodePolicy, RequirementKey } from './model.ts';
import { toAppleRegex } from './profile-content.ts';

const CLASS_KEYS: Partial<Record<RequirementKey, string>> = {
  minDigits: 'MinimumDigits',
  minLowercase: 'MinimumLowercase',
  minUppercase: 'MinimumUppercase',
};

/** Document key → the canonical requirement it carries, for annotating output. */
export function documentKeyOf(key: RequirementKey, value: unknown): string {
  const nested = CLASS_KEYS[key];
  if (nested) return `RequiredCharacters.${nested}`;
  return key === 'maxInactivity' && (value as number) > 60 ? 'MaximumInactivity' : key;
}

export function toPolicyDocument(policy: PasscodePolicy): Record<string, unknown> {
  const { meta, requirements } = policy;
  const doc: Record<string, unknown> = {};
  if (meta.identifier !== undefined) doc.PayloadIdentifier = meta.identifier;
  if (meta.displayName !== undefined) doc.PayloadDisplayName = meta.displayName;
  if (meta.organization !== undefined) doc.PayloadOrganization = meta.organization;
  if (meta.description !== undefined) doc.PayloadDescription = meta.description;
  const classes: Record<string, number> = {};
  for (const key of REQUIREMENT_KEYS) {
    const value = requirements[key];
    if (value === undefined) continue;
    const nested = CLASS_KEYS[key];
    if (nested) classes[nested] = value as number;
    else if (key === 'customRegex') {
      const rules = requirements.customRegex!.map(toAppleRegex);
      doc.customRegex = rules.length === 1 ? rules[0] : rules;
    } else {
      // Beyond maxInactivity's range (0–60) only the friendly MaximumInactivity can say it.
      doc[documentKeyOf(key, value)] = value;
    }
  }
  if (Object.keys(classes).length > 0) doc.RequiredCharacters = classes;
  return doc;
}

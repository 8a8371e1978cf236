// The payload dictionaries and identity of a compiled policy's configuration profile. The
// envelope itself (PayloadType Configuration…) is written by src/plist/mobileconfig.ts.
import type { CompiledPolicy } from './compile.ts';
import type { CustomRegexRule, PolicyMeta } from './model.ts';
import { PASSCODE_PAYLOAD_TYPE } from './parse.ts';
import { combineRegexRules } from './regex-combination.ts';
import { canonicalJson, nameBasedUuid, profileIdentity } from './payload-identity.ts';

export interface ProfileContent {
  identifier: string;
  uuid: string;
  displayName: string;
  organization?: string;
  description?: string;
  payloads: Record<string, unknown>[];
}

export function profileContent(compiled: CompiledPolicy, meta: PolicyMeta): ProfileContent {
  const identity = profileIdentity(meta);
  const payloads = compiled.payloads.map((settings, i) => {
    const identifier = i === 0 ? `${identity.identifier}.passcode` : `${identity.identifier}.passcode.${i + 1}`;
    return {
      PayloadType: PASSCODE_PAYLOAD_TYPE,
      PayloadVersion: 1,
      PayloadIdentifier: identifier,
      // Follows the content: a changed policy is a new payload to the device.
      PayloadUUID: nameBasedUuid(`payload:${identifier}:${canonicalJson(settings)}`),
      PayloadDisplayName: i === 0 ? 'Passcode' : `Passcode rule ${i + 1}`,
      ...(identity.organization !== undefined && { PayloadOrganization: identity.organization }),
      ...settings,
    };
  });
  return {
    ...identity,
    // Follows the identity only: the same policy replaces its installed profile in place.
    uuid: nameBasedUuid(`profile:${identity.identifier}`),
    payloads,
  };
}

/**
 * The whole policy as one Passcode payload dictionary (`--format payload`), for tools that place
 * payloads into profiles themselves. Several customRegex rules are combined into one.
 */
export function singlePayload(compiled: CompiledPolicy, meta: PolicyMeta): Record<string, unknown> {
  const [first = {}, ...extra] = compiled.payloads;
  const rules = [first, ...extra].flatMap((p) => (p.customRegex ? [fromAppleRegex(p.customRegex)] : []));
  const settings: Record<string, unknown> = { ...first };
  const combined = combineRegexRules(rules);
  if (combined) settings.customRegex = toAppleRegex(combined);
  const content = profileContent({ ...compiled, payloads: [settings] }, meta);
  return content.payloads[0]!;
}

function fromAppleRegex(value: unknown): CustomRegexRule {
  const dict = value as { passwordContentRegex: string; passwordContentDescription?: Record<string, string> };
  return dict.passwordContentDescription
    ? { regex: dict.passwordContentRegex, description: dict.passwordContentDescription }
    : { regex: dict.passwordContentRegex };
}

export function toAppleRegex(rule: CustomRegexRule): Record<string, unknown> {
  return rule.description
    ? { passwordContentRegex: rule.regex, passwordContentDescription: rule.description }
    : { passwordContentRegex: rule.regex };
}

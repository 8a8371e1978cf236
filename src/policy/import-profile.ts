// Reads an existing configuration profile, a lone Passcode payload or a DDM passcode declaration
// (already decoded from plist/JSON) into a canonical policy.
import { readClassMinimumsRule } from './class-regex.ts';
import { importDeclaration, DDM_PASSCODE_TYPE } from './ddm-declaration.ts';
import { describeType, isPlainObject } from './field-checks.ts';
import { mergeRequirements, normalizeRegexRules } from './merge.ts';
import type { ParseResult, PasscodePolicy, PasscodeRequirements, PolicyError, PolicyMeta, PolicyNote } from './model.ts';
import { PASSCODE_PAYLOAD_TYPE, parsePolicyDocument } from './parse.ts';
import { splitCombinedRegex } from './regex-combination.ts';

/** Turns the rules lockwarden generates (class minimums, combined rules) back into what they encode. */
function recoverGeneratedRules(req: PasscodeRequirements): PasscodeRequirements {
  if (!req.customRegex) return req;
  const out: PasscodeRequirements = { ...req };
  delete out.customRegex;
  const kept = [];
  for (const rule of req.customRegex) {
    const parts = splitCombinedRegex(rule.regex);
    for (const regex of parts ?? [rule.regex]) {
      const classes = readClassMinimumsRule(regex);
      if (classes) Object.assign(out, classes);
      else kept.push(parts ? { regex } : rule);
    }
  }
  if (kept.length > 0) out.customRegex = normalizeRegexRules(kept);
  return out;
}

function prefixed(prefix: string, items: PolicyError[]): PolicyError[];
function prefixed(prefix: string, items: PolicyNote[]): PolicyNote[];
function prefixed(prefix: string, items: Array<PolicyError | PolicyNote>): Array<PolicyError | PolicyNote> {
  return items.map((item) => ({ ...item, path: item.path ? `${prefix}.${item.path}` : prefix }));
}

function readProfileMeta(profile: Record<string, unknown>): PolicyMeta {
  const meta: PolicyMeta = {};
  if (typeof profile.PayloadIdentifier === 'string') meta.identifier = profile.PayloadIdentifier;
  if (typeof profile.PayloadDisplayName === 'string') meta.displayName = profile.PayloadDisplayName;
  if (typeof profile.PayloadOrganization === 'string') meta.organization = profile.PayloadOrganization;
  if (typeof profile.PayloadDescription === 'string') meta.description = profile.PayloadDescription;
  return meta;
}

function importConfiguration(profile: Record<string, unknown>): ParseResult<PasscodePolicy> {
  const notes: PolicyNote[] = [];
  if (profile.IsEncrypted === true || profile.EncryptedPayloadContent !== undefined) {
    return { ok: false, errors: [{ path: 'EncryptedPayloadContent', value: undefined, message: 'the profile is encrypted to a device; lockwarden cannot read it' }], notes };
  }
  const content = profile.PayloadContent;
  if (!Array.isArray(content)) {
    return { ok: false, errors: [{ path: 'PayloadContent', value: describeType(content), message: 'must be a list of payload dictionaries' }], notes };
  }
  const errors: PolicyError[] = [];
  const found: PasscodeRequirements[] = [];
  content.forEach((payload, i) => {
    const path = `PayloadContent[${i}]`;
    if (!isPlainObject(payload)) {
      errors.push({ path, value: describeType(payload), message: 'must be a payload dictionary' });
      return;
    }
    if (payload.PayloadType !== PASSCODE_PAYLOAD_TYPE) {
      notes.push({ path, message: `payload of type ${JSON.stringify(payload.PayloadType)} is not a passcode policy; ignored` });
      return;
    }
    const parsed = parsePolicyDocument(payload, 'apple');
    notes.push(...prefixed(path, parsed.notes));
    if (parsed.ok) found.push(parsed.value.requirements);
    else errors.push(...prefixed(path, parsed.errors));
  });
  if (errors.length > 0) return { ok: false, errors, notes };
  if (found.length === 0) {
    return { ok: false, errors: [{ path: 'PayloadContent', value: undefined, message: `the profile has no ${PASSCODE_PAYLOAD_TYPE} payload` }], notes };
  }
  if (found.length > 1) notes.push({ path: 'PayloadContent', message: `${found.length} passcode payloads merged, strictest value per key (as the device applies them)` });
  const requirements = recoverGeneratedRules(mergeRequirements(found).requirements);
  return { ok: true, value: { meta: readProfileMeta(profile), requirements }, notes };
}

/**
 * Imports any passcode policy document lockwarden can read: a configuration profile, a bare
 * Passcode payload, a DDM passcode settings declaration, or a plain dictionary in either key style.
 */
export function importPolicy(document: unknown): ParseResult<PasscodePolicy> {
  if (!isPlainObject(document)) {
    return { ok: false, errors: [{ path: '', value: describeType(document), message: 'a policy must be a dictionary of passcode settings' }], notes: [] };
  }
  if (document.PayloadType === 'Configuration') return importConfiguration(document);
  if (document.Type === DDM_PASSCODE_TYPE) return importDeclaration(document);
  const style = document.PayloadType === PASSCODE_PAYLOAD_TYPE ? 'apple' : 'any';
  const parsed = parsePolicyDocument(document, style);
  if (!parsed.ok) return parsed;
  return { ...parsed, value: { ...parsed.value, requirements: recoverGeneratedRules(parsed.value.requirements) } };
}

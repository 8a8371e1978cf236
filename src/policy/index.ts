// The passcode policy engine: parse → validate → normalise → compile per platform → explain.
// Pure: no I/O, no clock, nothing imported from the rest of lockwarden.
export * from './model.ts';
export { parsePolicyDocument, PASSCODE_PAYLOAD_TYPE, GRACE_PERIODS, APPLE_FIELDS, FRIENDLY_FIELDS } from './parse.ts';
export { importPolicy } from './import-profile.ts';
export { mergeRequirements, atLeastAsStrict, requirementsEqual, STRICTER } from './merge.ts';
export type { MergeResult } from './merge.ts';
export { compilePolicy, targetName } from './compile.ts';
export type { CompiledPolicy, CompileOutcome, EnforcementLine, EnforcementStatus } from './compile.ts';
export { profileContent, singlePayload } from './profile-content.ts';
export type { ProfileContent } from './profile-content.ts';
export { compileDeclaration, importDeclaration, DDM_PASSCODE_TYPE } from './ddm-declaration.ts';
export type { Declaration } from './ddm-declaration.ts';
export { explainPolicy, formatExplanation, EXPLAIN_TARGETS } from './explain.ts';
export type { Explanation, ExplainColumn } from './explain.ts';
export { profileIdentity, nameBasedUuid, canonicalJson } from './payload-identity.ts';
export { isVersion } from './platform-rules.ts';
export { toPolicyDocument, documentKeyOf } from './serialize.ts';

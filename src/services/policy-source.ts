// Turns the bytes of a policy source — JSON or YAML in either key style, a .mobileconfig (plain or
// CMS-signed), a plist payload or a DDM declaration — into a canonical policy.
import { parseDocument } from 'yaml';
import { importPolicy } from '../policy/index.ts';
import type { ParseResult, PasscodePolicy } from '../policy/index.ts';
import { readProfileBytes } from '../plist/mobileconfig.ts';
import { PlistError } from '../plist/plist-codec.ts';
import { CmsError } from '../crypto/cms-reader.ts';
import type { SignedContent } from '../crypto/cms-reader.ts';

export type PolicySourceResult = ParseResult<PasscodePolicy> & { signature?: SignedContent };

/** Policy sources are small; anything bigger is a mistake or an attack. */
export const MAX_POLICY_SOURCE_BYTES = 1024 * 1024;

function looksLikePlistOrCms(bytes: Uint8Array): boolean {
  if (bytes[0] === 0x30) return true; // DER SEQUENCE: a CMS-signed profile
  const head = Buffer.from(bytes.subarray(0, 64)).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  return head.startsWith('<') || head.startsWith('bplist');
}

function failure(message: string, value?: unknown): PolicySourceResult {
  return { ok: false, errors: [{ path: '', value, message }], notes: [] };
}

export async function readPolicySource(bytes: Uint8Array): Promise<PolicySourceResult> {
  if (bytes.length > MAX_POLICY_SOURCE_BYTES) {
    return failure(`the policy source is ${bytes.length} bytes; at most ${MAX_POLICY_SOURCE_BYTES} are accepted`);
  }
  if (bytes.length === 0) return failure('the policy source is empty');
  if (looksLikePlistOrCms(bytes)) {
    try {
      const { plist, signature } = await readProfileBytes(bytes);
      const result = importPolicy(plist);
      if (signature && !signature.signatureValid) {
        return failure(`the profile is CMS-signed, but its signature does not verify (${signature.failure ?? 'altered after signing'})`);
      }
      return signature ? { ...result, signature } : result;
    } catch (err) {
      if (err instanceof PlistError || err instanceof CmsError) return failure(err.message);
      throw err;
    }
  }
  const text = Buffer.from(bytes).toString('utf8');
  // YAML 1.2 is a superset of JSON, so one parser reads both; "core" schema keeps yes/no strings.
  const document = parseDocument(text, { schema: 'core', uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    const e = document.errors[0]!;
    const where = e.linePos ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    return failure(`not valid JSON or YAML${where}: ${e.message.split('\n')[0]}`);
  }
  return importPolicy(document.toJS({ maxAliasCount: 100 }));
}

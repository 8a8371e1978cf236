// Reads an attached CMS SignedData (a signed .mobileconfig) with PKI.js: the encapsulated
// content, who signed it, and whether the signature holds. This is the profile path, not the
// check-in hot path: DESIGN.md measures a PKI.js parse at ≈2.5 ms, acceptable for a profile
// an admin uploads, not for every Mdm-Signature header.

import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { pkijsEngine } from './pkijs-engine.ts';

/** Every refusal of a CMS structure (and of an unusable signing identity in cms-signer.ts). */
export class CmsError extends Error {
  override readonly name = 'CmsError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface CmsSigner {
  /** RFC 4514-style distinguished name, e.g. "CN=Example MDM, O=Example". */
  subject: string;
  issuer: string;
  /** Hex, as @peculiar/x509 prints it. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
}

export interface SignedContent {
  content: Buffer;
  /** The signers whose certificates are embedded, in SignerInfo order. */
  signers: CmsSigner[];
  /** True only if there is at least one signer and every signer's signature checks out. */
  signatureValid: boolean;
  /** Why signatureValid is false (first failing signer). */
  failure?: string;
}

export interface ReadSignedDataOptions {
  /** Refuse larger input before parsing. Default 8 MiB. */
  maxBytes?: number;
}

const ID_DATA_SIGNED = '1.2.840.113549.1.7.2';
const DEFAULT_MAX_CMS_BYTES = 8 * 1024 * 1024;
// A profile has one signer. Each one costs a signature check, so a hostile file listing
// thousands would cost seconds; a handful is already generous.
const MAX_SIGNERS = 8;


/**
 * Parse a BER/DER ContentInfo holding an attached SignedData and check each signer's
 * signature (messageDigest over the content, then the signature over the signed attributes)
 * with the public key of the certificate embedded for that signer.
 *
 * `signatureValid` means "these bytes were signed by the holder of that embedded
 * certificate's key" and nothing more: no chain is built, no trust anchor, validity period,
 * key usage or revocation is checked. Whether to trust the signer is the caller's decision,
 * made from `signers`.
 *
 * Throws CmsError (and nothing else) for anything that is not an attached SignedData.
 */
export async function readSignedData(der: Uint8Array, opts?: ReadSignedDataOptions): Promise<SignedContent> {
  const maxBytes = opts?.maxBytes ?? DEFAULT_MAX_CMS_BYTES;
  if (!(der instanceof Uint8Array) || der.length === 0) throw new CmsError('empty input: expected a DER-encoded CMS structure');
  if (der.length > maxBytes) throw new CmsError(`CMS structure is larger than the ${maxBytes}-byte limit`);
  try {
    const signedData = parseSignedData(der);
    const content = encapsulatedContent(signedData);
    if (signedData.signerInfos.length > MAX_SIGNERS) {
      throw new CmsError(`the SignedData lists ${signedData.signerInfos.length} signers; at most ${MAX_SIGNERS} are accepted`);
    }
    const signers: CmsSigner[] = [];
    let failure: string | undefined = signedData.signerInfos.length === 0 ? 'the SignedData has no signers' : undefined;
    for (let index = 0; index < signedData.signerInfos.length; index++) {
      const outcome = await verifySigner(signedData, index);
      if (outcome.signer) signers.push(outcome.signer);
      failure ??= outcome.failure;
    }
    return failure === undefined ? { content, signers, signatureValid: true } : { content, signers, signatureValid: false, failure };
  } catch (err) {
    if (err instanceof CmsError) throw err;
    // PKI.js and asn1js throw plain Errors (or worse) on hostile structures; callers get one type.
    throw new CmsError(`malformed CMS structure: ${message(err)}`, { cause: err });
  }
}

function parseSignedData(der: Uint8Array): pkijs.SignedData {
  const view = new Uint8Array(der.buffer, der.byteOffset, der.byteLength);
  const ber = asn1js.fromBER(view);
  if (ber.offset === -1) throw new CmsError(`not a DER-encoded CMS structure (${ber.result.error || 'undecodable ASN.1'})`);
  if (ber.offset !== der.length) throw new CmsError(`not a CMS structure: ${der.length - ber.offset} unexpected bytes after it`);
  let contentInfo: pkijs.ContentInfo;
  try {
    contentInfo = new pkijs.ContentInfo({ schema: ber.result });
  } catch (err) {
    throw new CmsError('not a CMS ContentInfo', { cause: err });
  }
  if (contentInfo.contentType !== ID_DATA_SIGNED) {
    throw new CmsError(`not a CMS SignedData (content type ${contentInfo.contentType})`);
  }
  try {
    return new pkijs.SignedData({ schema: contentInfo.content });
  } catch (err) {
    throw new CmsError(`malformed CMS SignedData: ${message(err)}`, { cause: err });
  }
}

function encapsulatedContent(signedData: pkijs.SignedData): Buffer {
  const eContent: unknown = signedData.encapContentInfo.eContent;
  if (eContent === undefined) {
    throw new CmsError('detached CMS signature: the SignedData carries no content (a signed profile has it attached)');
  }
  if (!(eContent instanceof asn1js.OctetString)) throw new CmsError('the encapsulated content is not an OCTET STRING');
  if (eContent.idBlock.isConstructed) {
    // PKI.js hashes only one level of a constructed OCTET STRING (OctetString.getValue); a
    // nested piece would be content the signature never covered.
    for (const piece of eContent.valueBlock.value) {
      if (!(piece instanceof asn1js.OctetString) || piece.idBlock.isConstructed) {
        throw new CmsError('the encapsulated content is split into nested pieces, which is not supported');
      }
    }
  }
  return Buffer.from(eContent.getValue());
}

async function verifySigner(signedData: pkijs.SignedData, index: number): Promise<{ signer?: CmsSigner; failure?: string }> {
  let signer: CmsSigner | undefined;
  try {
    const result = await signedData.verify({ signer: index, checkChain: false, extendedMode: true }, pkijsEngine);
    if (result.signerCertificate) signer = describeCertificate(result.signerCertificate);
    return result.signatureVerified === true ? { signer } : { signer, failure: `signer ${index + 1}: the signature does not match` };
  } catch (err) {
    // SignedDataVerifyError: a digest mismatch, a missing certificate, an unsupported algorithm.
    // All of them mean "not shown to be valid", never a parse failure of the profile itself.
    const certificate = (err as { signerCertificate?: unknown } | null)?.signerCertificate;
    if (certificate instanceof pkijs.Certificate) signer = describeCertificate(certificate);
    return { signer, failure: `signer ${index + 1}: ${message(err)}` };
  }
}

function describeCertificate(certificate: pkijs.Certificate): CmsSigner {
  const parsed = new x509.X509Certificate(certificate.toSchema().toBER(false));
  return {
    subject: parsed.subject,
    issuer: parsed.issuer,
    serialNumber: parsed.serialNumber,
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
  };
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message;
  return String(err);
}

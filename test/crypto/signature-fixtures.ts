// Builders of real detached CMS signatures for the Mdm-Signature tests: PKI.js in-process,
// OpenSSL on the command line, and a re-encoder that turns DER into the BER indefinite-length
// shape Apple's Security framework sends. Also PKI.js as an independent verifier (the oracle).

import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

type EngineCrypto = ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'];
type PkiPrivateKey = Parameters<pkijs.SignedData['sign']>[0];
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as EngineCrypto });

export interface Identity {
  certificatePem: string;
  privateKeyPem: string;
}

export type PkiHash = 'SHA-1' | 'SHA-256' | 'SHA-384' | 'SHA-512';

export interface PkiSignOptions {
  hash?: PkiHash;
  /** Identify the signer by subjectKeyIdentifier (SignerInfo v3) instead of issuer and serial. */
  bySubjectKeyId?: boolean;
  extraCertificatesPem?: string[];
  /** Leave the signer's certificate out of the SignedData. */
  omitCertificate?: boolean;
}

const HASH_NODE: Record<PkiHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error('no certificate');
  return Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64');
}

/** A detached SignedData (DER) over `body`, made with PKI.js, signed attributes included. */
export async function signDetachedWithPkijs(body: Buffer, identity: Identity, options: PkiSignOptions = {}): Promise<Buffer> {
  const hash = options.hash ?? 'SHA-256';
  const certificate = pkijs.Certificate.fromBER(pemToDer(identity.certificatePem));
  const key = createPrivateKey(identity.privateKeyPem);
  const algorithm = key.asymmetricKeyType === 'ec' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'RSASSA-PKCS1-v1_5', hash };
  const privateKey = (await webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign'])) as unknown as PkiPrivateKey;
  const sid = options.bySubjectKeyId
    ? new asn1js.Primitive({
        idBlock: { tagClass: 3, tagNumber: 0 },
        valueHex: subjectKeyId(pemToDer(identity.certificatePem)),
      })
    : new pkijs.IssuerAndSerialNumber({ issuer: certificate.issuer, serialNumber: certificate.serialNumber });
  const signerInfo = new pkijs.SignerInfo({
    version: options.bySubjectKeyId ? 3 : 1,
    sid,
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: [
        new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.1' })] }),
        new pkijs.Attribute({ type: '1.2.840.113549.1.9.5', values: [new asn1js.UTCTime({ valueDate: new Date() })] }),
        new pkijs.Attribute({
          type: '1.2.840.113549.1.9.4',
          values: [new asn1js.OctetString({ valueHex: createHash(HASH_NODE[hash]).update(body).digest() })],
        }),
      ],
    }),
  });
  const extra = (options.extraCertificatesPem ?? []).map((pem) => pkijs.Certificate.fromBER(pemToDer(pem)));
  const signedData = new pkijs.SignedData({
    version: options.bySubjectKeyId ? 3 : 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.7.1' }),
    signerInfos: [signerInfo],
    certificates: options.omitCertificate ? extra : [certificate, ...extra],
  });
  await signedData.sign(privateKey, 0, hash, new Uint8Array(body), engine);
  const contentInfo = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: signedData.toSchema(true) });
  return Buffer.from(contentInfo.toSchema().toBER(false));
}

function subjectKeyId(certificateDer: Buffer): ArrayBuffer {
  const certificate = pkijs.Certificate.fromBER(certificateDer);
  const extension = certificate.extensions?.find((candidate) => candidate.extnID === '2.5.29.14');
  if (!extension) throw new Error('certificate has no SKI');
  const inner = asn1js.fromBER(extension.extnValue.valueBlock.valueHexView).result as asn1js.OctetString;
  return inner.valueBlock.valueHexView.slice().buffer;
}

/** `openssl <command> -sign -binary -outform DER` detached, with any extra arguments. */
export function signDetachedWithOpenssl(body: Buffer, identity: Identity, command: 'cms' | 'smime', extra: string[] = []): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'lw-sign-'));
  try {
    writeFileSync(join(dir, 'body'), body);
    writeFileSync(join(dir, 'cert.pem'), identity.certificatePem);
    writeFileSync(join(dir, 'key.pem'), identity.privateKeyPem);
    execFileSync('openssl', [command, '-sign', '-binary', '-in', join(dir, 'body'), '-signer', join(dir, 'cert.pem'), '-inkey', join(dir, 'key.pem'), '-outform', 'DER', '-out', join(dir, 'sig.der'), ...extra], { stdio: 'pipe' });
    return execFileSync('cat', [join(dir, 'sig.der')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** OpenSSL's own verdict on a detached signature (chain checked against `caPem`). */
export function opensslVerifies(signature: Buffer, body: Buffer, caPem: string): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'lw-verify-'));
  try {
    writeFileSync(join(dir, 'sig.der'), signature);
    writeFileSync(join(dir, 'body'), body);
    writeFileSync(join(dir, 'ca.pem'), caPem);
    execFileSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', join(dir, 'sig.der'), '-content', join(dir, 'body'), '-CAfile', join(dir, 'ca.pem'), '-purpose', 'any', '-out', '/dev/null'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** PKI.js's verdict: the signature over `body` holds with the embedded signer certificate. */
export async function pkijsVerifies(signature: Buffer, body: Buffer): Promise<{ ok: boolean; certificateDer?: Buffer }> {
  try {
    const parsed = asn1js.fromBER(new Uint8Array(signature));
    if (parsed.offset === -1 || parsed.offset !== signature.length) return { ok: false };
    const contentInfo = new pkijs.ContentInfo({ schema: parsed.result });
    const signedData = new pkijs.SignedData({ schema: contentInfo.content });
    const result = await signedData.verify({ signer: 0, data: new Uint8Array(body).buffer, checkChain: false, extendedMode: true }, engine);
    const certificateDer = result.signerCertificate ? Buffer.from(result.signerCertificate.toSchema().toBER(false)) : undefined;
    return { ok: result.signatureVerified === true, ...(certificateDer && { certificateDer }) };
  } catch {
    return { ok: false };
  }
}

interface Node {
  tag: number;
  header: number;
  length: number;
  start: number;
}

function readNode(buf: Buffer, offset: number): Node {
  const tag = buf[offset] as number;
  const first = buf[offset + 1] as number;
  if (first < 0x80) return { tag, header: 2, length: first, start: offset + 2 };
  const count = first & 0x7f;
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + (buf[offset + 2 + i] as number);
  return { tag, header: 2 + count, length, start: offset + 2 + count };
}

/**
 * Re-encode a DER ContentInfo/SignedData the way Apple's CMS encoder streams it: indefinite
 * lengths on ContentInfo, its [0], SignedData, encapContentInfo and the certificates [0], with
 * the certificates, signer infos and signed attributes left DER.
 */
export function toAppleBer(der: Buffer): Buffer {
  const indefinite = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag, 0x80]), content, Buffer.from([0, 0])]);
  const children = (buf: Buffer, node: Node): Buffer[] => {
    const out: Buffer[] = [];
    for (let offset = node.start; offset < node.start + node.length; ) {
      const child = readNode(buf, offset);
      out.push(buf.subarray(offset, child.start + child.length));
      offset = child.start + child.length;
    }
    return out;
  };
  const root = readNode(der, 0);
  const [oid, explicit] = children(der, root);
  if (!oid || !explicit) throw new Error('not a ContentInfo');
  const explicitNode = readNode(explicit, 0);
  const [signedData] = children(explicit, explicitNode);
  if (!signedData) throw new Error('no SignedData');
  const signedDataNode = readNode(signedData, 0);
  const parts = children(signedData, signedDataNode).map((part) => {
    const node = readNode(part, 0);
    if (node.tag === 0x30 && part.includes(Buffer.from('06092a864886f70d010701', 'hex')) && node.length < 20) return indefinite(0x30, Buffer.concat(children(part, node)));
    if (node.tag === 0xa0) return indefinite(0xa0, Buffer.concat(children(part, node)));
    return part;
  });
  return indefinite(0x30, Buffer.concat([oid, indefinite(0xa0, indefinite(0x30, Buffer.concat(parts)))]));
}

export function certificateDer(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

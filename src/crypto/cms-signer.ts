// CMS SignedData for signing a .mobileconfig: the profile travels inside the signature
// (attached, id-data), which is what iOS/macOS and `openssl smime -verify` expect of a signed
// profile. Built with PKI.js, which the design keeps for building CMS because speed does not
// matter here (DESIGN.md, performance notes); the hot-path verifier is a different module.

import { createHash, createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { CmsError } from './cms-reader.ts';
import { pkijsEngine } from './pkijs-engine.ts';

export interface SigningIdentity {
  /** The signer's certificate (exactly one PEM block). */
  certificatePem: string;
  /** RSA or ECDSA P-256 key: PKCS#8 ("BEGIN PRIVATE KEY"), PKCS#1 ("BEGIN RSA PRIVATE KEY") or SEC1 ("BEGIN EC PRIVATE KEY"); unencrypted. */
  privateKeyPem: string;
  /** Intermediates to embed so a device can build the chain; each string may hold several PEM blocks. */
  chainPem?: string[];
}

/**
 * A signing identity from PEM text as administrators keep it: a certificate file holding the
 * signer's certificate first and any intermediates after it (the usual "fullchain" layout), and
 * a key file. Checks the key belongs to the certificate, so a wrong pair fails at load, not at
 * the first profile a device asks for.
 */
export function signingIdentityFromPem(certificatesPem: string, privateKeyPem: string): SigningIdentity {
  const blocks = [...certificatesPem.matchAll(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g)].map((m) => m[0]);
  const [certificatePem, ...chain] = blocks;
  if (certificatePem === undefined) throw new CmsError('the certificate file holds no PEM certificate');
  assertKeyMatchesCertificate(readPrivateKey(privateKeyPem), pemCertificates(certificatePem, 'certificate')[0]!);
  return { certificatePem, privateKeyPem, ...(chain.length > 0 && { chainPem: [chain.join('\n')] }) };
}

export interface SignCmsOptions {
  /** The signingTime attribute; defaults to now. Fixed in tests and for reproducible output. */
  signingTime?: Date;
  /**
   * Leave the content out of the SignedData (a detached signature over it), as Apple devices do
   * for the Mdm-Signature header and as the simulated devices must.
   */
  detached?: boolean;
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
} as const;

type PkiPrivateKey = Parameters<pkijs.SignedData['sign']>[0];

/**
 * Sign `content` into a DER ContentInfo/SignedData: content attached as id-data, SHA-256,
 * signed attributes contentType, messageDigest and signingTime, the signer certificate and
 * any chain embedded. Throws CmsError for an unusable identity (unreadable or encrypted key,
 * unsupported key type, key that does not belong to the certificate).
 */
export async function signCms(content: Uint8Array, signer: SigningIdentity, opts?: SignCmsOptions): Promise<Buffer> {
  const certificateDers = pemCertificates(signer.certificatePem, 'certificatePem');
  const signerDer = certificateDers[0];
  if (certificateDers.length !== 1 || signerDer === undefined) {
    throw new CmsError(`certificatePem must hold exactly one certificate, found ${certificateDers.length}; put intermediates in chainPem`);
  }
  const chainDers = (signer.chainPem ?? []).flatMap((pem, i) => pemCertificates(pem, `chainPem[${i}]`));
  const keyObject = readPrivateKey(signer.privateKeyPem);
  assertKeyMatchesCertificate(keyObject, signerDer);
  const privateKey = await importSigningKey(keyObject);

  const signerCert = parseCertificate(signerDer, 'certificatePem');
  const chain = chainDers.map((der, i) => parseCertificate(der, `chainPem certificate ${i + 1}`));
  const bytes = new Uint8Array(content);

  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: signerCert.issuer, serialNumber: signerCert.serialNumber }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({
      type: 0,
      attributes: derSorted([
        new pkijs.Attribute({ type: OID.contentType, values: [new asn1js.ObjectIdentifier({ value: OID.data })] }),
        new pkijs.Attribute({ type: OID.signingTime, values: [asn1Time(opts?.signingTime ?? new Date())] }),
        new pkijs.Attribute({
          type: OID.messageDigest,
          values: [new asn1js.OctetString({ valueHex: createHash('sha256').update(bytes).digest() })],
        }),
      ]),
    }),
  });

  const encapContentInfo = new pkijs.EncapsulatedContentInfo({ eContentType: OID.data });
  // Assigned after construction on purpose: given eContent in its constructor, PKI.js splits it
  // into a constructed OCTET STRING of 64 KiB pieces, which is BER but not DER.
  if (!opts?.detached) encapContentInfo.eContent = new asn1js.OctetString({ valueHex: bytes });

  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo,
    signerInfos: [signerInfo],
    certificates: [signerCert, ...chain],
  });
  try {
    await signedData.sign(privateKey, 0, 'SHA-256', opts?.detached ? bytes : undefined, pkijsEngine);
  } catch (err) {
    throw new CmsError(`signing failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const contentInfo = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema(true) });
  return Buffer.from(contentInfo.toSchema().toBER(false));
}

function pemCertificates(pem: string, field: string): Buffer[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new CmsError(`${field} holds no PEM certificate`);
  return blocks.map((block) => Buffer.from(block[1] ?? '', 'base64'));
}

function parseCertificate(der: Buffer, field: string): pkijs.Certificate {
  try {
    return pkijs.Certificate.fromBER(der);
  } catch (err) {
    throw new CmsError(`${field} is not a valid X.509 certificate`, { cause: err });
  }
}

function readPrivateKey(pem: string): KeyObject {
  try {
    // node:crypto reads PKCS#8, PKCS#1 and SEC1 alike; WebCrypto (below) only takes PKCS#8.
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new CmsError('privateKeyPem is not a readable, unencrypted PEM private key', { cause: err });
  }
}

function assertKeyMatchesCertificate(key: KeyObject, certificateDer: Buffer): void {
  let certificateKey: Buffer;
  try {
    certificateKey = new X509Certificate(certificateDer).publicKey.export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw new CmsError('certificatePem is not a valid X.509 certificate', { cause: err });
  }
  const ownKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
  // A mismatched pair still produces a CMS blob, one every device refuses to install.
  if (!ownKey.equals(certificateKey)) throw new CmsError('the private key does not belong to the signing certificate');
}

async function importSigningKey(key: KeyObject): Promise<PkiPrivateKey> {
  let algorithm: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  if (key.asymmetricKeyType === 'rsa') {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  } else {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    throw new CmsError(`unsupported signing key ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` (${curve})` : ''}: use RSA or ECDSA P-256`);
  }
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  // Node's CryptoKey and the DOM CryptoKey PKI.js is typed against are the same object.
  return (await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign'])) as unknown as PkiPrivateKey;
}

/** RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime outside it. */
function asn1Time(date: Date): asn1js.UTCTime | asn1js.GeneralizedTime {
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050 ? new asn1js.UTCTime({ valueDate: date }) : new asn1js.GeneralizedTime({ valueDate: date });
}

/**
 * Signed attributes are a DER SET OF, ordered by their encodings. Verifiers that re-encode
 * the set before checking the signature (rather than hashing the bytes received) only agree
 * with us if we signed them in that order.
 */
function derSorted(attributes: pkijs.Attribute[]): pkijs.Attribute[] {
  const encoded = attributes.map((attribute) => ({ attribute, der: Buffer.from(attribute.toSchema().toBER(false)) }));
  encoded.sort((a, b) => Buffer.compare(a.der, b.der));
  return encoded.map((entry) => entry.attribute);
}

// SCEP (RFC 8894) messages: the pkiMessage a client sends (a SignedData around an
// EnvelopedData around a PKCS#10 request) and the CertRep a CA answers with (a SignedData with
// the SCEP status attributes around an EnvelopedData around a certificates-only SignedData).
// This module is the wire format only; who may enroll is services/scep-service.ts.
//
// Structures are read and built with PKI.js (speed does not matter here, DESIGN.md); the
// cryptography is node:crypto, because WebCrypto has neither RSAES-PKCS1-v1_5 key transport
// (what Apple's SCEP client uses, SecSCEP.c → SecCMSCreateEnvelopedData) nor DES-EDE3-CBC.
//
// RSAES-PKCS1-v1_5 decryption is done by hand with implicit rejection: Node 20 refuses
// RSA_PKCS1_PADDING for private decryption (CVE-2023-46809, the Marvin timing attack), and
// rightly so, since a CA that says "bad padding" differently from "bad content" is a
// Bleichenbacher oracle for every other device's request (and its challenge) encrypted to the
// same key. With a malformed block we carry on with a key derived from the ciphertext, so every
// failure is the same later failure: the content does not decrypt to a certificate request.

import { constants, createCipheriv, createDecipheriv, createHash, createHmac, privateDecrypt, publicEncrypt, randomBytes, sign, timingSafeEqual, verify, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export class ScepMessageError extends Error {
  override readonly name = 'ScepMessageError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** RFC 8894 §3.2.1.2. */
export const MessageType = { CertRep: 3, RenewalReq: 17, PKCSReq: 19, CertPoll: 20, GetCert: 21, GetCRL: 22 } as const;
/** RFC 8894 §3.2.1.3. */
export const PkiStatus = { SUCCESS: 0, FAILURE: 2, PENDING: 3 } as const;
/** RFC 8894 §3.2.1.4. */
export const FailInfo = { badAlg: 0, badMessageCheck: 1, badRequest: 2, badTime: 3, badCertId: 4 } as const;
export type FailInfoCode = (typeof FailInfo)[keyof typeof FailInfo];

export type DigestName = 'sha1' | 'sha256' | 'sha384' | 'sha512';
export type ContentCipher = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | 'des-ede3-cbc';

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionId: '2.16.840.1.113733.1.9.7',
} as const;

const DIGEST_BY_OID: Record<string, DigestName> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const OID_BY_DIGEST: Record<DigestName, string> = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3' };
// A SignerInfo's signatureAlgorithm: plain rsaEncryption (what OpenSSL and Apple write) or the
// combined OIDs; either way PKCS#1 v1.5 with the SignerInfo's digest.
const RSA_SIGNATURE_OIDS = new Set(['1.2.840.113549.1.1.1', '1.2.840.113549.1.1.5', '1.2.840.113549.1.1.11', '1.2.840.113549.1.1.12', '1.2.840.113549.1.1.13']);

const CIPHERS: Record<string, { name: ContentCipher; keyLength: number; ivLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16, ivLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24, ivLength: 16 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32, ivLength: 16 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24, ivLength: 8 },
};
const CIPHER_OID: Record<ContentCipher, string> = {
  'aes-128-cbc': '2.16.840.1.101.3.4.1.2',
  'aes-192-cbc': '2.16.840.1.101.3.4.1.22',
  'aes-256-cbc': '2.16.840.1.101.3.4.1.42',
  'des-ede3-cbc': '1.2.840.113549.3.7',
};

/** A pkiMessage is a few KiB (a CSR and two certificates); anything far larger is not one. */
export const MAX_PKI_MESSAGE_BYTES = 64 * 1024;

export interface PkiMessage {
  messageType: number;
  transactionId: string;
  senderNonce: Buffer;
  recipientNonce?: Buffer;
  pkiStatus?: number;
  failInfo?: number;
  /** The certificate the message was signed with (a requester's self-signed one, or the CA's). */
  signerCertificateDer: Buffer;
  digest: DigestName;
  /** The encapsulated content: the pkcsPKIEnvelope (an EnvelopedData), absent on failure replies. */
  content?: Buffer;
  /** The signature and messageDigest hold for signerCertificateDer's key. */
  signatureValid: boolean;
}

export interface ScepAttributes {
  messageType: number;
  transactionId: string;
  senderNonce: Buffer;
  recipientNonce?: Buffer;
  pkiStatus?: number;
  failInfo?: FailInfoCode;
}

export interface ScepSigner {
  certificateDer: Buffer;
  privateKey: KeyObject;
}

// ------------------------------------------------------------------------------ SignedData

/**
 * Read a pkiMessage: one signer, its certificate embedded, the SCEP attributes signed.
 * A bad signature is reported (signatureValid), not thrown, so a CA can still answer with a
 * FAILURE the requester understands; anything it cannot answer at all throws ScepMessageError.
 */
export function readPkiMessage(der: Uint8Array): PkiMessage {
  if (der.length === 0) throw new ScepMessageError('empty pkiMessage');
  if (der.length > MAX_PKI_MESSAGE_BYTES) throw new ScepMessageError(`pkiMessage is larger than ${MAX_PKI_MESSAGE_BYTES} bytes`);
  const signedData = parseSignedData(der);
  if (signedData.signerInfos.length !== 1) throw new ScepMessageError(`a pkiMessage has exactly one signer, found ${signedData.signerInfos.length}`);
  const signerInfo = signedData.signerInfos[0] as pkijs.SignerInfo;
  const digest = DIGEST_BY_OID[signerInfo.digestAlgorithm.algorithmId];
  if (digest === undefined) throw new ScepMessageError(`unsupported digest algorithm ${signerInfo.digestAlgorithm.algorithmId}`);
  const signerCertificateDer = findSignerCertificate(signedData, signerInfo);
  const attributes = signerInfo.signedAttrs?.attributes ?? [];
  const single = (oid: string): unknown => {
    const matches = attributes.filter((a) => a.type === oid);
    if (matches.length > 1 || (matches[0] !== undefined && matches[0].values.length !== 1)) throw new ScepMessageError(`attribute ${oid} must have exactly one value`);
    return matches[0]?.values[0];
  };
  const messageType = decimal(single(OID.messageType), 'messageType');
  if (messageType === undefined) throw new ScepMessageError('the pkiMessage has no messageType');
  const transactionId = printable(single(OID.transactionId), 'transactionID');
  if (transactionId === undefined || transactionId.length === 0 || transactionId.length > 256) throw new ScepMessageError('the pkiMessage needs a transactionID of 1–256 characters');
  const senderNonce = octetValue(single(OID.senderNonce), 'senderNonce');
  if (senderNonce === undefined || senderNonce.length < 8 || senderNonce.length > 64) throw new ScepMessageError('the pkiMessage needs a senderNonce of 8–64 bytes');
  const recipientNonce = octetValue(single(OID.recipientNonce), 'recipientNonce');
  const pkiStatus = decimal(single(OID.pkiStatus), 'pkiStatus');
  const failInfo = decimal(single(OID.failInfo), 'failInfo');
  const content = encapsulatedContent(signedData);
  return {
    messageType,
    transactionId,
    senderNonce,
    ...(recipientNonce !== undefined && { recipientNonce }),
    ...(pkiStatus !== undefined && { pkiStatus }),
    ...(failInfo !== undefined && { failInfo }),
    signerCertificateDer,
    digest,
    ...(content !== undefined && { content }),
    signatureValid: checkSignature(signerInfo, signerCertificateDer, digest, content ?? Buffer.alloc(0), attributes),
  };
}

/**
 * Build a pkiMessage: SignedData over `content` (omitted when undefined, as a FAILURE CertRep
 * carries none), signed attributes contentType, messageDigest, signingTime and the SCEP ones.
 */
export function buildPkiMessage(options: { content?: Buffer; signer: ScepSigner; digest?: DigestName; attributes: ScepAttributes; signingTime?: Date }): Buffer {
  const digest = options.digest ?? 'sha256';
  const signerCert = pkijs.Certificate.fromBER(options.signer.certificateDer);
  const content = options.content ?? Buffer.alloc(0);
  const a = options.attributes;
  const attributes = [
    attribute(OID.contentType, new asn1js.ObjectIdentifier({ value: OID.data })),
    attribute(OID.messageDigest, new asn1js.OctetString({ valueHex: createHash(digest).update(content).digest() })),
    attribute(OID.signingTime, new asn1js.UTCTime({ valueDate: options.signingTime ?? new Date() })),
    attribute(OID.messageType, new asn1js.PrintableString({ value: String(a.messageType) })),
    attribute(OID.transactionId, new asn1js.PrintableString({ value: a.transactionId })),
    attribute(OID.senderNonce, new asn1js.OctetString({ valueHex: a.senderNonce })),
  ];
  if (a.recipientNonce !== undefined) attributes.push(attribute(OID.recipientNonce, new asn1js.OctetString({ valueHex: a.recipientNonce })));
  if (a.pkiStatus !== undefined) attributes.push(attribute(OID.pkiStatus, new asn1js.PrintableString({ value: String(a.pkiStatus) })));
  if (a.failInfo !== undefined) attributes.push(attribute(OID.failInfo, new asn1js.PrintableString({ value: String(a.failInfo) })));
  const sorted = derSorted(attributes);
  const signedAttrsDer = Buffer.from(new asn1js.Set({ value: sorted.map((x) => x.toSchema()) }).toBER(false));
  const signature = sign(digest, signedAttrsDer, options.signer.privateKey);

  const signerInfo = new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: signerCert.issuer, serialNumber: signerCert.serialNumber }),
    digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID_BY_DIGEST[digest] }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: sorted }),
    signatureAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null() }),
    signature: new asn1js.OctetString({ valueHex: signature }),
  });
  const encapContentInfo = new pkijs.EncapsulatedContentInfo({ eContentType: OID.data });
  // Set after construction: given to the constructor, PKI.js splits it into 64 KiB BER pieces.
  if (options.content !== undefined) encapContentInfo.eContent = new asn1js.OctetString({ valueHex: options.content });
  const signedData = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: OID_BY_DIGEST[digest] })],
    encapContentInfo,
    certificates: [signerCert],
    signerInfos: [signerInfo],
  });
  return contentInfo(OID.signedData, signedData.toSchema(true));
}

/** A degenerate ("certificates-only") SignedData: how a CertRep carries the issued certificate. */
export function buildCertificatesOnly(certificateDers: Buffer[]): Buffer {
  const signedData = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }),
    certificates: certificateDers.map((der) => pkijs.Certificate.fromBER(der)),
    signerInfos: [],
  });
  return contentInfo(OID.signedData, signedData.toSchema(true));
}

export function readCertificatesOnly(der: Uint8Array): Buffer[] {
  const signedData = parseSignedData(der);
  return (signedData.certificates ?? []).flatMap((c) => (c instanceof pkijs.Certificate ? [Buffer.from(c.toSchema().toBER(false))] : []));
}

// ---------------------------------------------------------------------------- EnvelopedData

export interface OpenedEnvelope {
  content: Buffer;
  cipher: ContentCipher;
}

/**
 * Decrypt an EnvelopedData addressed (by key transport) to `recipient`. Throws ScepMessageError
 * for anything that does not decrypt; the message never says which step failed (see the top).
 */
export function openEnvelope(der: Uint8Array, recipient: { privateKey: KeyObject; certificateDer: Buffer }, rejectionSecret: Buffer): OpenedEnvelope {
  let enveloped: pkijs.EnvelopedData;
  try {
    const info = pkijs.ContentInfo.fromBER(der);
    if (info.contentType !== OID.envelopedData) throw new ScepMessageError('not an EnvelopedData');
    enveloped = new pkijs.EnvelopedData({ schema: info.content });
  } catch (err) {
    if (err instanceof ScepMessageError) throw err;
    throw new ScepMessageError('malformed EnvelopedData', { cause: err });
  }
  const encrypted = enveloped.encryptedContentInfo;
  const cipher = CIPHERS[encrypted.contentEncryptionAlgorithm.algorithmId];
  if (cipher === undefined) throw new ScepMessageError(`unsupported content encryption ${encrypted.contentEncryptionAlgorithm.algorithmId}`, { cause: 'badAlg' });
  const iv = octets(encrypted.contentEncryptionAlgorithm.algorithmParams, 'content encryption IV');
  if (iv.length !== cipher.ivLength) throw new ScepMessageError('wrong IV length');
  let ciphertext: Buffer;
  try {
    // The parsed [0] IMPLICIT is retagged, not an OctetString instance; PKI.js joins BER pieces.
    ciphertext = Buffer.from(encrypted.getEncryptedContent());
  } catch (err) {
    throw new ScepMessageError('the EnvelopedData has no encrypted content', { cause: err });
  }

  const transport = enveloped.recipientInfos
    .map((info) => (info.variant === 1 && info.value instanceof pkijs.KeyTransRecipientInfo ? info.value : undefined))
    .find((info) => info !== undefined && addressedTo(info, recipient.certificateDer));
  if (transport === undefined) throw new ScepMessageError('the EnvelopedData is not addressed to this recipient');
  const encryptedKey = Buffer.from(transport.encryptedKey.valueBlock.valueHexView);
  let key: Buffer;
  const algorithm = transport.keyEncryptionAlgorithm.algorithmId;
  if (algorithm === OID.rsaEncryption) {
    key = rsaPkcs1Unwrap(recipient.privateKey, encryptedKey, cipher.keyLength, rejectionSecret);
  } else if (algorithm === OID.rsaesOaep) {
    key = rsaOaepUnwrap(recipient.privateKey, encryptedKey, transport.keyEncryptionAlgorithm.algorithmParams, cipher.keyLength, rejectionSecret);
  } else {
    throw new ScepMessageError(`unsupported key transport ${algorithm}`, { cause: 'badAlg' });
  }
  try {
    const d = createDecipheriv(cipher.name, key, iv);
    return { content: Buffer.concat([d.update(ciphertext), d.final()]), cipher: cipher.name };
  } catch (err) {
    throw new ScepMessageError('the EnvelopedData does not decrypt', { cause: err });
  }
}

/** Encrypt `content` to an RSA certificate: random content key, RSAES-PKCS1-v1_5 key transport. */
export function sealEnvelope(content: Buffer, recipientCertificateDer: Buffer, cipher: ContentCipher = 'aes-256-cbc'): Buffer {
  const recipientCert = pkijs.Certificate.fromBER(recipientCertificateDer);
  const publicKey = new X509Certificate(recipientCertificateDer).publicKey;
  if (publicKey.asymmetricKeyType !== 'rsa') throw new ScepMessageError('SCEP key transport needs an RSA recipient certificate');
  const spec = CIPHERS[CIPHER_OID[cipher]] as { keyLength: number; ivLength: number };
  const key = randomBytes(spec.keyLength);
  const iv = randomBytes(spec.ivLength);
  const c = createCipheriv(cipher, key, iv);
  const ciphertext = Buffer.concat([c.update(content), c.final()]);
  // Public-key encryption with PKCS#1 v1.5 padding is not affected by the Marvin attack; only the
  // private side is, and Apple devices and OpenSSL clients expect exactly this transport.
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, key);

  const recipientInfo = new pkijs.RecipientInfo({
    variant: 1,
    value: new pkijs.KeyTransRecipientInfo({
      version: 0,
      rid: new pkijs.IssuerAndSerialNumber({ issuer: recipientCert.issuer, serialNumber: recipientCert.serialNumber }),
      keyEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.rsaEncryption, algorithmParams: new asn1js.Null() }),
      encryptedKey: new asn1js.OctetString({ valueHex: encryptedKey }),
    }),
  });
  const encryptedContentInfo = new pkijs.EncryptedContentInfo({
    contentType: OID.data,
    contentEncryptionAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: CIPHER_OID[cipher], algorithmParams: new asn1js.OctetString({ valueHex: iv }) }),
  });
  // [0] IMPLICIT OCTET STRING, primitive: assigned directly so PKI.js does not split it.
  encryptedContentInfo.encryptedContent = new asn1js.OctetString({ valueHex: ciphertext });
  const enveloped = new pkijs.EnvelopedData({ version: 0, recipientInfos: [recipientInfo], encryptedContentInfo });
  return contentInfo(OID.envelopedData, enveloped.toSchema());
}

// ---------------------------------------------------------------------------------- helpers

function parseSignedData(der: Uint8Array): pkijs.SignedData {
  try {
    const info = pkijs.ContentInfo.fromBER(der);
    if (info.contentType !== OID.signedData) throw new ScepMessageError(`not a SignedData (content type ${info.contentType})`);
    return new pkijs.SignedData({ schema: info.content });
  } catch (err) {
    if (err instanceof ScepMessageError) throw err;
    throw new ScepMessageError('malformed SignedData', { cause: err });
  }
}

function encapsulatedContent(signedData: pkijs.SignedData): Buffer | undefined {
  const eContent = signedData.encapContentInfo.eContent;
  if (eContent === undefined) return undefined;
  return octets(eContent, 'encapsulated content');
}

function findSignerCertificate(signedData: pkijs.SignedData, signerInfo: pkijs.SignerInfo): Buffer {
  const certificates = (signedData.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
  const sid = signerInfo.sid as unknown;
  for (const certificate of certificates) {
    const der = Buffer.from(certificate.toSchema().toBER(false));
    if (sid instanceof pkijs.IssuerAndSerialNumber) {
      if (certificate.issuer.isEqual(sid.issuer) && certificate.serialNumber.isEqual(sid.serialNumber)) return der;
    } else if (sid instanceof asn1js.Constructed || sid instanceof asn1js.Primitive) {
      const keyId = octetsOfImplicit(sid);
      if (keyId !== undefined && subjectKeyId(certificate)?.equals(keyId)) return der;
    }
  }
  throw new ScepMessageError('the signer certificate is not embedded in the pkiMessage');
}

function subjectKeyId(certificate: pkijs.Certificate): Buffer | undefined {
  const extension = certificate.extensions?.find((e) => e.extnID === '2.5.29.14');
  const parsed = extension?.parsedValue as unknown;
  return parsed instanceof asn1js.OctetString ? Buffer.from(parsed.valueBlock.valueHexView) : undefined;
}

function octetsOfImplicit(node: asn1js.Constructed | asn1js.Primitive): Buffer | undefined {
  return node instanceof asn1js.Primitive ? Buffer.from(node.valueBlock.valueHexView) : undefined;
}

function checkSignature(signerInfo: pkijs.SignerInfo, certificateDer: Buffer, digest: DigestName, content: Buffer, attributes: pkijs.Attribute[]): boolean {
  try {
    if (!RSA_SIGNATURE_OIDS.has(signerInfo.signatureAlgorithm.algorithmId)) return false;
    // RFC 5652 §5.3: with signed attributes, contentType and messageDigest are mandatory.
    const messageDigest = attributes.filter((a) => a.type === OID.messageDigest);
    const contentType = attributes.filter((a) => a.type === OID.contentType);
    if (messageDigest.length !== 1 || contentType.length !== 1) return false;
    const digestValue = octetValue(messageDigest[0]?.values[0], 'messageDigest');
    const expected = createHash(digest).update(content).digest();
    if (digestValue === undefined || digestValue.length !== expected.length || !timingSafeEqual(digestValue, expected)) return false;
    const encoded = signerInfo.signedAttrs?.encodedValue;
    if (encoded === undefined || encoded.byteLength === 0) return false;
    // The signature covers the attributes exactly as received, their [0] tag read as SET OF.
    const signed = Buffer.from(new Uint8Array(encoded));
    signed[0] = 0x31;
    const publicKey = new X509Certificate(certificateDer).publicKey;
    return verify(digest, signed, publicKey, Buffer.from(signerInfo.signature.valueBlock.valueHexView));
  } catch {
    return false;
  }
}

function addressedTo(info: pkijs.KeyTransRecipientInfo, certificateDer: Buffer): boolean {
  const certificate = pkijs.Certificate.fromBER(certificateDer);
  const rid = info.rid as unknown;
  if (rid instanceof pkijs.IssuerAndSerialNumber) return certificate.issuer.isEqual(rid.issuer) && certificate.serialNumber.isEqual(rid.serialNumber);
  if (rid instanceof asn1js.OctetString || rid instanceof asn1js.Primitive) {
    const keyId = Buffer.from((rid as asn1js.Primitive).valueBlock.valueHexView);
    return subjectKeyId(certificate)?.equals(keyId) ?? false;
  }
  return false;
}

/**
 * RSAES-PKCS1-v1_5 decryption (RFC 8017 §7.2.2) of a content key of `keyLength` bytes, with
 * implicit rejection: when the block is malformed or the key has the wrong length, the result
 * is a key derived from the ciphertext (HMAC with a server secret), chosen without branching on
 * the padding, so the caller fails later, the same way as with any wrong key.
 */
function rsaPkcs1Unwrap(privateKey: KeyObject, encryptedKey: Buffer, keyLength: number, rejectionSecret: Buffer): Buffer {
  const modulusBytes = Math.ceil((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  const synthetic = createHmac('sha256', rejectionSecret).update(encryptedKey).digest();
  const fallback = Buffer.concat([synthetic, createHmac('sha256', rejectionSecret).update(synthetic).digest()]).subarray(0, keyLength);
  if (modulusBytes === 0 || encryptedKey.length !== modulusBytes) return fallback;
  let block: Buffer;
  try {
    block = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, encryptedKey);
  } catch {
    // Only a ciphertext ≥ the modulus gets here: a public property of the input, not an oracle.
    return fallback;
  }
  // EM = 0x00 || 0x02 || PS (≥ 8 non-zero bytes) || 0x00 || M, with |M| = keyLength.
  const separator = block.length - keyLength - 1;
  let bad = (block[0] ?? 1) | ((block[1] ?? 0) ^ 0x02);
  bad |= separator < 10 ? 1 : 0;
  for (let i = 2; i < block.length - keyLength - 1; i++) bad |= (block[i] ?? 0) === 0 ? 1 : 0;
  bad |= block[separator] ?? 1;
  const mask = -(bad === 0 ? 0 : 1) & 0xff;
  const key = Buffer.alloc(keyLength);
  for (let i = 0; i < keyLength; i++) {
    const real = block[block.length - keyLength + i] ?? 0;
    const fake = fallback[i] ?? 0;
    key[i] = (real & ~mask) | (fake & mask);
  }
  return key;
}

function rsaOaepUnwrap(privateKey: KeyObject, encryptedKey: Buffer, params: unknown, keyLength: number, rejectionSecret: Buffer): Buffer {
  let oaepHash: DigestName = 'sha1';
  // RSAES-OAEP-params: [0] hashAlgorithm (default SHA-1); node uses the same hash for MGF1.
  if (params instanceof asn1js.Sequence) {
    const hashNode = params.valueBlock.value.find((n) => n.idBlock.tagClass === 3 && n.idBlock.tagNumber === 0);
    const inner = hashNode instanceof asn1js.Constructed ? hashNode.valueBlock.value[0] : undefined;
    if (inner !== undefined) {
      const id = new pkijs.AlgorithmIdentifier({ schema: inner }).algorithmId;
      const named = DIGEST_BY_OID[id];
      if (named === undefined) throw new ScepMessageError(`unsupported OAEP hash ${id}`, { cause: 'badAlg' });
      oaepHash = named;
    }
  }
  try {
    const key = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, encryptedKey);
    if (key.length === keyLength) return key;
  } catch {
    // fall through to the same kind of failure as a wrong key
  }
  return createHmac('sha256', rejectionSecret).update(encryptedKey).digest().subarray(0, keyLength);
}

function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/** SET OF is ordered by encoding in DER; verifiers that re-encode must agree with our bytes. */
function derSorted(attributes: pkijs.Attribute[]): pkijs.Attribute[] {
  return attributes
    .map((a) => ({ a, der: Buffer.from(a.toSchema().toBER(false)) }))
    .sort((x, y) => Buffer.compare(x.der, y.der))
    .map((x) => x.a);
}

function contentInfo(contentType: string, content: asn1js.AsnType): Buffer {
  return Buffer.from(new pkijs.ContentInfo({ contentType, content }).toSchema().toBER(false));
}

/** The bytes of an OCTET STRING, primitive or BER-constructed from pieces. */
function octets(node: unknown, what: string, depth = 0): Buffer {
  if (depth > 8) throw new ScepMessageError(`${what} is nested too deeply`);
  if (!(node instanceof asn1js.OctetString)) throw new ScepMessageError(`${what} is not an OCTET STRING`);
  if (!node.idBlock.isConstructed) return Buffer.from(node.valueBlock.valueHexView);
  return Buffer.concat(node.valueBlock.value.map((piece) => octets(piece, what, depth + 1)));
}

function octetValue(node: unknown, what: string): Buffer | undefined {
  if (node === undefined) return undefined;
  return octets(node, what);
}

const STRING_TYPES = [asn1js.PrintableString, asn1js.Utf8String, asn1js.IA5String, asn1js.VisibleString] as const;

function printable(node: unknown, what: string): string | undefined {
  if (node === undefined) return undefined;
  for (const type of STRING_TYPES) if (node instanceof type) return node.valueBlock.value;
  throw new ScepMessageError(`${what} is not a string`);
}

function decimal(node: unknown, what: string): number | undefined {
  const text = printable(node, what);
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,3}$/.test(text)) throw new ScepMessageError(`${what} is not a small decimal number`);
  return Number(text);
}

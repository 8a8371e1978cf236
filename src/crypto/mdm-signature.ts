// The Mdm-Signature header: base64 of a detached CMS SignedData over the exact request body,
// signed with the device's identity key (Apple's SignMessage / "Mdm-Signature" check-in
// setting). This is the check-in hot path, so instead of PKI.js (≈2.5 ms a parse, DESIGN.md
// performance notes) it walks the structure with der-reader.ts and verifies with node:crypto.
//
// What devices send: Apple's Security framework encodes CMS the way NSS did, streaming, so the
// outer layers (ContentInfo, its [0], SignedData, encapContentInfo, the certificates [0]) may
// use BER indefinite lengths closed by end-of-contents markers, while the certificates and
// signed attributes inside are DER. Go's pkcs7 package needed a BER-to-DER pass for exactly
// these headers (micromdm/micromdm#211, micromdm/nanomdm#32). We accept indefinite lengths on
// constructed values outside the certificates and the signed attributes, bounded by depth.
//
//   ContentInfo ::= SEQUENCE { contentType id-signedData, [0] EXPLICIT SignedData }
//   SignedData  ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo SEQUENCE
//                  { id-data } (no eContent: detached), certificates [0] IMPLICIT OPTIONAL,
//                  crls [1] IMPLICIT OPTIONAL, signerInfos SET }
//   SignerInfo  ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT,
//                  signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] OPTIONAL }

import { constants, createHash, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject, VerifyKeyObjectInput } from 'node:crypto';
import { contentOf, DerCursor, DerError, encodeLength, encodingOf, oidKey, oidKeyOf, readSmallUnsigned, Tag } from './der-reader.ts';
import type { DerReadOptions, Tlv } from './der-reader.ts';
import { MdmSignatureError } from './device-identity-error.ts';
import type { DeviceTrust } from './device-trust.ts';

export { MdmSignatureError } from './device-identity-error.ts';
export type { MdmSignatureReason } from './device-identity-error.ts';
export { certificateFromProxyHeader } from './proxy-client-certificate.ts';

export interface VerifiedIdentity {
  certificateDer: Buffer;
  /** Hex SHA-256 of the certificate DER. */
  certHash: string;
  subject: string;
  serialNumber: string;
  notAfter: Date;
}

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export type SignatureScheme =
  | { kind: 'rsa-pkcs1'; hash: HashName }
  | { kind: 'rsa-pss'; hash: HashName; saltLength: number }
  | { kind: 'ecdsa'; hash: HashName };

export type SignerIdentifier = { kind: 'issuer-serial'; issuer: Buffer; serial: Buffer } | { kind: 'subject-key-id'; keyId: Buffer };

/** What the header holds, before any cryptography. Exported for tests and tools. */
export interface DetachedSignature {
  /** Every certificate in the SignedData, DER, in order. All buffers here are views into the parsed input, not copies. */
  certificates: Buffer[];
  signerId: SignerIdentifier;
  digestAlgorithm: HashName;
  scheme: SignatureScheme;
  /** The signed attributes re-encoded as a DER SET (tag 0x31): the bytes the signature covers. */
  signedAttributes: Buffer;
  messageDigest: Buffer;
  signature: Buffer;
}

/** 64 KiB of signature: a leaf, a few intermediates and a 4096-bit signature fit many times over. */
const MAX_SIGNATURE_BYTES = 64 * 1024;
const MAX_CERTIFICATES = 16;
const MAX_ATTRIBUTES = 32;
const MAX_DIGEST_ALGORITHMS = 8;
const STRUCTURE: DerReadOptions = { allowIndefinite: true, maxDepth: 16 };
const STRICT: DerReadOptions = { allowIndefinite: false, maxDepth: 16 };

const OID = {
  signedData: oidKeyOf('1.2.840.113549.1.7.2'),
  data: oidKeyOf('1.2.840.113549.1.7.1'),
  contentType: oidKeyOf('1.2.840.113549.1.9.3'),
  messageDigest: oidKeyOf('1.2.840.113549.1.9.4'),
  subjectKeyIdentifier: oidKeyOf('2.5.29.14'),
  rsaEncryption: oidKeyOf('1.2.840.113549.1.1.1'),
  rsaPss: oidKeyOf('1.2.840.113549.1.1.10'),
  mgf1: oidKeyOf('1.2.840.113549.1.1.8'),
  ecPublicKey: oidKeyOf('1.2.840.10045.2.1'),
} as const;

const DIGESTS = new Map<string, HashName>([
  [oidKeyOf('1.3.14.3.2.26'), 'sha1'],
  [oidKeyOf('2.16.840.1.101.3.4.2.1'), 'sha256'],
  [oidKeyOf('2.16.840.1.101.3.4.2.2'), 'sha384'],
  [oidKeyOf('2.16.840.1.101.3.4.2.3'), 'sha512'],
]);

const RSA_PKCS1_WITH = new Map<string, HashName>([
  [oidKeyOf('1.2.840.113549.1.1.5'), 'sha1'],
  [oidKeyOf('1.2.840.113549.1.1.11'), 'sha256'],
  [oidKeyOf('1.2.840.113549.1.1.12'), 'sha384'],
  [oidKeyOf('1.2.840.113549.1.1.13'), 'sha512'],
]);

const ECDSA_WITH = new Map<string, HashName>([
  [oidKeyOf('1.2.840.10045.4.1'), 'sha1'],
  [oidKeyOf('1.2.840.10045.4.3.2'), 'sha256'],
  [oidKeyOf('1.2.840.10045.4.3.3'), 'sha384'],
  [oidKeyOf('1.2.840.10045.4.3.4'), 'sha512'],
]);

/**
 * Authenticate a request body by its Mdm-Signature header: the signature must be over `body`
 * (messageDigest), made by the key of the embedded signer certificate, and that certificate
 * must be trusted by `trust` at `now`. Throws MdmSignatureError and nothing else.
 */
export function verifyMdmSignature(signatureHeader: string, body: Buffer, trust: DeviceTrust, now: Date = new Date()): VerifiedIdentity {
  try {
    const parsed = parseDetachedSignature(decodeHeader(signatureHeader));
    const bodyDigest = createHash(parsed.digestAlgorithm).update(body).digest();
    if (!bodyDigest.equals(parsed.messageDigest)) throw new MdmSignatureError('digest-mismatch', 'the signature does not cover this request body');
    const signerCertificate = findSignerCertificate(parsed);
    // Chain first: on the hot path it is a cache hit that also hands us the parsed public key.
    const trusted = trust.check(signerCertificate, now);
    if (!verifySignedAttributes(parsed, trusted.publicKey)) {
      throw new MdmSignatureError('bad-signature', 'the signature does not verify with the signer certificate');
    }
    return {
      certificateDer: trusted.certificateDer,
      certHash: trusted.certHash,
      subject: trusted.subject,
      serialNumber: trusted.serialNumber,
      notAfter: trusted.notAfter,
    };
  } catch (err) {
    if (err instanceof MdmSignatureError) throw err;
    if (err instanceof DerError) throw new MdmSignatureError('malformed', `malformed Mdm-Signature: ${err.message}`, { cause: err });
    // node:crypto may still throw on a hostile key or parameter; the contract is one error type.
    throw new MdmSignatureError('malformed', `unusable Mdm-Signature: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function decodeHeader(header: string): Buffer {
  if (typeof header !== 'string') throw new MdmSignatureError('malformed', 'missing Mdm-Signature header');
  const text = header.replace(/[\s]+/g, '');
  if (text.length === 0) throw new MdmSignatureError('malformed', 'empty Mdm-Signature header');
  if (text.length > Math.ceil(MAX_SIGNATURE_BYTES / 3) * 4) throw new MdmSignatureError('malformed', 'Mdm-Signature header is too large');
  // Buffer.from(…, 'base64') silently skips foreign characters; refuse them instead.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 === 1) throw new MdmSignatureError('malformed', 'Mdm-Signature header is not base64');
  return Buffer.from(text, 'base64');
}

/** Parse the detached SignedData without verifying anything. Throws DerError or MdmSignatureError. */
export function parseDetachedSignature(der: Buffer): DetachedSignature {
  const top = new DerCursor(der, 0, der.length, STRUCTURE);
  const contentInfoTlv = top.expect(Tag.SEQUENCE, 'ContentInfo');
  top.finish('ContentInfo');
  const contentInfo = top.enter(contentInfoTlv);
  if (oidKey(der, contentInfo.read('contentType'), 'contentType') !== OID.signedData) throw new DerError('ContentInfo is not SignedData');
  const explicit = contentInfo.enter(contentInfo.expect(Tag.context(0), 'ContentInfo content'));
  contentInfo.finish('ContentInfo');
  const signedDataTlv = explicit.expect(Tag.SEQUENCE, 'SignedData');
  explicit.finish('SignedData');
  const signedData = explicit.enter(signedDataTlv);

  const version = readSmallUnsigned(der, signedData.read('SignedData version'), 'SignedData version');
  if (version !== 1 && version !== 3) throw new DerError(`SignedData version ${version}`);
  const digestAlgorithms = signedData.enter(signedData.expect(Tag.SET, 'digestAlgorithms'));
  for (let i = 0; !digestAlgorithms.done; i++) {
    if (i >= MAX_DIGEST_ALGORITHMS) throw new DerError('too many digestAlgorithms');
    // Unused (the SignerInfo names its own digest), but it must still be a well-formed digest
    // AlgorithmIdentifier: parameters absent or NULL (RFC 5754), as PKI.js and OpenSSL insist.
    const algorithm = digestAlgorithms.enter(digestAlgorithms.expect(Tag.SEQUENCE, 'digestAlgorithm'));
    oidKey(der, algorithm.read('digest algorithm'), 'digest algorithm');
    algorithm.optionalNull('digest parameters');
    algorithm.finish('digestAlgorithm');
  }

  const encap = signedData.enter(signedData.expect(Tag.SEQUENCE, 'encapContentInfo'));
  if (oidKey(der, encap.read('eContentType'), 'eContentType') !== OID.data) throw new DerError('encapsulated content type is not id-data');
  if (!encap.done) throw new MdmSignatureError('malformed', 'the Mdm-Signature carries content: a detached signature is expected');

  const certificates: Buffer[] = [];
  const certificateSet = signedData.optional(Tag.context(0), 'certificates');
  if (certificateSet !== undefined) {
    const certs = signedData.enter(certificateSet);
    while (!certs.done) {
      const cert = certs.read('certificate');
      // Other CertificateChoices (attribute certificates, …) never identify a device.
      if (cert.tag !== Tag.SEQUENCE) continue;
      if (cert.indefinite) throw new DerError('certificate with an indefinite length');
      if (certificates.length >= MAX_CERTIFICATES) throw new DerError('too many certificates');
      certificates.push(der.subarray(cert.offset, cert.next));
    }
  }
  signedData.optional(Tag.context(1), 'crls');
  const signerInfos = signedData.enter(signedData.expect(Tag.SET, 'signerInfos'));
  signedData.finish('SignedData');
  const signerInfoTlv = signerInfos.expect(Tag.SEQUENCE, 'SignerInfo');
  if (!signerInfos.done) throw new MdmSignatureError('malformed', 'the Mdm-Signature has more than one signer');
  return { certificates, ...parseSignerInfo(der, signerInfos.enter(signerInfoTlv)) };
}

function parseSignerInfo(der: Buffer, signer: DerCursor): Omit<DetachedSignature, 'certificates'> {
  const version = readSmallUnsigned(der, signer.read('SignerInfo version'), 'SignerInfo version');
  let signerId: SignerIdentifier;
  const sid = signer.read('sid');
  if (version === 1 && sid.tag === Tag.SEQUENCE) {
    const issuerAndSerial = signer.enter(sid);
    const issuer = issuerAndSerial.expect(Tag.SEQUENCE, 'issuer');
    const serial = issuerAndSerial.expect(Tag.INTEGER, 'serialNumber');
    issuerAndSerial.finish('issuerAndSerialNumber');
    signerId = { kind: 'issuer-serial', issuer: der.subarray(issuer.offset, issuer.next), serial: der.subarray(serial.start, serial.end) };
  } else if (version === 3 && sid.tag === Tag.contextPrimitive(0)) {
    signerId = { kind: 'subject-key-id', keyId: der.subarray(sid.start, sid.end) };
  } else {
    throw new DerError(`SignerInfo version ${version} with sid tag 0x${sid.tag.toString(16)}`);
  }
  const digestAlgorithm = readDigestAlgorithm(der, signer, signer.expect(Tag.SEQUENCE, 'digestAlgorithm'));
  const attributesTlv = signer.optional(Tag.context(0), 'signedAttrs');
  if (attributesTlv === undefined) throw new MdmSignatureError('malformed', 'the Mdm-Signature has no signed attributes');
  const { signedAttributes, messageDigest } = readSignedAttributes(der, signer.enter(attributesTlv), attributesTlv);
  const scheme = readSignatureAlgorithm(der, signer, signer.expect(Tag.SEQUENCE, 'signatureAlgorithm'), digestAlgorithm);
  const signatureTlv = signer.expect(Tag.OCTET_STRING, 'signature');
  signer.optional(Tag.context(1), 'unsignedAttrs');
  signer.finish('SignerInfo');
  return { signerId, digestAlgorithm, scheme, signedAttributes, messageDigest, signature: der.subarray(signatureTlv.start, signatureTlv.end) };
}

function readDigestAlgorithm(der: Buffer, parent: DerCursor, tlv: Tlv): HashName {
  const algorithm = parent.enter(tlv);
  const hash = DIGESTS.get(oidKey(der, algorithm.read('digest algorithm'), 'digest algorithm'));
  if (hash === undefined) throw new MdmSignatureError('unsupported-algorithm', 'unsupported digest algorithm');
  algorithm.optionalNull('digest parameters');
  algorithm.finish('digest algorithm');
  return hash;
}

/**
 * RFC 5652 §5.3–5.4: contentType (id-data) and messageDigest each exactly once, one value;
 * the signature covers the attributes DER-encoded with a SET tag, not the [0] they travel in.
 */
function readSignedAttributes(der: Buffer, attributes: DerCursor, container: Tlv): { signedAttributes: Buffer; messageDigest: Buffer } {
  let contentTypeSeen = false;
  let messageDigest: Buffer | undefined;
  for (let count = 0; !attributes.done; count++) {
    if (count >= MAX_ATTRIBUTES) throw new DerError('too many signed attributes');
    const attributeTlv = attributes.expect(Tag.SEQUENCE, 'attribute');
    // The signer hashed DER; an indefinite length here cannot be what it signed.
    if (attributeTlv.indefinite) throw new DerError('signed attribute with an indefinite length');
    const attribute = attributes.enter(attributeTlv);
    const type = oidKey(der, attribute.read('attribute type'), 'attribute type');
    const valuesTlv = attribute.expect(Tag.SET, 'attribute values');
    attribute.finish('attribute');
    if (type !== OID.contentType && type !== OID.messageDigest) continue;
    const values = attribute.enter(valuesTlv);
    const value = values.read('attribute value');
    values.finish('attribute values (exactly one is allowed)');
    if (type === OID.contentType) {
      if (contentTypeSeen) throw new DerError('contentType attribute twice');
      contentTypeSeen = true;
      if (oidKey(der, value, 'contentType value') !== OID.data) throw new DerError('signed contentType is not id-data');
    } else {
      if (messageDigest !== undefined) throw new DerError('messageDigest attribute twice');
      if (value.tag !== Tag.OCTET_STRING) throw new DerError('messageDigest is not an OCTET STRING');
      messageDigest = der.subarray(value.start, value.end);
    }
  }
  if (!contentTypeSeen) throw new MdmSignatureError('malformed', 'signed attributes lack contentType');
  if (messageDigest === undefined) throw new MdmSignatureError('malformed', 'signed attributes lack messageDigest');
  const content = der.subarray(container.start, container.end);
  const header = Buffer.concat([Buffer.from([Tag.SET]), encodeLength(content.length)]);
  return { signedAttributes: Buffer.concat([header, content]), messageDigest };
}

function readSignatureAlgorithm(der: Buffer, parent: DerCursor, tlv: Tlv, digest: HashName): SignatureScheme {
  const algorithm = parent.enter(tlv);
  const oid = oidKey(der, algorithm.read('signature algorithm'), 'signature algorithm');
  let scheme: SignatureScheme;
  const pkcs1 = RSA_PKCS1_WITH.get(oid);
  const ecdsa = ECDSA_WITH.get(oid);
  if (pkcs1 !== undefined) {
    scheme = { kind: 'rsa-pkcs1', hash: pkcs1 };
    algorithm.optionalNull('signature parameters');
  } else if (oid === OID.rsaEncryption) {
    // Many CMS encoders name the key type and leave the hash to digestAlgorithm.
    scheme = { kind: 'rsa-pkcs1', hash: digest };
    algorithm.optionalNull('signature parameters');
  } else if (ecdsa !== undefined) {
    scheme = { kind: 'ecdsa', hash: ecdsa };
  } else if (oid === OID.ecPublicKey) {
    scheme = { kind: 'ecdsa', hash: digest };
    // Whatever the curve parameter says, the certificate's key decides the curve.
    if (!algorithm.done) algorithm.read('EC parameters');
  } else if (oid === OID.rsaPss) {
    scheme = readPssParameters(der, algorithm, algorithm.expect(Tag.SEQUENCE, 'RSASSA-PSS parameters'));
  } else {
    throw new MdmSignatureError('unsupported-algorithm', 'unsupported signature algorithm');
  }
  algorithm.finish('signature algorithm');
  return scheme;
}

/** RFC 4055 RSASSA-PSS-params; node verifies MGF1 with the message hash, so they must agree. */
function readPssParameters(der: Buffer, parent: DerCursor, tlv: Tlv): SignatureScheme {
  const params = parent.enter(tlv);
  let hash: HashName = 'sha1';
  let mgfHash: HashName = 'sha1';
  let saltLength = 20;
  const hashTlv = params.optional(Tag.context(0), 'PSS hash');
  if (hashTlv !== undefined) {
    const inner = params.enter(hashTlv);
    hash = readDigestAlgorithm(der, inner, inner.expect(Tag.SEQUENCE, 'PSS hash algorithm'));
    inner.finish('PSS hash');
  }
  const mgfTlv = params.optional(Tag.context(1), 'PSS mask generation');
  if (mgfTlv !== undefined) {
    const inner = params.enter(mgfTlv);
    const mgf = inner.enter(inner.expect(Tag.SEQUENCE, 'MGF algorithm'));
    inner.finish('PSS mask generation');
    if (oidKey(der, mgf.read('MGF'), 'MGF') !== OID.mgf1) throw new MdmSignatureError('unsupported-algorithm', 'unsupported PSS mask generation function');
    mgfHash = readDigestAlgorithm(der, mgf, mgf.expect(Tag.SEQUENCE, 'MGF1 hash'));
    mgf.finish('MGF');
  }
  const saltTlv = params.optional(Tag.context(2), 'PSS salt length');
  if (saltTlv !== undefined) {
    const inner = params.enter(saltTlv);
    saltLength = readSmallUnsigned(der, inner.read('salt length'), 'salt length');
    inner.finish('PSS salt length');
  }
  const trailerTlv = params.optional(Tag.context(3), 'PSS trailer');
  if (trailerTlv !== undefined) {
    const inner = params.enter(trailerTlv);
    if (readSmallUnsigned(der, inner.read('trailer field'), 'trailer field') !== 1) throw new DerError('PSS trailer field is not 1');
    inner.finish('PSS trailer');
  }
  params.finish('RSASSA-PSS parameters');
  if (mgfHash !== hash) throw new MdmSignatureError('unsupported-algorithm', 'PSS with an MGF1 hash different from the message hash');
  return { kind: 'rsa-pss', hash, saltLength };
}

/** The embedded certificate the SignerInfo names, by issuer and serial number or by key id. */
function findSignerCertificate(parsed: DetachedSignature): Buffer {
  for (const certificate of parsed.certificates) {
    if (certificateMatchesSafely(certificate, parsed.signerId)) return certificate;
  }
  throw new MdmSignatureError('no-signer-certificate', 'the Mdm-Signature does not include the signer certificate');
}

/** An unreadable certificate beside the signer's is not the signer's, and not our problem. */
function certificateMatchesSafely(der: Buffer, id: SignerIdentifier): boolean {
  try {
    return certificateMatches(der, id);
  } catch (err) {
    if (err instanceof DerError) return false;
    throw err;
  }
}

function certificateMatches(der: Buffer, id: SignerIdentifier): boolean {
  const outer = new DerCursor(der, 0, der.length, STRICT);
  const certificate = outer.enter(outer.expect(Tag.SEQUENCE, 'Certificate'));
  const tbs = certificate.enter(certificate.expect(Tag.SEQUENCE, 'tbsCertificate'));
  tbs.optional(Tag.context(0), 'version');
  const serial = tbs.expect(Tag.INTEGER, 'serialNumber');
  tbs.expect(Tag.SEQUENCE, 'signature');
  const issuer = tbs.expect(Tag.SEQUENCE, 'issuer');
  if (id.kind === 'issuer-serial') {
    return id.serial.equals(contentOf(der, serial)) && id.issuer.equals(encodingOf(der, issuer));
  }
  tbs.expect(Tag.SEQUENCE, 'validity');
  tbs.expect(Tag.SEQUENCE, 'subject');
  tbs.expect(Tag.SEQUENCE, 'subjectPublicKeyInfo');
  tbs.optional(Tag.contextPrimitive(1), 'issuerUniqueID');
  tbs.optional(Tag.contextPrimitive(2), 'subjectUniqueID');
  const extensionsTlv = tbs.optional(Tag.context(3), 'extensions');
  if (extensionsTlv === undefined) return false;
  const wrapper = tbs.enter(extensionsTlv);
  const extensions = wrapper.enter(wrapper.expect(Tag.SEQUENCE, 'Extensions'));
  while (!extensions.done) {
    const extension = extensions.enter(extensions.expect(Tag.SEQUENCE, 'Extension'));
    if (oidKey(der, extension.read('extnID'), 'extnID') !== OID.subjectKeyIdentifier) continue;
    extension.optional(Tag.BOOLEAN, 'critical');
    const value = extension.expect(Tag.OCTET_STRING, 'extnValue');
    const inner = new DerCursor(der, value.start, value.end, STRICT);
    const keyId = inner.expect(Tag.OCTET_STRING, 'SubjectKeyIdentifier');
    inner.finish('SubjectKeyIdentifier');
    return id.keyId.equals(contentOf(der, keyId));
  }
  return false;
}

function verifySignedAttributes(parsed: DetachedSignature, publicKey: KeyObject): boolean {
  const { scheme } = parsed;
  const type = publicKey.asymmetricKeyType;
  let key: KeyObject | VerifyKeyObjectInput = publicKey;
  if (scheme.kind === 'rsa-pkcs1') {
    if (type !== 'rsa') return false;
  } else if (scheme.kind === 'rsa-pss') {
    if (type !== 'rsa' && type !== 'rsa-pss') return false;
    key = { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength };
  } else if (type !== 'ec') {
    return false;
  }
  try {
    return cryptoVerify(scheme.hash, parsed.signedAttributes, key, parsed.signature);
  } catch {
    // OpenSSL throws rather than answering false on some malformed signatures (e.g. bad ECDSA DER).
    return false;
  }
}

// PKCS#12 (RFC 7292): building the identity embedded in an enrollment profile
// (`&identity=pkcs12`), and reading the .p12 an admin exports for the APNs push certificate.
//
// Writing uses the legacy algorithms on purpose: keys and certificates encrypted with
// pbeWithSHAAnd3-KeyTripleDES-CBC, integrity by HMAC-SHA1 with the PKCS#12 key derivation.
// That is what Apple Configurator and most MDMs ship in a com.apple.security.pkcs12 payload,
// and every iOS, iPadOS and macOS release imports it; PBES2/AES with a SHA-256 MAC (OpenSSL 3's
// default) is refused by older releases still in fleets ("incorrect password"). The password
// travels in the same profile, so the weaker cipher costs nothing real here.
//
// Reading accepts both generations: PKCS#12 PBE with 3DES or RC2 (OpenSSL -legacy, Keychain
// Access, Windows) and PBES2 with PBKDF2 and AES-CBC or 3DES (OpenSSL 3 default), MACs with
// SHA-1/256/384/512.
//
// The structure is built and read with PKI.js; the ciphers and key derivation are node:crypto
// (WebCrypto has neither 3DES nor the PKCS#12 KDF, so PKI.js's own PFX crypto cannot do this).

import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, pbkdf2Sync, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { pemBlocks } from './device-trust.ts';
import { rc2CbcDecrypt } from './rc2.ts';

export interface Pkcs12Identity {
  certificatePem: string;
  /** Unencrypted PKCS#8 PEM. */
  privateKeyPem: string;
  chainPem: string[];
}

export interface BuildPkcs12Options {
  certificatePem: string;
  privateKeyPem: string;
  /** Issuer certificates to include; each string may hold several PEM blocks. */
  chainPem?: string[];
  password: string;
  /** Shown by the device as the identity's name. */
  friendlyName?: string;
  /** PBE and MAC iterations; default 2048 (OpenSSL's). */
  iterations?: number;
}

export class Pkcs12Error extends Error {
  override readonly name = 'Pkcs12Error';

  constructor(
    readonly code: 'malformed' | 'bad-password' | 'unsupported' | 'no-identity' | 'invalid-input',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  pbeSha1TripleDes: '1.2.840.113549.1.12.1.3',
  pbeSha1TwoKeyTripleDes: '1.2.840.113549.1.12.1.4',
  pbeSha1Rc2x128: '1.2.840.113549.1.12.1.5',
  pbeSha1Rc2x40: '1.2.840.113549.1.12.1.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  sha1: '1.3.14.3.2.26',
} as const;

type Hash = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
const DIGEST_BY_OID: Record<string, Hash> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const HMAC_BY_OID: Record<string, Hash> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};
const PBES2_CIPHERS: Record<string, { name: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24 },
};
const HASH_BYTES: Record<Hash, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };
const BLOCK_BYTES: Record<Hash, number> = { sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128 };

/** A file asking for more is an attack on our CPU, not a stronger key. */
const MAX_ITERATIONS = 2_000_000;
const MAX_INPUT_BYTES = 1024 * 1024;
const DEFAULT_ITERATIONS = 2048;

// ---------------------------------------------------------------------------------- writing

export async function buildPkcs12(options: BuildPkcs12Options): Promise<Buffer> {
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) throw new Pkcs12Error('invalid-input', 'iterations out of range');
  if (typeof options.password !== 'string') throw new Pkcs12Error('invalid-input', 'a password is required');
  const certificates = pemBlocks(options.certificatePem);
  const leaf = certificates[0];
  if (certificates.length !== 1 || leaf === undefined) throw new Pkcs12Error('invalid-input', 'certificatePem must hold exactly one certificate');
  const chain = (options.chainPem ?? []).flatMap((pem) => pemBlocks(pem));
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: options.privateKeyPem, format: 'pem' });
  } catch (err) {
    throw new Pkcs12Error('invalid-input', 'privateKeyPem is not a readable, unencrypted PEM private key', { cause: err });
  }
  if (!keyMatches(key, leaf)) throw new Pkcs12Error('invalid-input', 'the private key does not belong to the certificate');
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });

  // localKeyId ties the key to its certificate; the SHA-1 of the certificate is the usual value.
  const localKeyId = createHash('sha1').update(leaf).digest();
  const leafAttributes = bagAttributes(localKeyId, options.friendlyName);

  const certificateBags = [leaf, ...chain].map(
    (der, index) =>
      new pkijs.SafeBag({
        bagId: OID.certBag,
        bagValue: new pkijs.CertBag({ certId: OID.x509Certificate, certValue: new asn1js.OctetString({ valueHex: der }) }),
        ...(index === 0 && { bagAttributes: leafAttributes }),
      }),
  );
  const certificateSafe = derOf(new pkijs.SafeContents({ safeBags: certificateBags }).toSchema());
  const encryptedCertificates = tripleDesPbe(certificateSafe, options.password, iterations);

  const encryptedKey = tripleDesPbe(pkcs8, options.password, iterations);
  const keyBag = new pkijs.SafeBag({
    bagId: OID.shroudedKeyBag,
    bagValue: new pkijs.PKCS8ShroudedKeyBag({
      encryptionAlgorithm: tripleDesAlgorithm(encryptedKey.params),
      encryptedData: new asn1js.OctetString({ valueHex: encryptedKey.ciphertext }),
    }),
    bagAttributes: leafAttributes,
  });
  const keySafe = derOf(new pkijs.SafeContents({ safeBags: [keyBag] }).toSchema());

  const authenticatedSafe = derOf(
    new pkijs.AuthenticatedSafe({
      safeContents: [
        new pkijs.ContentInfo({
          contentType: OID.encryptedData,
          content: new pkijs.EncryptedData({
            version: 0,
            encryptedContentInfo: new pkijs.EncryptedContentInfo({
              contentType: OID.data,
              contentEncryptionAlgorithm: tripleDesAlgorithm(encryptedCertificates.params),
              encryptedContent: new asn1js.OctetString({ valueHex: encryptedCertificates.ciphertext }),
            }),
          }).toSchema(),
        }),
        new pkijs.ContentInfo({ contentType: OID.data, content: new asn1js.OctetString({ valueHex: keySafe }) }),
      ],
    }).toSchema(),
  );

  const macSalt = randomBytes(8);
  const macKey = pkcs12Kdf('sha1', bmpPassword(options.password), macSalt, iterations, 3, HASH_BYTES.sha1);
  const mac = createHmac('sha1', macKey).update(authenticatedSafe).digest();
  const pfx = new pkijs.PFX({
    version: 3,
    authSafe: new pkijs.ContentInfo({ contentType: OID.data, content: new asn1js.OctetString({ valueHex: authenticatedSafe }) }),
    macData: new pkijs.MacData({
      mac: new pkijs.DigestInfo({
        digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha1, algorithmParams: new asn1js.Null() }),
        digest: new asn1js.OctetString({ valueHex: mac }),
      }),
      macSalt: new asn1js.OctetString({ valueHex: macSalt }),
      iterations,
    }),
  });
  return derOf(pfx.toSchema());
}

function tripleDesAlgorithm(params: { salt: Buffer; iterations: number }): pkijs.AlgorithmIdentifier {
  return new pkijs.AlgorithmIdentifier({
    algorithmId: OID.pbeSha1TripleDes,
    algorithmParams: new asn1js.Sequence({
      value: [new asn1js.OctetString({ valueHex: params.salt }), new asn1js.Integer({ value: params.iterations })],
    }),
  });
}

function tripleDesPbe(plaintext: Buffer, password: string, iterations: number): { ciphertext: Buffer; params: { salt: Buffer; iterations: number } } {
  const salt = randomBytes(8);
  const bmp = bmpPassword(password);
  const key = pkcs12Kdf('sha1', bmp, salt, iterations, 1, 24);
  const iv = pkcs12Kdf('sha1', bmp, salt, iterations, 2, 8);
  const cipher = createCipheriv('des-ede3-cbc', key, iv);
  return { ciphertext: Buffer.concat([cipher.update(plaintext), cipher.final()]), params: { salt, iterations } };
}

function bagAttributes(localKeyId: Buffer, friendlyName: string | undefined): pkijs.Attribute[] {
  const attributes = [new pkijs.Attribute({ type: OID.localKeyId, values: [new asn1js.OctetString({ valueHex: localKeyId })] })];
  if (friendlyName !== undefined && friendlyName !== '') {
    attributes.push(new pkijs.Attribute({ type: OID.friendlyName, values: [new asn1js.BmpString({ value: friendlyName })] }));
  }
  return attributes;
}

// ---------------------------------------------------------------------------------- reading

/**
 * Read a .p12/.pfx: verify its MAC (when it has one), decrypt every bag, and return the
 * private key, the certificate that belongs to it, and the other certificates as its chain.
 */
export function readPkcs12(der: Buffer, password: string): Pkcs12Identity {
  if (!Buffer.isBuffer(der) || der.length === 0 || der.length > MAX_INPUT_BYTES) throw new Pkcs12Error('malformed', 'not a PKCS#12 file (empty or larger than 1 MiB)');
  try {
    return readPkcs12Unchecked(der, password);
  } catch (err) {
    if (err instanceof Pkcs12Error) throw err;
    throw new Pkcs12Error('malformed', `not a readable PKCS#12 file: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function readPkcs12Unchecked(der: Buffer, password: string): Pkcs12Identity {
  const pfx = new pkijs.PFX({ schema: parseBer(der, 'PFX') });
  if (pfx.version !== 3) throw new Pkcs12Error('unsupported', `PFX version ${pfx.version}`);
  if (pfx.authSafe.contentType !== OID.data) throw new Pkcs12Error('unsupported', 'public-key integrity mode (signed PFX) is not supported');
  const authenticatedSafe = octets(pfx.authSafe.content, 'authSafe');
  if (pfx.macData !== undefined) verifyMac(pfx.macData, authenticatedSafe, password);

  const safe = new pkijs.AuthenticatedSafe({ schema: parseBer(authenticatedSafe, 'AuthenticatedSafe') });
  const keys: KeyObject[] = [];
  const certificates: Buffer[] = [];
  for (const contentInfo of safe.safeContents) {
    let safeContents: Buffer;
    if (contentInfo.contentType === OID.data) {
      safeContents = octets(contentInfo.content, 'SafeContents');
    } else if (contentInfo.contentType === OID.encryptedData) {
      const encrypted = new pkijs.EncryptedData({ schema: contentInfo.content }).encryptedContentInfo;
      if (encrypted.encryptedContent === undefined) throw new Pkcs12Error('malformed', 'EncryptedData without content');
      safeContents = decrypt(encrypted.contentEncryptionAlgorithm, Buffer.from(encrypted.getEncryptedContent()), password);
    } else {
      throw new Pkcs12Error('unsupported', `public-key privacy mode (${contentInfo.contentType}) is not supported`);
    }
    readBags(safeContents, password, keys, certificates);
  }
  const key = keys[0];
  if (keys.length !== 1 || key === undefined) throw new Pkcs12Error('no-identity', `expected exactly one private key, found ${keys.length}`);
  const leafIndex = certificates.findIndex((certificate) => keyMatches(key, certificate));
  const leaf = certificates[leafIndex];
  if (leaf === undefined) throw new Pkcs12Error('no-identity', 'no certificate in the file belongs to its private key');
  return {
    certificatePem: toPem(leaf, 'CERTIFICATE'),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    chainPem: certificates.filter((_, index) => index !== leafIndex).map((certificate) => toPem(certificate, 'CERTIFICATE')),
  };
}

function verifyMac(macData: pkijs.MacData, content: Buffer, password: string): void {
  const hash = DIGEST_BY_OID[macData.mac.digestAlgorithm.algorithmId];
  if (hash === undefined) throw new Pkcs12Error('unsupported', `MAC digest ${macData.mac.digestAlgorithm.algorithmId} is not supported (PBMAC1?)`);
  const iterations = checkIterations(macData.iterations ?? 1);
  const salt = Buffer.from(macData.macSalt.valueBlock.valueHexView);
  const expected = Buffer.from(macData.mac.digest.valueBlock.valueHexView);
  const key = pkcs12Kdf(hash, bmpPassword(password), salt, iterations, 3, HASH_BYTES[hash]);
  const actual = createHmac(hash, key).update(content).digest();
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new Pkcs12Error('bad-password', 'wrong password (or the file was altered): the integrity check fails');
  }
}

function readBags(safeContentsDer: Buffer, password: string, keys: KeyObject[], certificates: Buffer[]): void {
  const sequence = parseBer(safeContentsDer, 'SafeContents');
  if (!(sequence instanceof asn1js.Sequence)) throw new Pkcs12Error('malformed', 'SafeContents is not a SEQUENCE');
  for (const bag of sequence.valueBlock.value) {
    const [bagId, wrapped] = bag instanceof asn1js.Sequence ? bag.valueBlock.value : [];
    if (!(bagId instanceof asn1js.ObjectIdentifier) || !(wrapped instanceof asn1js.Constructed) || wrapped.idBlock.tagClass !== 3 || wrapped.idBlock.tagNumber !== 0) {
      throw new Pkcs12Error('malformed', 'malformed SafeBag');
    }
    const value = wrapped.valueBlock.value[0];
    if (value === undefined) throw new Pkcs12Error('malformed', 'empty SafeBag');
    const id = bagId.valueBlock.toString();
    if (id === OID.certBag) {
      const [certId, certValue] = value instanceof asn1js.Sequence ? value.valueBlock.value : [];
      if (!(certId instanceof asn1js.ObjectIdentifier) || !(certValue instanceof asn1js.Constructed)) throw new Pkcs12Error('malformed', 'malformed CertBag');
      // Other certificate types (SDSI) never carry an APNs or device identity.
      if (certId.valueBlock.toString() !== OID.x509Certificate) continue;
      certificates.push(octets(certValue.valueBlock.value[0], 'CertBag value'));
    } else if (id === OID.keyBag) {
      keys.push(readPkcs8(Buffer.from(value.toBER(false))));
    } else if (id === OID.shroudedKeyBag) {
      const [algorithm, encrypted] = value instanceof asn1js.Sequence ? value.valueBlock.value : [];
      if (algorithm === undefined || encrypted === undefined) throw new Pkcs12Error('malformed', 'malformed shrouded key bag');
      const identifier = new pkijs.AlgorithmIdentifier({ schema: algorithm });
      keys.push(readPkcs8(decrypt(identifier, octets(encrypted, 'encrypted key'), password)));
    }
    // CRL, secret and nested SafeContents bags are not part of an identity.
  }
}

function readPkcs8(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new Pkcs12Error('bad-password', 'the private key does not decrypt to a key (wrong password?)', { cause: err });
  }
}

/** Decrypt with a PKCS#12 PBE or PBES2 algorithm identifier. */
function decrypt(algorithm: pkijs.AlgorithmIdentifier, ciphertext: Buffer, password: string): Buffer {
  const id = algorithm.algorithmId;
  try {
    if (id === OID.pbes2) return decryptPbes2(algorithm.algorithmParams, ciphertext, password);
    const [saltNode, iterationsNode] = algorithm.algorithmParams instanceof asn1js.Sequence ? algorithm.algorithmParams.valueBlock.value : [];
    if (!(iterationsNode instanceof asn1js.Integer)) throw new Pkcs12Error('malformed', 'malformed PBE parameters');
    const salt = octets(saltNode, 'PBE salt');
    const iterations = checkIterations(iterationsNode.valueBlock.valueDec);
    const bmp = bmpPassword(password);
    const derive = (purpose: 1 | 2, length: number): Buffer => pkcs12Kdf('sha1', bmp, salt, iterations, purpose, length);
    switch (id) {
      case OID.pbeSha1TripleDes:
        return decipher('des-ede3-cbc', derive(1, 24), derive(2, 8), ciphertext);
      case OID.pbeSha1TwoKeyTripleDes: {
        const key = derive(1, 16);
        return decipher('des-ede3-cbc', Buffer.concat([key, key.subarray(0, 8)]), derive(2, 8), ciphertext);
      }
      case OID.pbeSha1Rc2x128:
        return rc2CbcDecrypt(derive(1, 16), 128, derive(2, 8), ciphertext);
      case OID.pbeSha1Rc2x40:
        return rc2CbcDecrypt(derive(1, 5), 40, derive(2, 8), ciphertext);
      default:
        throw new Pkcs12Error('unsupported', `encryption algorithm ${id} is not supported`);
    }
  } catch (err) {
    if (err instanceof Pkcs12Error) throw err;
    // A wrong password shows up as bad padding; without a MAC this is where it is noticed.
    throw new Pkcs12Error('bad-password', 'decryption failed (wrong password?)', { cause: err });
  }
}

function decryptPbes2(params: unknown, ciphertext: Buffer, password: string): Buffer {
  const [kdf, scheme] = params instanceof asn1js.Sequence ? params.valueBlock.value : [];
  if (kdf === undefined || scheme === undefined) throw new Pkcs12Error('malformed', 'malformed PBES2 parameters');
  const kdfAlgorithm = new pkijs.AlgorithmIdentifier({ schema: kdf });
  const encryption = new pkijs.AlgorithmIdentifier({ schema: scheme });
  if (kdfAlgorithm.algorithmId !== OID.pbkdf2) throw new Pkcs12Error('unsupported', `PBES2 key derivation ${kdfAlgorithm.algorithmId} is not supported`);
  const cipher = PBES2_CIPHERS[encryption.algorithmId];
  if (cipher === undefined) throw new Pkcs12Error('unsupported', `PBES2 cipher ${encryption.algorithmId} is not supported`);
  const pbkdf2Params = kdfAlgorithm.algorithmParams instanceof asn1js.Sequence ? kdfAlgorithm.algorithmParams.valueBlock.value : [];
  const [saltNode, iterationsNode, ...rest] = pbkdf2Params;
  if (!(iterationsNode instanceof asn1js.Integer)) throw new Pkcs12Error('malformed', 'malformed PBKDF2 parameters');
  const salt = octets(saltNode, 'PBKDF2 salt');
  const iterations = checkIterations(iterationsNode.valueBlock.valueDec);
  let keyLength = cipher.keyLength;
  let prf: Hash = 'sha1';
  for (const node of rest) {
    if (node instanceof asn1js.Integer) keyLength = node.valueBlock.valueDec;
    else if (node instanceof asn1js.Sequence) {
      const prfId = new pkijs.AlgorithmIdentifier({ schema: node }).algorithmId;
      const hash = HMAC_BY_OID[prfId];
      if (hash === undefined) throw new Pkcs12Error('unsupported', `PBKDF2 PRF ${prfId} is not supported`);
      prf = hash;
    }
  }
  if (keyLength !== cipher.keyLength) throw new Pkcs12Error('malformed', 'PBKDF2 key length does not match the cipher');
  const iv = octets(encryption.algorithmParams, 'PBES2 IV');
  // RFC 8018 passwords are octet strings; OpenSSL passes the UTF-8 bytes.
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, keyLength, prf);
  return decipher(cipher.name, key, iv, ciphertext);
}

function decipher(name: string, key: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const d = createDecipheriv(name, key, iv);
  return Buffer.concat([d.update(ciphertext), d.final()]);
}

// ---------------------------------------------------------------------------------- shared

/**
 * RFC 7292 appendix B.2: the PKCS#12 key derivation. `purpose` 1 = cipher key, 2 = IV,
 * 3 = MAC key. `password` is already in BMPString form.
 */
export function pkcs12Kdf(hash: Hash, password: Buffer, salt: Buffer, iterations: number, purpose: 1 | 2 | 3, length: number): Buffer {
  const u = HASH_BYTES[hash];
  const v = BLOCK_BYTES[hash];
  const diversifier = Buffer.alloc(v, purpose);
  const fill = (source: Buffer): Buffer => {
    if (source.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(source.length / v));
    for (let i = 0; i < out.length; i++) out[i] = source[i % source.length] as number;
    return out;
  };
  const input = Buffer.concat([fill(salt), fill(password)]);
  const output = Buffer.alloc(length);
  for (let produced = 0; produced < length; produced += u) {
    let a = createHash(hash).update(diversifier).update(input).digest();
    for (let round = 1; round < iterations; round++) a = createHash(hash).update(a).digest();
    a.copy(output, produced, 0, Math.min(u, length - produced));
    if (produced + u >= length) break;
    // I_j = (I_j + B + 1) mod 2^(8v), B = A repeated to v bytes, for each v-byte block of I.
    const b = Buffer.alloc(v);
    for (let i = 0; i < v; i++) b[i] = a[i % u] as number;
    for (let block = 0; block < input.length; block += v) {
      let carry = 1;
      for (let i = v - 1; i >= 0; i--) {
        const sum = (input[block + i] as number) + (b[i] as number) + carry;
        input[block + i] = sum & 0xff;
        carry = sum >>> 8;
      }
    }
  }
  return output;
}

/** RFC 7292 appendix B.1: the password as a big-endian BMPString with a two-zero terminator. */
function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

function checkIterations(count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > MAX_ITERATIONS) throw new Pkcs12Error('unsupported', `iteration count ${count} is out of range`);
  return count;
}

function keyMatches(key: KeyObject, certificateDer: Buffer): boolean {
  try {
    const certificateKey = new X509Certificate(certificateDer).publicKey.export({ type: 'spki', format: 'der' });
    return createPublicKey(key).export({ type: 'spki', format: 'der' }).equals(certificateKey);
  } catch {
    return false;
  }
}

function parseBer(der: Uint8Array, what: string): asn1js.AsnType {
  const view = new Uint8Array(der.buffer, der.byteOffset, der.byteLength);
  const parsed = asn1js.fromBER(view);
  if (parsed.offset === -1) throw new Pkcs12Error('malformed', `${what}: ${parsed.result.error || 'undecodable ASN.1'}`);
  if (parsed.offset !== der.length) throw new Pkcs12Error('malformed', `${what}: unexpected bytes after it`);
  return parsed.result;
}

/** The bytes of an OCTET STRING, primitive or (BER) constructed from pieces. */
function octets(node: unknown, what: string): Buffer {
  if (!(node instanceof asn1js.OctetString)) throw new Pkcs12Error('malformed', `${what} is not an OCTET STRING`);
  if (!node.idBlock.isConstructed) return Buffer.from(node.valueBlock.valueHexView);
  return Buffer.concat(node.valueBlock.value.map((piece) => octets(piece, what)));
}

function derOf(schema: asn1js.AsnType): Buffer {
  return Buffer.from(schema.toBER(false));
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

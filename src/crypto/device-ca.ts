// The built-in device CA: it issues the identity certificates devices sign their check-ins
// with (embedded PKCS#12 at enrollment today, SCEP later), and DeviceTrust trusts it.
//
// Key choice: RSA-2048 for the CA. SCEP (RFC 8894) has the client encrypt its request to the
// CA certificate's key with RSA key transport, and Apple's SCEP client requires that, so an
// RSA CA can answer SCEP itself without a separate RA certificate. RSA also verifies faster
// than ECDSA with node:crypto (≈0.02 ms), which matters on every DeviceTrust cache miss.
// Device keys are RSA-2048 too: Apple devices import RSA identities from PKCS#12 reliably.
//
// Certificates are built with @peculiar/x509 on node's WebCrypto, passed per call so this
// module installs no global crypto provider.

import { createHash, createPrivateKey, createPublicKey, generateKeyPair, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';

export interface DeviceCa {
  certificatePem: string;
  privateKeyPem: string;
}

export interface CreateDeviceCaOptions {
  commonName?: string;
  /** Default 10. */
  validityYears?: number;
  /** Start of validity; default one hour ago (tolerates device clocks running slow). */
  notBefore?: Date;
}

export interface DeviceCertificateRequest {
  /** The device's public key: a node KeyObject, a WebCrypto CryptoKey, or SPKI DER. */
  publicKey: KeyObject | webcrypto.CryptoKey | Buffer;
  commonName: string;
  /** Default 365. */
  validityDays?: number;
  /** Hex; default 16 random bytes. Must be positive (first hex digit 0–7) and at most 20 bytes. */
  serialNumber?: string;
  /** Start of validity; default one hour ago. */
  notBefore?: Date;
}

export interface IssuedCertificate {
  certificatePem: string;
  certificateDer: Buffer;
  /** Lowercase hex, the form DeviceTrust and verifyMdmSignature report. */
  serialNumber: string;
  /** Hex SHA-256 of the DER: the identity key verifyMdmSignature reports as certHash. */
  sha256: string;
}

export interface DeviceIdentity {
  certificatePem: string;
  privateKeyPem: string;
  serialNumber: string;
  sha256: string;
}

export interface ParsedCsr {
  publicKey: KeyObject;
  /** RFC 4514 string, e.g. "CN=device". */
  subject: string;
  challengePassword?: string;
}

export class CertificateAuthorityError extends Error {
  override readonly name = 'CertificateAuthorityError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

type X509Crypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
type X509CryptoKey = Parameters<typeof x509.X509CertificateGenerator.create>[0] extends infer P ? (P extends { signingKey: infer K } ? K : never) : never;
const provider = webcrypto as unknown as X509Crypto;
const RSA_SIGNING = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const ECDSA_SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CLOCK_SKEW_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const generateKeyPairAsync = promisify(generateKeyPair);

export async function createDeviceCa(options?: CreateDeviceCaOptions): Promise<DeviceCa> {
  const commonName = options?.commonName ?? 'lockwarden device CA';
  const years = options?.validityYears ?? 10;
  if (!Number.isFinite(years) || years <= 0 || years > 30) throw new CertificateAuthorityError('validityYears must be between 0 and 30');
  const notBefore = options?.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = new Date(notBefore.getTime() + years * 365.25 * DAY_MS);
  const keys = (await webcrypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as webcrypto.CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [commonName] }],
      notBefore,
      notAfter,
      signingAlgorithm: RSA_SIGNING,
      keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
      extensions: [
        // pathLength 0: this CA issues device certificates only, never another CA.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as x509.PublicKeyType, false, provider),
      ],
    },
    provider,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { certificatePem: certificate.toString('pem'), privateKeyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

/** Issue a TLS-client / CMS-signing certificate for a device key, signed by `ca`. */
export async function issueDeviceCertificate(ca: DeviceCa, request: DeviceCertificateRequest): Promise<IssuedCertificate> {
  if (typeof request.commonName !== 'string' || request.commonName.length === 0 || request.commonName.length > 64) {
    throw new CertificateAuthorityError('commonName must be 1–64 characters (X.520 upper bound)');
  }
  const days = request.validityDays ?? 365;
  if (!Number.isFinite(days) || days <= 0 || days > 3650) throw new CertificateAuthorityError('validityDays must be between 0 and 3650');
  const serialNumber = request.serialNumber === undefined ? randomSerial() : checkSerial(request.serialNumber);
  const caCertificate = readCaCertificate(ca.certificatePem);
  const { signingKey, signingAlgorithm } = await importCaKey(ca.privateKeyPem, caCertificate);
  const spki = await devicePublicKeyDer(request.publicKey);
  const notBefore = request.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = new Date(notBefore.getTime() + days * DAY_MS);
  const caKeyId = caCertificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const authorityKeyId = caKeyId !== undefined
    ? new x509.AuthorityKeyIdentifierExtension(caKeyId)
    : await x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey, false, provider);

  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber,
      subject: [{ CN: [request.commonName] }],
      issuer: caCertificate.subjectName,
      notBefore,
      notAfter,
      signingAlgorithm,
      publicKey: spki,
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        authorityKeyId,
        await x509.SubjectKeyIdentifierExtension.create(spki, false, provider),
      ],
    },
    provider,
  );
  const certificateDer = Buffer.from(certificate.rawData);
  return {
    certificatePem: certificate.toString('pem'),
    certificateDer,
    serialNumber: certificate.serialNumber.toLowerCase(),
    sha256: createHash('sha256').update(certificateDer).digest('hex'),
  };
}

/** A fresh RSA-2048 key and a certificate for it: the identity embedded in a PKCS#12 profile. */
export async function generateDeviceIdentity(ca: DeviceCa, commonName: string, options?: Pick<DeviceCertificateRequest, 'validityDays' | 'notBefore'>): Promise<DeviceIdentity> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const issued = await issueDeviceCertificate(ca, { publicKey, commonName, ...options });
  return {
    certificatePem: issued.certificatePem,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    serialNumber: issued.serialNumber,
    sha256: issued.sha256,
  };
}

/**
 * Read a PKCS#10 request (DER), as a SCEP client sends it, and check its self-signature: a
 * request whose signature fails was not made by the holder of the key it names.
 */
export async function parseCsr(der: Buffer): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch (err) {
    throw new CertificateAuthorityError('not a PKCS#10 certificate request', { cause: err });
  }
  let valid: boolean;
  try {
    valid = await csr.verify(provider);
  } catch (err) {
    throw new CertificateAuthorityError('the certificate request signature cannot be checked (unsupported algorithm?)', { cause: err });
  }
  if (!valid) throw new CertificateAuthorityError('the certificate request signature does not verify');
  const passwords = csr.getAttributes('1.2.840.113549.1.9.7');
  if (passwords.length > 1) throw new CertificateAuthorityError('the certificate request has more than one challengePassword');
  const first = passwords[0];
  const challengePassword = first === undefined ? undefined : challengeText(first);
  return {
    publicKey: createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }),
    subject: csr.subject,
    ...(challengePassword !== undefined && { challengePassword }),
  };
}

function challengeText(attribute: x509.Attribute): string {
  const parsed = attribute instanceof x509.ChallengePasswordAttribute ? attribute : new x509.ChallengePasswordAttribute(attribute.rawData);
  return parsed.password;
}

function readCaCertificate(pem: string): x509.X509Certificate {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(pem);
  } catch (err) {
    throw new CertificateAuthorityError('the CA certificate is not a readable PEM certificate', { cause: err });
  }
  if (certificate.getExtension(x509.BasicConstraintsExtension)?.ca !== true) throw new CertificateAuthorityError('the CA certificate is not a CA (basicConstraints)');
  return certificate;
}

async function importCaKey(pem: string, caCertificate: x509.X509Certificate): Promise<{ signingKey: X509CryptoKey; signingAlgorithm: typeof RSA_SIGNING | typeof ECDSA_SIGNING }> {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new CertificateAuthorityError('the CA private key is not a readable, unencrypted PEM key', { cause: err });
  }
  const ownSpki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!ownSpki.equals(Buffer.from(caCertificate.publicKey.rawData))) throw new CertificateAuthorityError('the CA private key does not belong to the CA certificate');
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'rsa') {
    const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, RSA_SIGNING, false, ['sign']);
    return { signingKey: signingKey as unknown as X509CryptoKey, signingAlgorithm: RSA_SIGNING };
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    return { signingKey: signingKey as unknown as X509CryptoKey, signingAlgorithm: ECDSA_SIGNING };
  }
  throw new CertificateAuthorityError(`unsupported CA key type ${key.asymmetricKeyType ?? 'unknown'}: use RSA or ECDSA P-256`);
}

/** SPKI DER of an RSA (≥ 2048 bits) or P-256/P-384 key: what Apple devices generate for SCEP. */
async function devicePublicKeyDer(input: DeviceCertificateRequest['publicKey']): Promise<Buffer> {
  let key: KeyObject;
  try {
    if (input instanceof KeyObject) key = input.type === 'private' ? createPublicKey(input) : input;
    else if (Buffer.isBuffer(input)) key = createPublicKey({ key: input, format: 'der', type: 'spki' });
    else key = createPublicKey({ key: Buffer.from(await webcrypto.subtle.exportKey('spki', input)), format: 'der', type: 'spki' });
  } catch (err) {
    throw new CertificateAuthorityError('the device public key is not a readable public key', { cause: err });
  }
  const details = key.asymmetricKeyDetails;
  const acceptable =
    (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) ||
    (key.asymmetricKeyType === 'ec' && (details?.namedCurve === 'prime256v1' || details?.namedCurve === 'secp384r1'));
  if (!acceptable) throw new CertificateAuthorityError('the device key must be RSA of at least 2048 bits, or EC P-256/P-384');
  return key.export({ type: 'spki', format: 'der' });
}

/** 16 random bytes, first byte 0x01–0x7f: positive, fixed length, no leading zero to trim. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) % 0x7f) + 1;
  return bytes.toString('hex');
}

function checkSerial(serial: string): string {
  const hex = serial.toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{1,40}$/.test(hex) || /^0+$/.test(hex)) throw new CertificateAuthorityError('serialNumber must be 1–40 hex digits and not zero');
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  if (parseInt(even.slice(0, 1), 16) >= 8) throw new CertificateAuthorityError('serialNumber must be positive (first hex digit 0–7)');
  return even;
}

function toPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// The MDM push certificate (DESIGN.md "Contract": APNs): imported by the admin as a .p12 or as
// PEM certificate + key, validated, kept sealed with the master key, loaded at start — and,
// until one is imported, the development fallback that lets the server and the demo run.
//
// Apple issues it at identity.apple.com from a vendor-signed CSR. Its subject's UID attribute
// (OID 0.9.2342.19200300.100.1.1) is `com.apple.mgmt.External.<uuid>`, and that UID is the
// APNs topic: every enrolment profile names it, every device registers its push token under it,
// and pushes must carry it. Renewing keeps the UID; a brand-new certificate has a new one and
// strands every enrolled device (they must re-enroll), so replacing a certificate by one with
// another topic is refused unless the admin says they mean it.

import { createHash, createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { openSecret, sealSecret } from '../../crypto/envelope.ts';
import { pemBlocks } from '../../crypto/device-trust.ts';
import { Pkcs12Error, readPkcs12 } from '../../crypto/pkcs12.ts';
import type { Store } from '../../store/database.ts';
import type { ApnsCertificate } from './apns-client.ts';

export const PUSH_CERTIFICATE_SECRET = 'apns-push-certificate';
/** The generated development topic, when no certificate and no LOCKWARDEN_APNS_TOPIC. */
export const PUSH_TOPIC_SECRET = 'apns-dev-topic';
/** AAD for the sealed values: they open only under their own name and format. */
const CERTIFICATE_CONTEXT = `${PUSH_CERTIFICATE_SECRET}:v1`;
const TOPIC_CONTEXT = `${PUSH_TOPIC_SECRET}:v1`;

export const UID_OID = '0.9.2342.19200300.100.1.1';
export const MDM_TOPIC_PREFIX = 'com.apple.mgmt.';
/** Warn this long before expiry: a lapsed push certificate silently stops every device. */
export const EXPIRY_WARNING_MS = 30 * 24 * 60 * 60 * 1000;

export const NO_CERTIFICATE_WARNING =
  'no APNs push certificate imported: pushes go out without a client certificate, which only a local ' +
  'APNs endpoint (LOCKWARDEN_APNS_URL, the simulator) accepts — real devices need the push certificate import';

export type PushCertificateInput =
  | { p12: Buffer; password: string }
  | { certificatePem: string; privateKeyPem: string; keyPassword?: string };

export interface PushCertificate {
  /** The subject's UID: the APNs topic. */
  topic: string;
  /** The leaf certificate. */
  certificatePem: string;
  /** Unencrypted PKCS#8. */
  privateKeyPem: string;
  /** Issuer certificates that came with it. */
  chainPem: string[];
  subject: string;
  serialNumber: string;
  /** Milliseconds since the epoch. */
  notBefore: number;
  notAfter: number;
  /** Hex SHA-256 of the leaf DER. */
  fingerprint: string;
}

export type PushCertificateErrorCode =
  | 'unreadable' | 'bad-password' | 'no-private-key' | 'key-mismatch' | 'expired' | 'not-yet-valid' | 'not-mdm-push' | 'topic-change';

export class PushCertificateError extends Error {
  override readonly name = 'PushCertificateError';

  constructor(readonly code: PushCertificateErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Read and validate a push certificate; throws PushCertificateError with a message for the admin. */
export function parsePushCertificate(input: PushCertificateInput, now = Date.now()): PushCertificate {
  const { certificatePem, privateKeyPem, chainPem } = readInput(input);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch (err) {
    throw new PushCertificateError('unreadable', `the push certificate is not a readable X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
  const key = (() => {
    try {
      return createPrivateKey(privateKeyPem);
    } catch (err) {
      throw new PushCertificateError('unreadable', `the private key is not readable: ${(err as Error).message}`, { cause: err });
    }
  })();
  if (!certificate.checkPrivateKey(key)) {
    throw new PushCertificateError('key-mismatch', 'the private key does not belong to the push certificate (was the CSR made with another key?)');
  }

  const der = Buffer.from(certificate.raw);
  const topic = subjectUid(der);
  if (topic === undefined || !topic.startsWith(MDM_TOPIC_PREFIX)) {
    throw new PushCertificateError('not-mdm-push',
      `not an MDM push certificate: its subject UID is ${topic === undefined ? 'missing' : JSON.stringify(topic)}, ` +
      `but Apple's MDM push certificates (identity.apple.com) have UID=${MDM_TOPIC_PREFIX}… — ` +
      'an app\'s APNs certificate or the vendor signing certificate will not do');
  }
  const notBefore = Date.parse(certificate.validFrom);
  const notAfter = Date.parse(certificate.validTo);
  if (Number.isNaN(notBefore) || Number.isNaN(notAfter)) throw new PushCertificateError('unreadable', 'the push certificate has unreadable validity dates');
  if (now > notAfter) {
    throw new PushCertificateError('expired',
      `the push certificate for ${topic} expired on ${new Date(notAfter).toISOString()}: renew it at identity.apple.com ` +
      'with the same Apple ID (renewing keeps the topic; a new certificate has a new topic and every device would have to re-enroll)');
  }
  if (now < notBefore) {
    throw new PushCertificateError('not-yet-valid', `the push certificate for ${topic} is not valid before ${new Date(notBefore).toISOString()} (check this server's clock)`);
  }
  return {
    topic,
    certificatePem: toPem(der),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    chainPem,
    subject: certificate.subject.split('\n').filter((line) => line !== '').join(', '),
    serialNumber: certificate.serialNumber.toLowerCase(),
    notBefore,
    notAfter,
    fingerprint: createHash('sha256').update(der).digest('hex'),
  };
}

function readInput(input: PushCertificateInput): { certificatePem: string; privateKeyPem: string; chainPem: string[] } {
  if ('p12' in input) {
    try {
      return readPkcs12(input.p12, input.password);
    } catch (err) {
      if (err instanceof Pkcs12Error) {
        const code = err.code === 'bad-password' ? 'bad-password' : err.code === 'no-identity' ? 'no-private-key' : 'unreadable';
        throw new PushCertificateError(code, `cannot import the .p12: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }
  const blocks = pemBlocks(input.certificatePem);
  const [leaf, ...chain] = blocks;
  if (leaf === undefined) throw new PushCertificateError('unreadable', 'no PEM certificate (-----BEGIN CERTIFICATE-----) in the certificate input');
  let privateKeyPem: string;
  try {
    privateKeyPem = createPrivateKey({ key: input.privateKeyPem, ...(input.keyPassword !== undefined && { passphrase: input.keyPassword }) })
      .export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(input.privateKeyPem);
    throw new PushCertificateError(encrypted ? 'bad-password' : 'no-private-key',
      encrypted ? 'the private key is encrypted and the password does not open it' : `no readable PEM private key: ${(err as Error).message}`, { cause: err });
  }
  return { certificatePem: toPem(leaf), privateKeyPem, chainPem: chain.map(toPem) };
}

/** The subject's UID attribute, read from the DER (Node's subject string would need unescaping). */
function subjectUid(der: Buffer): string | undefined {
  const certificate = pkijs.Certificate.fromBER(der);
  for (const attribute of certificate.subject.typesAndValues) {
    if (attribute.type !== UID_OID) continue;
    const value = (attribute.value.valueBlock as { value?: unknown }).value;
    if (typeof value === 'string') return value;
  }
  return undefined;
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** The TLS identity for the APNs client: leaf then chain, so APNs gets the whole path. */
export function apnsCertificateOf(certificate: PushCertificate): ApnsCertificate {
  return { certificatePem: [certificate.certificatePem, ...certificate.chainPem].join(''), privateKeyPem: certificate.privateKeyPem };
}

export interface ImportOptions {
  now?: number;
  /** Replace a stored certificate whose topic differs (every device enrolled under it must re-enroll). */
  allowTopicChange?: boolean;
}

export interface ImportResult {
  certificate: PushCertificate;
  /** The certificate it replaced, if any. */
  replaced?: PushCertificate;
  warnings: string[];
}

type SecretsOnly = Pick<Store, 'secrets'>;

/** Validate and store a push certificate, sealed. */
export async function importPushCertificate(store: SecretsOnly, masterKey: Buffer, input: PushCertificateInput, options: ImportOptions = {}): Promise<ImportResult> {
  const now = options.now ?? Date.now();
  const certificate = parsePushCertificate(input, now);
  const replaced = await loadPushCertificate(store, masterKey);
  if (replaced && replaced.topic !== certificate.topic && !options.allowTopicChange) {
    throw new PushCertificateError('topic-change',
      `this certificate's topic ${certificate.topic} differs from the current one (${replaced.topic}): devices enrolled under ` +
      'the current topic could no longer be pushed and would have to re-enroll. Renew the existing certificate at ' +
      'identity.apple.com instead, or import with the topic change explicitly allowed');
  }
  const warnings = certificateWarnings(certificate, now);
  const devTopic = await loadDevTopic(store, masterKey);
  if (!replaced && devTopic !== undefined && devTopic !== certificate.topic) {
    warnings.push(`devices enrolled before this import registered under the development topic ${devTopic} and must re-enroll to be pushed`);
  }
  await store.secrets.put(PUSH_CERTIFICATE_SECRET, sealSecret(masterKey, Buffer.from(JSON.stringify(certificate), 'utf8'), CERTIFICATE_CONTEXT), now);
  return { certificate, ...(replaced && { replaced }), warnings };
}

export async function loadPushCertificate(store: SecretsOnly, masterKey: Buffer): Promise<PushCertificate | undefined> {
  const sealed = await store.secrets.get(PUSH_CERTIFICATE_SECRET);
  if (sealed === undefined) return undefined;
  return JSON.parse(openSecret(masterKey, sealed, CERTIFICATE_CONTEXT).toString('utf8')) as PushCertificate;
}

export async function deletePushCertificate(store: SecretsOnly): Promise<boolean> {
  return store.secrets.delete(PUSH_CERTIFICATE_SECRET);
}

async function loadDevTopic(store: SecretsOnly, masterKey: Buffer): Promise<string | undefined> {
  const sealed = await store.secrets.get(PUSH_TOPIC_SECRET);
  return sealed === undefined ? undefined : openSecret(masterKey, sealed, TOPIC_CONTEXT).toString('utf8');
}

function certificateWarnings(certificate: PushCertificate, now: number): string[] {
  const day = 24 * 60 * 60 * 1000;
  if (now > certificate.notAfter) {
    return [`the APNs push certificate for ${certificate.topic} expired on ${new Date(certificate.notAfter).toISOString()}: no device can be pushed until it is renewed at identity.apple.com`];
  }
  if (certificate.notAfter - now < EXPIRY_WARNING_MS) {
    return [`the APNs push certificate for ${certificate.topic} expires in ${Math.ceil((certificate.notAfter - now) / day)} days (${new Date(certificate.notAfter).toISOString()}): renew it at identity.apple.com`];
  }
  return [];
}

export interface PushSetup {
  topic: string;
  /** Absent in the development fallback: pushes go without a client certificate. */
  certificate?: PushCertificate;
  source: 'certificate' | 'environment' | 'generated';
  /** For the server to log loudly at start. */
  warnings: string[];
}

export interface ResolvePushSetupOptions {
  store: SecretsOnly;
  masterKey: Buffer;
  /** LOCKWARDEN_APNS_TOPIC. */
  envTopic?: string;
  /** LOCKWARDEN_APNS_URL: without a certificate, pushes only work against a local endpoint. */
  apnsUrl?: string;
  now?: number;
}

/**
 * What the server pushes with: the imported certificate and its topic; or, without one, the
 * topic from LOCKWARDEN_APNS_TOPIC or one generated on first start and kept (so enrolment
 * profiles and pushes agree across restarts and replicas), plus the loud warning.
 */
export async function resolvePushSetup(options: ResolvePushSetupOptions): Promise<PushSetup> {
  const { store, masterKey, envTopic, apnsUrl } = options;
  const now = options.now ?? Date.now();
  const certificate = await loadPushCertificate(store, masterKey);
  if (certificate) {
    const warnings = certificateWarnings(certificate, now);
    if (envTopic !== undefined && envTopic !== certificate.topic) {
      warnings.push(`LOCKWARDEN_APNS_TOPIC=${envTopic} is ignored: the imported push certificate's topic is ${certificate.topic}`);
    }
    return { topic: certificate.topic, certificate, source: 'certificate', warnings };
  }
  const warnings = [NO_CERTIFICATE_WARNING];
  if (apnsUrl === undefined) {
    warnings.push('LOCKWARDEN_APNS_URL is not set either: pushes go to Apple without a client certificate and Apple will refuse every one');
  }
  if (envTopic !== undefined) {
    if (!envTopic.startsWith(MDM_TOPIC_PREFIX)) throw new PushCertificateError('not-mdm-push', `LOCKWARDEN_APNS_TOPIC must start with ${MDM_TOPIC_PREFIX}`);
    return { topic: envTopic, source: 'environment', warnings };
  }
  const candidate = `${MDM_TOPIC_PREFIX}External.${randomUUID()}`;
  // Replicas starting together agree on whichever topic was stored first.
  const sealed = await store.secrets.putIfAbsent(PUSH_TOPIC_SECRET, sealSecret(masterKey, Buffer.from(candidate, 'utf8'), TOPIC_CONTEXT), now);
  const topic = openSecret(masterKey, sealed, TOPIC_CONTEXT).toString('utf8');
  return { topic, source: 'generated', warnings };
}

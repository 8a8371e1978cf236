// The device side of enrollment, over HTTP only, as an Apple device does it: read the
// enrollment profile, and for a SCEP identity, fetch the CA, send a PKCSReq (a PKCS#10 request
// with the profile's challenge, encrypted to the CA, signed with a throwaway self-signed
// certificate) and read the CertRep. For the e2e tests and the simulated devices.

import { createHash, createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readPkcs12 } from '../crypto/pkcs12.ts';
import type { Pkcs12Identity } from '../crypto/pkcs12.ts';
import {
  buildPkiMessage,
  MessageType,
  openEnvelope,
  PkiStatus,
  readCertificatesOnly,
  readPkiMessage,
  sealEnvelope,
} from '../crypto/scep-message.ts';
import type { ContentCipher, DigestName } from '../crypto/scep-message.ts';
import { readProfileBytes } from '../plist/mobileconfig.ts';

export interface ScepPayloadContent {
  url: string;
  name?: string;
  /** X.500 name as Apple writes it: [[["CN", "value"]], [["O", "value"]]]. */
  subject: [string, string][][];
  challenge?: string;
  keySize: number;
  keyUsage?: number;
  caFingerprint?: Buffer;
}

export interface EnrollmentProfileContents {
  serverUrl: string;
  checkInUrl?: string;
  topic: string;
  accessRights?: number;
  signMessage: boolean;
  serverCapabilities: string[];
  identity: { kind: 'scep'; scep: ScepPayloadContent } | { kind: 'pkcs12'; identity: Pkcs12Identity };
  /** The profile was CMS-signed and the signature holds. */
  signed: boolean;
  /** The device sends CheckOut when the profile is removed. */
  checkOutWhenRemoved: boolean;
  /** The whole profile (the top-level Configuration dictionary), as a device keeps it installed. */
  profile: Record<string, unknown>;
}

export class ScepEnrollmentError extends Error {
  override readonly name = 'ScepEnrollmentError';

  constructor(message: string, readonly details: { pkiStatus?: number; failInfo?: number; httpStatus?: number } = {}) {
    super(message);
  }
}

/** Read an enrollment profile as a device would: the MDM payload and the identity it names. */
export async function readEnrollmentProfile(bytes: Uint8Array): Promise<EnrollmentProfileContents> {
  const { plist, signature } = await readProfileBytes(bytes);
  const payloads = isRecord(plist) && Array.isArray(plist.PayloadContent) ? plist.PayloadContent.filter(isRecord) : [];
  const mdm = payloads.find((p) => p.PayloadType === 'com.apple.mdm');
  if (mdm === undefined) throw new Error('the profile has no com.apple.mdm payload');
  const identityPayload = payloads.find((p) => p.PayloadUUID === mdm.IdentityCertificateUUID);
  if (identityPayload === undefined) throw new Error('IdentityCertificateUUID names no payload in the profile');
  let identity: EnrollmentProfileContents['identity'];
  if (identityPayload.PayloadType === 'com.apple.security.scep' && isRecord(identityPayload.PayloadContent)) {
    const c = identityPayload.PayloadContent;
    identity = {
      kind: 'scep',
      scep: {
        url: String(c.URL),
        ...(typeof c.Name === 'string' && { name: c.Name }),
        subject: Array.isArray(c.Subject) ? (c.Subject as [string, string][][]) : [],
        ...(typeof c.Challenge === 'string' && { challenge: c.Challenge }),
        keySize: typeof c.Keysize === 'number' ? c.Keysize : 1024,
        ...(typeof c['Key Usage'] === 'number' && { keyUsage: c['Key Usage'] }),
        ...(c.CAFingerprint instanceof Uint8Array && { caFingerprint: Buffer.from(c.CAFingerprint) }),
      },
    };
  } else if (identityPayload.PayloadType === 'com.apple.security.pkcs12' && identityPayload.PayloadContent instanceof Uint8Array) {
    const p12 = Buffer.from(identityPayload.PayloadContent);
    identity = { kind: 'pkcs12', identity: readPkcs12(p12, typeof identityPayload.Password === 'string' ? identityPayload.Password : '') };
  } else {
    throw new Error(`unsupported identity payload ${String(identityPayload.PayloadType)}`);
  }
  return {
    serverUrl: String(mdm.ServerURL),
    ...(typeof mdm.CheckInURL === 'string' && { checkInUrl: mdm.CheckInURL }),
    topic: String(mdm.Topic),
    ...(typeof mdm.AccessRights === 'number' && { accessRights: mdm.AccessRights }),
    signMessage: mdm.SignMessage === true,
    serverCapabilities: Array.isArray(mdm.ServerCapabilities) ? mdm.ServerCapabilities.map(String) : [],
    identity,
    signed: signature?.signatureValid === true,
    checkOutWhenRemoved: mdm.CheckOutWhenRemoved === true,
    profile: plist as Record<string, unknown>,
  };
}

export interface ScepEnrollOptions {
  /** Where to send the requests instead of the payload's URL (the simulator talks plain HTTP). */
  url?: string;
  /** Replace the payload's challenge (tests of refusals). */
  challenge?: string;
  /** PKIOperation by GET (base64 message parameter) even when the server takes POST. */
  method?: 'GET' | 'POST';
}

export interface ScepEnrollment {
  certificatePem: string;
  privateKeyPem: string;
  /** The CA capabilities the server advertised. */
  capabilities: string[];
}

type X509Crypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const provider = webcrypto as unknown as X509Crypto;

/** Enroll for a certificate with a SCEP payload; throws ScepEnrollmentError on a FAILURE CertRep. */
export async function enrollWithScep(payload: ScepPayloadContent, options: ScepEnrollOptions = {}): Promise<ScepEnrollment> {
  const url = options.url ?? payload.url;
  const capabilities = (await getText(url, 'GetCACaps')).split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  const caDer = await getBytes(url, 'GetCACert');
  if (payload.caFingerprint !== undefined) {
    const algorithm = payload.caFingerprint.length === 16 ? 'md5' : payload.caFingerprint.length === 20 ? 'sha1' : undefined;
    if (algorithm === undefined || !createHash(algorithm).update(caDer).digest().equals(payload.caFingerprint)) throw new ScepEnrollmentError('the CA certificate does not match CAFingerprint');
  }
  const standard = capabilities.includes('SCEPStandard');
  const request = await buildScepRequest(payload, caDer, {
    cipher: capabilities.includes('AES') || standard ? 'aes-256-cbc' : 'des-ede3-cbc',
    digest: capabilities.includes('SHA-256') || standard ? 'sha256' : 'sha1',
    ...(options.challenge !== undefined && { challenge: options.challenge }),
  });
  const post = options.method !== 'GET' && (capabilities.includes('POSTPKIOperation') || standard);
  const response = post
    ? await fetch(`${url}?operation=PKIOperation`, { method: 'POST', headers: { 'content-type': 'application/x-pki-message' }, body: request.message })
    : await fetch(`${url}?operation=PKIOperation&message=${encodeURIComponent(request.message.toString('base64'))}`);
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new ScepEnrollmentError(`PKIOperation answered HTTP ${response.status}: ${body.toString('utf8').trim()}`, { httpStatus: response.status });
  return { ...readScepReply(request, body), capabilities };
}

export interface ScepRequest {
  /** The pkiMessage (DER) to send. */
  message: Buffer;
  caDer: Buffer;
  privateKey: KeyObject;
  selfSignedDer: Buffer;
  spki: Buffer;
  transactionId: string;
  senderNonce: Buffer;
}

/** A PKCSReq for a fresh RSA key: what a device sends after reading the SCEP payload. */
export async function buildScepRequest(payload: Pick<ScepPayloadContent, 'subject' | 'keySize' | 'challenge'>, caDer: Buffer, options: { cipher?: ContentCipher; digest?: DigestName; challenge?: string } = {}): Promise<ScepRequest> {
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', modulusLength: payload.keySize < 2048 ? 2048 : payload.keySize, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const x509Keys = keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
  const signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const challenge = options.challenge ?? payload.challenge;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName(payload.subject),
    keys: x509Keys,
    signingAlgorithm,
    ...(challenge !== undefined && { attributes: [new x509.ChallengePasswordAttribute(challenge)] }),
  }, provider);
  // Like Apple's client (SecSCEPCreateTemporaryIdentity): a throwaway self-signed certificate
  // for the same key signs the request and receives the reply.
  const selfSigned = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `01${randomBytes(8).toString('hex')}`,
    name: [{ CN: [`scep-client ${randomBytes(8).toString('hex')}`] }],
    notBefore: new Date(Date.now() - 60 * 60 * 1000),
    notAfter: new Date(Date.now() + 24 * 60 * 60 * 1000),
    keys: x509Keys,
    signingAlgorithm,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true)],
  }, provider);
  const privateKey: KeyObject = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' });
  const selfSignedDer = Buffer.from(selfSigned.rawData);
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const senderNonce = randomBytes(16);
  // RFC 8894 §3.2.1.1: a hash of the public key, stable across retries for the same key.
  const transactionId = createHash('sha256').update(spki).digest('hex');
  const message = buildPkiMessage({
    content: sealEnvelope(Buffer.from(csr.rawData), caDer, options.cipher ?? 'aes-256-cbc'),
    signer: { certificateDer: selfSignedDer, privateKey },
    digest: options.digest ?? 'sha256',
    attributes: { messageType: MessageType.PKCSReq, transactionId, senderNonce },
  });
  return { message, caDer, privateKey, selfSignedDer, spki, transactionId, senderNonce };
}

/** Check a CertRep against the request it answers, as a device must, and take the certificate. */
export function readScepReply(request: ScepRequest, body: Buffer): Omit<ScepEnrollment, 'capabilities'> {
  const reply = readPkiMessage(body);
  if (!reply.signatureValid || !reply.signerCertificateDer.equals(request.caDer)) throw new ScepEnrollmentError('the CertRep is not signed by the CA');
  if (reply.messageType !== MessageType.CertRep) throw new ScepEnrollmentError(`expected a CertRep, got messageType ${reply.messageType}`);
  if (reply.transactionId !== request.transactionId) throw new ScepEnrollmentError('the CertRep answers another transaction');
  if (reply.recipientNonce === undefined || !reply.recipientNonce.equals(request.senderNonce)) throw new ScepEnrollmentError('the CertRep does not echo our senderNonce');
  if (reply.pkiStatus !== PkiStatus.SUCCESS) {
    throw new ScepEnrollmentError(`the CA refused the request (pkiStatus ${String(reply.pkiStatus)}, failInfo ${String(reply.failInfo)})`, {
      ...(reply.pkiStatus !== undefined && { pkiStatus: reply.pkiStatus }),
      ...(reply.failInfo !== undefined && { failInfo: reply.failInfo }),
    });
  }
  if (reply.content === undefined) throw new ScepEnrollmentError('the SUCCESS CertRep carries no certificate');
  const opened = openEnvelope(reply.content, { privateKey: request.privateKey, certificateDer: request.selfSignedDer }, randomBytes(32));
  const issued = readCertificatesOnly(opened.content).find((der) => new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' }).equals(request.spki));
  if (issued === undefined) throw new ScepEnrollmentError('the CertRep holds no certificate for our key');
  return {
    certificatePem: new X509Certificate(issued).toString(),
    privateKeyPem: request.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function subjectName(subject: [string, string][][]): x509.JsonName {
  const rdns = subject.flatMap((rdn) => rdn.map(([type, value]) => ({ [type]: [value] })));
  return rdns.length > 0 ? rdns : [{ CN: ['scep-client'] }];
}

async function getText(url: string, operation: string): Promise<string> {
  return (await getBytes(url, operation)).toString('utf8');
}

async function getBytes(url: string, operation: string): Promise<Buffer> {
  const response = await fetch(`${url}?operation=${operation}`);
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new ScepEnrollmentError(`${operation} answered HTTP ${response.status}`, { httpStatus: response.status });
  return body;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

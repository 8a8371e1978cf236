// The built-in SCEP service (RFC 8894): devices that install an enrollment profile with a
// com.apple.security.scep payload fetch the CA certificate, then send a certificate request
// whose challengePassword proves it came from a profile we served for an enrollment token.
//
// The challenge is not the enrollment token. It is `<token id>.<expiry>.<MAC>`, the MAC an
// HMAC under a key derived from the master key (which never enters the database), so:
//   • the profile (kept on the device, forwarded, logged by proxies) cannot fetch more profiles
//     from /mdm/enroll, which wants the token itself;
//   • nothing about challenges is stored: replicas agree on them, and a database dump (token
//     hashes only) cannot forge one;
//   • revoking, expiring or using up the token kills every challenge minted for it, because each
//     request consumes one use of the token, atomically (TokenStore.consumeEnrollmentToken);
//   • a challenge lives `challengeTtlMs` (default 24 h, the time a user may take between
//     downloading and installing a profile), so a profile found later is worthless.
// The challenge uses only [0-9a-f.], valid in any ASN.1 string type a client may pick.
//
// Every refusal a requester can understand is a CertRep FAILURE with a failInfo, signed by the
// CA; only messages we cannot answer at all (not a SignedData, no nonce) are ScepRequestError.

import { createHash, createHmac, createPrivateKey, hkdfSync, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CertificateAuthorityError, issueDeviceCertificate, parseCsr } from '../crypto/device-ca.ts';
import type { DeviceCa } from '../crypto/device-ca.ts';
import { pemBlocks } from '../crypto/device-trust.ts';
import {
  buildCertificatesOnly,
  buildPkiMessage,
  FailInfo,
  MessageType,
  openEnvelope,
  PkiStatus,
  readPkiMessage,
  ScepMessageError,
  sealEnvelope,
} from '../crypto/scep-message.ts';
import type { DigestName, FailInfoCode, PkiMessage } from '../crypto/scep-message.ts';
import type { Store } from '../store/database.ts';
import type { EnrollmentToken } from '../store/types.ts';

/** What GetCACaps answers: only what this service implements (no Renewal, no GetNextCACert). */
export const SCEP_CAPABILITIES = ['POSTPKIOperation', 'SHA-256', 'SHA-512', 'SHA-1', 'AES', 'DES3', 'SCEPStandard'] as const;

export class ScepRequestError extends Error {
  override readonly name = 'ScepRequestError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ScepServiceOptions {
  ca: DeviceCa;
  store: Store;
  masterKey: Buffer;
  now?: () => number;
  /** Validity of issued device certificates; default 365 days. */
  validityDays?: number;
  challengeTtlMs?: number;
  log?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

export interface ScepOutcome {
  /** The CertRep to send back (always 200 application/x-pki-message). */
  reply: Buffer;
  status: 'success' | 'failure';
  /** For logs; never sent to the requester beyond failInfo. */
  reason?: string;
  failInfo?: FailInfoCode;
  serialNumber?: string;
  enrollmentTokenId?: string;
}

export interface ScepService {
  capabilities(): string;
  caCertificateDer(): Buffer;
  /** A challenge for a profile served for this token. */
  challengeFor(token: Pick<EnrollmentToken, 'id' | 'tokenHash' | 'expiresAt'>): string;
  pkiOperation(message: Uint8Array): Promise<ScepOutcome>;
}

export const DEFAULT_CHALLENGE_TTL_MS = 24 * 60 * 60 * 1000;

/** The key challenges are MACed with, derived so it is useless for anything else. */
export function challengeKey(masterKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'lockwarden scep challenge v1', 32));
}

export function mintChallenge(key: Buffer, token: Pick<EnrollmentToken, 'id' | 'tokenHash' | 'expiresAt'>, now: number, ttlMs = DEFAULT_CHALLENGE_TTL_MS): string {
  const until = Math.floor(Math.min(now + ttlMs, token.expiresAt ?? Number.POSITIVE_INFINITY) / 1000);
  const id = Buffer.from(token.id, 'utf8').toString('hex');
  return `${id}.${until.toString(16)}.${challengeMac(key, token.id, token.tokenHash, until)}`;
}

export type ChallengeCheck = { ok: true; tokenId: string } | { ok: false; reason: string };

/** Parse and check a challenge's form, MAC and lifetime, but not the token's state. */
export async function checkChallenge(key: Buffer, challenge: string | undefined, lookup: (id: string) => Promise<Pick<EnrollmentToken, 'id' | 'tokenHash'> | undefined>, now: number): Promise<ChallengeCheck> {
  if (challenge === undefined) return { ok: false, reason: 'the request has no challengePassword' };
  const match = /^((?:[0-9a-f]{2}){1,128})\.([0-9a-f]{1,12})\.([0-9a-f]{32})$/.exec(challenge);
  if (match === null) return { ok: false, reason: 'the challengePassword is not one this server issued' };
  const tokenId = Buffer.from(match[1] ?? '', 'hex').toString('utf8');
  const until = parseInt(match[2] ?? '0', 16);
  const token = await lookup(tokenId);
  const expected = token === undefined ? '0'.repeat(32) : challengeMac(key, token.id, token.tokenHash, until);
  const macOk = timingSafeEqual(Buffer.from(expected), Buffer.from(match[3] ?? ''));
  if (token === undefined || !macOk) return { ok: false, reason: 'the challengePassword is not valid for any enrollment token' };
  if (until * 1000 <= now) return { ok: false, reason: 'the challengePassword has expired' };
  return { ok: true, tokenId: token.id };
}

function challengeMac(key: Buffer, tokenId: string, tokenHash: string, until: number): string {
  return createHmac('sha256', key).update(`${tokenId}\n${tokenHash}\n${until}`).digest('hex').slice(0, 32);
}

export function createScepService(options: ScepServiceOptions): ScepService {
  const now = options.now ?? Date.now;
  const caDer = pemBlocks(options.ca.certificatePem)[0];
  if (caDer === undefined) throw new ScepRequestError('the device CA certificate is not PEM');
  const caKey: KeyObject = createPrivateKey({ key: options.ca.privateKeyPem, format: 'pem' });
  if (caKey.asymmetricKeyType !== 'rsa') throw new ScepRequestError('the built-in SCEP service needs an RSA device CA (key transport)');
  const macKey = challengeKey(options.masterKey);
  // Implicit-rejection keys must be unpredictable to requesters but stable per ciphertext.
  const rejectionSecret = Buffer.from(hkdfSync('sha256', options.masterKey, Buffer.alloc(0), 'lockwarden scep implicit rejection v1', 32));
  const signer = { certificateDer: caDer, privateKey: caKey };
  const caCommonName = commonNameOf(new X509Certificate(caDer).subject.replace(/\n/g, ', '));

  const reply = (request: PkiMessage, status: 'success' | 'failure', content: Buffer | undefined, failInfo?: FailInfoCode): Buffer =>
    buildPkiMessage({
      ...(content !== undefined && { content }),
      signer,
      digest: replyDigest(request.digest),
      attributes: {
        messageType: MessageType.CertRep,
        transactionId: request.transactionId,
        senderNonce: randomBytes(16),
        recipientNonce: request.senderNonce,
        pkiStatus: status === 'success' ? PkiStatus.SUCCESS : PkiStatus.FAILURE,
        ...(failInfo !== undefined && { failInfo }),
      },
    });

  const fail = (request: PkiMessage, failInfo: FailInfoCode, reason: string, tokenId?: string): ScepOutcome => {
    options.log?.warn({ failInfo, reason, transactionId: request.transactionId, enrollmentTokenId: tokenId }, 'SCEP request refused');
    return { reply: reply(request, 'failure', undefined, failInfo), status: 'failure', reason, failInfo, ...(tokenId !== undefined && { enrollmentTokenId: tokenId }) };
  };

  return {
    capabilities: () => `${SCEP_CAPABILITIES.join('\n')}\n`,
    caCertificateDer: () => caDer,
    challengeFor: (token) => mintChallenge(macKey, token, now(), options.challengeTtlMs),

    async pkiOperation(bytes) {
      let request: PkiMessage;
      try {
        request = readPkiMessage(bytes);
      } catch (err) {
        throw new ScepRequestError(err instanceof Error ? err.message : 'unreadable pkiMessage', { cause: err });
      }
      if (!request.signatureValid) return fail(request, FailInfo.badMessageCheck, 'the pkiMessage signature does not verify');
      // RenewalReq is not advertised (no "Renewal" capability); CertPoll never applies because
      // this CA answers at once, never PENDING.
      if (request.messageType !== MessageType.PKCSReq) return fail(request, FailInfo.badRequest, `messageType ${request.messageType} is not supported`);
      if (!isRsaCertificate(request.signerCertificateDer)) return fail(request, FailInfo.badAlg, 'the requester certificate must hold an RSA key (reply key transport)');
      if (request.content === undefined) return fail(request, FailInfo.badRequest, 'the PKCSReq has no content');

      let csrDer: Buffer;
      let cipher;
      try {
        ({ content: csrDer, cipher } = openEnvelope(request.content, { privateKey: caKey, certificateDer: caDer }, rejectionSecret));
      } catch (err) {
        const badAlg = err instanceof ScepMessageError && err.cause === 'badAlg';
        return fail(request, badAlg ? FailInfo.badAlg : FailInfo.badMessageCheck, err instanceof Error ? err.message : 'the envelope does not open');
      }
      let csr;
      try {
        csr = await parseCsr(csrDer);
      } catch (err) {
        // Also where an implicitly rejected (wrong) content key ends up: indistinguishable.
        return fail(request, FailInfo.badMessageCheck, err instanceof Error ? err.message : 'not a certificate request');
      }

      const check = await checkChallenge(macKey, csr.challengePassword, (id) => options.store.tokens.getEnrollmentToken(id), now());
      if (!check.ok) return fail(request, FailInfo.badRequest, check.reason);
      const token = await options.store.tokens.getEnrollmentToken(check.tokenId);
      if (token === undefined) return fail(request, FailInfo.badRequest, 'the enrollment token is gone');
      const consumed = await options.store.tokens.consumeEnrollmentToken(token.tokenHash, now());
      if (!consumed.ok) return fail(request, FailInfo.badRequest, `the enrollment token is ${consumed.reason}`, token.id);

      // The requester picks its CN (the profile's Subject), but never the CA's own name.
      const requested = commonNameOf(csr.subject);
      const commonName = requested !== undefined && requested !== caCommonName ? requested : `lockwarden device ${request.transactionId.slice(0, 32)}`;
      let issued;
      try {
        issued = await issueDeviceCertificate(options.ca, { publicKey: csr.publicKey, commonName, ...(options.validityDays !== undefined && { validityDays: options.validityDays }) });
      } catch (err) {
        if (err instanceof CertificateAuthorityError) return fail(request, FailInfo.badRequest, err.message, token.id);
        throw err;
      }
      const certificate = new X509Certificate(issued.certificateDer);
      await options.store.certificates.recordIssued({
        serial: issued.serialNumber,
        certHash: issued.sha256,
        subject: `CN=${commonName}`,
        enrollmentTokenId: token.id,
        notAfter: Date.parse(certificate.validTo),
        issuedAt: now(),
      });
      options.log?.info({ serialNumber: issued.serialNumber, enrollmentTokenId: token.id, transactionId: request.transactionId }, 'SCEP certificate issued');
      const envelope = sealEnvelope(buildCertificatesOnly([issued.certificateDer]), request.signerCertificateDer, cipher);
      return { reply: reply(request, 'success', envelope), status: 'success', serialNumber: issued.serialNumber, enrollmentTokenId: token.id };
    },
  };
}

/** Answer with the requester's digest when it is one we sign with; SHA-256 otherwise. */
function replyDigest(requested: DigestName): DigestName {
  return requested === 'sha1' || requested === 'sha256' || requested === 'sha512' ? requested : 'sha256';
}

function isRsaCertificate(der: Buffer): boolean {
  try {
    return new X509Certificate(der).publicKey.asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}

/** The CN of an RFC 4514 subject, if it fits an X.520 CN (1–64 characters). */
function commonNameOf(subject: string): string | undefined {
  const match = /(?:^|,\s*)CN=((?:\\.|[^,\\])+)/i.exec(subject);
  const cn = match?.[1]?.replace(/\\(.)/g, '$1').trim();
  return cn !== undefined && cn.length > 0 && cn.length <= 64 ? cn : undefined;
}

/** Hex SHA-256 of an enrollment token, as TokenStore keys it. */
export function enrollmentTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

// The enrollment profile a device installs to enroll (GET /mdm/enroll): an identity payload
// (SCEP, or an embedded PKCS#12 identity) and the com.apple.mdm payload that names it.
// Keys per ../shared/reference/apple-device-management/mdm/profiles/com.apple.mdm.yaml and
// Apple's com.apple.security.scep / com.apple.security.pkcs12 schemas.
//
// URLs: always https://. Apple's schema gives ServerURL and CheckInURL the format ^https://
// and a device refuses anything else, so there is no development exception here: the server
// builds its base URL from LOCKWARDEN_PUBLIC_URL (validated https) or https:// + Host, and the
// simulator, which talks plain HTTP to a test server, rewrites the scheme on its side.

import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { buildPkcs12 } from '../crypto/pkcs12.ts';
import { generateDeviceIdentity } from '../crypto/device-ca.ts';
import type { DeviceCa } from '../crypto/device-ca.ts';
import { signCms } from '../crypto/cms-signer.ts';
import type { SigningIdentity } from '../crypto/cms-signer.ts';
import { pemBlocks } from '../crypto/device-trust.ts';
import { buildProfile } from '../plist/mobileconfig.ts';
import { encodePlist } from '../plist/plist-codec.ts';
import type { Store } from '../store/database.ts';
import type { EnrollmentToken } from '../store/types.ts';
import { enrollmentTokenHash } from './scep-service.ts';
import type { ScepService } from './scep-service.ts';

/** Every AccessRights bit (com.apple.mdm.yaml): 1 | 2 | 4 | … | 4096. */
export const ALL_ACCESS_RIGHTS = 8191;
export const MDM_PAYLOAD_TYPE = 'com.apple.mdm';
export const SCEP_PAYLOAD_TYPE = 'com.apple.security.scep';
export const PKCS12_PAYLOAD_TYPE = 'com.apple.security.pkcs12';
/**
 * Per-user connections: Apple requires the capability "when managing Shared iPad or macOS devices",
 * and adding or removing it later is an update Apple rejects (com.apple.mdm.yaml
 * ServerCapabilities), so it is offered from the first enrollment. User channels are served (their
 * TokenUpdate and command queue); macOS network-account users are declined at UserAuthenticate
 * (410), which Apple defines as "do not manage this user". GetBootstrapToken/SetBootstrapToken are
 * served (checkin-service.ts); GetToken is not.
 */
export const SERVER_CAPABILITIES = ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken'] as const;

export type ProfileIdentity =
  | {
    kind: 'scep';
    challenge: string;
    /** MD5 (16 bytes) or SHA-1 (20 bytes) of the CA certificate DER: the only lengths Apple's SCEP client checks (SecSCEP.c); anything else fails the enrollment. */
    caFingerprint?: Buffer;
    /** CN of the requested certificate; default a fresh "lockwarden device <uuid>". */
    commonName?: string;
  }
  | { kind: 'pkcs12'; p12: Buffer; password: string };

export interface EnrollmentProfileOptions {
  /** https://host[:port][/prefix], no trailing slash needed. */
  baseUrl: string;
  /** APNs topic: starts with com.apple.mgmt. */
  topic: string;
  token: Pick<EnrollmentToken, 'id' | 'label'>;
  identity: ProfileIdentity;
  organization?: string;
  /** Default 8191 (every right). */
  accessRights?: number;
  /** Sign the profile (CMS, content attached) when given. */
  signWith?: SigningIdentity;
}

export class EnrollmentProfileError extends Error {
  override readonly name = 'EnrollmentProfileError';
}

/** Apple's AccessRights rules (com.apple.mdm.yaml): every problem, empty when valid. */
export function accessRightsProblems(rights: number): string[] {
  if (!Number.isInteger(rights) || rights < 0 || rights > ALL_ACCESS_RIGHTS) return [`AccessRights ${rights} is not a whole number in 1–${ALL_ACCESS_RIGHTS}`];
  const problems: string[] = [];
  if (rights === 0) problems.push('AccessRights must not be 0');
  if ((rights & 2) !== 0 && (rights & 1) === 0) problems.push('AccessRights bit 2 (install/remove profiles) needs bit 1 (inspect profiles)');
  if ((rights & 128) !== 0 && (rights & 64) === 0) problems.push('AccessRights bit 128 (install/remove provisioning profiles) needs bit 64 (inspect provisioning profiles)');
  return problems;
}

/** The enrollment profile as a plist value (unsigned): the testable core of buildEnrollmentProfile. */
export function enrollmentProfilePlist(options: EnrollmentProfileOptions): Record<string, unknown> {
  const problems: string[] = [];
  const base = options.baseUrl.replace(/\/+$/, '');
  let host = '';
  try {
    const url = new URL(base);
    if (url.protocol !== 'https:') problems.push(`baseUrl must be https:// (Apple's ServerURL format), got ${url.protocol}//`);
    if (url.search !== '' || url.hash !== '') problems.push('baseUrl must not carry a query or fragment');
    host = url.host;
  } catch {
    problems.push(`baseUrl ${JSON.stringify(options.baseUrl)} is not a URL`);
  }
  if (!options.topic.startsWith('com.apple.mgmt.') || options.topic.length <= 'com.apple.mgmt.'.length) problems.push('Topic must start with com.apple.mgmt. (Apple\'s rule for MDM topics)');
  const accessRights = options.accessRights ?? ALL_ACCESS_RIGHTS;
  problems.push(...accessRightsProblems(accessRights));
  const identity = options.identity;
  if (identity.kind === 'scep') {
    if (identity.challenge.length === 0 || identity.challenge.length > 255) problems.push('the SCEP challenge must be 1–255 characters (PKCS#9 challengePassword)');
    if (identity.caFingerprint !== undefined && identity.caFingerprint.length !== 16 && identity.caFingerprint.length !== 20) {
      problems.push('CAFingerprint must be an MD5 (16-byte) or SHA-1 (20-byte) digest: Apple\'s SCEP client accepts no other');
    }
    if (identity.commonName !== undefined && (identity.commonName.length === 0 || identity.commonName.length > 64)) problems.push('the SCEP commonName must be 1–64 characters');
  } else if (identity.p12.length === 0) {
    problems.push('the PKCS#12 identity is empty');
  }
  if (problems.length > 0) throw new EnrollmentProfileError(problems.join('; '));

  const reverseHost = host.toLowerCase().replace(/[^a-z0-9.-]/g, '-').split('.').reverse().join('.');
  const profileIdentifier = `lockwarden.enrollment.${reverseHost}`;
  const identityUuid = randomUUID().toUpperCase();
  const identityPayload = identity.kind === 'scep'
    ? {
      PayloadType: SCEP_PAYLOAD_TYPE,
      PayloadVersion: 1,
      PayloadIdentifier: `${profileIdentifier}.scep`,
      PayloadUUID: identityUuid,
      PayloadDisplayName: 'Device identity (SCEP)',
      PayloadContent: {
        URL: `${base}/scep`,
        Name: 'lockwarden',
        Subject: [[['CN', identity.commonName ?? `lockwarden device ${randomUUID()}`]]],
        Challenge: identity.challenge,
        Keysize: 2048,
        'Key Type': 'RSA',
        // 1 signing | 4 encryption: the identity signs check-ins and receives the CertRep envelope.
        'Key Usage': 5,
        ...(identity.caFingerprint !== undefined && { CAFingerprint: identity.caFingerprint }),
      },
    }
    : {
      PayloadType: PKCS12_PAYLOAD_TYPE,
      PayloadVersion: 1,
      PayloadIdentifier: `${profileIdentifier}.identity`,
      PayloadUUID: identityUuid,
      PayloadDisplayName: 'Device identity',
      PayloadContent: identity.p12,
      Password: identity.password,
    };
  const mdmPayload = {
    PayloadType: MDM_PAYLOAD_TYPE,
    PayloadVersion: 1,
    PayloadIdentifier: `${profileIdentifier}.mdm`,
    PayloadUUID: randomUUID().toUpperCase(),
    PayloadDisplayName: 'Device management',
    ServerURL: `${base}/mdm/connect`,
    CheckInURL: `${base}/mdm/checkin`,
    Topic: options.topic,
    IdentityCertificateUUID: identityUuid,
    AccessRights: accessRights,
    SignMessage: true,
    CheckOutWhenRemoved: true,
    ServerCapabilities: [...SERVER_CAPABILITIES],
  };
  return buildProfile({
    identifier: profileIdentifier,
    uuid: randomUUID().toUpperCase(),
    displayName: options.organization ? `${options.organization} device management` : 'lockwarden device management',
    ...(options.organization !== undefined && { organization: options.organization }),
    description: `Enrolls this device in lockwarden (enrollment token "${options.token.label}").`,
    payloads: [identityPayload, mdmPayload],
  });
}

/** The .mobileconfig bytes: XML plist, CMS-signed when `signWith` is given. */
export async function buildEnrollmentProfile(options: EnrollmentProfileOptions): Promise<Buffer> {
  const xml = Buffer.from(encodePlist(enrollmentProfilePlist(options)));
  return options.signWith ? signCms(xml, options.signWith) : xml;
}

// ------------------------------------------------------------------- serving a token's profile

export interface EnrollmentProfileServiceOptions {
  store: Store;
  ca: DeviceCa;
  scep: ScepService;
  topic: string | (() => string | Promise<string>);
  signWith?: SigningIdentity;
  organization?: string;
  accessRights?: number;
  now?: () => number;
}

export type ServedProfile =
  | { ok: true; profile: Buffer; tokenId: string; identity: 'scep' | 'pkcs12'; serialNumber?: string }
  | { ok: false; reason: 'unknown' | 'expired' | 'exhausted' | 'revoked' }
  | { ok: false; reason: 'identity-not-allowed'; allowed: 'scep' | 'pkcs12' };

export interface EnrollmentProfileService {
  /** The profile for an enrollment token (the token itself, as the admin handed it out). */
  serve(token: string, request: { baseUrl: string; identity?: 'scep' | 'pkcs12' }): Promise<ServedProfile>;
}

export function createEnrollmentProfileService(options: EnrollmentProfileServiceOptions): EnrollmentProfileService {
  const now = options.now ?? Date.now;
  const caDer = pemBlocks(options.ca.certificatePem)[0] ?? Buffer.alloc(0);
  const caFingerprint = createHash('sha1').update(caDer).digest();
  const topic = async () => (typeof options.topic === 'string' ? options.topic : options.topic());
  const common = () => ({
    ...(options.signWith !== undefined && { signWith: options.signWith }),
    ...(options.organization !== undefined && { organization: options.organization }),
    ...(options.accessRights !== undefined && { accessRights: options.accessRights }),
  });

  return {
    async serve(secret, request) {
      const hash = enrollmentTokenHash(secret);
      const found = await options.store.tokens.findEnrollmentToken(hash);
      const refusal = refusalOf(found, now());
      if (refusal !== undefined || found === undefined) return { ok: false, reason: refusal ?? 'unknown' };
      // The token says which identity it allows; without a choice, the one it allows (SCEP for 'any').
      const kind = request.identity ?? (found.identity === 'pkcs12' ? 'pkcs12' : 'scep');
      if (found.identity !== 'any' && found.identity !== kind) return { ok: false, reason: 'identity-not-allowed', allowed: found.identity };
      if (kind === 'scep') {
        // A SCEP profile costs no use: the device's certificate request consumes one.
        const profile = await buildEnrollmentProfile({
          baseUrl: request.baseUrl,
          topic: await topic(),
          token: found,
          identity: { kind: 'scep', challenge: options.scep.challengeFor(found), caFingerprint },
          ...common(),
        });
        return { ok: true, profile, tokenId: found.id, identity: 'scep' };
      }
      // The PKCS#12 profile carries a finished identity, so serving it is the enrollment's use.
      const consumed = await options.store.tokens.consumeEnrollmentToken(hash, now());
      if (!consumed.ok) return { ok: false, reason: consumed.reason };
      const token = consumed.token;
      const commonName = `lockwarden device ${randomUUID()}`;
      const identity = await generateDeviceIdentity(options.ca, commonName);
      const issuedAt = now();
      await options.store.certificates.recordIssued({
        serial: identity.serialNumber,
        certHash: identity.sha256,
        subject: `CN=${commonName}`,
        enrollmentTokenId: token.id,
        notAfter: notAfterOf(identity.certificatePem),
        issuedAt,
      });
      // Only protects the key inside the profile file in transit; base64url avoids characters
      // that need escaping anywhere the password is shown or typed.
      const password = randomBytes(18).toString('base64url');
      const p12 = await buildPkcs12({ certificatePem: identity.certificatePem, privateKeyPem: identity.privateKeyPem, chainPem: [options.ca.certificatePem], password, friendlyName: commonName });
      const profile = await buildEnrollmentProfile({ baseUrl: request.baseUrl, topic: await topic(), token, identity: { kind: 'pkcs12', p12, password }, ...common() });
      return { ok: true, profile, tokenId: token.id, identity: 'pkcs12', serialNumber: identity.serialNumber };
    },
  };
}

function refusalOf(token: EnrollmentToken | undefined, now: number): 'unknown' | 'expired' | 'exhausted' | 'revoked' | undefined {
  if (token === undefined) return 'unknown';
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && token.expiresAt <= now) return 'expired';
  if (token.maxUses !== null && token.uses >= token.maxUses) return 'exhausted';
  return undefined;
}

function notAfterOf(certificatePem: string): number {
  return Date.parse(new X509Certificate(certificatePem).validTo);
}

// Which device certificates we accept: those issued and signed by one of a configured set of
// CA certificates (our built-in device CA, or the PEM bundle in LOCKWARDEN_DEVICE_CA), inside
// their validity period. Every certificate in the bundle is a trust anchor, so a bundle that
// holds an issuing intermediate trusts the devices it issued, as NanoMDM's pool does.
//
// Building an X509Certificate and checking the issuer's signature costs ≈0.1–0.2 ms; a device
// checks in with the same certificate for months, so the result is cached by the certificate's
// SHA-256. Only certificates whose chain verified are cached (nothing an attacker sends can
// fill the cache), and validity is re-checked against `now` on every hit.

import { createHash, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { MdmSignatureError } from './device-identity-error.ts';

export interface TrustedCertificate {
  certificateDer: Buffer;
  /** Hex SHA-256 of the DER: the device's identity key in the store. */
  certHash: string;
  /** RFC 4514 order (most specific first), e.g. "CN=device, O=Example". */
  subject: string;
  /** Lowercase hex, as issued (device-ca.ts uses the same form). */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
}

export interface DeviceTrustOptions {
  /** Certificates whose chain has verified, remembered by hash. Default 10,000. */
  cacheSize?: number;
}

interface CacheEntry {
  certificate: TrustedCertificate;
  /** The window in which the chain holds: the leaf's validity clipped to its issuer's. */
  validFrom: number;
  validUntil: number;
}

const DEFAULT_CACHE_SIZE = 10_000;

export class DeviceTrust {
  private readonly anchors: X509Certificate[];
  private readonly cache = new Map<string, CacheEntry>();
  private readonly cacheSize: number;

  /** `caCertificates`: DER buffers or PEM strings (a string may hold several certificates). */
  constructor(caCertificates: ReadonlyArray<Buffer | string>, options?: DeviceTrustOptions) {
    this.anchors = caCertificates.flatMap((entry) => (typeof entry === 'string' ? pemBlocks(entry) : [entry])).map(parseAnchor);
    if (this.anchors.length === 0) throw new Error('DeviceTrust needs at least one CA certificate');
    this.cacheSize = Math.max(1, options?.cacheSize ?? DEFAULT_CACHE_SIZE);
  }

  static fromPem(pem: string | string[], options?: DeviceTrustOptions): DeviceTrust {
    return new DeviceTrust(Array.isArray(pem) ? pem : [pem], options);
  }

  /** Number of certificates currently cached (for metrics and tests). */
  get cachedCount(): number {
    return this.cache.size;
  }

  /**
   * Accept `certificateDer` if a trusted CA issued and signed it and `now` lies within both
   * its validity and its issuer's. Throws MdmSignatureError: 'malformed', 'untrusted',
   * 'expired' or 'not-yet-valid'.
   */
  check(certificateDer: Buffer, now: Date = new Date()): TrustedCertificate {
    const certHash = createHash('sha256').update(certificateDer).digest('hex');
    const time = now.getTime();
    let entry = this.cache.get(certHash);
    if (entry !== undefined) {
      // Move to the most-recently-used end.
      this.cache.delete(certHash);
      this.cache.set(certHash, entry);
    } else {
      entry = this.verifyChain(certificateDer, certHash);
      this.cache.set(certHash, entry);
      if (this.cache.size > this.cacheSize) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
    }
    if (time > entry.validUntil) {
      throw new MdmSignatureError('expired', `certificate ${entry.certificate.serialNumber} (or its CA) expired at ${new Date(entry.validUntil).toISOString()}`);
    }
    if (time < entry.validFrom) {
      throw new MdmSignatureError('not-yet-valid', `certificate ${entry.certificate.serialNumber} (or its CA) is valid from ${new Date(entry.validFrom).toISOString()}`);
    }
    return entry.certificate;
  }

  /** Forget every cached result, e.g. after the trusted CA set changed or a device was revoked. */
  clearCache(): void {
    this.cache.clear();
  }

  private verifyChain(certificateDer: Buffer, certHash: string): CacheEntry {
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(certificateDer);
    } catch (err) {
      throw new MdmSignatureError('malformed', 'the device certificate is not a valid X.509 certificate', { cause: err });
    }
    // A CA certificate is never a device identity, even one of our own anchors.
    if (leaf.ca) throw new MdmSignatureError('untrusted', 'the device certificate is a CA certificate');
    const issuer = this.anchors.find((anchor) => leaf.checkIssued(anchor) && leaf.verify(anchor.publicKey));
    if (issuer === undefined) throw new MdmSignatureError('untrusted', `certificate ${leaf.serialNumber.toLowerCase()} is not issued by a trusted device CA`);
    const notBefore = parseCertificateTime(leaf.validFrom);
    const notAfter = parseCertificateTime(leaf.validTo);
    const certificate: TrustedCertificate = {
      certificateDer: Buffer.from(certificateDer),
      certHash,
      subject: rfc4514(leaf.subject),
      serialNumber: leaf.serialNumber.toLowerCase(),
      notBefore,
      notAfter,
      publicKey: leaf.publicKey,
    };
    return {
      certificate,
      validFrom: Math.max(notBefore.getTime(), parseCertificateTime(issuer.validFrom).getTime()),
      validUntil: Math.min(notAfter.getTime(), parseCertificateTime(issuer.validTo).getTime()),
    };
  }
}

function parseAnchor(der: Buffer, index: number): X509Certificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch (err) {
    throw new Error(`trusted CA certificate ${index + 1} is not a valid X.509 certificate`, { cause: err });
  }
  if (!certificate.ca) throw new Error(`trusted CA certificate ${index + 1} (${rfc4514(certificate.subject)}) is not a CA certificate`);
  return certificate;
}

export function pemBlocks(pem: string): Buffer[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g)];
  return blocks.map((block) => Buffer.from((block[1] ?? '').replace(/\s+/g, ''), 'base64'));
}

/** Node prints "Mon DD HH:MM:SS YYYY GMT", which Date parses; refuse anything it cannot. */
function parseCertificateTime(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new MdmSignatureError('malformed', `unreadable certificate time "${text}"`);
  return date;
}

/** Node lists RDNs one per line, most general first; RFC 4514 strings go the other way. */
export function rfc4514(nodeName: string): string {
  return nodeName.split('\n').filter((line) => line !== '').reverse().join(', ');
}

// The device certificate as a TLS-terminating proxy forwards it (LOCKWARDEN_CERT_HEADER), for
// deployments where the proxy, not the device's Mdm-Signature, proves the identity. The
// certificate still goes through DeviceTrust.check: the header only says which certificate
// the TLS peer presented, and only a proxy we sit behind may set it (http/ strips it otherwise).
//
// Accepted forms: nginx's $ssl_client_escaped_cert (URL-encoded PEM), PEM whose newlines a
// proxy turned into spaces or tabs (nginx's older $ssl_client_cert, several load balancers),
// and bare base64 DER (Traefik-style, with or without URL encoding).

import { DerCursor, DerError, Tag } from './der-reader.ts';
import { MdmSignatureError } from './device-identity-error.ts';

/** Longer than any device certificate; a header this size is an attack, not a certificate. */
const MAX_HEADER_CHARS = 32 * 1024;

/** The leaf certificate's DER. Throws MdmSignatureError('malformed') for anything else. */
export function certificateFromProxyHeader(value: string): Buffer {
  if (typeof value !== 'string' || value.trim() === '') throw new MdmSignatureError('missing', 'empty client certificate header');
  if (value.length > MAX_HEADER_CHARS) throw new MdmSignatureError('malformed', 'client certificate header is too large');
  let text = value.trim();
  if (text.includes('%')) {
    try {
      text = decodeURIComponent(text);
    } catch (err) {
      throw new MdmSignatureError('malformed', 'client certificate header is not valid URL encoding', { cause: err });
    }
  }
  // A chain forwarded whole: the first block is the peer's own certificate.
  const pem = /-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/.exec(text);
  const base64 = (pem ? (pem[1] ?? '') : text).replace(/\s+/g, '');
  if (base64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 === 1) {
    throw new MdmSignatureError('malformed', 'client certificate header holds neither PEM nor base64 DER');
  }
  const der = Buffer.from(base64, 'base64');
  try {
    const cursor = new DerCursor(der, 0, der.length, { allowIndefinite: false, maxDepth: 4 });
    cursor.expect(Tag.SEQUENCE, 'Certificate');
    cursor.finish('Certificate');
  } catch (err) {
    if (err instanceof DerError) throw new MdmSignatureError('malformed', `client certificate header is not a DER certificate: ${err.message}`, { cause: err });
    throw err;
  }
  return der;
}

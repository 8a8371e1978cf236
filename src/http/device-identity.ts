// Who is calling: the device certificate from the Mdm-Signature header (detached CMS over the
// body) or, behind a TLS-terminating proxy, from the proxy's client-certificate header. Either
// way the certificate must chain to a trusted device CA.
import type { IncomingHttpHeaders } from 'node:http';
import { certificateFromProxyHeader, MdmSignatureError, verifyMdmSignature } from '../crypto/mdm-signature.ts';
import type { DeviceTrust } from '../crypto/device-trust.ts';
import type { DeviceIdentity } from '../mdm/handler.ts';

export type DeviceIdentityReader = (headers: IncomingHttpHeaders, body: Buffer, now: number) => DeviceIdentity;

export function deviceIdentityReader(trust: DeviceTrust, certHeader?: string): DeviceIdentityReader {
  return (headers, body, now) => {
    const fromProxy = certHeader ? headers[certHeader] : undefined;
    if (typeof fromProxy === 'string' && fromProxy !== '') {
      const der = certificateFromProxyHeader(fromProxy);
      const checked = trust.check(der, new Date(now));
      return { certHash: checked.certHash, subject: checked.subject };
    }
    const signature = headers['mdm-signature'];
    if (typeof signature !== 'string' || signature === '') {
      throw new MdmSignatureError('missing', 'the request carries no Mdm-Signature header (set SignMessage in the enrollment profile)');
    }
    const verified = verifyMdmSignature(signature, body, trust, new Date(now));
    return { certHash: verified.certHash, subject: verified.subject };
  };
}

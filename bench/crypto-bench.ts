// The check-in hot path: authenticating an Idle report by its Mdm-Signature header. The bare
// node:crypto signature check over the same signed attributes is this machine's baseline, so
// the ratios travel between machines; PKI.js parsing the same header is what DESIGN.md's
// performance notes measured at ≈2.5 ms and what the strict DER reader replaces.
//
// Fixtures come from the openssl command line (synchronously, like a device would produce them
// with `openssl smime -sign -binary -outform DER`), so this suite needs openssl on PATH.

import { execFileSync } from 'node:child_process';
import { verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { DeviceTrust } from '../src/crypto/device-trust.ts';
import { parseDetachedSignature, verifyMdmSignature } from '../src/crypto/mdm-signature.ts';
import { measure, printTable } from './harness.ts';

const IDLE = Buffer.from(
  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    '<plist version="1.0">\n<dict>\n\t<key>Status</key>\n\t<string>Idle</string>\n\t<key>UDID</key>\n\t<string>00008030-001A2B3C4D5E6F70</string>\n</dict>\n</plist>\n',
);

interface Fixture {
  caPem: string;
  signature: Buffer;
}

/** A CA, a device identity it issued (RSA-2048, like ours), and a detached signature over IDLE. */
function makeFixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'lw-bench-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  try {
    writeFileSync(join(dir, 'body'), IDLE);
    writeFileSync(join(dir, 'ca.cnf'), '[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    writeFileSync(join(dir, 'leaf.cnf'), '[ext]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=bench device CA', '-days', '30', '-config', 'ca.cnf', '-extensions', 'ext', '-set_serial', '1');
    openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=bench-device');
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '2', '-days', '30', '-extfile', 'leaf.cnf', '-extensions', 'ext', '-out', 'leaf.pem');
    openssl('smime', '-sign', '-binary', '-in', 'body', '-signer', 'leaf.pem', '-inkey', 'leaf.key', '-outform', 'DER', '-out', 'sig.der');
    return { caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'), signature: readFileSync(join(dir, 'sig.der')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The synchronous part of PKI.js's path: BER decode and SignedData schema parse (verify is async, not counted). */
function pkijsParse(header: string): pkijs.SignedData {
  const der = Buffer.from(header, 'base64');
  const ber = asn1js.fromBER(new Uint8Array(der.buffer, der.byteOffset, der.byteLength));
  const contentInfo = new pkijs.ContentInfo({ schema: ber.result });
  return new pkijs.SignedData({ schema: contentInfo.content });
}

export function runCryptoBench(): void {
  const { caPem, signature } = makeFixture();
  const header = signature.toString('base64');
  const trust = DeviceTrust.fromPem(caPem);
  const identity = verifyMdmSignature(header, IDLE, trust);
  const parsed = parseDetachedSignature(signature);
  const publicKey = new X509Certificate(identity.certificateDer).publicKey;
  if (!verify('sha256', parsed.signedAttributes, publicKey, parsed.signature)) throw new Error('bench fixture does not verify');

  const coldTrust = DeviceTrust.fromPem(caPem);
  printTable(
    `Mdm-Signature on an Idle report (${IDLE.length}-byte body, ${signature.length}-byte signature, RSA-2048/SHA-256)`,
    [
      measure('crypto.verify (baseline)', () => verify('sha256', parsed.signedAttributes, publicKey, parsed.signature)),
      measure('verifyMdmSignature (trust cached)', () => verifyMdmSignature(header, IDLE, trust)),
      measure('verifyMdmSignature (trust cold)', () => {
        coldTrust.clearCache();
        return verifyMdmSignature(header, IDLE, coldTrust);
      }),
      measure('parseDetachedSignature only', () => parseDetachedSignature(Buffer.from(header, 'base64'))),
      measure('new X509Certificate (per miss)', () => new X509Certificate(identity.certificateDer)),
      measure('PKI.js parse only (no verify)', () => pkijsParse(header)),
    ],
    'crypto.verify (baseline)',
  );
}

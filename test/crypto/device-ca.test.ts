import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthorityError, createDeviceCa, generateDeviceIdentity, issueDeviceCertificate, parseCsr } from '../../src/crypto/device-ca.ts';
import type { DeviceCa } from '../../src/crypto/device-ca.ts';

let ca: DeviceCa;
beforeAll(async () => {
  ca = await createDeviceCa({ commonName: 'Example, Inc. device CA', validityYears: 5 });
});

function openssl(args: string[], files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ca-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('createDeviceCa', () => {
  it('makes a self-signed RSA-2048 CA with basicConstraints, keyUsage and SKI', () => {
    const certificate = new X509Certificate(ca.certificatePem);
    expect(certificate.ca).toBe(true);
    // One CN attribute: the comma inside it is escaped, not a second RDN.
    expect(certificate.subject).toBe('CN=Example\\, Inc. device CA');
    expect(certificate.checkIssued(certificate)).toBe(true);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const years = (new Date(certificate.validTo).getTime() - new Date(certificate.validFrom).getTime()) / (365.25 * 86_400_000);
    expect(years).toBeCloseTo(5, 1);
    const text = openssl(['x509', '-in', 'ca.pem', '-noout', '-text'], { 'ca.pem': ca.certificatePem });
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain('Subject Key Identifier');
  });
});

describe('issueDeviceCertificate and generateDeviceIdentity', () => {
  it('issues a clientAuth leaf with AKI that OpenSSL verifies against the CA', async () => {
    const identity = await generateDeviceIdentity(ca, 'device-1');
    expect(openssl(['verify', '-CAfile', 'ca.pem', '-purpose', 'sslclient', 'leaf.pem'], { 'ca.pem': ca.certificatePem, 'leaf.pem': identity.certificatePem })).toContain('leaf.pem: OK');
    const text = openssl(['x509', '-in', 'leaf.pem', '-noout', '-text'], { 'leaf.pem': identity.certificatePem });
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication/);
    expect(text).toContain('Authority Key Identifier');
    expect(text).toMatch(/CA:FALSE/);
    const leaf = new X509Certificate(identity.certificatePem);
    expect(identity.serialNumber).toBe(leaf.serialNumber.toLowerCase());
    expect(identity.sha256).toBe(createHash('sha256').update(leaf.raw).digest('hex'));
    expect(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(identity.privateKeyPem))).toBe(true);
  });

  it('accepts the device key as KeyObject, CryptoKey or SPKI DER, and a chosen serial', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const cryptoKey = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
    for (const input of [publicKey, spki, cryptoKey]) {
      const issued = await issueDeviceCertificate(ca, { publicKey: input, commonName: 'ec', serialNumber: '0A1B' });
      expect(issued.serialNumber).toBe('0a1b');
      expect(Buffer.from(new X509Certificate(issued.certificateDer).publicKey.export({ type: 'spki', format: 'der' })).equals(spki)).toBe(true);
    }
  });

  it('refuses weak keys, bad serials and a CA key that does not match', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    await expect(issueDeviceCertificate(ca, { publicKey: weak, commonName: 'x' })).rejects.toBeInstanceOf(CertificateAuthorityError);
    const good = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    await expect(issueDeviceCertificate(ca, { publicKey: good, commonName: 'x', serialNumber: '80' })).rejects.toThrow(/positive/);
    await expect(issueDeviceCertificate(ca, { publicKey: good, commonName: '' })).rejects.toThrow(/commonName/);
    const other = await createDeviceCa();
    await expect(issueDeviceCertificate({ certificatePem: ca.certificatePem, privateKeyPem: other.privateKeyPem }, { publicKey: good, commonName: 'x' })).rejects.toThrow(/does not belong/);
  });
});

describe('parseCsr', () => {
  it('reads an OpenSSL PKCS#10 request with a challengePassword, as SCEP clients send', async () => {
    const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const config = '[req]\nprompt=no\ndistinguished_name=dn\nattributes=attrs\n[dn]\nCN=scep-device\nO=Example\n[attrs]\nchallengePassword=enroll-token-123\n';
    const pem = openssl(['req', '-new', '-key', 'key.pem', '-config', 'req.cnf', '-outform', 'PEM'], { 'key.pem': key, 'req.cnf': config });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const parsed = await parseCsr(der);
    expect(parsed.challengePassword).toBe('enroll-token-123');
    expect(parsed.subject).toBe('CN=scep-device, O=Example');
    expect(parsed.publicKey.asymmetricKeyType).toBe('rsa');

    const issued = await issueDeviceCertificate(ca, { publicKey: parsed.publicKey, commonName: 'scep-device' });
    expect(new X509Certificate(issued.certificatePem).checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
  });

  it('reads a request without a challenge, and refuses a tampered or garbage one', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pem = openssl(['req', '-new', '-key', 'key.pem', '-subj', '/CN=plain', '-outform', 'PEM'], { 'key.pem': key });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const parsed = await parseCsr(der);
    expect(parsed.challengePassword).toBeUndefined();
    expect(parsed.subject).toBe('CN=plain');
    const tampered = Buffer.from(der);
    const at = tampered.indexOf(Buffer.from('plain'));
    tampered[at] = 'P'.charCodeAt(0);
    await expect(parseCsr(tampered)).rejects.toThrow(/does not verify/);
    await expect(parseCsr(Buffer.from('nonsense'))).rejects.toBeInstanceOf(CertificateAuthorityError);
  });
});

import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCa, generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import type { DeviceCa, DeviceIdentity } from '../../src/crypto/device-ca.ts';
import { DeviceTrust } from '../../src/crypto/device-trust.ts';
import { certificateFromProxyHeader, MdmSignatureError } from '../../src/crypto/mdm-signature.ts';

let ca: DeviceCa;
let otherCa: DeviceCa;
let device: DeviceIdentity;
let der: Buffer;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createDeviceCa(), createDeviceCa({ commonName: 'external CA' })]);
  device = await generateDeviceIdentity(ca, 'device-1', { validityDays: 30 });
  der = Buffer.from(new X509Certificate(device.certificatePem).raw);
});

function reasonOf(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (err) {
    return err instanceof MdmSignatureError ? err.reason : `other: ${String(err)}`;
  }
}

describe('DeviceTrust', () => {
  it('accepts a certificate issued by any CA of the bundle and describes it', () => {
    const trust = DeviceTrust.fromPem(`${otherCa.certificatePem}\n${ca.certificatePem}`);
    const checked = trust.check(der);
    expect(checked.certHash).toBe(device.sha256);
    expect(checked.serialNumber).toBe(device.serialNumber);
    expect(checked.subject).toBe('CN=device-1');
    expect(checked.publicKey.asymmetricKeyType).toBe('rsa');
  });

  it('refuses certificates of other CAs, CA certificates, and garbage', () => {
    const trust = DeviceTrust.fromPem(otherCa.certificatePem);
    expect(reasonOf(() => trust.check(der))).toBe('untrusted');
    expect(reasonOf(() => trust.check(Buffer.from(new X509Certificate(otherCa.certificatePem).raw)))).toBe('untrusted');
    expect(reasonOf(() => trust.check(Buffer.from('not a certificate')))).toBe('malformed');
    expect(trust.cachedCount).toBe(0);
  });

  it('refuses an empty bundle and a bundle holding a non-CA certificate', () => {
    expect(() => DeviceTrust.fromPem('')).toThrow(/at least one CA/);
    expect(() => DeviceTrust.fromPem(device.certificatePem)).toThrow(/not a CA/);
  });

  it('honours validity on cache hits: a cached certificate still expires', () => {
    const trust = DeviceTrust.fromPem(ca.certificatePem);
    expect(reasonOf(() => trust.check(der))).toBe('accepted');
    expect(trust.cachedCount).toBe(1);
    expect(reasonOf(() => trust.check(der, new Date(Date.now() + 31 * 86_400_000)))).toBe('expired');
    expect(reasonOf(() => trust.check(der, new Date(Date.now() - 2 * 3_600_000)))).toBe('not-yet-valid');
    expect(reasonOf(() => trust.check(der))).toBe('accepted');
  });

  it('keeps at most cacheSize entries, evicting the least recently used', async () => {
    const trust = DeviceTrust.fromPem(ca.certificatePem, { cacheSize: 2 });
    const others = await Promise.all([generateDeviceIdentity(ca, 'a'), generateDeviceIdentity(ca, 'b')]);
    const ders = others.map((identity) => Buffer.from(new X509Certificate(identity.certificatePem).raw));
    trust.check(der);
    trust.check(ders[0] as Buffer);
    trust.check(der);
    trust.check(ders[1] as Buffer);
    expect(trust.cachedCount).toBe(2);
    trust.clearCache();
    expect(trust.cachedCount).toBe(0);
  });

  it('is fast on a cache hit', () => {
    const trust = DeviceTrust.fromPem(ca.certificatePem);
    trust.check(der);
    const start = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) trust.check(der);
    const microsPerCheck = Number(process.hrtime.bigint() - start) / 1000 / 1000;
    expect(microsPerCheck).toBeLessThan(50);
  });
});

describe('certificateFromProxyHeader', () => {
  it('reads nginx $ssl_client_escaped_cert (URL-encoded PEM)', () => {
    expect(certificateFromProxyHeader(encodeURIComponent(device.certificatePem)).equals(der)).toBe(true);
  });

  it('reads PEM whose newlines became spaces or tabs, and bare base64 DER', () => {
    expect(certificateFromProxyHeader(device.certificatePem.replace(/\n/g, ' ')).equals(der)).toBe(true);
    expect(certificateFromProxyHeader(device.certificatePem.replace(/\n/g, '\t')).equals(der)).toBe(true);
    expect(certificateFromProxyHeader(der.toString('base64')).equals(der)).toBe(true);
    expect(certificateFromProxyHeader(encodeURIComponent(der.toString('base64'))).equals(der)).toBe(true);
  });

  it('takes the leaf when a chain is forwarded', () => {
    expect(certificateFromProxyHeader(`${device.certificatePem}${ca.certificatePem}`).equals(der)).toBe(true);
  });

  it('refuses empty, broken and oversized values with MdmSignatureError', () => {
    expect(reasonOf(() => certificateFromProxyHeader(''))).toBe('missing');
    for (const value of ['%E0%A4%A', 'hello world', Buffer.from('not der').toString('base64'), `${der.toString('base64')}AAAA`, 'A'.repeat(40_000)]) {
      expect(reasonOf(() => certificateFromProxyHeader(value))).toBe('malformed');
    }
  });

  it('feeds the same trust check as a signature would', () => {
    const trust = DeviceTrust.fromPem(ca.certificatePem);
    expect(trust.check(certificateFromProxyHeader(encodeURIComponent(device.certificatePem))).certHash).toBe(device.sha256);
  });
});

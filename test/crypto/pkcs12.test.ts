import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCa, generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import type { DeviceCa, DeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildPkcs12, Pkcs12Error, readPkcs12 } from '../../src/crypto/pkcs12.ts';

let ca: DeviceCa;
let identity: DeviceIdentity;
const PASSWORD = 'correct horse – battery';

beforeAll(async () => {
  ca = await createDeviceCa();
  identity = await generateDeviceIdentity(ca, 'device-1');
});

function withFiles<T>(files: Record<string, string | Buffer>, run: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'lw-p12-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const der = (pem: string): Buffer => Buffer.from(new X509Certificate(pem).raw);
const keyDer = (pem: string): Buffer => createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });

function opensslExport(legacy: boolean, password: string): Buffer {
  return withFiles({ 'cert.pem': identity.certificatePem, 'key.pem': identity.privateKeyPem, 'ca.pem': ca.certificatePem }, (dir) => {
    execFileSync('openssl', ['pkcs12', '-export', ...(legacy ? ['-legacy'] : []), '-in', 'cert.pem', '-inkey', 'key.pem', '-certfile', 'ca.pem', '-passout', `pass:${password}`, '-out', 'out.p12'], { cwd: dir, stdio: 'pipe' });
    return readFileSync(join(dir, 'out.p12'));
  });
}

describe('buildPkcs12', () => {
  it('writes 3DES + SHA-1 MAC that `openssl pkcs12 -legacy` opens to the same key and certificates', async () => {
    const p12 = await buildPkcs12({ ...identity, chainPem: [ca.certificatePem], password: PASSWORD, friendlyName: 'Device identity' });
    const { info, pem } = withFiles({ 'x.p12': p12 }, (dir) => {
      const run = spawnSync('openssl', ['pkcs12', '-legacy', '-in', 'x.p12', '-passin', `pass:${PASSWORD}`, '-nodes', '-info'], { cwd: dir, encoding: 'utf8' });
      expect(run.status).toBe(0);
      // -info writes the algorithm report to stderr and the PEM blocks to stdout.
      return { info: run.stderr, pem: run.stdout };
    });
    expect(info).toContain('MAC: sha1');
    expect(info).toContain('pbeWithSHA1And3-KeyTripleDES-CBC');
    expect(info).not.toMatch(/RC2|AES/);
    expect(pem).toContain('friendlyName: Device identity');
    const certificates = [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => der(m[0]));
    expect(certificates.map((c) => c.toString('hex'))).toEqual([der(identity.certificatePem), der(ca.certificatePem)].map((c) => c.toString('hex')));
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(pem)?.[0] ?? '';
    expect(keyDer(key).equals(keyDer(identity.privateKeyPem))).toBe(true);
  });

  it('round-trips through readPkcs12', async () => {
    const p12 = await buildPkcs12({ ...identity, password: PASSWORD });
    const read = readPkcs12(p12, PASSWORD);
    expect(der(read.certificatePem).equals(der(identity.certificatePem))).toBe(true);
    expect(keyDer(read.privateKeyPem).equals(keyDer(identity.privateKeyPem))).toBe(true);
    expect(read.chainPem).toEqual([]);
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const other = await generateDeviceIdentity(ca, 'device-2');
    await expect(buildPkcs12({ certificatePem: identity.certificatePem, privateKeyPem: other.privateKeyPem, password: 'x' })).rejects.toBeInstanceOf(Pkcs12Error);
  });
});

describe('readPkcs12', () => {
  it.each([
    ['OpenSSL 3 default (PBES2/AES-256, SHA-256 MAC)', false],
    ['openssl -legacy (RC2-40 certificates, 3DES key, SHA-1 MAC)', true],
  ])('reads %s', (_name, legacy) => {
    const read = readPkcs12(opensslExport(legacy, 'pw'), 'pw');
    expect(der(read.certificatePem).equals(der(identity.certificatePem))).toBe(true);
    expect(keyDer(read.privateKeyPem).equals(keyDer(identity.privateKeyPem))).toBe(true);
    expect(read.chainPem.map(der).map((c) => c.toString('hex'))).toEqual([der(ca.certificatePem).toString('hex')]);
  });

  it('refuses a wrong password, a tampered file and garbage with Pkcs12Error', async () => {
    const p12 = await buildPkcs12({ ...identity, password: PASSWORD });
    expect(() => readPkcs12(p12, 'wrong')).toThrow(/wrong password/);
    expect(() => readPkcs12(opensslExport(false, 'pw'), 'wrong')).toThrow(Pkcs12Error);
    const tampered = Buffer.from(p12);
    tampered[Math.floor(tampered.length / 2)] = (tampered[Math.floor(tampered.length / 2)] as number) ^ 1;
    expect(() => readPkcs12(tampered, PASSWORD)).toThrow(Pkcs12Error);
    expect(() => readPkcs12(Buffer.from('not a p12'), PASSWORD)).toThrow(Pkcs12Error);
    for (let length = 1; length < p12.length; length += 97) expect(() => readPkcs12(p12.subarray(0, length), PASSWORD)).toThrow(Pkcs12Error);
  });
});

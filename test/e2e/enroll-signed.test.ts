// Signed enrollment profiles: with LOCKWARDEN_SIGNING_CERT/_KEY set, GET /mdm/enroll serves a
// CMS-signed .mobileconfig that openssl verifies against the signer's CA, with the intermediates
// from the certificate file embedded; a bad signing configuration stops the start with the reason.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCa, generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildApp } from '../../src/http/app.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { ConfigError, configFromEnv } from '../../src/services/server-config.ts';
import { readEnrollmentProfile } from '../../src/sim/scep-client.ts';

const TOPIC = 'com.apple.mgmt.External.signed-e2e';

describe('signed enrollment profiles', () => {
  let dir: string;
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockwarden-signed-'));
    // A "fullchain" file as CAs hand them out: the signer's certificate, then its issuer's.
    const issuer = await createDeviceCa({ commonName: 'Example Issuing CA' });
    const signer = await generateDeviceIdentity(issuer, 'Example Profile Signer');
    const other = await generateDeviceIdentity(issuer, 'Someone Else');
    await writeFile(join(dir, 'issuer.pem'), issuer.certificatePem);
    await writeFile(join(dir, 'signer-fullchain.pem'), `${signer.certificatePem}\n${issuer.certificatePem}`);
    await writeFile(join(dir, 'signer.key'), signer.privateKeyPem, { mode: 0o600 });
    await writeFile(join(dir, 'other.key'), other.privateKeyPem, { mode: 0o600 });
    runtime = await openRuntime(configFromEnv({
      LOCKWARDEN_DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'silent',
      LOCKWARDEN_APNS_TOPIC: TOPIC,
      LOCKWARDEN_PUBLIC_URL: 'https://mdm.example.com',
      LOCKWARDEN_SIGNING_CERT: join(dir, 'signer-fullchain.pem'),
      LOCKWARDEN_SIGNING_KEY: join(dir, 'signer.key'),
    }));
    app = await buildApp(runtime, { logger: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await runtime?.close();
  });

  const newToken = async () => {
    const secret = `et_${randomBytes(18).toString('base64url')}`;
    await runtime.store.tokens.createEnrollmentToken({
      tokenHash: createHash('sha256').update(secret).digest('hex'), label: 'signed', maxUses: 1, expiresAt: null, identity: 'any', now: Date.now(),
    });
    return secret;
  };

  it.each(['scep', 'pkcs12'])('serves a %s enrollment profile signed by the configured identity', async (identity) => {
    const response = await fetch(`${url}/mdm/enroll?token=${await newToken()}&identity=${identity}`);
    expect(response.status).toBe(200);
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.subarray(0, 5).toString()).not.toBe('<?xml'); // a CMS envelope, not bare XML
    const profile = await readEnrollmentProfile(body);
    expect(profile.signed).toBe(true);
    expect(profile.topic).toBe(TOPIC);
    expect(profile.identity.kind).toBe(identity);

    const file = join(dir, `profile-${identity}.der`);
    await writeFile(file, body);
    const verified = execFileSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', file, '-CAfile', join(dir, 'issuer.pem'), '-purpose', 'any'], { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(verified.toString()).toContain('<key>PayloadType</key>');
    // Every certificate of the file travels with the profile, so a device can build the chain.
    const embedded = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-in', file, '-print_certs'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    expect(embedded).toMatch(/subject=CN ?= ?Example Profile Signer/);
    expect(embedded).toMatch(/subject=CN ?= ?Example Issuing CA/);
  });

  it('refuses to start with a key that is not the certificate\'s, naming both files', async () => {
    const attempt = openRuntime(configFromEnv({
      LOCKWARDEN_DATA_DIR: join(dir, 'data-2'),
      LOG_LEVEL: 'silent',
      LOCKWARDEN_SIGNING_CERT: join(dir, 'signer-fullchain.pem'),
      LOCKWARDEN_SIGNING_KEY: join(dir, 'other.key'),
    }));
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/other\.key: the private key does not belong to the signing certificate/);
  });

  it('refuses to start when the certificate file is missing', async () => {
    const attempt = openRuntime(configFromEnv({
      LOCKWARDEN_DATA_DIR: join(dir, 'data-3'),
      LOG_LEVEL: 'silent',
      LOCKWARDEN_SIGNING_CERT: join(dir, 'missing.pem'),
      LOCKWARDEN_SIGNING_KEY: join(dir, 'signer.key'),
    }));
    await expect(attempt).rejects.toThrow(/missing\.pem.*ENOENT/);
  });

  it('needs both settings or neither', () => {
    expect(() => configFromEnv({ LOCKWARDEN_SIGNING_CERT: 'cert.pem' })).toThrow(/LOCKWARDEN_SIGNING_CERT and LOCKWARDEN_SIGNING_KEY go together/);
    expect(() => configFromEnv({ LOCKWARDEN_SIGNING_KEY: 'key.pem' })).toThrow(/go together/);
  });

  it('serves unsigned profiles, with a start-up warning, when no signing identity is set', async () => {
    const plain = await openRuntime(configFromEnv({ LOCKWARDEN_DATA_DIR: join(dir, 'data-4'), LOG_LEVEL: 'silent', LOCKWARDEN_APNS_TOPIC: TOPIC }));
    try {
      expect(plain.signingIdentity).toBeUndefined();
      expect(plain.warnings.join('\n')).toMatch(/enrollment profiles are unsigned/);
    } finally {
      await plain.close();
    }
  });
});

// Importing the MDM push certificate: .p12 and PEM made by openssl the way an admin's would
// look (UID=com.apple.mgmt.External.…, CN=APSP:…), validation with clear refusals, sealed
// storage, the development fallback; and the imported identity used as the APNs client
// certificate over real TLS.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApnsClient } from '../../src/services/push/apns-client.ts';
import {
  apnsCertificateOf, importPushCertificate, loadPushCertificate, NO_CERTIFICATE_WARNING, parsePushCertificate,
  PUSH_CERTIFICATE_SECRET, PushCertificateError, resolvePushSetup,
} from '../../src/services/push/push-certificate.ts';
import type { Store } from '../../src/store/database.ts';
import { databases } from '../support/databases.ts';

const TOPIC = 'com.apple.mgmt.External.1234';
const PASSWORD = 'p12 – password';
const DAY = 86_400_000;
const sqlite = databases.find((database) => database.name === 'sqlite')!;

interface Made { certificatePem: string; privateKeyPem: string; p12: Buffer }

let dir: string;
let apple: Made;
let renewed: Made;
let appCertificate: Made;
let noUid: Made;
let tlsServer: Made;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A self-signed certificate with this subject, as PEM and as a .p12 (OpenSSL 3 defaults: PBES2/AES). */
function make(name: string, subject: string, extra: string[] = []): Made {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '365', '-subj', subject, ...extra]);
  openssl(['pkcs12', '-export', '-in', `${name}.pem`, '-inkey', `${name}.key`, '-passout', `pass:${PASSWORD}`, '-out', `${name}.p12`]);
  return {
    certificatePem: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    privateKeyPem: readFileSync(join(dir, `${name}.key`), 'utf8'),
    p12: readFileSync(join(dir, `${name}.p12`)),
  };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lw-push-cert-'));
  apple = make('apple', `/UID=${TOPIC}/CN=APSP:6f1c2a4e-1234-4cde-9abc-0123456789ab/C=US`);
  renewed = make('renewed', `/UID=${TOPIC}/CN=APSP:6f1c2a4e-1234-4cde-9abc-0123456789ab/C=US`);
  appCertificate = make('app', '/UID=com.example.app/CN=Apple Push Services: com.example.app/C=US');
  noUid = make('no-uid', '/CN=MDM Vendor: Example/C=US');
  tlsServer = make('server', '/CN=localhost', ['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let store: Store;
const masterKey = randomBytes(32);
beforeEach(async () => { store = await sqlite.open(); });
afterEach(async () => { await store.close(); });

function refusal(run: () => unknown): PushCertificateError {
  try {
    run();
  } catch (err) {
    if (err instanceof PushCertificateError) return err;
    throw err;
  }
  throw new Error('expected a PushCertificateError');
}

describe('parsePushCertificate', () => {
  it('accepts an MDM push .p12 and takes the topic from the subject UID', () => {
    const certificate = parsePushCertificate({ p12: apple.p12, password: PASSWORD });
    expect(certificate.topic).toBe(TOPIC);
    expect(certificate.subject).toContain('CN=APSP:6f1c2a4e-1234-4cde-9abc-0123456789ab');
    expect(certificate.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(certificate.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(certificate.notAfter - certificate.notBefore).toBeGreaterThan(360 * DAY);
  });

  it('accepts the same certificate as PEM certificate + key, also with an encrypted key', () => {
    expect(parsePushCertificate({ certificatePem: apple.certificatePem, privateKeyPem: apple.privateKeyPem }).topic).toBe(TOPIC);
    openssl(['pkey', '-in', 'apple.key', '-aes256', '-passout', 'pass:key-secret', '-out', 'apple-encrypted.key']);
    const encrypted = readFileSync(join(dir, 'apple-encrypted.key'), 'utf8');
    expect(parsePushCertificate({ certificatePem: apple.certificatePem, privateKeyPem: encrypted, keyPassword: 'key-secret' }).topic).toBe(TOPIC);
    expect(refusal(() => parsePushCertificate({ certificatePem: apple.certificatePem, privateKeyPem: encrypted, keyPassword: 'wrong' })).code).toBe('bad-password');
  });

  it('refuses an expired certificate, saying to renew it and keep the topic', () => {
    const err = refusal(() => parsePushCertificate({ p12: apple.p12, password: PASSWORD }, Date.now() + 400 * DAY));
    expect(err.code).toBe('expired');
    expect(err.message).toMatch(/com\.apple\.mgmt\.External\.1234 expired on \d{4}-\d\d-\d\d/);
    expect(err.message).toMatch(/renew it at identity\.apple\.com/);
  });

  it('refuses a certificate that is not yet valid', () => {
    expect(refusal(() => parsePushCertificate({ p12: apple.p12, password: PASSWORD }, Date.now() - 2 * DAY)).code).toBe('not-yet-valid');
  });

  it('refuses a certificate whose UID is not com.apple.mgmt.*, or that has none', () => {
    const app = refusal(() => parsePushCertificate({ p12: appCertificate.p12, password: PASSWORD }));
    expect(app.code).toBe('not-mdm-push');
    expect(app.message).toContain('subject UID is "com.example.app"');
    expect(app.message).toContain('UID=com.apple.mgmt.');
    const none = refusal(() => parsePushCertificate({ certificatePem: noUid.certificatePem, privateKeyPem: noUid.privateKeyPem }));
    expect(none.code).toBe('not-mdm-push');
    expect(none.message).toContain('subject UID is missing');
  });

  it('refuses a wrong password, a key that is not the certificate\'s, and garbage', () => {
    expect(refusal(() => parsePushCertificate({ p12: apple.p12, password: 'wrong' })).code).toBe('bad-password');
    const mismatch = refusal(() => parsePushCertificate({ certificatePem: apple.certificatePem, privateKeyPem: renewed.privateKeyPem }));
    expect(mismatch.code).toBe('key-mismatch');
    expect(refusal(() => parsePushCertificate({ p12: Buffer.from('not a p12'), password: PASSWORD })).code).toBe('unreadable');
    expect(refusal(() => parsePushCertificate({ certificatePem: 'nothing', privateKeyPem: apple.privateKeyPem })).code).toBe('unreadable');
  });
});

describe('importPushCertificate', () => {
  it('stores the certificate sealed and loads it back', async () => {
    const { certificate, replaced, warnings } = await importPushCertificate(store, masterKey, { p12: apple.p12, password: PASSWORD });
    expect(replaced).toBeUndefined();
    expect(warnings).toEqual([]);
    const sealed = await store.secrets.get(PUSH_CERTIFICATE_SECRET);
    expect(sealed).toBeDefined();
    expect(sealed!.toString('latin1')).not.toContain('PRIVATE KEY');
    expect(sealed!.toString('latin1')).not.toContain(TOPIC);
    expect(await loadPushCertificate(store, masterKey)).toEqual(certificate);
    await expect(loadPushCertificate(store, randomBytes(32))).rejects.toThrow(/does not open/);
  });

  it('replaces a certificate with its renewal (same topic), but refuses a new topic unless allowed', async () => {
    const first = await importPushCertificate(store, masterKey, { p12: apple.p12, password: PASSWORD });
    const second = await importPushCertificate(store, masterKey, { certificatePem: renewed.certificatePem, privateKeyPem: renewed.privateKeyPem });
    expect(second.replaced?.fingerprint).toBe(first.certificate.fingerprint);

    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '30', '-subj', '/UID=com.apple.mgmt.External.5678/CN=APSP:other']);
    const other = { certificatePem: readFileSync(join(dir, 'other.pem'), 'utf8'), privateKeyPem: readFileSync(join(dir, 'other.key'), 'utf8') };
    await expect(importPushCertificate(store, masterKey, other)).rejects.toMatchObject({ code: 'topic-change', message: expect.stringMatching(/re-enroll/) });
    expect((await loadPushCertificate(store, masterKey))?.fingerprint).toBe(second.certificate.fingerprint);

    const changed = await importPushCertificate(store, masterKey, other, { allowTopicChange: true });
    expect(changed.certificate.topic).toBe('com.apple.mgmt.External.5678');
    // 30 days of validity: inside the expiry warning.
    expect(changed.warnings).toEqual([expect.stringMatching(/expires in 30 days/)]);
  });

  it('refuses an invalid certificate without touching the stored one', async () => {
    await importPushCertificate(store, masterKey, { p12: apple.p12, password: PASSWORD });
    await expect(importPushCertificate(store, masterKey, { p12: appCertificate.p12, password: PASSWORD })).rejects.toMatchObject({ code: 'not-mdm-push' });
    await expect(importPushCertificate(store, masterKey, { p12: apple.p12, password: PASSWORD }, { now: Date.now() + 400 * DAY })).rejects.toMatchObject({ code: 'expired' });
    expect((await loadPushCertificate(store, masterKey))?.topic).toBe(TOPIC);
  });
});

describe('resolvePushSetup', () => {
  it('without a certificate: generates a topic once, keeps it, and warns loudly', async () => {
    const first = await resolvePushSetup({ store, masterKey, apnsUrl: 'http://127.0.0.1:2197' });
    expect(first.source).toBe('generated');
    expect(first.topic).toMatch(/^com\.apple\.mgmt\.External\.[0-9a-f-]{36}$/);
    expect(first.certificate).toBeUndefined();
    expect(first.warnings).toEqual([NO_CERTIFICATE_WARNING]);
    expect(NO_CERTIFICATE_WARNING).toContain('real devices need the push certificate import');
    expect((await resolvePushSetup({ store, masterKey })).topic).toBe(first.topic);
    // A second replica on the same database agrees.
    const peer = await sqlite.openPeer(store);
    expect((await resolvePushSetup({ store: peer, masterKey })).topic).toBe(first.topic);
    await peer.close();
  });

  it('without a certificate: takes LOCKWARDEN_APNS_TOPIC when set', async () => {
    const setup = await resolvePushSetup({ store, masterKey, envTopic: 'com.apple.mgmt.External.from-env', apnsUrl: 'http://127.0.0.1:2197' });
    expect(setup).toEqual({ topic: 'com.apple.mgmt.External.from-env', source: 'environment', warnings: [NO_CERTIFICATE_WARNING] });
    // Neither a certificate nor a local endpoint: every push to Apple would be refused.
    expect((await resolvePushSetup({ store, masterKey, envTopic: 'com.apple.mgmt.External.from-env' })).warnings)
      .toEqual([NO_CERTIFICATE_WARNING, expect.stringContaining('Apple will refuse every one')]);
    await expect(resolvePushSetup({ store, masterKey, envTopic: 'com.example.app' })).rejects.toBeInstanceOf(PushCertificateError);
  });

  it('with a certificate: its topic wins; devices enrolled on the development topic are called out at import', async () => {
    const dev = await resolvePushSetup({ store, masterKey });
    const imported = await importPushCertificate(store, masterKey, { p12: apple.p12, password: PASSWORD });
    expect(imported.warnings).toEqual([expect.stringContaining(`development topic ${dev.topic}`)]);
    const setup = await resolvePushSetup({ store, masterKey, envTopic: 'com.apple.mgmt.External.from-env' });
    expect(setup.source).toBe('certificate');
    expect(setup.topic).toBe(TOPIC);
    expect(setup.certificate?.fingerprint).toBe(imported.certificate.fingerprint);
    expect(setup.warnings).toEqual([expect.stringContaining('LOCKWARDEN_APNS_TOPIC=com.apple.mgmt.External.from-env is ignored')]);
    expect((await resolvePushSetup({ store, masterKey, now: Date.now() + 400 * DAY })).warnings).toEqual([expect.stringMatching(/expired on/)]);
  });
});

describe('the imported certificate as the APNs TLS client identity', () => {
  it('is presented to an https:// APNs endpoint, which sees the topic in it', async () => {
    const certificate = parsePushCertificate({ p12: apple.p12, password: PASSWORD });
    const presented: string[] = [];
    const server = http2.createSecureServer({
      cert: tlsServer.certificatePem, key: tlsServer.privateKeyPem,
      ca: apple.certificatePem, requestCert: true, rejectUnauthorized: true,
    });
    server.on('stream', (stream) => {
      const peer = (stream.session?.socket as TLSSocket | undefined)?.getPeerCertificate();
      presented.push(String(peer?.subject?.UID ?? ''));
      stream.resume();
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://localhost:${(server.address() as AddressInfo).port}`;
    const withCertificate = createApnsClient({ url, certificate: apnsCertificateOf(certificate), ca: tlsServer.certificatePem });
    const without = createApnsClient({ url, ca: tlsServer.certificatePem, connectTimeoutMs: 2_000 });
    try {
      const push = { token: randomBytes(32), topic: certificate.topic, pushMagic: 'MAGIC' };
      expect((await withCertificate.send(push)).status).toBe(200);
      expect((await withCertificate.send(push)).status).toBe(200);
      expect(presented).toEqual([TOPIC, TOPIC]);
      expect(withCertificate.sessionsOpened).toBe(1);
      // Without a client certificate the handshake fails, as it would at Apple.
      await expect(without.send(push)).rejects.toThrow(/no answer|connection|socket|alert|certificate/i);
    } finally {
      await withCertificate.close();
      await without.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

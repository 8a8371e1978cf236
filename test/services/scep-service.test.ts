// The SCEP service without HTTP: CertReps OpenSSL accepts, the reply mirrors the request's
// algorithms, the last use of a token is won by exactly one request, challenges expire.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCa } from '../../src/crypto/device-ca.ts';
import type { DeviceCa } from '../../src/crypto/device-ca.ts';
import { openEnvelope, readPkiMessage } from '../../src/crypto/scep-message.ts';
import { challengeKey, checkChallenge, createScepService, mintChallenge, ScepRequestError } from '../../src/services/scep-service.ts';
import { buildScepRequest, readScepReply, ScepEnrollmentError } from '../../src/sim/scep-client.ts';
import type { Store } from '../../src/store/database.ts';
import { databases } from '../support/databases.ts';

const dir = mkdtempSync(join(tmpdir(), 'lockwarden-scep-service-'));
const masterKey = randomBytes(32);
let ca: DeviceCa;
let caDer: Buffer;

beforeAll(async () => {
  ca = await createDeviceCa();
  caDer = Buffer.from(new X509Certificate(ca.certificatePem).raw);
});

const subject: [string, string][][] = [[['CN', 'lockwarden device test']]];

async function newToken(store: Store, maxUses: number | null = 1, expiresAt: number | null = null) {
  const secret = randomBytes(16).toString('hex');
  return store.tokens.createEnrollmentToken({ tokenHash: createHash('sha256').update(secret).digest('hex'), label: 't', maxUses, expiresAt, identity: 'any', now: Date.now() });
}

for (const database of databases) {
  describe.skipIf(!database.available)(`SCEP service (${database.name})`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await database.open();
    });

    it('issues a CertRep that openssl verifies and whose envelope openssl opens with the requester key', async () => {
      const scep = createScepService({ ca, store, masterKey });
      const token = await newToken(store);
      const request = await buildScepRequest({ subject, keySize: 2048, challenge: scep.challengeFor(token) }, caDer);
      const outcome = await scep.pkiOperation(request.message);
      expect(outcome).toMatchObject({ status: 'success', enrollmentTokenId: token.id });
      const certificate = new X509Certificate(readScepReply(request, outcome.reply).certificatePem);
      expect(certificate.subject).toBe('CN=lockwarden device test');
      expect(certificate.checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);

      writeFileSync(join(dir, 'certrep.der'), outcome.reply);
      writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
      const envelope = execFileSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', join(dir, 'certrep.der'), '-CAfile', join(dir, 'ca.pem'), '-purpose', 'any'], { stdio: ['ignore', 'pipe', 'pipe'] });
      writeFileSync(join(dir, 'envelope.der'), envelope);
      writeFileSync(join(dir, 'requester.pem'), new X509Certificate(request.selfSignedDer).toString());
      writeFileSync(join(dir, 'requester.key'), request.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const degenerate = execFileSync('openssl', ['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', join(dir, 'envelope.der'), '-recip', join(dir, 'requester.pem'), '-inkey', join(dir, 'requester.key')], { stdio: ['ignore', 'pipe', 'pipe'] });
      writeFileSync(join(dir, 'certs.p7'), degenerate);
      const printed = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-in', join(dir, 'certs.p7'), '-print_certs'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      expect(printed).toMatch(/subject=CN ?= ?lockwarden device test/);
      const attributes = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(dir, 'certrep.der')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      expect(attributes).toContain(request.transactionId);
    });

    it('answers with the request\'s digest and cipher (SHA-1, 3DES: old clients)', async () => {
      const scep = createScepService({ ca, store, masterKey });
      const token = await newToken(store);
      const request = await buildScepRequest({ subject, keySize: 2048, challenge: scep.challengeFor(token) }, caDer, { digest: 'sha1', cipher: 'des-ede3-cbc' });
      const outcome = await scep.pkiOperation(request.message);
      const reply = readPkiMessage(outcome.reply);
      expect(reply).toMatchObject({ digest: 'sha1', pkiStatus: 0, signatureValid: true });
      expect(openEnvelope(reply.content!, { privateKey: request.privateKey, certificateDer: request.selfSignedDer }, randomBytes(32)).cipher).toBe('des-ede3-cbc');
    });

    it('a FAILURE CertRep has no content, a failInfo and verifies with openssl over empty content', async () => {
      const scep = createScepService({ ca, store, masterKey });
      const request = await buildScepRequest({ subject, keySize: 2048, challenge: 'nope' }, caDer);
      const outcome = await scep.pkiOperation(request.message);
      expect(outcome).toMatchObject({ status: 'failure', failInfo: 2 });
      expect(() => readScepReply(request, outcome.reply)).toThrow(ScepEnrollmentError);
      writeFileSync(join(dir, 'failure.der'), outcome.reply);
      writeFileSync(join(dir, 'empty'), '');
      execFileSync('openssl', ['cms', '-verify', '-noverify', '-binary', '-inform', 'DER', '-in', join(dir, 'failure.der'), '-content', join(dir, 'empty')], { stdio: ['ignore', 'pipe', 'pipe'] });
    });

    it('gives the last use of a token to exactly one of several racing requests', async () => {
      const scep = createScepService({ ca, store, masterKey });
      const token = await newToken(store, 1);
      const requests = await Promise.all([1, 2, 3, 4].map(() => buildScepRequest({ subject, keySize: 2048, challenge: scep.challengeFor(token) }, caDer)));
      const outcomes = await Promise.all(requests.map((r) => scep.pkiOperation(r.message)));
      expect(outcomes.filter((o) => o.status === 'success')).toHaveLength(1);
      expect((await store.tokens.getEnrollmentToken(token.id))?.uses).toBe(1);
    });

    it('refuses a challenge past its lifetime, and one from another master key', async () => {
      let now = Date.now();
      const scep = createScepService({ ca, store, masterKey, now: () => now, challengeTtlMs: 60_000 });
      const token = await newToken(store, 5);
      const challenge = scep.challengeFor(token);
      now += 61_000;
      const late = await scep.pkiOperation((await buildScepRequest({ subject, keySize: 2048, challenge }, caDer)).message);
      expect(late).toMatchObject({ status: 'failure', failInfo: 2, reason: expect.stringMatching(/expired/) });
      const foreign = mintChallenge(challengeKey(randomBytes(32)), token, now);
      const forged = await scep.pkiOperation((await buildScepRequest({ subject, keySize: 2048, challenge: foreign }, caDer)).message);
      expect(forged).toMatchObject({ status: 'failure', failInfo: 2 });
      expect((await store.tokens.getEnrollmentToken(token.id))?.uses).toBe(0);
    });

    it('answers a request whose signed attributes were altered with badMessageCheck', async () => {
      const scep = createScepService({ ca, store, masterKey });
      const token = await newToken(store);
      const request = await buildScepRequest({ subject, keySize: 2048, challenge: scep.challengeFor(token) }, caDer);
      const tampered = Buffer.from(request.message);
      const at = tampered.indexOf(request.senderNonce);
      tampered[at] = (tampered[at] ?? 0) ^ 0x01;
      const outcome = await scep.pkiOperation(tampered);
      expect(outcome).toMatchObject({ status: 'failure', failInfo: 1 });
      expect((await store.tokens.getEnrollmentToken(token.id))?.uses).toBe(0);
    });

    it('never issues a certificate named like the CA', async () => {
      const scep = createScepService({ ca, store, masterKey });
      const token = await newToken(store);
      const request = await buildScepRequest({ subject: [[['CN', 'lockwarden device CA']]], keySize: 2048, challenge: scep.challengeFor(token) }, caDer);
      const issued = new X509Certificate(readScepReply(request, (await scep.pkiOperation(request.message)).reply).certificatePem);
      expect(issued.subject).toBe(`CN=lockwarden device ${request.transactionId.slice(0, 32)}`);
    });

    it('throws ScepRequestError for what it cannot answer at all', async () => {
      const scep = createScepService({ ca, store, masterKey });
      await expect(scep.pkiOperation(Buffer.from('junk'))).rejects.toThrow(ScepRequestError);
    });
  });
}

describe('challenge format', () => {
  it('is hex and dots only, binds the token id and hash, and checks its MAC', async () => {
    const key = challengeKey(masterKey);
    const token = { id: 'tok-Ω', tokenHash: 'a'.repeat(64), expiresAt: null };
    const challenge = mintChallenge(key, token, Date.now());
    expect(challenge).toMatch(/^[0-9a-f.]+$/);
    const lookup = async (id: string) => (id === token.id ? token : undefined);
    expect(await checkChallenge(key, challenge, lookup, Date.now())).toEqual({ ok: true, tokenId: 'tok-Ω' });
    expect((await checkChallenge(key, challenge, async () => ({ ...token, tokenHash: 'b'.repeat(64) }), Date.now())).ok).toBe(false);
    expect((await checkChallenge(key, undefined, lookup, Date.now())).ok).toBe(false);
    expect((await checkChallenge(key, `${challenge}0`, lookup, Date.now())).ok).toBe(false);
  });

  it('expires with the token when that comes first', async () => {
    const key = challengeKey(masterKey);
    const now = Date.now();
    const token = { id: 't', tokenHash: 'c'.repeat(64), expiresAt: now + 5_000 };
    const challenge = mintChallenge(key, token, now);
    expect((await checkChallenge(key, challenge, async () => token, now + 1_000)).ok).toBe(true);
    expect(await checkChallenge(key, challenge, async () => token, now + 6_000)).toMatchObject({ ok: false, reason: expect.stringMatching(/expired/) });
  });
});

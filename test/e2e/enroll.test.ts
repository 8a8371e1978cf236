// A device enrolls over HTTP against a real server: the enrollment profile, the built-in SCEP
// service and the embedded PKCS#12 identity, then signed check-ins with the identity it got;
// refusals for bad, expired and used-up tokens and challenges. SQLite and PostgreSQL.
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { enrollRoutesOptions } from '../../src/http/enroll-routes.ts';
import type { EnrollRoutesOptions } from '../../src/http/enroll-routes.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';
import { enrollWithScep, readEnrollmentProfile, ScepEnrollmentError } from '../../src/sim/scep-client.ts';
import type { ScepPayloadContent } from '../../src/sim/scep-client.ts';
import type { EnrollmentTokenIdentity } from '../../src/store/types.ts';
import { databaseUrls } from '../support/databases.ts';

const TOPIC = 'com.apple.mgmt.External.enroll-e2e';

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`enrollment over HTTP (${database.name})`, () => {
    let runtime: Runtime;
    let app: FastifyInstance;
    let url: string;
    let options: EnrollRoutesOptions;

    beforeAll(async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-enroll-e2e-'));
      const env: NodeJS.ProcessEnv = { LOCKWARDEN_DATA_DIR: dataDir, LOG_LEVEL: 'silent', LOCKWARDEN_APNS_TOPIC: TOPIC };
      if (database.url) env.DATABASE_URL = await database.url();
      runtime = await openRuntime(configFromEnv(env));
      app = await buildApp(runtime, { logger: false });
      // The server registers its own enrollment routes; these options share its CA and master key,
      // so the test can mint challenges exactly as the server does.
      options = enrollRoutesOptions({ deviceCa: runtime.deviceCa!, store: runtime.store, masterKey: runtime.masterKey, topic: TOPIC });
      url = await app.listen({ port: 0, host: '127.0.0.1' });
    });

    afterAll(async () => {
      await app?.close();
      await runtime?.close();
    });

    const newToken = async (opts: { maxUses?: number | null; expiresAt?: number | null; identity?: EnrollmentTokenIdentity } = {}) => {
      const secret = `et_${randomBytes(18).toString('base64url')}`;
      const record = await runtime.store.tokens.createEnrollmentToken({
        tokenHash: createHash('sha256').update(secret).digest('hex'),
        label: 'e2e',
        maxUses: opts.maxUses === undefined ? 1 : opts.maxUses,
        expiresAt: opts.expiresAt ?? null,
        identity: opts.identity ?? 'any',
        now: Date.now(),
      });
      return { secret, record };
    };
    const enroll = (secret: string, query = '') => fetch(`${url}/mdm/enroll?token=${encodeURIComponent(secret)}${query}`);
    const scepPayload = async (secret: string): Promise<ScepPayloadContent> => {
      const response = await enroll(secret);
      expect(response.status).toBe(200);
      const profile = await readEnrollmentProfile(Buffer.from(await response.arrayBuffer()));
      if (profile.identity.kind !== 'scep') throw new Error('expected a SCEP profile');
      return profile.identity.scep;
    };
    const usesOf = async (id: string) => (await runtime.store.tokens.getEnrollmentToken(id))?.uses;
    const checkInWith = async (identity: { certificatePem: string; privateKeyPem: string }, udid: string) => {
      const device = new MdmClient({ serverUrl: url, identity });
      const authenticate = await device.checkIn({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, OSVersion: '18.1', BuildVersion: '22B83', ProductName: 'iPhone17,1', SerialNumber: 'F2LXQ0E1N2', DeviceName: 'iPhone', Model: 'iPhone17,1', ModelName: 'iPhone' });
      const tokenUpdate = await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: randomBytes(32), PushMagic: `magic-${udid}` });
      return [authenticate.status, tokenUpdate.status];
    };
    const refusal = async (promise: Promise<unknown>) => {
      const err = await promise.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ScepEnrollmentError);
      return (err as ScepEnrollmentError).details;
    };

    it('answers GetCACaps and GetCACert', async () => {
      const caps = await fetch(`${url}/scep?operation=GetCACaps`);
      expect(caps.headers.get('content-type')).toMatch(/^text\/plain/);
      expect((await caps.text()).split('\n')).toEqual(expect.arrayContaining(['POSTPKIOperation', 'SHA-256', 'AES', 'SCEPStandard']));
      const cert = await fetch(`${url}/scep?operation=GetCACert`);
      expect(cert.headers.get('content-type')).toBe('application/x-x509-ca-cert');
      expect(new X509Certificate(Buffer.from(await cert.arrayBuffer())).fingerprint256).toBe(new X509Certificate(runtime.deviceCa!.certificatePem).fingerprint256);
      expect((await fetch(`${url}/scep?operation=GetNextCACert`)).status).toBe(400);
    });

    it('serves a SCEP profile that costs no use, then enrolls over SCEP and checks in', async () => {
      const { secret, record } = await newToken({ maxUses: 1 });
      const response = await enroll(secret);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/x-apple-aspen-config');
      expect(response.headers.get('cache-control')).toBe('no-store');
      const profile = await readEnrollmentProfile(Buffer.from(await response.arrayBuffer()));
      const host = new URL(url).host;
      expect(profile).toMatchObject({ serverUrl: `https://${host}/mdm/connect`, checkInUrl: `https://${host}/mdm/checkin`, topic: TOPIC, accessRights: 8191, signMessage: true });
      if (profile.identity.kind !== 'scep') throw new Error('expected SCEP');
      expect(profile.identity.scep.url).toBe(`https://${host}/scep`);
      expect(profile.identity.scep.challenge).not.toContain(secret);
      expect(profile.identity.scep.caFingerprint?.equals(createHash('sha1').update(new X509Certificate(runtime.deviceCa!.certificatePem).raw).digest())).toBe(true);
      expect(await usesOf(record.id)).toBe(0);

      const identity = await enrollWithScep(profile.identity.scep, { url: `${url}/scep` });
      expect(await usesOf(record.id)).toBe(1);
      const issued = new X509Certificate(identity.certificatePem);
      expect(issued.verify(new X509Certificate(runtime.deviceCa!.certificatePem).publicKey)).toBe(true);
      const recorded = await runtime.store.certificates.findByHash(createHash('sha256').update(issued.raw).digest('hex'));
      expect(recorded).toMatchObject({ enrollmentTokenId: record.id, serial: issued.serialNumber.toLowerCase() });

      expect(await checkInWith(identity, `SCEP-${database.name}-1`)).toEqual([200, 200]);

      // The same profile again: the token is used up, so the challenge is refused (badRequest).
      expect(await refusal(enrollWithScep(profile.identity.scep, { url: `${url}/scep` }))).toMatchObject({ pkiStatus: 2, failInfo: 2 });
      expect(await usesOf(record.id)).toBe(1);
      expect((await enroll(secret)).status).toBe(403);
    });

    it('takes PKIOperation by GET as well', async () => {
      const { secret } = await newToken();
      const identity = await enrollWithScep(await scepPayload(secret), { url: `${url}/scep`, method: 'GET' });
      expect(await checkInWith(identity, `SCEP-GET-${database.name}`)).toEqual([200, 200]);
    });

    it('serves a PKCS#12 profile, consuming one use, whose identity checks in', async () => {
      const { secret, record } = await newToken({ maxUses: 1 });
      const response = await enroll(secret, '&identity=pkcs12');
      expect(response.status).toBe(200);
      const profile = await readEnrollmentProfile(Buffer.from(await response.arrayBuffer()));
      if (profile.identity.kind !== 'pkcs12') throw new Error('expected PKCS#12');
      expect(await usesOf(record.id)).toBe(1);
      const certificate = new X509Certificate(profile.identity.identity.certificatePem);
      expect((await runtime.store.certificates.findByHash(createHash('sha256').update(certificate.raw).digest('hex')))?.enrollmentTokenId).toBe(record.id);
      expect(await checkInWith(profile.identity.identity, `P12-${database.name}-1`)).toEqual([200, 200]);
      expect((await enroll(secret, '&identity=pkcs12')).status).toBe(403);
    });

    it('refuses wrong and forged challenges with a SCEP failure and no certificate', async () => {
      const { secret, record } = await newToken({ maxUses: 5 });
      const payload = await scepPayload(secret);
      const scep = { url: `${url}/scep` };
      expect(await refusal(enrollWithScep(payload, { ...scep, challenge: 'wrong' }))).toMatchObject({ pkiStatus: 2, failInfo: 2 });
      expect(await refusal(enrollWithScep(payload, { ...scep, challenge: secret }))).toMatchObject({ pkiStatus: 2, failInfo: 2 });
      const [id, until, mac] = (payload.challenge ?? '').split('.');
      const flipped = `${id}.${until}.${(mac ?? '').slice(0, -1)}${mac?.endsWith('0') ? '1' : '0'}`;
      expect(await refusal(enrollWithScep(payload, { ...scep, challenge: flipped }))).toMatchObject({ failInfo: 2 });
      const later = `${id}.${(parseInt(until ?? '0', 16) + 1).toString(16)}.${mac}`;
      expect(await refusal(enrollWithScep(payload, { ...scep, challenge: later }))).toMatchObject({ failInfo: 2 });
      expect(await usesOf(record.id)).toBe(0);
    });

    it('refuses an expired token at /mdm/enroll and its challenge at /scep', async () => {
      const { secret, record } = await newToken({ expiresAt: Date.now() + 60_000 });
      const payload = await scepPayload(secret);
      await runtime.store.tokens.revokeEnrollmentToken(record.id, Date.now());
      expect(await refusal(enrollWithScep(payload, { url: `${url}/scep` }))).toMatchObject({ failInfo: 2 });
      expect((await enroll(secret)).status).toBe(403);
      const expired = await newToken({ expiresAt: Date.now() - 1000 });
      const response = await enroll(expired.secret);
      expect(response.status).toBe(403);
      expect(await response.text()).toMatch(/expired/);
      const challenge = options.scep.challengeFor(expired.record);
      expect(await refusal(enrollWithScep({ ...payload, challenge }, { url: `${url}/scep` }))).toMatchObject({ failInfo: 2 });
    });

    it('refuses unknown and missing tokens with 403, and an identity the token does not allow', async () => {
      expect((await enroll('not-a-token')).status).toBe(403);
      expect((await fetch(`${url}/mdm/enroll`)).status).toBe(403);
      const scepOnly = await newToken({ identity: 'scep' });
      const refused = await enroll(scepOnly.secret, '&identity=pkcs12');
      expect(refused.status).toBe(403);
      expect(await refused.text()).toMatch(/identity=scep/);
      expect((await usesOf(scepOnly.record.id))).toBe(0);
      expect((await enroll(scepOnly.secret, '&identity=other')).status).toBe(400);
      const p12Only = await newToken({ identity: 'pkcs12' });
      const byDefault = await readEnrollmentProfile(Buffer.from(await (await enroll(p12Only.secret)).arrayBuffer()));
      expect(byDefault.identity.kind).toBe('pkcs12');
    });

    it('answers garbage PKIOperations with 400, never 500', async () => {
      const post = (body: Buffer) => fetch(`${url}/scep?operation=PKIOperation`, { method: 'POST', headers: { 'content-type': 'application/x-pki-message' }, body });
      expect((await post(Buffer.from('garbage'))).status).toBe(400);
      expect((await post(Buffer.alloc(0))).status).toBe(400);
      expect((await post(randomBytes(2000))).status).toBe(400);
      expect((await post(Buffer.alloc(200 * 1024))).status).toBe(413);
      expect((await fetch(`${url}/scep?operation=PKIOperation&message=%%%`)).status).toBe(400);
      expect((await fetch(`${url}/scep?operation=PKIOperation`)).status).toBe(400);
    });
  });
}

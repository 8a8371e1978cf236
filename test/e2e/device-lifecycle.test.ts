// Issue 4's whole path in one flow, over HTTP only, as a device and an administrator see it:
// enrollment token → enrollment profile → SCEP (and PKCS#12) identity → signed Authenticate and
// TokenUpdate → admin queues a command → the push reaches the local APNs mock → the device
// connects, receives the command and acknowledges it. On SQLite and on PostgreSQL.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { startApnsMock } from '../../src/sim/apns-mock.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';
import { enrollWithScep, readEnrollmentProfile } from '../../src/sim/scep-client.ts';
import { databaseUrls } from '../support/databases.ts';

const ADMIN = 'lifecycle-admin-token-0123456789abcdef';
const TOPIC = 'com.apple.mgmt.External.lifecycle-e2e';

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`device lifecycle over HTTP (${database.name})`, () => {
    let runtime: Runtime;
    let app: FastifyInstance;
    let url: string;
    let apns: Awaited<ReturnType<typeof startApnsMock>>;

    beforeAll(async () => {
      apns = await startApnsMock({ topic: TOPIC });
      const env: NodeJS.ProcessEnv = {
        LOCKWARDEN_DATA_DIR: await mkdtemp(join(tmpdir(), 'lockwarden-lifecycle-')),
        LOCKWARDEN_ADMIN_TOKEN: ADMIN, LOCKWARDEN_APNS_URL: apns.url, LOCKWARDEN_APNS_TOPIC: TOPIC, LOG_LEVEL: 'silent',
      };
      if (database.url) env.DATABASE_URL = await database.url();
      runtime = await openRuntime(configFromEnv(env));
      app = await buildApp(runtime, { logger: false });
      url = await app.listen({ port: 0, host: '127.0.0.1' });
    });

    afterAll(async () => {
      await app?.close();
      await runtime?.close();
      await apns?.close();
    });

    const admin = (path: string, body: unknown) => fetch(`${url}${path}`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });

    for (const kind of ['scep', 'pkcs12'] as const) {
      it(`enrolls with a ${kind} identity, checks in, and receives a pushed command`, async () => {
        const udid = `LIFECYCLE-${database.name}-${kind}`.toUpperCase();
        const created = await (await admin('/api/v1/enrollment-tokens', { label: 'lifecycle', maxUses: 1, identity: kind })).json() as { token: string };
        const profileResponse = await fetch(`${url}/mdm/enroll?token=${encodeURIComponent(created.token)}${kind === 'pkcs12' ? '&identity=pkcs12' : ''}`);
        expect(profileResponse.status).toBe(200);
        const profile = await readEnrollmentProfile(Buffer.from(await profileResponse.arrayBuffer()));
        expect(profile.topic).toBe(TOPIC);
        const identity = profile.identity.kind === 'scep'
          ? await enrollWithScep(profile.identity.scep, { url: `${url}/scep` })
          : profile.identity.identity;

        const device = new MdmClient({ serverUrl: url, identity });
        const pushToken = Buffer.alloc(32, kind === 'scep' ? 0x11 : 0x22);
        expect((await device.checkIn({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, ProductName: 'iPad16,3', OSVersion: '18.1' })).status).toBe(200);
        expect((await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: pushToken, PushMagic: `MAGIC-${kind}`, UnlockToken: Buffer.from(`unlock-${kind}`) })).status).toBe(200);

        const queued = await admin(`/api/v1/devices/${udid}/commands`, { requestType: 'ProfileList' });
        expect(queued.status).toBe(202);
        const { commandUuid } = await queued.json() as { commandUuid: string };
        const push = apns.received.find((p) => p.token === pushToken.toString('hex'));
        expect(push).toMatchObject({ topic: TOPIC, pushType: 'mdm', body: { mdm: `MAGIC-${kind}` } });

        const delivered = await device.connect({ UDID: udid, Status: 'Idle' });
        expect(delivered.plist).toMatchObject({ CommandUUID: commandUuid, Command: { RequestType: 'ProfileList' } });
        const done = await device.connect({ UDID: udid, Status: 'Acknowledged', CommandUUID: commandUuid, ProfileList: [] });
        expect(done.status).toBe(200);
        expect(done.body.length).toBe(0);
        expect((await runtime.store.commands.get(udid, commandUuid))?.status).toBe('Acknowledged');

        // The token was for one device and that use is spent (by the certificate request for
        // SCEP, by the download for PKCS#12): no further profile is served.
        const again = await fetch(`${url}/mdm/enroll?token=${encodeURIComponent(created.token)}${kind === 'pkcs12' ? '&identity=pkcs12' : ''}`);
        expect(again.status).toBe(403);
      });
    }
  });
}

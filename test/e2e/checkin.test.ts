// A device talks HTTP to a real server: enrollment state, UnlockToken custody, the command queue,
// certificate binding and hostile input, on SQLite and on PostgreSQL.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { openSecret } from '../../src/crypto/envelope.ts';
import { buildApp } from '../../src/http/app.ts';
import { commandPlist, newCommandUuid } from '../../src/mdm/commands.ts';
import { encodePlist } from '../../src/plist/plist-codec.ts';
import { unlockTokenContext } from '../../src/services/checkin-service.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';
import { databaseUrls } from '../support/databases.ts';

const TOPIC = 'com.apple.mgmt.External.e2e';

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`check-in and commands over HTTP (${database.name})`, () => {
    let runtime: Runtime;
    let app: FastifyInstance;
    let url: string;
    const udid = `E2E-${database.name}-0001`;
    let device: MdmClient;
    let impostor: MdmClient;

    beforeAll(async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-e2e-'));
      const env: NodeJS.ProcessEnv = { LOCKWARDEN_DATA_DIR: dataDir, LOCKWARDEN_BODY_LIMIT: String(64 * 1024), LOG_LEVEL: 'silent' };
      if (database.url) env.DATABASE_URL = await database.url();
      runtime = await openRuntime(configFromEnv(env));
      app = await buildApp(runtime, { logger: false });
      url = await app.listen({ port: 0, host: '127.0.0.1' });
      device = new MdmClient({ serverUrl: url, identity: await generateDeviceIdentity(runtime.deviceCa!, udid) });
      impostor = new MdmClient({ serverUrl: url, identity: await generateDeviceIdentity(runtime.deviceCa!, 'impostor') });
    });

    afterAll(async () => {
      await app?.close();
      await runtime?.close();
    });

    const authenticate = { MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, OSVersion: '18.1', BuildVersion: '22B83', ProductName: 'iPhone17,1', SerialNumber: 'F2LXQ0E1N2', DeviceName: 'iPhone', Model: 'iPhone17,1', ModelName: 'iPhone' };
    const unlockToken = Buffer.from('unlock-token-bytes-from-the-device-keybag');
    const tokenUpdate = (extra: Record<string, unknown> = {}) => ({
      MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: Buffer.from('a1b2c3d4'.repeat(8), 'hex'), PushMagic: 'PUSH-MAGIC-1', ...extra,
    });

    it('refuses a TokenUpdate before Authenticate', async () => {
      expect((await device.checkIn(tokenUpdate())).status).toBe(403);
    });

    it('accepts Authenticate and TokenUpdate, sealing the UnlockToken', async () => {
      expect((await device.checkIn(authenticate)).status).toBe(200);
      expect((await device.checkIn(tokenUpdate({ UnlockToken: unlockToken }))).status).toBe(200);
      const sealed = await runtime.store.enrollments.getUnlockToken(udid);
      expect(sealed).toBeDefined();
      expect(Buffer.from(sealed!).includes(unlockToken)).toBe(false);
      expect(openSecret(runtime.masterKey, Buffer.from(sealed!), unlockTokenContext(udid)).equals(unlockToken)).toBe(true);
      const enrollment = await runtime.store.enrollments.get(udid);
      expect(enrollment).toMatchObject({ pushMagic: 'PUSH-MAGIC-1', topic: TOPIC, enabled: true });
    });

    it('never erases the UnlockToken with a TokenUpdate that lacks one', async () => {
      expect((await device.checkIn(tokenUpdate({ PushMagic: 'PUSH-MAGIC-2' }))).status).toBe(200);
      const sealed = await runtime.store.enrollments.getUnlockToken(udid);
      expect(openSecret(runtime.masterKey, Buffer.from(sealed!), unlockTokenContext(udid)).equals(unlockToken)).toBe(true);
      expect((await runtime.store.enrollments.get(udid))?.pushMagic).toBe('PUSH-MAGIC-2');
    });

    it('rejects another valid device certificate speaking for this device (403)', async () => {
      expect((await impostor.checkIn(tokenUpdate({ PushMagic: 'EVIL' }))).status).toBe(403);
      expect((await impostor.connect({ UDID: udid, Status: 'Idle' })).status).toBe(403);
      expect((await runtime.store.enrollments.get(udid))?.pushMagic).toBe('PUSH-MAGIC-2');
    });

    it('delivers queued commands by priority, records results, and answers Idle with nothing left', async () => {
      const low = newCommandUuid();
      const high = newCommandUuid();
      await runtime.store.commands.enqueue({ uuid: low, requestType: 'ProfileList', body: Buffer.from(encodePlist(commandPlist(low, { RequestType: 'ProfileList' }))) }, [udid], { now: Date.now() });
      await runtime.store.commands.enqueue({ uuid: high, requestType: 'SecurityInfo', body: Buffer.from(encodePlist(commandPlist(high, { RequestType: 'SecurityInfo' }))) }, [udid], { priority: 10, now: Date.now() });

      const first = await device.connect({ UDID: udid, Status: 'Idle' });
      expect(first.status).toBe(200);
      expect(first.plist).toMatchObject({ CommandUUID: high, Command: { RequestType: 'SecurityInfo' } });

      const second = await device.connect({ UDID: udid, Status: 'Acknowledged', CommandUUID: high, SecurityInfo: { PasscodePresent: true, PasscodeCompliant: true, PasscodeCompliantWithProfiles: true } });
      expect(second.plist).toMatchObject({ CommandUUID: low, Command: { RequestType: 'ProfileList' } });
      expect((await runtime.store.commands.get(udid, high))?.status).toBe('Acknowledged');

      const third = await device.connect({ UDID: udid, Status: 'Acknowledged', CommandUUID: low, ProfileList: [] });
      expect(third.status).toBe(200);
      expect(third.body.length).toBe(0);
    });

    it('keeps a NotNow command for a later Idle without blocking the rest of the queue', async () => {
      const deferred = newCommandUuid();
      const other = newCommandUuid();
      await runtime.store.commands.enqueue({ uuid: deferred, requestType: 'DeviceInformation', body: Buffer.from(encodePlist(commandPlist(deferred, { RequestType: 'DeviceInformation', Queries: ['OSVersion'] }))) }, [udid], { now: Date.now() });
      expect((await device.connect({ UDID: udid, Status: 'Idle' })).plist).toMatchObject({ CommandUUID: deferred });
      await runtime.store.commands.enqueue({ uuid: other, requestType: 'SecurityInfo', body: Buffer.from(encodePlist(commandPlist(other, { RequestType: 'SecurityInfo' }))) }, [udid], { now: Date.now() + 1 });
      const afterNotNow = await device.connect({ UDID: udid, Status: 'NotNow', CommandUUID: deferred });
      expect(afterNotNow.plist).toMatchObject({ CommandUUID: other });
      const afterOther = await device.connect({ UDID: udid, Status: 'Acknowledged', CommandUUID: other, SecurityInfo: {} });
      expect(afterOther.body.length).toBe(0);
      const laterIdle = await device.connect({ UDID: udid, Status: 'Idle' });
      expect(laterIdle.plist).toMatchObject({ CommandUUID: deferred });
      await device.connect({ UDID: udid, Status: 'Acknowledged', CommandUUID: deferred, QueryResponses: { OSVersion: '18.1' } });
    });

    it('answers hostile input with 4xx and changes nothing', async () => {
      const before = await runtime.store.enrollments.get(udid);
      const garbage = await device.send('/mdm/checkin', Buffer.from('<plist><dict><key>MessageType</key>'), 'application/x-apple-aspen-mdm-checkin');
      expect(garbage.status).toBe(400);
      const entity = await device.send('/mdm/checkin', Buffer.from('<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY x "y">]><plist><dict/></plist>'), 'application/x-apple-aspen-mdm-checkin');
      expect(entity.status).toBe(400);
      expect((await device.checkIn({ MessageType: 'Frobnicate', Topic: TOPIC, UDID: udid })).status).toBe(400);
      expect((await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: 'not-data', PushMagic: 'x' })).status).toBe(400);
      const unsigned = await device.send('/mdm/checkin', Buffer.from(encodePlist(tokenUpdate())), 'application/x-apple-aspen-mdm-checkin', { 'Mdm-Signature': '' });
      expect(unsigned.status).toBe(401);
      const badSignature = await device.send('/mdm/checkin', Buffer.from(encodePlist(tokenUpdate())), 'application/x-apple-aspen-mdm-checkin', { 'Mdm-Signature': Buffer.from('not cms').toString('base64') });
      expect(badSignature.status).toBe(401);
      const otherBody = Buffer.from(encodePlist(tokenUpdate({ PushMagic: 'SWAPPED' })));
      const replayed = await device.send('/mdm/checkin', otherBody, 'application/x-apple-aspen-mdm-checkin', { 'Mdm-Signature': await device.signatureFor(Buffer.from(encodePlist(tokenUpdate()))) });
      expect(replayed.status).toBe(403);
      const huge = await device.send('/mdm/checkin', Buffer.alloc(100 * 1024, 0x20), 'application/x-apple-aspen-mdm-checkin');
      expect(huge.status).toBe(413);
      expect(await runtime.store.enrollments.get(udid)).toEqual(before);
    });

    it('checks the device out', async () => {
      expect((await device.checkIn({ MessageType: 'CheckOut', Topic: TOPIC, UDID: udid })).status).toBe(200);
      expect((await runtime.store.enrollments.get(udid))?.enabled).toBe(false);
    });

    it('counts check-ins and command reports in /metrics', async () => {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/lockwarden_checkins_total\{message_type="TokenUpdate",outcome="ok"\} [1-9]/);
      expect(metrics).toMatch(/lockwarden_command_reports_total\{status="NotNow"\} 1/);
    });
  });
}

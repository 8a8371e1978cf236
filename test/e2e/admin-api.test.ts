// The admin API and the NanoMDM-compatible endpoints, over HTTP against a real server.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildApp } from '../../src/http/app.ts';
import { encodePlist } from '../../src/plist/plist-codec.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';
import { startApnsMock } from '../../src/sim/apns-mock.ts';

const ADMIN = 'admin-token-for-the-e2e-tests-0123456789';
const TOPIC = 'com.apple.mgmt.External.admin-e2e';

describe('admin API', () => {
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;
  let device: MdmClient;
  let apns: Awaited<ReturnType<typeof startApnsMock>>;
  const udid = 'ADMIN-E2E-0001';
  const pushToken = Buffer.alloc(32, 7);

  const api = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN}`;
    return fetch(`${url}${path}`, { ...init, headers });
  };

  beforeAll(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-admin-'));
    apns = await startApnsMock({ topic: TOPIC });
    runtime = await openRuntime(configFromEnv({ LOCKWARDEN_DATA_DIR: dataDir, LOCKWARDEN_ADMIN_TOKEN: ADMIN, LOCKWARDEN_PUBLIC_URL: 'https://mdm.example.com', LOCKWARDEN_APNS_URL: apns.url, LOCKWARDEN_APNS_TOPIC: TOPIC, LOG_LEVEL: 'silent' }));
    app = await buildApp(runtime, { logger: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    device = new MdmClient({ serverUrl: url, identity: await generateDeviceIdentity(runtime.deviceCa!, udid) });
    await device.checkIn({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, ProductName: 'iPhone17,1', SerialNumber: 'SN1', OSVersion: '18.1' });
    await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: pushToken, PushMagic: 'MAGIC', UnlockToken: Buffer.from('secret-unlock-token') });
  });

  afterAll(async () => {
    await app?.close();
    await runtime?.close();
    await apns?.close();
  });

  it('refuses requests without a valid token, as problem+json', async () => {
    for (const token of [null, 'wrong-token']) {
      const response = await api('/api/v1/devices', { token });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(await response.json()).toMatchObject({ status: 401, title: 'Unauthorized' });
    }
  });

  it('creates an enrollment token, shown once, with the enrollment URL', async () => {
    const response = await api('/api/v1/enrollment-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ label: 'Sales iPhones', maxUses: 50, expiresInHours: 48 }) });
    expect(response.status).toBe(201);
    const created = await response.json() as { id: string; token: string; enrollUrl: string; maxUses: number };
    expect(created.token).toMatch(/^et_[A-Za-z0-9_-]{32}$/);
    expect(created.enrollUrl).toBe(`https://mdm.example.com/mdm/enroll?token=${created.token}`);
    expect(created.maxUses).toBe(50);
    const stored = await runtime.store.tokens.getEnrollmentToken(created.id);
    expect(stored?.tokenHash).not.toContain(created.token);
    const bad = await api('/api/v1/enrollment-tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxUses: 0, colour: 'red' }) });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
  });

  it('shows a device with its escrow status but never the UnlockToken', async () => {
    const response = await api(`/api/v1/devices/${udid}`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain(Buffer.from('secret-unlock-token').toString('base64'));
    expect(text).not.toContain('secret-unlock-token');
    const view = JSON.parse(text);
    expect(view).toMatchObject({ udid, platform: 'ios', serialNumber: 'SN1', escrow: { unlockToken: 'escrowed' } });
    expect(view.enrollments[0]).toMatchObject({ id: udid, enabled: true, pushable: true });
    expect((await api('/api/v1/devices/NOPE')).status).toBe(404);
    const list = await (await api("/api/v1/devices")).json() as { devices: Array<{ udid: string }> };
    expect(list.devices.map((d: { udid: string }) => d.udid)).toEqual([udid]);
  });

  it('queues a command through the admin API that the device then receives', async () => {
    const response = await api(`/api/v1/devices/${udid}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestType: 'SecurityInfo' }) });
    expect(response.status).toBe(202);
    const { commandUuid, pushed } = await response.json() as { commandUuid: string; pushed: boolean };
    expect(pushed).toBe(true);
    // The push reached the (local) APNs with Apple's MDM headers and the device's PushMagic.
    expect(apns.received.at(-1)).toMatchObject({ token: pushToken.toString('hex'), topic: TOPIC, pushType: 'mdm', priority: 10 });
    expect(apns.received.at(-1)!.body).toEqual({ mdm: 'MAGIC' });
    const delivered = await device.connect({ UDID: udid, Status: 'Idle' });
    expect(delivered.plist).toMatchObject({ CommandUUID: commandUuid, Command: { RequestType: 'SecurityInfo' } });
    await device.connect({ UDID: udid, Status: 'Acknowledged', CommandUUID: commandUuid, SecurityInfo: {} });
  });

  it('accepts a raw command plist on the NanoMDM-style /v1/enqueue, with Basic auth too', async () => {
    const raw = Buffer.from(encodePlist({ CommandUUID: 'RAW-0001', Command: { RequestType: 'ProfileList' } }));
    const basic = `Basic ${Buffer.from(`nanomdm:${ADMIN}`).toString('base64')}`;
    const response = await fetch(`${url}/v1/enqueue/${udid}`, { method: 'PUT', headers: { authorization: basic, 'content-type': 'application/xml' }, body: raw });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ command_uuid: 'RAW-0001', request_type: 'ProfileList', enqueued: 1 });
    const delivered = await device.connect({ UDID: udid, Status: 'Idle' });
    expect(delivered.body.equals(raw)).toBe(true);
    const again = await fetch(`${url}/v1/enqueue/${udid}`, { method: 'PUT', headers: { authorization: basic }, body: raw });
    expect(again.status).toBe(409);
    const unknown = await fetch(`${url}/v1/enqueue/NOBODY`, { method: 'PUT', headers: { authorization: basic }, body: Buffer.from(encodePlist({ CommandUUID: 'RAW-0002', Command: { RequestType: 'ProfileList' } })) });
    expect(unknown.status).toBe(404);
    const garbage = await fetch(`${url}/v1/enqueue/${udid}`, { method: 'PUT', headers: { authorization: basic }, body: 'not a plist' });
    expect(garbage.status).toBe(400);
    expect((await fetch(`${url}/v1/enqueue/${udid}`, { method: 'PUT', body: raw })).status).toBe(401);
    const push = await fetch(`${url}/v1/push/${udid}`, { headers: { authorization: basic } });
    expect(push.status).toBe(200);
    const summary = await push.json() as { push: { counts: Record<string, number> } };
    expect((summary.push.counts.sent ?? 0) + (summary.push.counts.coalesced ?? 0)).toBe(1);
  });

  it('takes as many ids in /v1/enqueue as fit in a URL (Fastify\'s 100-character parameter limit would refuse three UDIDs)', async () => {
    const others = Array.from({ length: 300 }, (_, i) => `00008110-${String(i).padStart(16, '0')}`);
    const raw = Buffer.from(encodePlist({ CommandUUID: 'RAW-MANY', Command: { RequestType: 'ProfileList' } }));
    const response = await api(`/v1/enqueue/${[udid, ...others].join(',')}`, { method: 'PUT', headers: { 'content-type': 'application/xml' }, body: raw });
    // Routed and read: the unknown ids are named and nothing is queued for anyone.
    expect(response.status).toBe(404);
    const refused = await response.json() as { unknown: string[] };
    expect(refused.unknown).toHaveLength(100);
    expect(refused.unknown).toContain(others[0]);
    expect(await runtime.store.commands.get(udid, 'RAW-MANY')).toBeUndefined();
  });
});

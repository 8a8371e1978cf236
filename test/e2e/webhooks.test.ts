// A device talks HTTP to a real server configured with LOCKWARDEN_WEBHOOK_URL/SECRET; a local
// receiver gets MicroMDM-shaped, HMAC-signed events, in order, with the UnlockToken redacted, and
// nothing for a request the server refused; and lockwarden's own compliance events.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildApp } from '../../src/http/app.ts';
import { commandPlist, newCommandUuid } from '../../src/mdm/commands.ts';
import { decodePlist, encodePlist } from '../../src/plist/plist-codec.ts';
import { openRuntime } from '../../src/services/runtime.ts';
import type { Runtime } from '../../src/services/runtime.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { createWebhookSender, webhookCheckins, webhookCommands } from '../../src/services/webhooks.ts';
import type { WebhookEvent, WebhookSender } from '../../src/services/webhooks.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';

const TOPIC = 'com.apple.mgmt.External.e2e-webhooks';
const SECRET = 'e2e-webhook-secret-0123456789abcdef';

describe('webhooks over HTTP (sqlite)', () => {
  const received: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  let hook: Server;
  let runtime: Runtime;
  let app: FastifyInstance;
  let url: string;
  let sender: WebhookSender | undefined;
  const udid = 'E2E-WEBHOOK-0001';
  let device: MdmClient;
  let impostor: MdmClient;
  const unlockToken = Buffer.from('unlock-token-bytes-that-must-never-reach-a-webhook');

  beforeAll(async () => {
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhook`;

    const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-e2e-webhooks-'));
    runtime = await openRuntime(configFromEnv({
      LOCKWARDEN_DATA_DIR: dataDir, LOG_LEVEL: 'silent', LOCKWARDEN_WEBHOOK_URL: hookUrl, LOCKWARDEN_WEBHOOK_SECRET: SECRET,
    }));
    // Until runtime.ts wraps the handlers itself (it registers lockwarden_webhooks_total when it
    // does), the test wraps them outermost, where the runtime is meant to: after the certificate
    // binding, so a refused request emits nothing.
    if (!runtime.metrics.registry.getSingleMetric('lockwarden_webhooks_total')) {
      sender = createWebhookSender({
        url: runtime.config.webhookUrl!, secret: runtime.config.webhookSecret!, log: runtime.log, registry: runtime.metrics.registry,
      });
      runtime.checkin = webhookCheckins(sender, runtime.checkin);
      runtime.commands = webhookCommands(sender, runtime.commands);
    }
    app = await buildApp(runtime, { logger: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    device = new MdmClient({ serverUrl: url, identity: await generateDeviceIdentity(runtime.deviceCa!, udid) });
    impostor = new MdmClient({ serverUrl: url, identity: await generateDeviceIdentity(runtime.deviceCa!, 'impostor') });
  });

  afterAll(async () => {
    await app?.close();
    await sender?.close({ drainMs: 0 });
    await runtime?.close();
    hook?.closeAllConnections();
    await new Promise<void>((resolve) => (hook ? hook.close(() => resolve()) : resolve()));
  });

  /** Waits until the receiver holds `count` events (delivery is asynchronous by design). */
  async function events(count: number): Promise<WebhookEvent[]> {
    const deadline = Date.now() + 5000;
    while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50)); // and nothing more arrives
    return received.map((r) => JSON.parse(r.body.toString('utf8')) as WebhookEvent);
  }

  it('emits signed, ordered, redacted events for what the server accepted, and nothing for what it refused', async () => {
    expect((await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: Buffer.alloc(32, 1), PushMagic: 'PM-0' })).status).toBe(403);
    expect((await device.checkIn({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, OSVersion: '18.1', ProductName: 'iPhone17,1', SerialNumber: 'F2LXQ0E1N2' })).status).toBe(200);
    expect((await device.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: Buffer.alloc(32, 2), PushMagic: 'PM-1', UnlockToken: unlockToken })).status).toBe(200);
    // Enrollment is assessed off the request path: its first compliance state is an event of its own.
    await runtime.compliance.settled();
    expect((await impostor.checkIn({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: Buffer.alloc(32, 3), PushMagic: 'EVIL' })).status).toBe(403);
    const uuid = newCommandUuid();
    await runtime.store.commands.enqueue({ uuid, requestType: 'SecurityInfo', body: Buffer.from(encodePlist(commandPlist(uuid, { RequestType: 'SecurityInfo' }))) }, [udid], { now: Date.now() });
    expect((await device.connect({ UDID: udid, Status: 'Idle' })).plist).toMatchObject({ CommandUUID: uuid });
    expect((await device.connect({ UDID: udid, Status: 'Acknowledged', CommandUUID: uuid, SecurityInfo: { PasscodePresent: true } })).status).toBe(200);
    expect((await device.checkIn({ MessageType: 'CheckOut', Topic: TOPIC, UDID: udid })).status).toBe(200);

    const all = await events(6);
    const compliance = all.filter((e) => e.topic === 'lockwarden.compliance');
    expect(compliance).toEqual([{
      topic: 'lockwarden.compliance', event_id: expect.any(String), created_at: expect.any(String),
      compliance_event: {
        udid, from_state: null, to_state: 'unknown', reason_code: 'no-policy', reason: 'no passcode policy is assigned to this device',
        grace_deadline: null, at: expect.any(String),
      },
    }]);
    const got = all.filter((e) => e.topic !== 'lockwarden.compliance');
    expect(got.map((e) => e.topic)).toEqual(['mdm.Authenticate', 'mdm.TokenUpdate', 'mdm.Connect', 'mdm.Connect', 'mdm.CheckOut']);
    expect(got[2]!.acknowledge_event).toMatchObject({ udid, status: 'Idle', command_uuid: '' });
    expect(got[3]!.acknowledge_event).toMatchObject({ udid, status: 'Acknowledged', command_uuid: uuid });
    for (const r of received) {
      const signature = Buffer.from(String(r.headers['x-hmac-signature']), 'base64');
      const expected = createHmac('sha256', SECRET).update(r.body).digest();
      expect(signature.length === expected.length && timingSafeEqual(signature, expected)).toBe(true);
      expect(r.body.includes(unlockToken.toString('base64'))).toBe(false);
      const event = JSON.parse(r.body.toString('utf8')) as WebhookEvent;
      if (event.topic === 'lockwarden.compliance') continue;
      const raw = Buffer.from((event.checkin_event ?? event.acknowledge_event)!.raw_payload, 'base64');
      expect(raw.includes(unlockToken)).toBe(false);
      expect(raw.toString('utf8')).not.toContain('UnlockToken');
      expect(raw.toString('utf8')).not.toContain(unlockToken.toString('base64'));
    }
    const tokenUpdate = decodePlist(Buffer.from(got[1]!.checkin_event!.raw_payload, 'base64'));
    expect(tokenUpdate).toMatchObject({ MessageType: 'TokenUpdate', UDID: udid, PushMagic: 'PM-1' });
    expect(tokenUpdate).not.toHaveProperty('UnlockToken');
  });

  it('counts deliveries in /metrics', async () => {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/lockwarden_webhooks_total\{result="delivered"\} 6/);
  });
});

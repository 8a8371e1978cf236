// MicroMDM-compatible webhooks: the event shape, the HMAC, redaction of UnlockToken and
// BootstrapToken, and a delivery queue that never holds up a device.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCheckinMessage } from '../../src/mdm/checkin-messages.ts';
import type { CheckinMessage, SetBootstrapTokenMessage, TokenUpdateMessage } from '../../src/mdm/checkin-messages.ts';
import { parseCommandReport } from '../../src/mdm/command-report.ts';
import type { CheckinHandler, CommandHandler, MdmLogger, RequestContext } from '../../src/mdm/handler.ts';
import { decodePlist, encodePlist } from '../../src/plist/plist-codec.ts';
import { ConfigError, configFromEnv } from '../../src/services/server-config.ts';
import { createWebhookSender, webhookCheckins, webhookCommands } from '../../src/services/webhooks.ts';
import type { WebhookEvent, WebhookSender, WebhookSenderOptions } from '../../src/services/webhooks.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/mdm/', import.meta.url));
const SECRET = 'webhook-test-secret-0123456789';
const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A webhook receiver on 127.0.0.1 whose answer each test decides. */
async function receiver(answer: (n: number, res: ServerResponse) => void = (_n, res) => res.end()) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      answer(received.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return { url: `http://127.0.0.1:${port}/hook`, received, close, events: () => received.map((r) => JSON.parse(r.body.toString('utf8')) as WebhookEvent) };
}

/** A URL on which nothing listens. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hook`;
}

function recordingLog() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, ...(msg !== undefined && { msg }) });
  const log: MdmLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

const cleanups: (() => Promise<void>)[] = [];
const senders: WebhookSender[] = [];
afterEach(async () => {
  for (const s of senders.splice(0)) await s.close({ drainMs: 0 });
  for (const c of cleanups.splice(0)) await c();
});

function sender(options: Partial<WebhookSenderOptions> & { url: string }) {
  const created = createWebhookSender({ log: recordingLog().log, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000, ...options });
  senders.push(created);
  return created;
}

const fixtureBytes = (name: string) => readFileSync(`${FIXTURES}${name}`);

function ctxFor(body: Buffer | undefined): RequestContext {
  return { identity: { certHash: 'ab'.repeat(32), subject: 'CN=device' }, now: NOW, log: recordingLog().log, ...(body && { body }) };
}

function checkin(name: string): { ctx: RequestContext; message: CheckinMessage; body: Buffer } {
  const body = fixtureBytes(name);
  return { ctx: ctxFor(body), message: parseCheckinMessage(decodePlist(body)), body };
}

const acceptAll: CheckinHandler = {
  authenticate: async () => undefined,
  tokenUpdate: async () => undefined,
  checkOut: async () => undefined,
  setBootstrapToken: async () => undefined,
  getBootstrapToken: async () => ({}),
  userAuthenticate: async () => ({ kind: 'decline' }),
  declarativeManagement: async () => undefined,
  getToken: async () => ({ TokenData: new Uint8Array([1]) }),
};

const refuseAll: CheckinHandler = Object.fromEntries(
  Object.keys(acceptAll).map((k) => [k, async () => { throw new Error('refused'); }]),
) as unknown as CheckinHandler;

async function dispatch(handler: CheckinHandler, ctx: RequestContext, message: CheckinMessage): Promise<unknown> {
  switch (message.MessageType) {
    case 'Authenticate': return handler.authenticate(ctx, message);
    case 'TokenUpdate': return handler.tokenUpdate(ctx, message);
    case 'CheckOut': return handler.checkOut(ctx, message);
    case 'SetBootstrapToken': return handler.setBootstrapToken(ctx, message);
    case 'GetBootstrapToken': return handler.getBootstrapToken(ctx, message);
    case 'UserAuthenticate': return handler.userAuthenticate(ctx, message);
    case 'DeclarativeManagement': return handler.declarativeManagement(ctx, message);
    case 'GetToken': return handler.getToken(ctx, message);
  }
}

function verifies(r: Received, secret = SECRET): boolean {
  const header = r.headers['x-hmac-signature'];
  if (typeof header !== 'string') return false;
  const expected = createHmac('sha256', secret).update(r.body).digest();
  const given = Buffer.from(header, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Everything a secret could leak through: the JSON text, the raw_payload text and its bytes. */
function assertNoSecret(r: Received, secretBytes: Uint8Array, keyName: string) {
  const json = r.body.toString('utf8');
  const event = JSON.parse(json) as WebhookEvent;
  const rawB64 = (event.checkin_event ?? event.acknowledge_event)!.raw_payload;
  const raw = Buffer.from(rawB64, 'base64');
  const b64 = Buffer.from(secretBytes).toString('base64');
  // (The key name itself may appear as a value: MessageType SetBootstrapToken, topic mdm.SetBootstrapToken.)
  expect(raw.toString('utf8')).not.toContain(`<key>${keyName}</key>`);
  for (const haystack of [json, raw.toString('utf8')]) {
    expect(haystack).not.toContain(b64);
    expect(haystack).not.toContain(b64.slice(0, 24));
    expect(haystack).not.toContain(Buffer.from(secretBytes).toString('hex'));
  }
  expect(raw.includes(Buffer.from(secretBytes))).toBe(false);
  expect(r.body.includes(Buffer.from(secretBytes))).toBe(false);
  const payload = decodePlist(raw) as Record<string, unknown>;
  expect(payload).not.toHaveProperty(keyName);
  return payload;
}

describe('webhook events (MicroMDM shape)', () => {
  it('sends an Authenticate check-in as mdm.Authenticate, HMAC-signed, with the body verbatim', async () => {
    const hook = await receiver();
    const s = sender({ url: hook.url, secret: SECRET });
    const { ctx, message, body } = checkin('checkin-authenticate-ios.plist');
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    await s.flush();

    expect(hook.received).toHaveLength(1);
    const [r] = hook.received;
    expect(r!.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(verifies(r!)).toBe(true);
    expect(verifies(r!, `${SECRET}x`)).toBe(false);
    const event = JSON.parse(r!.body.toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(event)).toEqual(['topic', 'event_id', 'created_at', 'checkin_event']);
    expect(event).toMatchObject({ topic: 'mdm.Authenticate', created_at: '2025-01-02T03:04:05.678Z' });
    expect(event.event_id).toMatch(UUID);
    expect(event.checkin_event).toEqual({ udid: (message as { UDID: string }).UDID, url_params: null, raw_payload: body.toString('base64') });
  });

  it('sends no signature header without a secret', async () => {
    const hook = await receiver();
    const s = sender({ url: hook.url });
    const { ctx, message } = checkin('checkin-checkout-ios.plist');
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    await s.flush();
    expect(hook.received[0]!.headers['x-hmac-signature']).toBeUndefined();
    expect(hook.events()[0]!.topic).toBe('mdm.CheckOut');
  });

  it.each([
    ['checkin-authenticate-ios.plist', 'mdm.Authenticate'],
    ['checkin-tokenupdate-ios.plist', 'mdm.TokenUpdate'],
    ['checkin-checkout-ios.plist', 'mdm.CheckOut'],
    ['checkin-setbootstraptoken-macos.plist', 'mdm.SetBootstrapToken'],
    ['checkin-getbootstraptoken-macos.plist', 'mdm.GetBootstrapToken'],
    ['checkin-userauthenticate-macos-first.plist', 'mdm.UserAuthenticate'],
    ['checkin-declarativemanagement-ios-tokens.plist', 'mdm.DeclarativeManagement'],
    ['checkin-gettoken-ios-maid.plist', 'mdm.GetToken'],
    ['checkin-tokenupdate-ios-user-enrollment.plist', 'mdm.TokenUpdate'],
  ])('%s becomes %s', async (name, topic) => {
    const sent: WebhookEvent[] = [];
    const stub = { send: (e: WebhookEvent) => void sent.push(e) } as WebhookSender;
    const { ctx, message } = checkin(name);
    await dispatch(webhookCheckins(stub, acceptAll), ctx, message);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.topic).toBe(topic);
    const ids = message as { UDID?: string; EnrollmentID?: string };
    expect(sent[0]!.checkin_event?.udid).toBe(ids.UDID);
    expect(sent[0]!.checkin_event?.enrollment_id).toBe(ids.EnrollmentID);
  });

  it('sends a command report as mdm.Connect with status and command_uuid ("" for Idle)', async () => {
    const hook = await receiver();
    const s = sender({ url: hook.url, secret: SECRET });
    const commands = webhookCommands(s, { reportAndNext: async () => new Uint8Array([1, 2, 3]) });
    for (const name of ['report-securityinfo-ios.plist', 'report-idle-ios.plist', 'report-idle-ios-user-enrollment.plist']) {
      const body = fixtureBytes(name);
      const next = await commands.reportAndNext(ctxFor(body), parseCommandReport(decodePlist(body)));
      expect(next).toEqual(new Uint8Array([1, 2, 3]));
    }
    await s.flush();
    const [ack, idle, ueIdle] = hook.events();
    const report = parseCommandReport(decodePlist(fixtureBytes('report-securityinfo-ios.plist')));
    expect(Object.keys(ack!.acknowledge_event!)).toEqual(['udid', 'status', 'command_uuid', 'url_params', 'raw_payload']);
    expect(ack).toMatchObject({ topic: 'mdm.Connect', acknowledge_event: { udid: report.udid, status: 'Acknowledged', command_uuid: report.commandUuid, url_params: null } });
    expect(ack!.acknowledge_event!.raw_payload).toBe(fixtureBytes('report-securityinfo-ios.plist').toString('base64'));
    expect(idle!.acknowledge_event).toMatchObject({ status: 'Idle', command_uuid: '' });
    expect(ueIdle!.acknowledge_event!.udid).toBeUndefined();
    expect(ueIdle!.acknowledge_event!.enrollment_id).toEqual(expect.any(String));
    expect(hook.received.every((r) => verifies(r))).toBe(true);
  });

  it('keeps the order in which devices were handled', async () => {
    const hook = await receiver();
    const s = sender({ url: hook.url });
    const handler = webhookCheckins(s, acceptAll);
    for (const name of ['checkin-authenticate-ios.plist', 'checkin-tokenupdate-ios.plist', 'checkin-checkout-ios.plist']) {
      const { ctx, message } = checkin(name);
      await dispatch(handler, ctx, message);
    }
    await s.flush();
    expect(hook.events().map((e) => e.topic)).toEqual(['mdm.Authenticate', 'mdm.TokenUpdate', 'mdm.CheckOut']);
  });
});

describe('webhook redaction (decision 9)', () => {
  it('never lets an UnlockToken out, and keeps the rest of the TokenUpdate', async () => {
    const hook = await receiver();
    const s = sender({ url: hook.url, secret: SECRET });
    const { ctx, message } = checkin('checkin-tokenupdate-ios.plist');
    const unlockToken = (message as TokenUpdateMessage).UnlockToken!;
    expect(unlockToken.length).toBeGreaterThan(100);
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    await s.flush();
    const payload = assertNoSecret(hook.received[0]!, unlockToken, 'UnlockToken');
    expect(verifies(hook.received[0]!)).toBe(true);
    const m = message as TokenUpdateMessage;
    expect(payload).toMatchObject({ MessageType: 'TokenUpdate', UDID: m.UDID, PushMagic: m.PushMagic, Topic: m.Topic });
    expect(Buffer.from(payload.Token as Uint8Array).equals(Buffer.from(m.Token))).toBe(true);
    expect(payload).not.toHaveProperty('UnlockToken');
  });

  it('never lets a BootstrapToken out', async () => {
    const hook = await receiver();
    const s = sender({ url: hook.url });
    const { ctx, message } = checkin('checkin-setbootstraptoken-macos.plist');
    const token = (message as SetBootstrapTokenMessage).BootstrapToken!;
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    await s.flush();
    const payload = assertNoSecret(hook.received[0]!, token, 'BootstrapToken');
    expect(payload).toMatchObject({ MessageType: 'SetBootstrapToken' });
  });

  it('redacts when the handler context carries no body (the message is re-encoded)', async () => {
    const sent: WebhookEvent[] = [];
    const stub = { send: (e: WebhookEvent) => void sent.push(e) } as WebhookSender;
    const { message } = checkin('checkin-tokenupdate-ios.plist');
    await dispatch(webhookCheckins(stub, acceptAll), ctxFor(undefined), message);
    const body = Buffer.from(JSON.stringify(sent[0]));
    const payload = assertNoSecret({ headers: {}, body }, (message as TokenUpdateMessage).UnlockToken!, 'UnlockToken');
    expect(payload).toMatchObject({ MessageType: 'TokenUpdate', PushMagic: (message as TokenUpdateMessage).PushMagic });
  });

  it('redacts UnlockToken at any depth of a command result, even spelled with a character reference', async () => {
    const hook = await receiver();
    const s = sender({ url: hook.url });
    const commands = webhookCommands(s, { reportAndNext: async () => undefined });
    const token = Buffer.from('requested-unlock-token-bytes-0123456789abcdef');
    const direct = Buffer.from(encodePlist({ UDID: 'DEV-1', Status: 'Acknowledged', CommandUUID: 'cmd-1', UnlockToken: token }));
    const nested = Buffer.from(encodePlist({ UDID: 'DEV-1', Status: 'Acknowledged', CommandUUID: 'cmd-2', Extra: [{ Deeper: { BootstrapToken: token } }] }));
    const escaped = Buffer.from(encodePlist({ UDID: 'DEV-1', Status: 'Acknowledged', CommandUUID: 'cmd-3', UnlockToken: token }).replace('<key>UnlockToken</key>', '<key>Unlock&#x54;oken</key>'));
    expect(escaped.includes('UnlockToken')).toBe(false);
    for (const body of [direct, nested, escaped]) {
      await commands.reportAndNext(ctxFor(body), parseCommandReport(decodePlist(body)));
    }
    await s.flush();
    expect(hook.received).toHaveLength(3);
    for (const r of hook.received) {
      const payload = assertNoSecret(r, token, 'UnlockToken');
      expect(JSON.stringify(payload)).not.toContain('BootstrapToken');
      expect(payload).toMatchObject({ UDID: 'DEV-1', Status: 'Acknowledged' });
    }
  });

  it('forwards the exact bytes when a key only looks like a secret (BootstrapTokenAllowed)', async () => {
    const sent: WebhookEvent[] = [];
    const stub = { send: (e: WebhookEvent) => void sent.push(e) } as WebhookSender;
    const body = fixtureBytes('report-securityinfo-macos.plist');
    expect(body.includes('BootstrapToken')).toBe(true);
    await webhookCommands(stub, { reportAndNext: async () => undefined }).reportAndNext(ctxFor(body), parseCommandReport(decodePlist(body)));
    expect(sent[0]!.acknowledge_event!.raw_payload).toBe(body.toString('base64'));
  });
});

describe('webhooks never hold up or fail a device', () => {
  it('emits nothing when the inner handler refuses', async () => {
    const sent: WebhookEvent[] = [];
    const stub = { send: (e: WebhookEvent) => void sent.push(e) } as WebhookSender;
    for (const name of ['checkin-authenticate-ios.plist', 'checkin-tokenupdate-ios.plist', 'checkin-setbootstraptoken-macos.plist', 'checkin-getbootstraptoken-macos.plist']) {
      const { ctx, message } = checkin(name);
      await expect(dispatch(webhookCheckins(stub, refuseAll), ctx, message)).rejects.toThrow('refused');
    }
    const failing: CommandHandler = { reportAndNext: async () => { throw new Error('refused'); } };
    const body = fixtureBytes('report-securityinfo-ios.plist');
    await expect(webhookCommands(stub, failing).reportAndNext(ctxFor(body), parseCommandReport(decodePlist(body)))).rejects.toThrow('refused');
    expect(sent).toEqual([]);
  });

  it('answers the device at once while a dead receiver is retried, then gives up and counts it', async () => {
    const registry = new Registry();
    const { log, lines } = recordingLog();
    // Backoff alone takes ≥ 375 ms here (125–250 then 250–500); the device must not see any of it.
    const s = sender({ url: await deadUrl(), secret: SECRET, retries: 2, backoffMs: 250, maxBackoffMs: 1000, registry, log });
    const handler = webhookCheckins(s, acceptAll);
    const { ctx, message } = checkin('checkin-tokenupdate-ios.plist');
    const started = performance.now();
    await dispatch(handler, ctx, message);
    expect(performance.now() - started).toBeLessThan(150);
    expect(s.stats().inFlight).toBe(true);
    await s.flush();
    expect(s.stats()).toMatchObject({ failed: 1, delivered: 0, queued: 0 });
    const metric = await registry.getSingleMetricAsString('lockwarden_webhooks_total');
    expect(metric).toContain('lockwarden_webhooks_total{result="retried"} 2');
    expect(metric).toContain('lockwarden_webhooks_total{result="failed"} 1');
    expect(lines.some((l) => l.level === 'warn' && l.msg === 'webhook event given up')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it('warns about give-ups at most once a minute during an outage, not once per event', async () => {
    const { log, lines } = recordingLog();
    const s = sender({ url: await deadUrl(), retries: 0, log });
    const handler = webhookCommands(s, { reportAndNext: async () => undefined });
    const body = fixtureBytes('report-idle-ios.plist');
    for (let i = 0; i < 20; i++) await handler.reportAndNext(ctxFor(body), parseCommandReport(decodePlist(body)));
    await s.flush();
    expect(s.stats().failed).toBe(20);
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: 'webhook event given up', obj: { events: 1, lastFailure: expect.stringContaining('fetch failed') } });
  });

  it('retries a 5xx and delivers the identical signed body', async () => {
    const hook = await receiver((n, res) => { res.statusCode = n < 3 ? 503 : 200; res.end(); });
    const registry = new Registry();
    const s = sender({ url: hook.url, secret: SECRET, retries: 3, registry });
    const { ctx, message } = checkin('checkin-authenticate-ios.plist');
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    await s.flush();
    expect(hook.received).toHaveLength(3);
    expect(new Set(hook.received.map((r) => r.body.toString())).size).toBe(1);
    expect(hook.received.every((r) => verifies(r))).toBe(true);
    expect(s.stats()).toMatchObject({ delivered: 1, failed: 0 });
    expect(await registry.getSingleMetricAsString('lockwarden_webhooks_total')).toContain('result="retried"} 2');
  });

  it('does not retry a 4xx refusal', async () => {
    const hook = await receiver((_n, res) => { res.statusCode = 400; res.end(); });
    const s = sender({ url: hook.url, retries: 3 });
    const { ctx, message } = checkin('checkin-authenticate-ios.plist');
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    await s.flush();
    expect(hook.received).toHaveLength(1);
    expect(s.stats()).toMatchObject({ rejected: 1, delivered: 0 });
  });

  it('gives each attempt a timeout', async () => {
    const hook = await receiver(() => undefined); // never answers
    const s = sender({ url: hook.url, retries: 1, timeoutMs: 300 });
    const { ctx, message } = checkin('checkin-authenticate-ios.plist');
    const started = performance.now();
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    expect(performance.now() - started).toBeLessThan(150);
    await s.flush();
    const elapsed = performance.now() - started;
    expect(hook.received).toHaveLength(2);
    expect(s.stats()).toMatchObject({ failed: 1 });
    expect(elapsed).toBeGreaterThanOrEqual(590);
    expect(elapsed).toBeLessThan(3000);
  });

  it('bounds the queue: the oldest waiting events are dropped, counted and warned about once', async () => {
    const held: ServerResponse[] = [];
    const hook = await receiver((_n, res) => void held.push(res));
    const registry = new Registry();
    const { log, lines } = recordingLog();
    const s = sender({ url: hook.url, maxQueue: 3, registry, log, timeoutMs: 5000 });
    const handler = webhookCommands(s, { reportAndNext: async () => undefined });
    const started = performance.now();
    for (let i = 1; i <= 10; i++) {
      const body = Buffer.from(encodePlist({ UDID: 'DEV-1', Status: 'Acknowledged', CommandUUID: `cmd-${i}` }));
      await handler.reportAndNext(ctxFor(body), parseCommandReport(decodePlist(body)));
      expect(s.stats().queued).toBeLessThanOrEqual(3);
    }
    expect(performance.now() - started).toBeLessThan(200);
    expect(s.stats()).toMatchObject({ queued: 3, dropped: 6 });
    expect(await registry.getSingleMetricAsString('lockwarden_webhooks_total')).toContain('result="dropped"} 6');
    expect(lines.filter((l) => l.level === 'warn' && l.msg?.startsWith('webhook events dropped'))).toHaveLength(1);

    // Release the receiver: the one in flight and the three newest arrive, in order.
    const release = setInterval(() => held.splice(0).forEach((res) => res.end()), 5);
    await s.flush();
    clearInterval(release);
    expect(hook.events().map((e) => e.acknowledge_event!.command_uuid)).toEqual(['cmd-1', 'cmd-8', 'cmd-9', 'cmd-10']);
  });

  it('bounds the queue in bytes too', async () => {
    const held: ServerResponse[] = [];
    const hook = await receiver((_n, res) => void held.push(res));
    const s = sender({ url: hook.url, maxQueue: 1000, maxQueueBytes: 4096 });
    const stub = webhookCommands(s, { reportAndNext: async () => undefined });
    for (let i = 0; i < 20; i++) {
      const body = Buffer.from(encodePlist({ UDID: 'DEV-1', Status: 'Acknowledged', CommandUUID: `c-${i}`, Pad: 'x'.repeat(600) }));
      await stub.reportAndNext(ctxFor(body), parseCommandReport(decodePlist(body)));
    }
    expect(s.stats().queued).toBeLessThan(5);
    expect(s.stats().dropped).toBeGreaterThan(10);
    held.forEach((res) => res.end());
  });

  it('close() stops accepting, aborts the attempt in flight and drops what is left', async () => {
    const hook = await receiver(() => undefined);
    const s = sender({ url: hook.url, timeoutMs: 60_000 });
    const handler = webhookCheckins(s, acceptAll);
    for (const name of ['checkin-authenticate-ios.plist', 'checkin-tokenupdate-ios.plist']) {
      const { ctx, message } = checkin(name);
      await dispatch(handler, ctx, message);
    }
    const started = performance.now();
    await s.close({ drainMs: 20 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(s.stats()).toMatchObject({ queued: 0, inFlight: false, failed: 1, dropped: 1 });
    const { ctx, message } = checkin('checkin-checkout-ios.plist');
    await dispatch(handler, ctx, message);
    expect(s.stats().dropped).toBe(2);
  });

  it('turns credentials in the URL into Basic authorization and never logs them', async () => {
    const hook = await receiver();
    const { log, lines } = recordingLog();
    const url = hook.url.replace('http://', 'http://hook%20user:p%40ss@');
    const s = sender({ url, log, retries: 0 });
    const { ctx, message } = checkin('checkin-authenticate-ios.plist');
    await dispatch(webhookCheckins(s, acceptAll), ctx, message);
    await s.flush();
    expect(hook.received[0]!.headers.authorization).toBe(`Basic ${Buffer.from('hook user:p@ss').toString('base64')}`);
    expect(JSON.stringify(lines)).not.toContain('p%40ss');
  });
});

describe('webhook configuration', () => {
  const base = { LOCKWARDEN_DATA_DIR: '/tmp/lw' };
  const problems = (env: NodeJS.ProcessEnv): string[] => {
    try {
      configFromEnv({ ...base, ...env });
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
  };

  it('reads LOCKWARDEN_WEBHOOK_URL and LOCKWARDEN_WEBHOOK_SECRET', () => {
    const config = configFromEnv({ ...base, LOCKWARDEN_WEBHOOK_URL: 'https://hooks.example.com/mdm', LOCKWARDEN_WEBHOOK_SECRET: SECRET });
    expect(config).toMatchObject({ webhookUrl: 'https://hooks.example.com/mdm', webhookSecret: SECRET });
    expect(configFromEnv(base)).not.toHaveProperty('webhookUrl');
  });

  it('reports every webhook problem with the others, without echoing the secret', () => {
    const found = problems({ LOCKWARDEN_WEBHOOK_URL: 'ftp://example.com', PORT: 'x' });
    expect(found).toEqual(expect.arrayContaining([expect.stringContaining('LOCKWARDEN_WEBHOOK_URL'), expect.stringContaining('PORT')]));
    expect(problems({ LOCKWARDEN_WEBHOOK_URL: 'not a url' })).toEqual([expect.stringContaining('LOCKWARDEN_WEBHOOK_URL')]);
    expect(problems({ LOCKWARDEN_WEBHOOK_SECRET: SECRET })).toEqual([expect.stringContaining('LOCKWARDEN_WEBHOOK_URL is not')]);
    const short = problems({ LOCKWARDEN_WEBHOOK_URL: 'http://127.0.0.1:9/x', LOCKWARDEN_WEBHOOK_SECRET: 'short' });
    expect(short).toEqual([expect.stringContaining('at least 16')]);
    expect(short.join()).not.toContain('short"');
  });
});

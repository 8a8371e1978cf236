// The APNs client against the local APNs endpoint over real HTTP/2 (h2c): the exact request
// Apple expects, one connection for many pushes, reconnection after GOAWAY, bounded streams;
// and the endpoint's own checks, which are Apple's.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApnsConnectionError, createApnsClient, parseRetryAfter, tokenPrefix } from '../../src/services/push/apns-client.ts';
import type { ApnsClient } from '../../src/services/push/apns-client.ts';
import { startApnsMock } from '../../src/sim/apns-mock.ts';
import type { ApnsMock } from '../../src/sim/apns-mock.ts';

const TOPIC = 'com.apple.mgmt.External.1234';
const MAGIC = '2F0B1C4E-6E3A-4E7B-9A5D-3C9E1B0D7F21';
const token = () => randomBytes(32);

let mock: ApnsMock;
let client: ApnsClient;
beforeEach(async () => {
  mock = await startApnsMock();
  client = createApnsClient({ url: mock.url });
});
afterEach(async () => {
  await client.close();
  await mock.close();
});

describe('APNs client', () => {
  it('sends POST /3/device/<hex token> with exactly the MDM headers and body', async () => {
    const device = token();
    const before = Math.floor(Date.now() / 1000);
    const result = await client.send({ token: device, topic: TOPIC, pushMagic: MAGIC });
    expect(result.status).toBe(200);
    expect(result.apnsId).toMatch(/^[0-9a-f-]{36}$/);
    expect(mock.received).toHaveLength(1);
    const push = mock.received[0]!;
    expect(push).toMatchObject({ token: device.toString('hex'), topic: TOPIC, pushType: 'mdm', priority: 10, body: { mdm: MAGIC } });
    // Default lifetime: 7 days from now.
    expect(push.expiration).toBeGreaterThanOrEqual(before + 7 * 86_400);
    expect(push.expiration).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 7 * 86_400);
    expect(mock.delivered).toEqual([push]);
  });

  it('puts the raw headers on the wire as Apple documents them', async () => {
    const seen: http2.IncomingHttpHeaders[] = [];
    const bodies: string[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      seen.push(headers);
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => { body += chunk; });
      stream.on('end', () => {
        bodies.push(body);
        stream.respond({ ':status': 200, 'apns-id': 'A0B1C2D3-0000-4000-8000-000000000001' });
        stream.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const raw = createApnsClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, expirationSeconds: 3600, now: () => 1_700_000_000_000 });
    try {
      const device = token();
      const result = await raw.send({ token: device, topic: TOPIC, pushMagic: MAGIC });
      expect(result).toEqual({ status: 200, apnsId: 'A0B1C2D3-0000-4000-8000-000000000001' });
      const headers = seen[0]!;
      expect(headers[':method']).toBe('POST');
      expect(headers[':path']).toBe(`/3/device/${device.toString('hex')}`);
      expect(headers['apns-push-type']).toBe('mdm');
      expect(headers['apns-topic']).toBe(TOPIC);
      expect(headers['apns-expiration']).toBe(String(1_700_000_000 + 3600));
      expect(headers['apns-priority']).toBe('10');
      expect(Object.keys(headers).filter((name) => name.startsWith('apns-')).sort()).toEqual(['apns-expiration', 'apns-priority', 'apns-push-type', 'apns-topic']);
      expect(bodies[0]).toBe(JSON.stringify({ mdm: MAGIC }));
    } finally {
      await raw.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('sends apns-expiration 0 when configured for "now or never", and a per-push expiration when given', async () => {
    const nowOrNever = createApnsClient({ url: mock.url, expirationSeconds: 0 });
    try {
      await nowOrNever.send({ token: token(), topic: TOPIC, pushMagic: MAGIC });
      await nowOrNever.send({ token: token(), topic: TOPIC, pushMagic: MAGIC, expiration: 2_000_000_000 });
    } finally {
      await nowOrNever.close();
    }
    expect(mock.received.map((push) => push.expiration)).toEqual([0, 2_000_000_000]);
  });

  it('reuses one HTTP/2 session for many pushes, sequential and concurrent', async () => {
    for (let i = 0; i < 5; i += 1) await client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC });
    const results = await Promise.all(Array.from({ length: 200 }, () => client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC })));
    expect(results.every((result) => result.status === 200)).toBe(true);
    expect(mock.received).toHaveLength(205);
    expect(mock.sessions).toBe(1);
    expect(client.sessionsOpened).toBe(1);
  });

  it('reconnects after GOAWAY', async () => {
    await client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC });
    mock.goAway();
    // Sent at once, these race the GOAWAY: streams the old session opened after it are refused
    // and retried on a new session; either way each push is answered exactly once.
    const results = await Promise.all(Array.from({ length: 3 }, () => client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC })));
    expect(results.map((result) => result.status)).toEqual([200, 200, 200]);
    expect(mock.received).toHaveLength(4);
    expect(mock.sessions).toBe(2);
  });

  it('reconnects after the server went away entirely', async () => {
    await client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC });
    const { port } = new URL(mock.url);
    await mock.close();
    await expect(client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC })).rejects.toBeInstanceOf(ApnsConnectionError);
    mock = await startApnsMock({ port: Number(port) });
    expect((await client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC })).status).toBe(200);
  });

  it('reports Apple\'s status, reason, Retry-After and 410 timestamp', async () => {
    const gone = token();
    const busy = token();
    mock.setResponse(gone.toString('hex'), { status: 410, reason: 'Unregistered' });
    mock.setResponse(busy.toString('hex'), { status: 429, reason: 'TooManyRequests', retryAfter: 7 });
    const unregistered = await client.send({ token: gone, topic: TOPIC, pushMagic: MAGIC });
    expect(unregistered).toMatchObject({ status: 410, reason: 'Unregistered' });
    expect(typeof unregistered.timestamp).toBe('number');
    expect(await client.send({ token: busy, topic: TOPIC, pushMagic: MAGIC })).toMatchObject({ status: 429, reason: 'TooManyRequests', retryAfter: 7 });
    expect(mock.delivered).toHaveLength(0);
  });

  it('never has more streams open than allowed', async () => {
    let open = 0;
    let peak = 0;
    const server = http2.createServer();
    server.on('stream', (stream) => {
      open += 1;
      peak = Math.max(peak, open);
      stream.resume();
      stream.on('end', () => setTimeout(() => {
        open -= 1;
        stream.respond({ ':status': 200 });
        stream.end();
      }, 5));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const bounded = createApnsClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxConcurrentStreams: 3 });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => bounded.send({ token: token(), topic: TOPIC, pushMagic: MAGIC })));
      expect(results.every((result) => result.status === 200)).toBe(true);
      expect(peak).toBeLessThanOrEqual(3);
      expect(peak).toBeGreaterThan(1);
      expect(bounded.sessionsOpened).toBe(1);
    } finally {
      await bounded.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('fails a push that gets no answer in time with ApnsConnectionError', async () => {
    const server = http2.createServer();
    server.on('stream', (stream) => stream.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const slow = createApnsClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requestTimeoutMs: 100 });
    try {
      await expect(slow.send({ token: token(), topic: TOPIC, pushMagic: MAGIC })).rejects.toThrow(/did not answer within 100 ms/);
    } finally {
      await slow.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await closed;
    }
  });

  it('refuses a token that is not bytes or hex before sending anything', async () => {
    await expect(client.send({ token: 'not-hex', topic: TOPIC, pushMagic: MAGIC })).rejects.toBeInstanceOf(TypeError);
    expect(mock.received).toHaveLength(0);
  });

  it('parses Retry-After as seconds or an HTTP-date, and logs at most 8 hex characters of a token', () => {
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(new Date(1_000_000 + 30_000).toUTCString(), 1_000_000)).toBe(30);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(tokenPrefix(Buffer.from('0123456789abcdef', 'hex'))).toBe('01234567');
  });
});

describe('local APNs endpoint', () => {
  const path = (hex: string) => `/3/device/${hex}`;
  const valid = (hex = randomBytes(32).toString('hex')): http2.OutgoingHttpHeaders => ({
    ':method': 'POST', ':path': path(hex), 'apns-push-type': 'mdm', 'apns-topic': TOPIC, 'apns-expiration': '0', 'apns-priority': '10',
  });

  async function raw(headers: http2.OutgoingHttpHeaders, body = JSON.stringify({ mdm: MAGIC })): Promise<{ status: number; reason?: string }> {
    const session = http2.connect(mock.url);
    session.on('error', () => undefined);
    try {
      return await new Promise((resolve, reject) => {
        const stream = session.request(headers, { endStream: false });
        let status = 0;
        let text = '';
        stream.setEncoding('utf8');
        stream.on('response', (h) => { status = Number(h[':status']); });
        stream.on('data', (chunk: string) => { text += chunk; });
        stream.on('end', () => resolve({ status, ...(text && { reason: (JSON.parse(text) as { reason: string }).reason }) }));
        stream.on('error', reject);
        stream.end(body);
      });
    } finally {
      session.close();
    }
  }

  it.each([
    ['a GET', { ':method': 'GET' }, 405, 'MethodNotAllowed'],
    ['another path', { ':path': '/3/notdevice/abc' }, 404, 'BadPath'],
    ['no token', { ':path': '/3/device/' }, 400, 'MissingDeviceToken'],
    ['a token that is not hex', { ':path': path('zz'.repeat(32)) }, 400, 'BadDeviceToken'],
    ['a short token', { ':path': path('ab'.repeat(8)) }, 400, 'BadDeviceToken'],
    ['no topic', { 'apns-topic': undefined }, 400, 'MissingTopic'],
    ['a non-MDM topic', { 'apns-topic': 'com.example.app' }, 400, 'TopicDisallowed'],
    ['no push type', { 'apns-push-type': undefined }, 400, 'InvalidPushType'],
    ['an alert push on an MDM topic', { 'apns-push-type': 'alert' }, 400, 'TopicDisallowed'],
    ['a bad expiration', { 'apns-expiration': 'tomorrow' }, 400, 'BadExpirationDate'],
    ['a bad priority', { 'apns-priority': '7' }, 400, 'BadPriority'],
    ['a bad apns-id', { 'apns-id': 'nope' }, 400, 'BadMessageId'],
  ] as Array<[string, Record<string, string | undefined>, number, string]>)('answers %s like Apple does', async (_name, override, status, reason) => {
    const headers: http2.OutgoingHttpHeaders = { ...valid(), ...override };
    for (const [name, value] of Object.entries(headers)) if (value === undefined) delete headers[name];
    expect(await raw(headers)).toEqual({ status, reason });
    expect(mock.received).toHaveLength(0);
    expect(mock.rejected).toEqual([expect.objectContaining({ status, reason })]);
  });

  it('refuses an empty, oversized or non-MDM body', async () => {
    expect(await raw(valid(), '')).toEqual({ status: 400, reason: 'PayloadEmpty' });
    expect(await raw(valid(), JSON.stringify({ mdm: 'x'.repeat(5000) }))).toEqual({ status: 413, reason: 'PayloadTooLarge' });
    expect(await raw(valid(), JSON.stringify({ aps: {} }))).toEqual({ status: 400, reason: 'BadPayload' });
  });

  it('refuses another topic than the one it was started for', async () => {
    const strict = await startApnsMock({ topic: TOPIC });
    const other = createApnsClient({ url: strict.url });
    try {
      expect(await other.send({ token: token(), topic: 'com.apple.mgmt.External.other', pushMagic: MAGIC })).toMatchObject({ status: 400, reason: 'TopicDisallowed' });
      expect((await other.send({ token: token(), topic: TOPIC, pushMagic: MAGIC })).status).toBe(200);
    } finally {
      await other.close();
      await strict.close();
    }
  });

  it('answers a scripted response a given number of times, then normally', async () => {
    const device = token();
    mock.setResponse(device.toString('hex'), { status: 503, reason: 'ServiceUnavailable' }, { times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await client.send({ token: device, topic: TOPIC, pushMagic: MAGIC })).status);
    expect(statuses).toEqual([503, 503, 200]);
    expect(mock.received.map((push) => push.status)).toEqual([503, 503, 200]);
  });

  it('delivers to listeners, and holds the latest push for an offline device until it expires', async () => {
    let clock = 1_700_000_000_000;
    const timed = await startApnsMock({ now: () => clock });
    const timedClient = createApnsClient({ url: timed.url, now: () => clock, expirationSeconds: 60 });
    const heard: string[] = [];
    timed.onPush((push) => heard.push(push.body.mdm));
    try {
      const online = token();
      const offline = token();
      await timedClient.send({ token: online, topic: TOPIC, pushMagic: 'online' });
      expect(heard).toEqual(['online']);

      timed.setOnline(offline.toString('hex'), false);
      await timedClient.send({ token: offline, topic: TOPIC, pushMagic: 'first' });
      await timedClient.send({ token: offline, topic: TOPIC, pushMagic: 'second' });
      await timedClient.send({ token: offline, topic: TOPIC, pushMagic: 'now-or-never', expiration: 0 });
      await timedClient.send({ token: offline, topic: TOPIC, pushMagic: 'third' });
      clock += 30_000;
      timed.setOnline(offline.toString('hex'), true);
      // Only the latest stored push arrives; the ones it replaced, and the 0-expiration one, never do.
      expect(heard).toEqual(['online', 'third']);
      expect(timed.expired.map((push) => push.body.mdm)).toEqual(['first', 'second', 'now-or-never']);

      timed.setOnline(offline.toString('hex'), false);
      await timedClient.send({ token: offline, topic: TOPIC, pushMagic: 'stale' });
      clock += 61_000;
      timed.setOnline(offline.toString('hex'), true);
      expect(heard).toEqual(['online', 'third']);
      expect(timed.expired.map((push) => push.body.mdm)).toContain('stale');

      // A push already past its expiration on arrival is accepted (200) but never delivered.
      expect((await timedClient.send({ token: online, topic: TOPIC, pushMagic: 'late', expiration: Math.floor(clock / 1000) - 1 })).status).toBe(200);
      expect(heard).not.toContain('late');
      expect(timed.expired.map((push) => push.body.mdm)).toContain('late');
    } finally {
      await timedClient.close();
      await timed.close();
    }
  });
});

describe('APNs client certificate switch', () => {
  it('opens a new session for a new certificate and closes the old one', async () => {
    await client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC });
    // Over h2c the certificate is not used on the wire, but it still names the session.
    client.setCertificate({ certificatePem: 'renewed certificate', privateKeyPem: 'renewed key' });
    await client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC });
    await client.send({ token: token(), topic: TOPIC, pushMagic: MAGIC });
    expect(client.sessionsOpened).toBe(2);
    expect(mock.sessions).toBe(2);
  });
});

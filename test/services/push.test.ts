// The push service end to end: a real Store (SQLite), the real APNs client, the local APNs
// endpoint over HTTP/2. Time is a manual clock: backoff sleeps and trailing pushes run when
// the test says so, never on the wall clock.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/services/metrics.ts';
import type { Metrics } from '../../src/services/metrics.ts';
import { createApnsClient } from '../../src/services/push/apns-client.ts';
import type { ApnsClient } from '../../src/services/push/apns-client.ts';
import { createPushService } from '../../src/services/push/push-service.ts';
import type { PushService, PushServiceOptions } from '../../src/services/push/push-service.ts';
import { startApnsMock } from '../../src/sim/apns-mock.ts';
import type { ApnsMock } from '../../src/sim/apns-mock.ts';
import type { Store } from '../../src/store/database.ts';
import { databases } from '../support/databases.ts';

const TOPIC = 'com.apple.mgmt.External.1234';
const sqlite = databases.find((database) => database.name === 'sqlite')!;

/** now/sleep/schedule under the test's control. */
function manualClock(start = 1_700_000_000_000) {
  let t = start;
  const sleeps: number[] = [];
  const timers: Array<{ at: number; run: () => void; cancelled: boolean }> = [];
  return {
    sleeps,
    pendingTimers: () => timers.filter((timer) => !timer.cancelled).length,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    schedule: (ms: number, run: () => void) => {
      const timer = { at: t + ms, run, cancelled: false };
      timers.push(timer);
      return () => { timer.cancelled = true; };
    },
    /** Moves time on and runs every timer that came due. */
    advance(ms: number) {
      t += ms;
      for (const timer of timers.splice(0)) {
        if (timer.cancelled) continue;
        if (timer.at <= t) timer.run();
        else timers.push(timer);
      }
    },
  };
}

interface LogLine { level: string; fields: object; message?: string }

let store: Store;
let mock: ApnsMock;
let client: ApnsClient;
let metrics: Metrics;
let clock: ReturnType<typeof manualClock>;
let logs: LogLine[];
let service: PushService;

const logger = () => {
  const at = (level: string) => (fields: object, message?: string) => { logs.push({ level, fields, ...(message !== undefined && { message }) }); };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
};

function makeService(overrides: Partial<PushServiceOptions> = {}): PushService {
  return createPushService({
    store, client, metrics, topic: TOPIC, log: logger(),
    now: clock.now, sleep: clock.sleep, schedule: clock.schedule, random: () => 0.5,
    ...overrides,
  });
}

interface Enrolled { id: string; token: Buffer; hex: string; magic: string }

async function enroll(id: string, topic = TOPIC): Promise<Enrolled> {
  const token = randomBytes(32);
  const magic = `MAGIC-${randomBytes(8).toString('hex').toUpperCase()}`;
  await store.enrollments.authenticate({ deviceId: id, type: 'Device', topic, certHash: randomBytes(32).toString('hex'), now: 1_000 });
  await store.enrollments.tokenUpdate({ enrollmentId: id, deviceId: id, channel: 'device', type: 'Device', topic, pushToken: token, pushMagic: magic, now: 2_000 });
  return { id, token, hex: token.toString('hex'), magic };
}

async function pushCounts(): Promise<Record<string, number>> {
  const { values } = await metrics.pushes.get();
  return Object.fromEntries(values.map((value) => [String(value.labels.result), value.value]));
}

beforeEach(async () => {
  store = await sqlite.open();
  mock = await startApnsMock();
  client = createApnsClient({ url: mock.url });
  metrics = createMetrics();
  clock = manualClock();
  logs = [];
  service = makeService();
});

afterEach(async () => {
  await service.close();
  await client.close();
  await mock.close();
  await store.close();
});

describe('push service', () => {
  it('pushes each enrollment with its token and magic, and says which ids have no token', async () => {
    const a = await enroll('DEVICE-A');
    const b = await enroll('DEVICE-B');
    await store.enrollments.authenticate({ deviceId: 'NO-TOKEN-YET', type: 'Device', topic: TOPIC, certHash: 'c'.repeat(64), now: 1_000 });

    const summary = await service.push(['DEVICE-A', 'DEVICE-B', 'NO-TOKEN-YET', 'UNKNOWN', 'DEVICE-A']);
    expect(summary.counts).toEqual({ sent: 2, coalesced: 0, 'dead-token': 0, failed: 0, 'no-token': 2 });
    expect(summary.results.map((outcome) => [outcome.enrollmentId, outcome.result])).toEqual([
      ['DEVICE-A', 'sent'], ['DEVICE-B', 'sent'], ['NO-TOKEN-YET', 'no-token'], ['UNKNOWN', 'no-token'],
    ]);
    expect(summary.results[0]).toMatchObject({ status: 200, attempts: 1, apnsId: expect.any(String) });
    expect(mock.received.map((push) => [push.token, push.topic, push.pushType, push.priority, push.body.mdm]).sort()).toEqual([
      [a.hex, TOPIC, 'mdm', 10, a.magic], [b.hex, TOPIC, 'mdm', 10, b.magic],
    ].sort());
    expect(await pushCounts()).toEqual({ sent: 2, 'no-token': 2 });
  });

  it('pushes a fleet over one HTTP/2 connection', async () => {
    const ids = [];
    for (let i = 0; i < 150; i += 1) ids.push((await enroll(`DEVICE-${i}`)).id);
    const summary = await service.push(ids);
    expect(summary.counts.sent).toBe(150);
    expect(mock.received).toHaveLength(150);
    expect(mock.sessions).toBe(1);
  });

  it('coalesces pushes to one device in flight or within the window, and owes it one trailing push', async () => {
    const a = await enroll('DEVICE-A');
    // Three requests at once: one push goes out, the others ride on it.
    const [first, second, third] = await Promise.all([service.push(['DEVICE-A']), service.push(['DEVICE-A']), service.push(['DEVICE-A'])]);
    expect([first, second, third].map((summary) => summary.results[0]!.result).sort()).toEqual(['coalesced', 'coalesced', 'sent']);
    clock.advance(1_000);
    expect((await service.push(['DEVICE-A'])).results[0]!.result).toBe('coalesced');
    expect(mock.received).toHaveLength(1);
    expect(clock.pendingTimers()).toBe(1);

    // At the end of the window the device gets exactly one more push, for the commands that
    // were enqueued after it may already have drained its queue.
    clock.advance(1_000);
    await expect.poll(() => mock.received.length, { timeout: 2_000, interval: 5 }).toBe(2);
    expect(mock.received.every((push) => push.token === a.hex)).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
    await expect.poll(pushCounts, { timeout: 2_000, interval: 5 }).toEqual({ sent: 2, coalesced: 3 });

    // Later requests start a new window.
    clock.advance(5_000);
    expect((await service.push(['DEVICE-A'])).results[0]!.result).toBe('sent');
    expect(mock.received).toHaveLength(3);
  });

  it('sends no trailing push when nothing was coalesced', async () => {
    await enroll('DEVICE-A');
    await service.push(['DEVICE-A']);
    clock.advance(10_000);
    expect(clock.pendingTimers()).toBe(0);
    expect(mock.received).toHaveLength(1);
  });

  it('does not coalesce different devices', async () => {
    await enroll('DEVICE-A');
    await enroll('DEVICE-B');
    await service.push(['DEVICE-A']);
    expect((await service.push(['DEVICE-B'])).results[0]!.result).toBe('sent');
  });

  it('retries 429 honouring Retry-After, then succeeds', async () => {
    const a = await enroll('DEVICE-A');
    mock.setResponse(a.hex, { status: 429, reason: 'TooManyRequests', retryAfter: 3 }, { times: 2 });
    const summary = await service.push(['DEVICE-A']);
    expect(summary.results[0]).toMatchObject({ result: 'sent', status: 200, attempts: 3 });
    // Retry-After (3 s) is longer than the backoff steps (500 ms, 1 s with jitter), so it wins.
    expect(clock.sleeps).toEqual([3_000, 3_000]);
    expect(mock.received.map((push) => push.status)).toEqual([429, 429, 200]);
    expect(mock.sessions).toBe(1);
  });

  it('retries 503 with exponential backoff and jitter, then succeeds', async () => {
    const a = await enroll('DEVICE-A');
    mock.setResponse(a.hex, { status: 503, reason: 'ServiceUnavailable' }, { times: 3 });
    const summary = await service.push(['DEVICE-A']);
    expect(summary.results[0]).toMatchObject({ result: 'sent', attempts: 4 });
    // Steps 500, 1000, 2000 ms; equal jitter at random()=0.5 gives three quarters of each.
    expect(clock.sleeps).toEqual([375, 750, 1_500]);
  });

  it('jitter stays between half and all of each step', async () => {
    const a = await enroll('DEVICE-A');
    mock.setResponse(a.hex, { status: 500, reason: 'InternalServerError' }, { times: 2 });
    const low = makeService({ random: () => 0 });
    await low.push(['DEVICE-A']);
    await low.close();
    mock.setResponse(a.hex, { status: 500, reason: 'InternalServerError' }, { times: 2 });
    clock.advance(10_000);
    const high = makeService({ random: () => 0.999999 });
    await high.push(['DEVICE-A']);
    await high.close();
    expect(clock.sleeps.slice(0, 2)).toEqual([250, 500]);
    expect(clock.sleeps[2]).toBeCloseTo(500, 1);
    expect(clock.sleeps[3]).toBeCloseTo(1_000, 1);
  });

  it('gives up after the last attempt and counts the push as failed', async () => {
    const a = await enroll('DEVICE-A');
    mock.setResponse(a.hex, { status: 503, reason: 'ServiceUnavailable' });
    const summary = await service.push(['DEVICE-A']);
    expect(summary.results[0]).toMatchObject({ result: 'failed', status: 503, reason: 'ServiceUnavailable', attempts: 4 });
    expect(mock.received).toHaveLength(4);
    expect(await pushCounts()).toEqual({ failed: 1 });
    // The token is not dead: it stays.
    expect((await store.enrollments.get('DEVICE-A'))?.pushToken?.equals(a.token)).toBe(true);
  });

  it('fails at once when APNs asks to wait longer than a push is held', async () => {
    const a = await enroll('DEVICE-A');
    mock.setResponse(a.hex, { status: 429, reason: 'TooManyRequests', retryAfter: 3600 });
    const summary = await service.push(['DEVICE-A']);
    expect(summary.results[0]).toMatchObject({ result: 'failed', status: 429, reason: 'TooManyRequests', retryAfter: 3600, attempts: 1 });
    expect(clock.sleeps).toEqual([]);
  });

  it('does not retry other client errors', async () => {
    const a = await enroll('DEVICE-A');
    mock.setResponse(a.hex, { status: 403, reason: 'BadCertificate' });
    const summary = await service.push(['DEVICE-A']);
    expect(summary.results[0]).toMatchObject({ result: 'failed', status: 403, reason: 'BadCertificate', attempts: 1 });
  });

  it('retries when APNs cannot be reached, then reports a connection error', async () => {
    await enroll('DEVICE-A');
    await mock.close();
    const summary = await service.push(['DEVICE-A']);
    expect(summary.results[0]).toMatchObject({ result: 'failed', reason: 'ConnectionError', attempts: 4 });
    mock = await startApnsMock();
  });

  it.each([
    [410, 'Unregistered'],
    [410, 'ExpiredToken'],
    [400, 'BadDeviceToken'],
  ])('forgets the token on %i %s', async (status, reason) => {
    const a = await enroll('DEVICE-A');
    mock.setResponse(a.hex, { status, reason });
    const summary = await service.push(['DEVICE-A']);
    expect(summary.results[0]).toMatchObject({ result: 'dead-token', status, reason, attempts: 1 });
    expect((await store.enrollments.get('DEVICE-A'))?.pushToken).toBeNull();
    expect(await pushCounts()).toEqual({ 'dead-token': 1 });
    // Until the device sends a new token, there is nothing to push.
    clock.advance(10_000);
    expect((await service.push(['DEVICE-A'])).results[0]!.result).toBe('no-token');
  });

  it('keeps a token that a TokenUpdate replaced while the push was in flight, and pushes the new one', async () => {
    const a = await enroll('DEVICE-A');
    const fresh = randomBytes(32);
    mock.setResponse(a.hex, { status: 410, reason: 'Unregistered' });
    // The device's TokenUpdate lands between our lookup and APNs's answer.
    const racing: PushServiceOptions['client'] = {
      async send(push) {
        const answer = await client.send(push);
        if (Buffer.isBuffer(push.token) && push.token.equals(a.token)) {
          await store.enrollments.tokenUpdate({ enrollmentId: a.id, deviceId: a.id, channel: 'device', type: 'Device', topic: TOPIC, pushToken: fresh, pushMagic: a.magic, now: 3_000 });
        }
        return answer;
      },
    };
    const raced = makeService({ client: racing });
    const summary = await raced.push(['DEVICE-A']);
    await raced.close();
    expect(summary.results[0]).toMatchObject({ result: 'sent', status: 200 });
    expect((await store.enrollments.get('DEVICE-A'))?.pushToken?.equals(fresh)).toBe(true);
    expect(mock.received.map((push) => push.token)).toEqual([a.hex, fresh.toString('hex')]);
  });

  it('refuses to push an enrollment registered under another topic', async () => {
    await enroll('DEVICE-OLD', 'com.apple.mgmt.External.old-certificate');
    const summary = await service.push(['DEVICE-OLD']);
    expect(summary.results[0]).toMatchObject({ result: 'failed', reason: 'TopicMismatch', attempts: 0 });
    expect(mock.received).toHaveLength(0);
    expect(logs.some((line) => line.level === 'warn' && /re-enroll/.test(line.message ?? ''))).toBe(true);
  });

  it('follows the current topic when given a getter (a certificate import switched it)', async () => {
    let topic = 'com.apple.mgmt.External.before';
    await enroll('DEVICE-A');
    const following = makeService({ topic: () => topic });
    expect((await following.push(['DEVICE-A'])).results[0]).toMatchObject({ result: 'failed', reason: 'TopicMismatch' });
    topic = TOPIC;
    clock.advance(5_000);
    expect((await following.push(['DEVICE-A'])).results[0]).toMatchObject({ result: 'sent' });
    await following.close();
  });

  it('never logs a push magic or a whole token', async () => {
    const a = await enroll('DEVICE-A');
    const b = await enroll('DEVICE-B');
    const c = await enroll('DEVICE-C');
    mock.setResponse(b.hex, { status: 410, reason: 'Unregistered' });
    mock.setResponse(c.hex, { status: 503, reason: 'ServiceUnavailable' });
    await service.push(['DEVICE-A', 'DEVICE-B', 'DEVICE-C']);
    const text = JSON.stringify(logs);
    expect(logs.length).toBeGreaterThan(3);
    for (const device of [a, b, c]) {
      expect(text).not.toContain(device.magic);
      expect(text).not.toContain(device.hex.slice(0, 9));
      expect(text).not.toContain(device.token.toString('base64').slice(0, 12));
    }
    expect(text).toContain(b.hex.slice(0, 8));
  });

  it('close() cancels owed trailing pushes', async () => {
    await enroll('DEVICE-A');
    await Promise.all([service.push(['DEVICE-A']), service.push(['DEVICE-A'])]);
    expect(clock.pendingTimers()).toBe(1);
    await service.close();
    expect(clock.pendingTimers()).toBe(0);
    await expect(service.push(['DEVICE-A'])).rejects.toThrow(/closed/);
    service = makeService();
  });

  it('an empty request pushes nothing', async () => {
    expect(await service.push([])).toEqual({ counts: { sent: 0, coalesced: 0, 'dead-token': 0, failed: 0, 'no-token': 0 }, results: [] });
  });
});

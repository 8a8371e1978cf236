// A local APNs endpoint for tests, the demo and the simulator: HTTP/2 cleartext (h2c, prior
// knowledge) on 127.0.0.1, answering MDM pushes the way api.push.apple.com does — the same
// header checks and the same reason strings — and "delivering" each accepted push to listeners
// (simulated devices) unless it expired first.
//
// Like APNs, it stores only the latest push per offline device and topic, delivers it when the
// device comes back, and drops it (recorded in `expired`) if its apns-expiration has passed by
// then; apns-expiration 0 means "now or never", so an offline device never sees such a push.
//
// Stricter than Apple on one point, on purpose: a body that is not `{"mdm":"<string>"}` is
// refused (400 BadPayload), because a device would silently ignore it and the bug would hide.

import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface MockPush {
  /** Lowercase hex, as in the request path. */
  token: string;
  topic: string;
  pushType: string;
  /** Epoch seconds; 0 means "do not store". */
  expiration: number;
  priority: number;
  body: { mdm: string };
  apnsId: string;
  /** The status the mock answered. */
  status: number;
  /** Mock clock, milliseconds since the epoch, when the push arrived. */
  receivedAt: number;
}

export interface MockResponse {
  status: number;
  reason?: string;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
}

export interface SetResponseOptions {
  /** Answer this way for the next `times` pushes to the token, then normally again. Default: until cleared. */
  times?: number;
}

export interface RejectedRequest {
  method: string;
  path: string;
  status: number;
  reason: string;
}

export interface ApnsMockOptions {
  port?: number;
  host?: string;
  /** The mock's clock for expiration, milliseconds since the epoch. */
  now?: () => number;
  /** When set, pushes for another topic are refused with 400 TopicDisallowed, as Apple does
   * for a topic the provider certificate does not cover. */
  topic?: string;
}

export interface ApnsMock {
  /** `http://127.0.0.1:<port>`, for LOCKWARDEN_APNS_URL. */
  url: string;
  /** Every push that passed validation, in arrival order, whatever the answer. */
  received: MockPush[];
  /** Pushes handed to devices (onPush listeners). */
  delivered: MockPush[];
  /** Pushes accepted but never delivered: their expiration passed first. */
  expired: MockPush[];
  /** Requests refused by validation. */
  rejected: RejectedRequest[];
  /** HTTP/2 sessions (connections) accepted so far. */
  readonly sessions: number;
  onPush(listener: (push: MockPush) => void): () => void;
  setResponse(token: string, response: MockResponse | null, options?: SetResponseOptions): void;
  /** An offline device gets nothing until it comes back; then the latest stored push, if still valid. */
  setOnline(token: string, online: boolean): void;
  /** Sends GOAWAY on every open session (as APNs does on shutdown or idle timeout). */
  goAway(): void;
  close(): Promise<void>;
}

const TOKEN_PATH = /^\/3\/device\/([^/?]*)$/;
const HEX = /^[0-9a-f]+$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_PAYLOAD_BYTES = 4096;
const PUSH_TYPES = new Set(['alert', 'background', 'location', 'voip', 'complication', 'fileprovider', 'mdm', 'liveactivity', 'pushtotalk']);

class Refusal {
  constructor(readonly status: number, readonly reason: string) {}
}

export async function startApnsMock(options: ApnsMockOptions = {}): Promise<ApnsMock> {
  const now = options.now ?? Date.now;
  const received: MockPush[] = [];
  const delivered: MockPush[] = [];
  const expired: MockPush[] = [];
  const rejected: RejectedRequest[] = [];
  const listeners = new Set<(push: MockPush) => void>();
  const scripted = new Map<string, { response: MockResponse; remaining: number }>();
  const offline = new Set<string>();
  /** Latest push per offline token and topic. */
  const stored = new Map<string, MockPush>();
  const openSessions = new Set<http2.ServerHttp2Session>();
  let sessions = 0;

  const deliver = (push: MockPush) => {
    if (push.expiration !== 0 && push.expiration * 1000 < now()) {
      expired.push(push);
      return;
    }
    delivered.push(push);
    for (const listener of listeners) listener(push);
  };

  const accept = (push: MockPush) => {
    if (!offline.has(push.token)) {
      deliver(push);
      return;
    }
    const key = `${push.token}|${push.topic}`;
    // APNs keeps one notification per device and topic: the newer replaces the older.
    const previous = stored.get(key);
    if (previous) expired.push(previous);
    stored.delete(key);
    if (push.expiration === 0) expired.push(push);
    else stored.set(key, push);
  };

  const server = http2.createServer();
  server.on('session', (session) => {
    sessions += 1;
    openSessions.add(session);
    session.on('close', () => openSessions.delete(session));
    session.on('error', () => openSessions.delete(session));
  });

  server.on('stream', (stream, headers) => {
    const method = String(headers[':method'] ?? '');
    const path = String(headers[':path'] ?? '');
    const apnsId = typeof headers['apns-id'] === 'string' ? headers['apns-id'] : randomUUID();
    const answer = (status: number, reason?: string, extra: Record<string, string> = {}) => {
      if (stream.destroyed || stream.closed) return;
      const body = reason === undefined ? '' : JSON.stringify(status === 410 ? { reason, timestamp: now() } : { reason });
      stream.respond({ ':status': status, 'apns-id': apnsId, ...(body && { 'content-type': 'application/json' }), ...extra });
      stream.end(body);
    };
    const refuse = (refusal: Refusal) => {
      rejected.push({ method, path, status: refusal.status, reason: refusal.reason });
      answer(refusal.status, refusal.reason);
    };
    stream.on('error', () => undefined);

    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_PAYLOAD_BYTES + 1) chunks.push(chunk);
    });
    stream.on('end', () => {
      try {
        const push = validate(method, path, headers, apnsId, Buffer.concat(chunks), size);
        const script = scripted.get(push.token);
        const response = script?.response ?? { status: 200 };
        if (script && script.remaining !== Infinity && --script.remaining <= 0) scripted.delete(push.token);
        push.status = response.status;
        received.push(push);
        if (response.status === 200) {
          answer(200);
          accept(push);
        } else {
          answer(response.status, response.reason ?? defaultReason(response.status),
            response.retryAfter === undefined ? {} : { 'retry-after': String(response.retryAfter) });
        }
      } catch (err) {
        if (err instanceof Refusal) refuse(err);
        else answer(500, 'InternalServerError');
      }
    });
  });

  function validate(method: string, path: string, headers: http2.IncomingHttpHeaders, apnsId: string, body: Buffer, size: number): MockPush {
    if (method !== 'POST') throw new Refusal(405, 'MethodNotAllowed');
    const match = TOKEN_PATH.exec(path);
    if (!match) throw new Refusal(404, 'BadPath');
    const token = match[1] ?? '';
    if (token === '') throw new Refusal(400, 'MissingDeviceToken');
    // Device tokens are 32 bytes today; Apple warns they may grow, so only "hex, whole bytes".
    if (!HEX.test(token) || token.length % 2 !== 0 || token.length < 64 || token.length > 200) throw new Refusal(400, 'BadDeviceToken');
    if (headers['apns-id'] !== undefined && !UUID.test(String(headers['apns-id']))) throw new Refusal(400, 'BadMessageId');

    const pushType = headers['apns-push-type'];
    if (typeof pushType !== 'string' || !PUSH_TYPES.has(pushType)) throw new Refusal(400, 'InvalidPushType');
    const topic = headers['apns-topic'];
    if (typeof topic !== 'string' || topic === '') throw new Refusal(400, 'MissingTopic');
    // An MDM push certificate covers exactly one topic, com.apple.mgmt.…, and only the mdm type.
    if (pushType !== 'mdm' || !topic.startsWith('com.apple.mgmt.')) throw new Refusal(400, 'TopicDisallowed');
    if (options.topic !== undefined && topic !== options.topic) throw new Refusal(400, 'TopicDisallowed');

    const priorityText = headers['apns-priority'];
    const priority = priorityText === undefined ? 10 : Number(priorityText);
    if (![1, 5, 10].includes(priority) || !/^\d+$/.test(String(priorityText ?? '10'))) throw new Refusal(400, 'BadPriority');
    const expirationText = headers['apns-expiration'];
    if (expirationText !== undefined && !/^\d{1,12}$/.test(String(expirationText))) throw new Refusal(400, 'BadExpirationDate');
    // Without the header Apple stores the push for some time; the mock reads that as "no expiry".
    const expiration = expirationText === undefined ? Number.MAX_SAFE_INTEGER : Number(expirationText);

    if (size === 0) throw new Refusal(400, 'PayloadEmpty');
    if (size > MAX_PAYLOAD_BYTES) throw new Refusal(413, 'PayloadTooLarge');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new Refusal(400, 'BadPayload');
    }
    const mdm = (parsed as { mdm?: unknown } | null)?.mdm;
    if (typeof mdm !== 'string' || mdm === '') throw new Refusal(400, 'BadPayload');

    return { token: token.toLowerCase(), topic, pushType, expiration, priority, body: { mdm }, apnsId, status: 0, receivedAt: now() };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    received,
    delivered,
    expired,
    rejected,
    get sessions() {
      return sessions;
    },
    onPush(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setResponse(token, response, setOptions) {
      const key = token.toLowerCase();
      if (response === null) scripted.delete(key);
      else scripted.set(key, { response, remaining: setOptions?.times ?? Infinity });
    },
    setOnline(token, online) {
      const key = token.toLowerCase();
      if (!online) {
        offline.add(key);
        return;
      }
      offline.delete(key);
      for (const [storeKey, push] of [...stored]) {
        if (push.token !== key) continue;
        stored.delete(storeKey);
        deliver(push);
      }
    },
    goAway() {
      for (const session of openSessions) {
        session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0, Buffer.from(JSON.stringify({ reason: 'Shutdown' })));
      }
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of openSessions) session.close();
      // A client that keeps its session open must not hold the test run hostage.
      const force = setTimeout(() => { for (const session of openSessions) session.destroy(); }, 1000);
      force.unref();
      await closed;
      clearTimeout(force);
    },
  };
}

function defaultReason(status: number): string {
  switch (status) {
    case 400: return 'BadDeviceToken';
    case 403: return 'BadCertificate';
    case 410: return 'Unregistered';
    case 413: return 'PayloadTooLarge';
    case 429: return 'TooManyRequests';
    case 500: return 'InternalServerError';
    case 503: return 'ServiceUnavailable';
    default: return 'InternalServerError';
  }
}

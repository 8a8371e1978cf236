// APNs provider client for MDM pushes, on Node's http2 (DESIGN.md "Contract": APNs).
//
// Apple asks providers to keep one connection open and reuse it for many notifications, and
// treats rapid connect/disconnect as a denial-of-service attack; so the client holds one
// long-lived HTTP/2 session per (origin, client certificate), multiplexes pushes over it as
// concurrent streams, and opens a new session only when the old one is gone (GOAWAY, socket
// error, idle close) or the certificate changed.
//
// Apple's production host is api.push.apple.com; the MDM push certificate issued at
// identity.apple.com is a production certificate, so sandbox is for completeness only. A
// LOCKWARDEN_APNS_URL such as `http://127.0.0.1:2197` points at the simulator's endpoint:
// http:// speaks h2c with prior knowledge, https:// speaks TLS.

import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2';
import type { MdmLogger } from '../../mdm/handler.ts';

export const APNS_PRODUCTION_URL = 'https://api.push.apple.com';
export const APNS_SANDBOX_URL = 'https://api.sandbox.push.apple.com';

/**
 * How long APNs keeps trying to deliver a push to a device that is offline: 7 days.
 *
 * An MDM push carries no command, only "check in": late delivery is never wrong (the device
 * fetches whatever is queued then, possibly nothing), while a push that expires too soon
 * strands a device that was off over a long weekend until something pushes it again — iOS
 * devices do not poll. APNs stores only the latest notification per device and topic, so a
 * long lifetime costs no pile-up. A week covers holidays and dead batteries; beyond that the
 * scheduler's re-push is the better tool. 0 means "deliver now or never" in Apple's terms.
 */
export const DEFAULT_EXPIRATION_SECONDS = 7 * 24 * 60 * 60;

export interface ApnsCertificate {
  certificatePem: string;
  /** Unencrypted PKCS#8 or PKCS#1 PEM. */
  privateKeyPem: string;
}

export interface ApnsPush {
  /** The device token, raw bytes (as TokenUpdate delivers it) or hex. */
  token: Buffer | string;
  topic: string;
  pushMagic: string;
  /** Epoch seconds; overrides the client's default lifetime. 0: do not store. */
  expiration?: number;
}

export interface ApnsResult {
  status: number;
  /** Apple's reason string (`BadDeviceToken`, `Unregistered`, `TooManyRequests`, …) on errors. */
  reason?: string;
  apnsId?: string;
  /** Seconds, from a Retry-After header (delta-seconds or HTTP-date). */
  retryAfter?: number;
  /** For 410: when APNs last knew the token to be valid (milliseconds since the epoch). */
  timestamp?: number;
}

/** The push never got an HTTP answer: connection refused, TLS failure, GOAWAY, timeout. */
export class ApnsConnectionError extends Error {
  override readonly name = 'ApnsConnectionError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ApnsClientOptions {
  /** Origin to push to; default Apple's production host. */
  url?: string;
  /** TLS client certificate; none for a local mock (and for the dev fallback). */
  certificate?: ApnsCertificate;
  /** Extra trust anchors for an https:// mock (PEM). */
  ca?: string;
  /** Default push lifetime in seconds (see DEFAULT_EXPIRATION_SECONDS). */
  expirationSeconds?: number;
  /** Upper bound on concurrent streams per session; the server's SETTINGS may lower it. */
  maxConcurrentStreams?: number;
  /** Per push, from the request to the end of the answer. */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** A session without a stream for this long is closed (a later push opens a new one). */
  idleTimeoutMs?: number;
  now?: () => number;
  log?: MdmLogger;
}

export interface ApnsClient {
  send(push: ApnsPush): Promise<ApnsResult>;
  /** Pushes after this use the new certificate (a new session); the old session drains and closes. */
  setCertificate(certificate: ApnsCertificate | undefined): void;
  /** Sessions opened so far (for metrics and tests). */
  readonly sessionsOpened: number;
  close(): Promise<void>;
}

// Apple lets a provider open up to ~1000 streams once the certificate is verified; a few
// hundred in flight already saturate one connection's TLS throughput.
const DEFAULT_MAX_STREAMS = 500;
const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000;
/** Apple's limit for a notification payload; ours is a few dozen bytes. */
const MAX_PAYLOAD_BYTES = 4096;
const HEX_TOKEN = /^[0-9a-f]+$/i;

interface SessionEntry {
  key: string;
  session: ClientHttp2Session;
  active: number;
  waiters: Array<() => void>;
  maxStreams: number;
  /** No new streams: GOAWAY received, errored or closing. */
  dead: boolean;
  closed: Promise<void>;
}

export function createApnsClient(options: ApnsClientOptions = {}): ApnsClient {
  const origin = new URL(options.url ?? APNS_PRODUCTION_URL).origin;
  if (!/^https?:$/.test(new URL(origin).protocol)) throw new Error(`APNs URL must be http:// or https://, got ${origin}`);
  const now = options.now ?? Date.now;
  const expirationSeconds = options.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < 0) throw new Error('expirationSeconds must be a whole number ≥ 0');
  const maxStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const log = options.log;

  let certificate = options.certificate;
  let closing = false;
  let sessionsOpened = 0;
  const sessions = new Map<string, SessionEntry>();

  const keyFor = (cert: ApnsCertificate | undefined) =>
    `${origin}|${cert ? createHash('sha256').update(cert.certificatePem).update(cert.privateKeyPem).digest('hex') : 'no-certificate'}`;
  let currentKey = keyFor(certificate);
  const sessionKey = () => currentKey;

  function retire(entry: SessionEntry): void {
    entry.dead = true;
    if (sessions.get(entry.key) === entry) sessions.delete(entry.key);
    // Waiters would never get a stream on this session: let them take a new one.
    for (const wake of entry.waiters.splice(0)) wake();
  }

  function open(key: string): SessionEntry {
    const tls = origin.startsWith('https:')
      ? { ...(certificate && { cert: certificate.certificatePem, key: certificate.privateKeyPem }), ...(options.ca && { ca: options.ca }) }
      : {};
    const session = http2.connect(origin, { ...tls, settings: { enablePush: false } });
    sessionsOpened += 1;
    const entry: SessionEntry = {
      key, session, active: 0, waiters: [], maxStreams, dead: false,
      closed: new Promise((resolve) => session.once('close', resolve)),
    };
    const connectTimer = setTimeout(() => {
      session.destroy(new ApnsConnectionError(`no HTTP/2 connection to ${origin} within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    connectTimer.unref();
    session.once('connect', () => clearTimeout(connectTimer));
    session.on('remoteSettings', (settings) => {
      const advertised = settings.maxConcurrentStreams;
      entry.maxStreams = advertised === undefined ? maxStreams : Math.max(1, Math.min(maxStreams, advertised));
      for (const wake of entry.waiters.splice(0)) wake();
    });
    session.on('goaway', (errorCode, lastStreamId, opaqueData) => {
      // Apple puts a JSON reason in the GOAWAY (`{"reason":"Shutdown"}`, `BadCertificate`, …).
      const reason = opaqueData && opaqueData.length > 0 ? opaqueData.toString('utf8').slice(0, 200) : undefined;
      log?.info({ origin, errorCode, lastStreamId, ...(reason && { reason }) }, 'APNs closed the connection (GOAWAY); the next push reconnects');
      retire(entry);
    });
    session.on('error', (err) => {
      log?.warn({ origin, err: err.message }, 'APNs connection failed');
      retire(entry);
    });
    session.once('close', () => {
      clearTimeout(connectTimer);
      retire(entry);
    });
    session.setTimeout(idleTimeoutMs, () => {
      if (entry.active === 0) void shutdown(entry);
    });
    // Idle sessions do not keep the process alive; one with pushes in flight does.
    session.unref();
    sessions.set(key, entry);
    return entry;
  }

  async function acquire(): Promise<SessionEntry> {
    for (;;) {
      if (closing) throw new ApnsConnectionError('the APNs client is closed');
      const key = sessionKey();
      let entry = sessions.get(key);
      if (!entry || entry.dead || entry.session.destroyed || entry.session.closed) entry = open(key);
      if (entry.active < entry.maxStreams) {
        entry.active += 1;
        if (entry.active === 1) entry.session.ref();
        return entry;
      }
      const waiting = entry;
      await new Promise<void>((resolve) => waiting.waiters.push(resolve));
    }
  }

  function release(entry: SessionEntry): void {
    entry.active -= 1;
    if (entry.active === 0 && !entry.session.destroyed) entry.session.unref();
    entry.waiters.shift()?.();
    // A session replaced by a new certificate closes once its last stream is done.
    if (entry.active === 0 && sessions.get(entry.key) !== entry) void shutdown(entry);
  }

  /**
   * Graceful close: streams in flight finish (each is bounded by the request timeout), then the
   * socket closes. A session already torn down by a socket error may never emit 'close' (Node
   * destroys it through the stream that saw the error), so "destroyed" counts as closed.
   */
  function shutdown(entry: SessionEntry): Promise<void> {
    retire(entry);
    const { session } = entry;
    if (session.destroyed) return Promise.resolve();
    if (!session.closed) session.close();
    return new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        session.destroy();
        resolve();
      }, requestTimeoutMs + 1_000);
      force.unref();
      void entry.closed.then(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  function requestOn(entry: SessionEntry, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<ApnsResult> {
    return new Promise<ApnsResult>((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = entry.session.request(headers, { endStream: false });
      } catch (err) {
        retire(entry);
        reject(new ApnsConnectionError(`cannot open a stream to ${origin}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      let response: (IncomingHttpHeaders & IncomingHttpStatusHeader) | undefined;
      let ended = false;
      let streamError: Error | undefined;
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('response', (h) => { response = h; });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 64 * 1024) chunks.push(chunk);
      });
      stream.on('end', () => { ended = true; });
      stream.on('error', (err) => { streamError = err; });
      stream.setTimeout(requestTimeoutMs, () => {
        streamError = new ApnsConnectionError(`APNs did not answer within ${requestTimeoutMs} ms`);
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
      stream.on('close', () => {
        if (response && ended) {
          resolve(toResult(response, Buffer.concat(chunks)));
          return;
        }
        const detail = streamError?.message ?? `stream closed with code ${stream.rstCode ?? '?'}`;
        reject(new ApnsConnectionError(`no answer from ${origin}: ${detail}`, { cause: streamError }));
      });
      stream.end(body);
    });
  }

  async function send(push: ApnsPush): Promise<ApnsResult> {
    const hex = typeof push.token === 'string' ? push.token.toLowerCase() : push.token.toString('hex');
    if (hex.length === 0 || !HEX_TOKEN.test(hex)) throw new TypeError('the device token must be non-empty bytes or hex');
    const body = Buffer.from(JSON.stringify({ mdm: push.pushMagic }), 'utf8');
    if (body.length > MAX_PAYLOAD_BYTES) throw new TypeError('the push magic is too long for an APNs payload');
    const expiration = push.expiration ?? (expirationSeconds === 0 ? 0 : Math.floor(now() / 1000) + expirationSeconds);
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/3/device/${hex}`,
      'apns-push-type': 'mdm',
      'apns-topic': push.topic,
      'apns-expiration': String(expiration),
      'apns-priority': '10',
      'content-length': body.length,
    };
    // A stream refused by a session that was going away (GOAWAY, a socket closed under us) was
    // never processed; one more try on a fresh session is safe, and a duplicate MDM push is
    // harmless anyway (the device checks in once more).
    for (let attempt = 1; ; attempt += 1) {
      const entry = await acquire();
      try {
        return await requestOn(entry, headers, body);
      } catch (err) {
        if (attempt >= 2 || closing || !(err instanceof ApnsConnectionError) || !(entry.dead || entry.session.destroyed)) throw err;
      } finally {
        release(entry);
      }
    }
  }

  return {
    send,
    setCertificate(next) {
      certificate = next;
      currentKey = keyFor(next);
      for (const entry of [...sessions.values()]) {
        if (entry.key === sessionKey()) continue;
        sessions.delete(entry.key);
        if (entry.active === 0) void shutdown(entry);
      }
    },
    get sessionsOpened() {
      return sessionsOpened;
    },
    async close() {
      closing = true;
      const entries = [...sessions.values()];
      await Promise.all(entries.map(shutdown));
    },
  };
}

function toResult(headers: IncomingHttpHeaders & IncomingHttpStatusHeader, body: Buffer): ApnsResult {
  const status = Number(headers[':status'] ?? 0);
  const result: ApnsResult = { status };
  const apnsId = headers['apns-id'];
  if (typeof apnsId === 'string') result.apnsId = apnsId;
  const retryAfter = parseRetryAfter(headers['retry-after']);
  if (retryAfter !== undefined) result.retryAfter = retryAfter;
  if (body.length > 0) {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { reason?: unknown; timestamp?: unknown };
      if (typeof parsed.reason === 'string') result.reason = parsed.reason;
      if (typeof parsed.timestamp === 'number') result.timestamp = parsed.timestamp;
    } catch {
      // Not Apple's JSON (a proxy's error page): the status alone must do.
    }
  }
  return result;
}

/** Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** At most the first 8 hex characters of a token: enough to correlate logs, useless to an attacker. */
export function tokenPrefix(token: Buffer | string): string {
  return (typeof token === 'string' ? token : token.toString('hex')).slice(0, 8);
}

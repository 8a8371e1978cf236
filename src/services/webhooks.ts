// MicroMDM-compatible webhooks (DESIGN "Contract", decision 9): after a check-in or a command
// report has been handled successfully, an event goes to LOCKWARDEN_WEBHOOK_URL in MicroMDM's JSON
// shape, so existing webhook consumers (MDMDirector, micromdm-webhook-blueprints, NanoMDM
// consumers) keep working. A wrapper around the protocol handlers, like metrics and the
// certificate binding; delivery is a bounded in-memory queue worked off the request path, so a
// slow or dead receiver never delays or fails a device.
//
// The event shape follows MicroMDM's docs/Webhooks.md (topic, event_id, created_at,
// checkin_event {udid, url_params, raw_payload}, acknowledge_event {udid, status, command_uuid,
// url_params, raw_payload}) and NanoMDM's service/webhook (the same fields plus `enrollment_id`
// for User Enrollment and the topics mdm.SetBootstrapToken, mdm.GetBootstrapToken,
// mdm.UserAuthenticate, mdm.DeclarativeManagement, mdm.GetToken). `raw_payload` is the request
// body, base64 (Go's encoding of []byte), except that UnlockToken and BootstrapToken never leave:
// a body holding either is decoded, stripped of those keys at any depth and re-encoded.

import { createHmac, randomUUID } from 'node:crypto';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { CheckinMessage } from '../mdm/checkin-messages.ts';
import type { CommandReport } from '../mdm/command-report.ts';
import type { CheckinHandler, CommandHandler, MdmLogger, RequestContext } from '../mdm/handler.ts';
import { decodePlist, encodePlist } from '../plist/plist-codec.ts';

/** Keys removed from every raw_payload, at any depth (decision 9; UnlockToken also comes back in RequestUnlockToken results). */
export const REDACTED_PAYLOAD_KEYS: readonly string[] = ['UnlockToken', 'BootstrapToken'];

/**
 * Base64 HMAC-SHA256 of the exact body bytes. MicroMDM's own webhooks were never signed (its issue
 * #487 proposed a header and was closed); NanoMDM added signing in v0.9.0. This name is the one
 * lockwarden documents; a receiver verifies it over the raw body before parsing the JSON.
 */
export const SIGNATURE_HEADER = 'X-Hmac-Signature';

export type WebhookTopic =
  | 'mdm.Authenticate'
  | 'mdm.TokenUpdate'
  | 'mdm.CheckOut'
  | 'mdm.SetBootstrapToken'
  | 'mdm.GetBootstrapToken'
  | 'mdm.UserAuthenticate'
  | 'mdm.DeclarativeManagement'
  | 'mdm.GetToken'
  | 'mdm.Connect'
  | 'lockwarden.compliance';

export interface WebhookCheckinEvent {
  udid?: string;
  /** User Enrollment's EnrollmentID (NanoMDM's addition); absent for device enrollments. */
  enrollment_id?: string;
  /** MicroMDM passes the CheckInURL's query parameters; lockwarden has none to pass, so null as in MicroMDM's examples. */
  url_params: Record<string, string> | null;
  /** The request body (redacted), base64. */
  raw_payload: string;
}

export interface WebhookAcknowledgeEvent {
  udid?: string;
  enrollment_id?: string;
  status: string;
  /** "" for Idle, as MicroMDM and NanoMDM send it. */
  command_uuid: string;
  url_params: Record<string, string> | null;
  raw_payload: string;
}

/** lockwarden's own: a device's passcode compliance state changed (one per history entry). */
export interface WebhookComplianceEvent {
  udid: string;
  from_state: string | null;
  to_state: string;
  reason_code: string;
  reason: string;
  /** RFC 3339; set while in grace and when non-compliant. */
  grace_deadline: string | null;
  /** RFC 3339: when the state changed. */
  at: string;
}

export interface WebhookEvent {
  topic: WebhookTopic;
  event_id: string;
  /** RFC 3339, UTC. */
  created_at: string;
  checkin_event?: WebhookCheckinEvent;
  acknowledge_event?: WebhookAcknowledgeEvent;
  compliance_event?: WebhookComplianceEvent;
}

export type WebhookResult = 'delivered' | 'retried' | 'failed' | 'rejected' | 'dropped';

export interface WebhookSenderOptions {
  /** http:// or https://; credentials in the URL (user:pass@) become a Basic Authorization header. */
  url: string;
  /** HMAC-SHA256 key; unset means unsigned bodies (MicroMDM's default). */
  secret?: string;
  log: MdmLogger;
  fetchImpl?: typeof fetch;
  /** Clock for rate-limiting the "events dropped" warning (created_at is the request's ctx.now). */
  now?: () => number;
  /** Events waiting for delivery (not counting the one in flight); the oldest is dropped beyond it. Default 1000. */
  maxQueue?: number;
  /** Bytes of waiting events (raw_payload plus an allowance for the JSON around it); the oldest are dropped beyond it. Default 32 MiB. */
  maxQueueBytes?: number;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Further attempts after the first, on network errors, timeouts, 408, 429 and 5xx. Default 3. */
  retries?: number;
  /** First backoff; doubles per retry (with jitter), capped at maxBackoffMs. Default 1 s. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Registry to add lockwarden_webhooks_total{result} to. */
  registry?: Registry;
}

export interface WebhookStats {
  queued: number;
  inFlight: boolean;
  delivered: number;
  failed: number;
  rejected: number;
  dropped: number;
}

export interface WebhookSender {
  /** Queues an event; never throws, never waits. */
  send(event: WebhookEvent): void;
  /** Resolves when nothing is queued or in flight (tests, orderly shutdown). */
  flush(): Promise<void>;
  /** Stops accepting events, waits up to drainMs (default 2000) for the queue, then drops the rest. */
  close(options?: { drainMs?: number }): Promise<void>;
  stats(): WebhookStats;
}

/** Serialised by the worker, not on the device's request (JSON.stringify measured ≈ 4 µs an Idle event). */
interface Queued {
  event: WebhookEvent;
  /** What the queue's byte bound counts: raw_payload's length plus the JSON around it, roughly. */
  size: number;
}

const ENVELOPE_BYTES = 512;

const METRIC_NAME = 'lockwarden_webhooks_total';
/** During an outage every Idle poll would log; each kind of warning goes out at most this often, with a count. */
const WARNING_INTERVAL_MS = 60_000;

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const { log } = options;
  const fetchImpl = options.fetchImpl ?? fetch;
  const now = options.now ?? Date.now;
  const maxQueue = Math.max(1, options.maxQueue ?? 1000);
  const maxQueueBytes = Math.max(1, options.maxQueueBytes ?? 32 * 1024 * 1024);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retries = Math.max(0, options.retries ?? 3);
  const backoffMs = options.backoffMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const target = parseTarget(options.url);
  // Never log the URL's credentials or query (a receiver may take its token there).
  const where = target.url.origin + target.url.pathname;
  const secret = options.secret === undefined || options.secret === '' ? undefined : Buffer.from(options.secret, 'utf8');
  const counter = options.registry ? webhookCounter(options.registry) : undefined;

  if (target.url.protocol === 'http:' && !isLoopback(target.url.hostname)) {
    log.warn({ webhook: where }, 'webhook URL is plain http: events (enrollment and command data) cross the network unencrypted');
  }

  const queue: Queued[] = [];
  let queuedBytes = 0;
  let running = false;
  let closed = false;
  let inFlight: AbortController | undefined;
  let cancelSleep: (() => void) | undefined;
  const idleWaiters: (() => void)[] = [];
  /** Why the last attempt failed, for the "given up" warning. */
  let lastFailure = '';
  const totals = { delivered: 0, failed: 0, rejected: 0, dropped: 0 };
  const warnings = new Map<string, { last: number; suppressed: number }>();

  const count = (result: WebhookResult, n = 1) => {
    if (result !== 'retried') totals[result] += n;
    counter?.inc({ result }, n);
  };

  const warn = (msg: string, fields: Record<string, unknown>, n = 1) => {
    const t = now();
    const state = warnings.get(msg) ?? { last: Number.NEGATIVE_INFINITY, suppressed: 0 };
    warnings.set(msg, state);
    state.suppressed += n;
    if (t - state.last < WARNING_INTERVAL_MS) return;
    log.warn({ webhook: where, ...fields, events: state.suppressed, queued: queue.length }, msg);
    state.last = t;
    state.suppressed = 0;
  };

  const dropped = (n: number, why: string) => {
    count('dropped', n);
    warn(`webhook events dropped: ${why}`, {}, n);
  };

  const settleIdle = () => {
    if (running || queue.length > 0) return;
    for (const resolve of idleWaiters.splice(0)) resolve();
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done() {
        clearTimeout(timer);
        cancelSleep = undefined;
        resolve();
      }
      cancelSleep = done;
    });

  const attempt = async (item: Queued, body: Buffer): Promise<'ok' | 'retry' | 'permanent'> => {
    const controller = new AbortController();
    inFlight = controller;
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    timer.unref?.();
    try {
      const headers: Record<string, string> = {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'lockwarden-webhook',
        ...target.headers,
      };
      if (secret) headers[SIGNATURE_HEADER] = createHmac('sha256', secret).update(body).digest('base64');
      const response = await fetchImpl(target.href, {
        method: 'POST',
        headers,
        body,
        signal: controller.signal,
        // A POST followed across a redirect may lose its body or its method; treat it as a misconfiguration.
        redirect: 'manual',
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return 'ok';
      const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
      lastFailure = `HTTP ${response.status}`;
      if (!retryable) warn('webhook receiver refused an event; it is not retried', { topic: item.event.topic, event_id: item.event.event_id, status: response.status });
      else log.debug({ webhook: where, topic: item.event.topic, event_id: item.event.event_id, status: response.status }, 'webhook receiver failed');
      return retryable ? 'retry' : 'permanent';
    } catch (err) {
      lastFailure = describe(err);
      log.debug({ webhook: where, topic: item.event.topic, event_id: item.event.event_id, err: lastFailure }, 'webhook delivery failed');
      return 'retry';
    } finally {
      clearTimeout(timer);
      inFlight = undefined;
    }
  };

  const deliver = async (item: Queued) => {
    let body: Buffer;
    try {
      body = Buffer.from(JSON.stringify(item.event), 'utf8');
    } catch (err) {
      log.error({ topic: item.event.topic, err: describe(err) }, 'webhook event could not be serialised');
      return count('failed');
    }
    for (let n = 0; ; n++) {
      const outcome = await attempt(item, body);
      if (outcome === 'ok') return count('delivered');
      if (outcome === 'permanent') return count('rejected');
      if (n >= retries || closed) {
        warn('webhook event given up', { topic: item.event.topic, event_id: item.event.event_id, attempts: n + 1, lastFailure });
        return count('failed');
      }
      count('retried');
      const base = Math.min(maxBackoffMs, backoffMs * 2 ** n);
      await sleep(base / 2 + Math.random() * (base / 2));
      if (closed) return count('failed');
    }
  };

  // One delivery at a time, in order: consumers see Authenticate before TokenUpdate, as MicroMDM's
  // single webhook worker delivers them.
  const run = async () => {
    running = true;
    try {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        queuedBytes -= item.size;
        await deliver(item);
      }
    } finally {
      running = false;
      settleIdle();
    }
  };

  const send = (event: WebhookEvent): void => {
    if (closed) return dropped(1, 'the sender is closed');
    const raw = event.checkin_event?.raw_payload ?? event.acknowledge_event?.raw_payload ?? '';
    const size = raw.length + ENVELOPE_BYTES;
    if (size > maxQueueBytes) return dropped(1, `an event of ${size} bytes exceeds the queue's byte limit`);
    queue.push({ event, size });
    queuedBytes += size;
    let overflow = 0;
    while (queue.length > maxQueue || queuedBytes > maxQueueBytes) {
      const oldest = queue.shift()!;
      queuedBytes -= oldest.size;
      overflow++;
    }
    if (overflow > 0) dropped(overflow, 'the queue is full (receiver down or too slow); oldest events dropped');
    if (!running) {
      run().catch((err: unknown) => log.error({ webhook: where, err: describe(err) }, 'webhook worker stopped'));
    }
  };

  const flush = (): Promise<void> => {
    if (!running && queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  };

  const close = async (closeOptions: { drainMs?: number } = {}): Promise<void> => {
    if (closed) return;
    const drainMs = closeOptions.drainMs ?? 2000;
    if (drainMs > 0 && (running || queue.length > 0)) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([flush(), new Promise<void>((resolve) => { timer = setTimeout(resolve, drainMs); })]);
      clearTimeout(timer);
    }
    closed = true;
    const left = queue.length;
    queue.length = 0;
    queuedBytes = 0;
    if (left > 0) dropped(left, 'the server is shutting down');
    cancelSleep?.();
    inFlight?.abort(new Error('webhook sender closed'));
    await flush();
  };

  return { send, flush, close, stats: () => ({ queued: queue.length, inFlight: running, ...totals }) };
}

// ---------------------------------------------------------------------------------------------
// The wrappers

const CHECKIN_TOPICS: Record<CheckinMessage['MessageType'], WebhookTopic> = {
  Authenticate: 'mdm.Authenticate',
  TokenUpdate: 'mdm.TokenUpdate',
  CheckOut: 'mdm.CheckOut',
  SetBootstrapToken: 'mdm.SetBootstrapToken',
  GetBootstrapToken: 'mdm.GetBootstrapToken',
  UserAuthenticate: 'mdm.UserAuthenticate',
  DeclarativeManagement: 'mdm.DeclarativeManagement',
  GetToken: 'mdm.GetToken',
};

/** Emits one event per check-in message the inner handler accepted (a refusal or an error emits nothing). */
export function webhookCheckins(sender: WebhookSender, inner: CheckinHandler): CheckinHandler {
  const after = <M extends CheckinMessage, R>(call: (ctx: RequestContext, message: M) => Promise<R>) =>
    async (ctx: RequestContext, message: M): Promise<R> => {
      const result = await call(ctx, message);
      emitSafely(sender, ctx, () => checkinEvent(ctx, message));
      return result;
    };
  return {
    authenticate: after((ctx, m) => inner.authenticate(ctx, m)),
    tokenUpdate: after((ctx, m) => inner.tokenUpdate(ctx, m)),
    checkOut: after((ctx, m) => inner.checkOut(ctx, m)),
    setBootstrapToken: after((ctx, m) => inner.setBootstrapToken(ctx, m)),
    getBootstrapToken: after((ctx, m) => inner.getBootstrapToken(ctx, m)),
    userAuthenticate: after((ctx, m) => inner.userAuthenticate(ctx, m)),
    declarativeManagement: after((ctx, m) => inner.declarativeManagement(ctx, m)),
    getToken: after((ctx, m) => inner.getToken(ctx, m)),
  };
}

/** Emits an mdm.Connect event for every report (Idle included, as MicroMDM does) the inner handler accepted. */
export function webhookCommands(sender: WebhookSender, inner: CommandHandler): CommandHandler {
  return {
    async reportAndNext(ctx, report) {
      const next = await inner.reportAndNext(ctx, report);
      emitSafely(sender, ctx, () => acknowledgeEvent(ctx, report));
      return next;
    },
  };
}

function emitSafely(sender: WebhookSender, ctx: RequestContext, build: () => WebhookEvent): void {
  try {
    sender.send(build());
  } catch (err) {
    // The device's request succeeded; a webhook problem must not turn it into a failure.
    ctx.log.error({ err: describe(err) }, 'webhook event could not be built');
  }
}

// Plain assignments in MicroMDM's key order (udid, status, command_uuid, url_params, raw_payload),
// not conditional spreads: this runs on every Idle poll when webhooks are on, and the spreads
// measured ≈ 4 µs of the ≈ 5.5 µs an Idle event took to build (Node 20).

export function checkinEvent(ctx: RequestContext, message: CheckinMessage): WebhookEvent {
  const ids = message as { UDID?: string; EnrollmentID?: string };
  const checkin = {} as WebhookCheckinEvent;
  if (ids.UDID !== undefined) checkin.udid = ids.UDID;
  if (ids.EnrollmentID !== undefined) checkin.enrollment_id = ids.EnrollmentID;
  checkin.url_params = null;
  checkin.raw_payload = redactedPayload(ctx, () => checkinDict(message));
  return { topic: CHECKIN_TOPICS[message.MessageType], event_id: randomUUID(), created_at: rfc3339(ctx.now), checkin_event: checkin };
}

export function acknowledgeEvent(ctx: RequestContext, report: CommandReport): WebhookEvent {
  const ack = {} as WebhookAcknowledgeEvent;
  if (report.udid !== undefined) ack.udid = report.udid;
  if (report.enrollmentId !== undefined) ack.enrollment_id = report.enrollmentId;
  ack.status = report.status;
  ack.command_uuid = report.commandUuid ?? '';
  ack.url_params = null;
  ack.raw_payload = redactedPayload(ctx, () => reportDict(report));
  return { topic: 'mdm.Connect', event_id: randomUUID(), created_at: rfc3339(ctx.now), acknowledge_event: ack };
}

export function complianceEvent(change: { deviceId: string; at: number; fromState: string | null; toState: string; reasonCode: string; reason: string; graceDeadline: number | null }): WebhookEvent {
  return {
    topic: 'lockwarden.compliance',
    event_id: randomUUID(),
    created_at: rfc3339(change.at),
    compliance_event: {
      udid: change.deviceId,
      from_state: change.fromState,
      to_state: change.toState,
      reason_code: change.reasonCode,
      reason: change.reason,
      grace_deadline: change.graceDeadline === null ? null : rfc3339(change.graceDeadline),
      at: rfc3339(change.at),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Redaction

const REDACTED_NAMES = REDACTED_PAYLOAD_KEYS.map((k) => Buffer.from(k, 'utf8'));
const AMPERSAND = 0x26;

/**
 * The body as the device sent it, base64, unless it holds a redacted key: then a re-encoded copy
 * without it. Fast path: plist-reader refuses comments and CDATA inside <key>, so a key name is in
 * the bytes literally or through a character/entity reference ("&"); a body with neither is
 * forwarded untouched without decoding (every Idle). Without ctx.body, the message is re-encoded.
 */
export function redactedPayload(ctx: Pick<RequestContext, 'body' | 'log'>, fallback: () => Record<string, unknown>): string {
  const body = ctx.body;
  if (body !== undefined && body.length > 0) {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (!REDACTED_NAMES.some((name) => bytes.includes(name)) && !bytes.includes(AMPERSAND)) return bytes.toString('base64');
    let decoded: unknown;
    try {
      decoded = decodePlist(bytes, { maxBytes: Number.MAX_SAFE_INTEGER });
    } catch {
      // Cannot happen for a body the endpoint accepted; if it does, the message is all we can send.
      decoded = undefined;
    }
    if (decoded !== undefined) {
      // Only a body that really held a secret is rewritten; "BootstrapTokenAllowed" or an "&amp;"
      // in a device name keep the device's exact bytes.
      return stripSecrets(decoded) ? Buffer.from(encodePlist(decoded), 'utf8').toString('base64') : bytes.toString('base64');
    }
  }
  const dict = fallback();
  stripSecrets(dict);
  return Buffer.from(encodePlist(dict), 'utf8').toString('base64');
}

/** Deletes every REDACTED_PAYLOAD_KEYS key in place, at any depth; true if one was found. */
export function stripSecrets(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Date) return false;
  let found = false;
  if (Array.isArray(value)) {
    for (const item of value) found = stripSecrets(item) || found;
    return found;
  }
  const dict = value as Record<string, unknown>;
  for (const key of Object.keys(dict)) {
    if (REDACTED_PAYLOAD_KEYS.includes(key)) {
      delete dict[key];
      found = true;
    } else {
      found = stripSecrets(dict[key]) || found;
    }
  }
  return found;
}

function checkinDict(message: CheckinMessage): Record<string, unknown> {
  const { raw, ...fields } = message as CheckinMessage & { endpoint?: unknown };
  const dict: Record<string, unknown> = { ...fields, ...raw };
  delete dict.endpoint;
  if (message.MessageType === 'GetToken' && message.TokenParameters) {
    const { raw: paramsRaw, ...params } = message.TokenParameters;
    dict.TokenParameters = { ...params, ...paramsRaw };
  }
  return dict;
}

function reportDict(report: CommandReport): Record<string, unknown> {
  const dict: Record<string, unknown> = { ...report.response };
  const envelope: [string, unknown][] = [
    ['UDID', report.udid],
    ['EnrollmentID', report.enrollmentId],
    ['UserID', report.userId],
    ['EnrollmentUserID', report.enrollmentUserId],
    ['UserShortName', report.userShortName],
    ['UserLongName', report.userLongName],
    ['NotOnConsole', report.notOnConsole],
    ['Status', report.status],
    ['CommandUUID', report.commandUuid],
    ['ErrorChain', report.errorChain],
  ];
  for (const [key, value] of envelope) if (value !== undefined) dict[key] = value;
  return dict;
}

// ---------------------------------------------------------------------------------------------

function webhookCounter(registry: Registry): Counter<'result'> {
  const existing = registry.getSingleMetric(METRIC_NAME);
  if (existing) return existing as Counter<'result'>;
  return new Counter({ name: METRIC_NAME, help: 'Webhook events by result (delivered, retried, failed, rejected, dropped)', labelNames: ['result'], registers: [registry] });
}

interface Target {
  url: URL;
  /** The URL without credentials (fetch refuses URLs that carry them). */
  href: string;
  headers: Record<string, string>;
}

function parseTarget(text: string): Target {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('the webhook URL must be http:// or https://');
  const headers: Record<string, string> = {};
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const clean = new URL(url.href);
  clean.username = '';
  clean.password = '';
  return { url: clean, href: clean.href, headers };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  return String(err);
}

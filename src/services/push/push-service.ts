// Waking devices: "check in" pushes through APNs for a set of enrollments, with the habits APNs
// and a fleet need — coalescing, retries with backoff, forgetting dead tokens, counting.
//
// Coalescing. A device woken once fetches every queued command (it keeps connecting until the
// queue is empty), so a burst of pushes to one device — ten commands enqueued in a loop — needs
// one push. A request that arrives while a push to the same enrollment is in flight, or within
// `coalesceWindowMs` of the last one starting, is answered `coalesced`. Because the device may
// already have drained its queue before that request's command was enqueued, a coalesced
// request also owes the device one trailing push at the end of the window: a burst of any size
// costs at most two pushes per window, and no command waits for a wake-up that never comes.
// Coalescing is per process; replicas each push at most once per window.
//
// Retries. 429 and 5xx (and a connection that never answered) are retried with exponential
// backoff and jitter, honouring Retry-After, for a bounded number of attempts: a push is often
// requested inside an admin API call, so the whole budget stays within a few seconds, and a
// Retry-After beyond `maxRetryDelayMs` fails the push at once rather than holding the caller.
//
// Dead tokens. 410 (Unregistered, ExpiredToken) and 400 BadDeviceToken mean the token will
// never work again; it is forgotten, but only if it is still the stored one, so a TokenUpdate
// that raced the push keeps its fresh token (which then gets the push instead).
//
// Secrets. The push magic authenticates the push to the device and the token addresses it:
// neither is ever logged; logs carry the first 8 hex characters of the token at most.

import type { MdmLogger } from '../../mdm/handler.ts';
import type { Store } from '../../store/database.ts';
import type { PushTarget } from '../../store/types.ts';
import type { Metrics } from '../metrics.ts';
import { ApnsConnectionError, tokenPrefix } from './apns-client.ts';
import type { ApnsClient, ApnsResult } from './apns-client.ts';

export const PUSH_RESULTS = ['sent', 'coalesced', 'dead-token', 'failed', 'no-token'] as const;
export type PushResult = (typeof PUSH_RESULTS)[number];

export interface PushOutcome {
  enrollmentId: string;
  result: PushResult;
  /** APNs's HTTP status of the last attempt, when there was an answer. */
  status?: number;
  /** Apple's reason, or ours (`TopicMismatch`, `ConnectionError`, `RetryAfterTooLong`). */
  reason?: string;
  apnsId?: string;
  /** APNs calls made for this outcome. */
  attempts?: number;
  /** Seconds APNs asked us to wait, when that is why the push failed. */
  retryAfter?: number;
}

export interface PushSummary {
  counts: Record<PushResult, number>;
  /** One per distinct requested id, in request order. */
  results: PushOutcome[];
}

export interface PushService {
  push(enrollmentIds: readonly string[]): Promise<PushSummary>;
  /** Cancels owed trailing pushes and waits for pushes in flight. */
  close(): Promise<void>;
}

export interface PushServiceOptions {
  store: Pick<Store, 'enrollments'>;
  client: Pick<ApnsClient, 'send'>;
  metrics: Pick<Metrics, 'pushes'>;
  /** The push certificate's topic (a getter follows a certificate import); an enrollment
   * registered under another topic cannot be pushed. */
  topic: string | (() => string);
  log: MdmLogger;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Runs `run` after `ms`; returns a cancel function. */
  schedule?: (ms: number, run: () => void) => () => void;
  /** Uniform in [0, 1), for jitter. */
  random?: () => number;
  coalesceWindowMs?: number;
  /** APNs calls per push, first one included. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A Retry-After longer than this fails the push instead of waiting. */
  maxRetryDelayMs?: number;
  /** Enrollments pushed at once by one push() call (the client bounds streams separately). */
  concurrency?: number;
}

const DEFAULTS = {
  coalesceWindowMs: 2_000,
  maxAttempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryDelayMs: 30_000,
  concurrency: 64,
};

/** Per-enrollment coalescing state. */
interface Lane {
  /** When the latest push to this enrollment started. */
  startedAt?: number;
  inFlight?: Promise<PushOutcome>;
  /** Earliest coalesced request not yet covered by a push that started after it. */
  owedSince?: number;
  cancelTrailing?: () => void;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const realSchedule = (ms: number, run: () => void) => {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

export function createPushService(options: PushServiceOptions): PushService {
  const { store, client, metrics, log } = options;
  const currentTopic = typeof options.topic === 'function' ? options.topic : () => options.topic as string;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const schedule = options.schedule ?? realSchedule;
  const random = options.random ?? Math.random;
  const settings = {
    coalesceWindowMs: options.coalesceWindowMs ?? DEFAULTS.coalesceWindowMs,
    maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULTS.maxAttempts),
    baseDelayMs: options.baseDelayMs ?? DEFAULTS.baseDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULTS.maxDelayMs,
    maxRetryDelayMs: options.maxRetryDelayMs ?? DEFAULTS.maxRetryDelayMs,
    concurrency: Math.max(1, options.concurrency ?? DEFAULTS.concurrency),
  };

  const lanes = new Map<string, Lane>();
  let sweepAbove = 1024;
  const trailingRuns = new Set<Promise<void>>();
  let closed = false;

  const count = (outcome: PushOutcome) => metrics.pushes.inc({ result: outcome.result });

  /** Exponential backoff with "equal jitter": never less than half the step, so a retry never
   * hammers at once, yet replicas retrying together spread out. */
  function retryDelay(failedAttempt: number, retryAfter: number | undefined): number {
    const step = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** (failedAttempt - 1));
    const jittered = step / 2 + random() * (step / 2);
    return Math.max(jittered, (retryAfter ?? 0) * 1000);
  }

  function logFields(target: PushTarget, extra: Record<string, unknown> = {}) {
    return { enrollmentId: target.enrollmentId, token: tokenPrefix(target.pushToken), ...extra };
  }

  /** One push with its retries; never rejects. */
  async function deliver(target: PushTarget, followedFreshToken = false): Promise<PushOutcome> {
    const { enrollmentId } = target;
    const topic = currentTopic();
    if (target.topic !== topic) {
      log.warn(logFields(target, { enrollmentTopic: target.topic, certificateTopic: topic }),
        'enrollment registered under another APNs topic: the device must re-enroll with the current push certificate');
      return { enrollmentId, result: 'failed', reason: 'TopicMismatch', attempts: 0 };
    }
    for (let attempt = 1; ; attempt += 1) {
      let answer: ApnsResult | undefined;
      let error: unknown;
      try {
        answer = await client.send({ token: target.pushToken, topic, pushMagic: target.pushMagic });
      } catch (err) {
        error = err;
      }
      const detail = {
        attempts: attempt,
        ...(answer && { status: answer.status }),
        ...(answer?.reason !== undefined && { reason: answer.reason }),
        ...(answer?.apnsId !== undefined && { apnsId: answer.apnsId }),
      };

      if (answer?.status === 200) {
        log.debug(logFields(target, detail), 'push sent');
        return { enrollmentId, result: 'sent', ...detail };
      }
      if (answer && (answer.status === 410 || (answer.status === 400 && answer.reason === 'BadDeviceToken'))) {
        return forgetToken(target, detail, followedFreshToken);
      }
      const retryable = error instanceof ApnsConnectionError || (answer !== undefined && (answer.status === 429 || answer.status >= 500));
      if (!retryable || attempt >= settings.maxAttempts) {
        const reason = detail.reason ?? (error instanceof ApnsConnectionError ? 'ConnectionError' : error !== undefined ? 'ClientError' : undefined);
        log.warn(logFields(target, { ...detail, ...(reason && { reason }), ...(error !== undefined && { err: (error as Error).message }) }), 'push failed');
        return { enrollmentId, result: 'failed', ...detail, ...(reason && { reason }) };
      }
      const delay = retryDelay(attempt, answer?.retryAfter);
      if (delay > settings.maxRetryDelayMs) {
        log.warn(logFields(target, { ...detail, retryAfter: answer?.retryAfter }), 'push failed: APNs asked to wait longer than we hold a push');
        return { enrollmentId, result: 'failed', ...detail, reason: detail.reason ?? 'RetryAfterTooLong', ...(answer?.retryAfter !== undefined && { retryAfter: answer.retryAfter }) };
      }
      log.debug(logFields(target, { ...detail, retryInMs: Math.round(delay) }), 'push will be retried');
      await sleep(delay);
    }
  }

  async function forgetToken(target: PushTarget, detail: Omit<PushOutcome, 'enrollmentId' | 'result'>, followedFreshToken: boolean): Promise<PushOutcome> {
    const { enrollmentId } = target;
    const outcome: PushOutcome = { enrollmentId, result: 'dead-token', ...detail };
    let forgotten = false;
    try {
      forgotten = await store.enrollments.markPushTokenDead(enrollmentId, target.pushToken);
    } catch (err) {
      log.error(logFields(target, { ...detail, err: (err as Error).message }), 'APNs rejected the push token, but it could not be forgotten');
      return outcome;
    }
    if (forgotten) {
      log.info(logFields(target, detail), 'APNs rejected the push token: forgotten until the device sends a new one');
      return outcome;
    }
    // The stored token is no longer the one we pushed: a TokenUpdate replaced it meanwhile.
    if (!followedFreshToken) {
      const [fresh] = await store.enrollments.pushTargets([enrollmentId]).catch(() => []);
      if (fresh && !fresh.pushToken.equals(target.pushToken)) return deliver(fresh, true);
    }
    return outcome;
  }

  function laneFor(enrollmentId: string): Lane {
    let lane = lanes.get(enrollmentId);
    if (!lane) {
      if (lanes.size >= sweepAbove) sweep();
      lane = {};
      lanes.set(enrollmentId, lane);
    }
    return lane;
  }

  /** Forgets lanes with nothing in flight, nothing owed and an elapsed window: the map stays
   * proportional to recent activity, not to the fleet. Amortised O(1) per new lane. */
  function sweep(): void {
    const t = now();
    for (const [id, lane] of lanes) {
      if (!lane.inFlight && !lane.cancelTrailing && lane.owedSince === undefined &&
        (lane.startedAt === undefined || t - lane.startedAt >= settings.coalesceWindowMs)) lanes.delete(id);
    }
    sweepAbove = Math.max(1024, lanes.size * 2);
  }

  function start(lane: Lane, target: PushTarget): Promise<PushOutcome> {
    lane.startedAt = now();
    lane.owedSince = undefined;
    const running: Promise<PushOutcome> = deliver(target).finally(() => {
      if (lane.inFlight === running) lane.inFlight = undefined;
    });
    lane.inFlight = running;
    return running;
  }

  function pushTarget(target: PushTarget): Promise<PushOutcome> | PushOutcome {
    const lane = laneFor(target.enrollmentId);
    const t = now();
    const recent = lane.startedAt !== undefined && t - lane.startedAt < settings.coalesceWindowMs;
    if (!lane.inFlight && !recent) return start(lane, target);
    lane.owedSince ??= t;
    if (!lane.cancelTrailing) {
      const due = Math.max(0, (lane.startedAt ?? t) + settings.coalesceWindowMs - t);
      lane.cancelTrailing = schedule(due, () => {
        lane.cancelTrailing = undefined;
        const run = trailingPush(target.enrollmentId, lane).finally(() => trailingRuns.delete(run));
        trailingRuns.add(run);
      });
    }
    return { enrollmentId: target.enrollmentId, result: 'coalesced' };
  }

  /** The push a coalesced request is owed, at the end of the window. */
  async function trailingPush(enrollmentId: string, lane: Lane): Promise<void> {
    while (lane.inFlight && !closed) await lane.inFlight;
    if (closed || lane.owedSince === undefined) return;
    let target: PushTarget | undefined;
    try {
      [target] = await store.enrollments.pushTargets([enrollmentId]);
    } catch (err) {
      log.error({ enrollmentId, err: (err as Error).message }, 'trailing push skipped: push target lookup failed');
      return;
    }
    // The token died or the enrollment checked out meanwhile; or a push started while we looked.
    if (!target || closed || lane.owedSince === undefined || lane.inFlight) {
      if (!target) lane.owedSince = undefined;
      return;
    }
    count(await start(lane, target));
  }

  async function push(enrollmentIds: readonly string[]): Promise<PushSummary> {
    if (closed) throw new Error('the push service is closed');
    const ids = [...new Set(enrollmentIds)];
    if (ids.length === 0) return { counts: Object.fromEntries(PUSH_RESULTS.map((result) => [result, 0])) as Record<PushResult, number>, results: [] };
    const targets = new Map((await store.enrollments.pushTargets(ids)).map((target) => [target.enrollmentId, target]));
    const results: PushOutcome[] = new Array<PushOutcome>(ids.length);
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const index = next++;
        const id = ids[index]!;
        const target = targets.get(id);
        const outcome = target ? await pushTarget(target) : { enrollmentId: id, result: 'no-token' as const };
        count(outcome);
        results[index] = outcome;
      }
    };
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, ids.length) }, worker));
    const counts = Object.fromEntries(PUSH_RESULTS.map((result) => [result, 0])) as Record<PushResult, number>;
    for (const outcome of results) counts[outcome.result] += 1;
    return { counts, results };
  }

  return {
    push,
    async close() {
      closed = true;
      for (const lane of lanes.values()) {
        lane.cancelTrailing?.();
        lane.cancelTrailing = undefined;
      }
      await Promise.all([...lanes.values()].map((lane) => lane.inFlight));
      await Promise.all([...trailingRuns]);
    },
  };
}

// Passcode compliance as the server runs it: policy delivery (what to send), the processor (what
// came back), and the periodic sweep that ties them to the clock — it takes in whatever the
// in-memory notifications missed (a restart, another replica's device, a lost wake-up) and polls
// the devices whose next ProfileList or SecurityInfo is due, in bounded batches. The poll times
// carry their own per-device jitter (compliance/poll-schedule.ts), so the sweep's interval only
// bounds how late a poll can be.
import type { MdmLogger } from '../mdm/handler.ts';
import type { ComplianceProcessor } from './compliance-processor.ts';
import type { PolicyDelivery } from './policy-delivery.ts';

export interface SweepResult {
  /** Results and status reports taken in. */
  processed: number;
  /** Devices reconciled because a poll was due. */
  polled: number;
}

export interface ComplianceService {
  delivery: PolicyDelivery;
  processor: ComplianceProcessor;
  /** One sweep now: take in what is waiting, then poll the devices that are due. */
  sweep(): Promise<SweepResult>;
  /** Resolves when delivery and the processor have nothing queued (what devices answer later is not waited for). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface ComplianceServiceOptions {
  delivery: PolicyDelivery;
  processor: ComplianceProcessor;
  log: MdmLogger;
  /** 0: no timer (sweep() by hand). */
  sweepIntervalMs: number;
  /** Devices polled per batch, and batches per sweep. */
  pollBatch?: number;
  maxPollBatches?: number;
}

export function startComplianceService(options: ComplianceServiceOptions): ComplianceService {
  const { delivery, processor, log } = options;
  const pollBatch = options.pollBatch ?? 500;
  const maxPollBatches = options.maxPollBatches ?? 20;
  let sweeping: Promise<SweepResult> | undefined;

  const sweepOnce = async (): Promise<SweepResult> => {
    const processed = await processor.processPending();
    let polled = 0;
    // Bounded: a sweep never holds the delivery worker for the whole fleet; the rest waits for the next.
    for (let i = 0; i < maxPollBatches; i++) {
      const count = await delivery.pollDue({ limit: pollBatch });
      polled += count;
      if (count < pollBatch) break;
    }
    return { processed, polled };
  };

  const sweep = () => {
    sweeping ??= sweepOnce().finally(() => { sweeping = undefined; });
    return sweeping;
  };

  const timer = options.sweepIntervalMs > 0
    ? setInterval(() => {
        sweep().catch((err: unknown) => log.error({ err }, 'compliance sweep failed'));
      }, options.sweepIntervalMs)
    : undefined;
  timer?.unref();

  return {
    delivery,
    processor,
    sweep,
    async settled() {
      // Each can give the other work (a result asks for a re-install; a reconcile is taken in later).
      do {
        await processor.idle();
        await delivery.idle();
      } while (processor.busy || delivery.busy);
    },
    async close() {
      if (timer) clearInterval(timer);
      await sweeping?.catch(() => undefined);
      await delivery.close();
      await processor.close();
    },
  };
}

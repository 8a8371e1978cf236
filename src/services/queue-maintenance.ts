// Keeps the command queue bounded (a known failure of other MDMs: queues that grow until the
// database falls over): commands past their expiry are marked Expired, and finished queue rows
// older than the retention period are deleted, in batches, on a timer.
import type { Store } from '../store/database.ts';
import type { MdmLogger } from '../mdm/handler.ts';

export interface QueueMaintenanceOptions {
  store: Store;
  retentionMs: number;
  intervalMs?: number;
  log: MdmLogger;
  now?: () => number;
}

export interface QueueMaintenance {
  /** One pass now; the timer calls this too. */
  runOnce(): Promise<{ expired: number; prunedRows: number; prunedCommands: number }>;
  stop(): void;
}

export function startQueueMaintenance(options: QueueMaintenanceOptions): QueueMaintenance {
  const now = options.now ?? Date.now;
  let running = false;
  const runOnce = async () => {
    const at = now();
    const expired = await options.store.commands.expire(at);
    const pruned = await options.store.commands.prune({ completedBefore: at - options.retentionMs });
    if (expired > 0 || pruned.queueRows > 0) {
      options.log.info({ expired, prunedRows: pruned.queueRows, prunedCommands: pruned.commands }, 'command queue maintenance');
    }
    return { expired, prunedRows: pruned.queueRows, prunedCommands: pruned.commands };
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    runOnce()
      .catch((err: unknown) => options.log.error({ err }, 'command queue maintenance failed'))
      .finally(() => { running = false; });
  }, options.intervalMs ?? 15 * 60_000);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}

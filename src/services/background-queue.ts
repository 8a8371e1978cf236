// Work asked for on a request path and done after it: keys are collected in memory (adding one is
// a Map write, no I/O, never awaited by the caller) and worked off in batches, one batch at a time,
// from the next turn of the event loop. A key added twice before its turn is worked once.

export interface BackgroundQueue<V> {
  /** Queues `key` (the later `value` wins); ignored after close(). */
  add(key: string, value: V): void;
  /** Resolves when nothing is queued or being worked on. */
  idle(): Promise<void>;
  /** Stops accepting keys and waits for what is queued. */
  close(): Promise<void>;
  /** Something is queued or being worked on. */
  readonly busy: boolean;
}

export function createBackgroundQueue<V>(
  work: (batch: Array<[string, V]>) => Promise<void>,
  options: { batchSize: number; onError: (err: unknown) => void },
): BackgroundQueue<V> {
  const pending = new Map<string, V>();
  let running: Promise<void> | undefined;
  let closed = false;

  const drain = async () => {
    while (pending.size > 0) {
      const batch: Array<[string, V]> = [];
      for (const entry of pending) {
        batch.push(entry);
        if (batch.length >= options.batchSize) break;
      }
      for (const [key] of batch) pending.delete(key);
      try {
        await work(batch);
      } catch (err) {
        options.onError(err);
      }
    }
  };

  const kick = () => {
    if (running) return;
    running = new Promise<void>((resolve) => setImmediate(resolve)).then(drain).finally(() => {
      running = undefined;
      if (pending.size > 0) kick();
    });
  };

  const idle = async () => {
    while (running) await running;
  };

  return {
    add(key, value) {
      if (closed) return;
      pending.set(key, value);
      kick();
    },
    idle,
    async close() {
      closed = true;
      await idle();
    },
    get busy() {
      return running !== undefined || pending.size > 0;
    },
  };
}

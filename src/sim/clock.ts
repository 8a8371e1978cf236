// The simulated devices' sense of time. Real time by default; a test moves it forward with
// `advance` to cross a deadline (the 60-minute passcode grace, a push's apns-expiration) without
// waiting. The same clock can drive the local APNs mock (`startApnsMock({ now: clock.now })`),
// so a device and its "network" agree on what time it is.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export class VirtualClock implements Clock {
  #offset = 0;
  readonly #frozenAt: number | undefined;

  /**
   * Without `frozenAt`, time runs with the wall clock, shifted by everything `advance` added.
   * With it, time stands still at that instant and moves only by `advance` (unit tests).
   */
  constructor(options: { frozenAt?: number } = {}) {
    this.#frozenAt = options.frozenAt;
  }

  /** Bound, so it can be handed around as a plain function. */
  readonly now = (): number => (this.#frozenAt ?? Date.now()) + this.#offset;

  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a clock only moves forward: advance(${ms})`);
    this.#offset += ms;
    return this.now();
  }
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

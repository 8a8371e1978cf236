// When to ask a device again. A fleet enrolled or re-assigned in one go would otherwise ask for
// SecurityInfo in one burst every interval, so each device's interval is stretched or shrunk by
// a fixed fraction derived from its id: deterministic (no Math.random; the same device always
// gets the same offset) and spread evenly over ±spread.

export interface PollSchedule {
  /** Regular SecurityInfo / ProfileList interval. */
  intervalMs: number;
  /** Jitter as a fraction of the interval, 0 ≤ spread < 1: each device waits interval × (1 ± spread). */
  spread: number;
  /** How long after a grace deadline to ask again; covers clock skew between server and device. */
  afterGraceMs: number;
}

export const DEFAULT_POLL_SCHEDULE: PollSchedule = {
  intervalMs: 6 * 60 * 60_000,
  spread: 0.1,
  afterGraceMs: 60_000,
};

export function checkSchedule(schedule: PollSchedule): PollSchedule {
  if (!Number.isFinite(schedule.intervalMs) || schedule.intervalMs <= 0) {
    throw new RangeError(`poll interval must be a positive number of milliseconds, not ${schedule.intervalMs}`);
  }
  if (!Number.isFinite(schedule.spread) || schedule.spread < 0 || schedule.spread >= 1) {
    throw new RangeError(`poll jitter spread must be at least 0 and below 1, not ${schedule.spread}`);
  }
  if (!Number.isFinite(schedule.afterGraceMs) || schedule.afterGraceMs < 0) {
    throw new RangeError(`afterGraceMs must be zero or more, not ${schedule.afterGraceMs}`);
  }
  return schedule;
}

/**
 * A number in [-1, 1) from the seed: FNV-1a over the UTF-16 code units, then MurmurHash3's
 * final mix, because FNV alone leaves ids that differ only in their last characters close together.
 */
export function jitterUnit(seed: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) / 0x1_0000_0000) * 2 - 1;
}

/** This device's interval: within [interval × (1 − spread), interval × (1 + spread)]. */
export function jitteredInterval(seed: string, schedule: PollSchedule): number {
  const { intervalMs, spread } = checkSchedule(schedule);
  return Math.round(intervalMs * (1 + spread * jitterUnit(seed)));
}

/** The regular next poll after `last` (or right away when there was none), never before `now`. */
export function nextRegularPoll(seed: string, last: number | undefined, now: number, schedule: PollSchedule): number {
  if (last === undefined) return now;
  return Math.max(now, last + jitteredInterval(seed, schedule));
}

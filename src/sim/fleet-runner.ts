// A fleet of simulated devices enrolled against one lockwarden server and kept alive: they wake
// on pushes (through the local APNs mock, when the server pushes to it) and, as a fallback for a
// server that pushes elsewhere, on a timer, as a device that checks in now and then would.
// Used by `lockwarden simulate` and `lockwarden demo`; talks to the server over HTTP only.

import type { ApnsMock } from './apns-mock.ts';
import type { Clock } from './clock.ts';
import { deviceKind, PRESET_FOR_PLATFORM, PRESET_NAMES } from './device-kinds.ts';
import type { PresetName } from './device-kinds.ts';
import { startPushRouter } from './push-router.ts';
import type { PushRouter } from './push-router.ts';
import { SimulatedDevice } from './simulated-device.ts';

/** What `--mix` accepts: a platform (its usual device) or a preset by name. */
export const FLEET_KINDS: readonly string[] = [...Object.keys(PRESET_FOR_PLATFORM), ...PRESET_NAMES];

export function presetOf(kind: string): PresetName {
  if (Object.hasOwn(PRESET_FOR_PLATFORM, kind)) return PRESET_FOR_PLATFORM[kind as keyof typeof PRESET_FOR_PLATFORM];
  return deviceKind(kind as PresetName).name as PresetName;
}

/**
 * The passcodes a fleet's users have set, in turn: most conform to ordinary policies, some are
 * simple or short, some devices have none, so a policy has something to find.
 */
const USER_PASSCODES: readonly (string | undefined)[] = ['Kq7#mR2xLp9', '482913', 'Tr4vel-Mug-88', '1234', undefined, 'orchid-Lamp-5', '135790', 'aaaaaa'];

export interface FleetProgress {
  total: number;
  enrolled: number;
  failed: number;
  /** Enrolled devices by preset name. */
  byKind: Record<string, number>;
  pushes: number;
  commands: number;
  /** The latest enrollment failure, for the progress line. */
  lastError?: string;
}

export interface FleetRunOptions {
  /** The enrollment URL the server handed out (https://…/mdm/enroll?token=…). */
  enrollmentUrl: string;
  /** Where the server really listens (http://127.0.0.1:8080): the profile's https:// URLs are sent here. */
  serverUrl: string;
  /** One preset or platform name per device (see allocateFleet). */
  kinds: readonly string[];
  identity?: 'scep' | 'pkcs12' | 'alternate';
  /** Enrollments in flight at once (default 8): SCEP key generation is the slow part. */
  concurrency?: number;
  /** The local APNs mock the server pushes to; without one, devices only wake on the timer. */
  apns?: Pick<ApnsMock, 'onPush' | 'setOnline'>;
  /** Every device also wakes this often (default 60 s; 0 = never), jittered so they do not stampede. */
  pollIntervalMs?: number;
  clock?: Clock;
  onProgress?: (progress: FleetProgress) => void;
  signal?: AbortSignal;
}

export interface RunningFleet {
  devices: SimulatedDevice[];
  progress(): FleetProgress;
  /** Stops waking devices; the server keeps what they reported. */
  stop(): Promise<void>;
}

export async function runFleet(options: FleetRunOptions): Promise<RunningFleet> {
  const presets = options.kinds.map(presetOf);
  const devices: SimulatedDevice[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const router: PushRouter | undefined = options.apns ? startPushRouter(options.apns) : undefined;
  const progress: FleetProgress = { total: presets.length, enrolled: 0, failed: 0, byKind: {}, pushes: 0, commands: 0 };
  let stopped = false;
  const snapshot = (): FleetProgress => ({
    ...progress,
    byKind: { ...progress.byKind },
    pushes: devices.reduce((n, d) => n + d.received.pushes.length, 0),
    commands: devices.reduce((n, d) => n + d.received.commands.length, 0),
  });

  const enrollOne = async (index: number) => {
    const preset = presets[index]!;
    const passcode = USER_PASSCODES[index % USER_PASSCODES.length];
    const device = new SimulatedDevice({
      kind: preset,
      baseUrl: options.serverUrl,
      deviceName: `${deviceKind(preset).modelName} ${String(index + 1).padStart(3, '0')}`,
      ...(passcode !== undefined && { passcode }),
      ...(options.clock && { clock: options.clock }),
    });
    router?.add(device);
    const identity = options.identity === 'alternate' ? (index % 2 === 0 ? 'scep' : 'pkcs12') : (options.identity ?? 'scep');
    try {
      await device.enroll(options.enrollmentUrl, { identity });
      devices.push(device);
      progress.enrolled += 1;
      progress.byKind[preset] = (progress.byKind[preset] ?? 0) + 1;
      schedulePolling(device);
    } catch (err) {
      router?.remove(device);
      progress.failed += 1;
      progress.lastError = err instanceof Error ? err.message : String(err);
    }
    options.onProgress?.(snapshot());
  };

  const schedulePolling = (device: SimulatedDevice) => {
    const interval = options.pollIntervalMs ?? 60_000;
    if (interval <= 0) return;
    const next = () => {
      if (stopped) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        // A wake that fails (server restarting) is retried at the next tick, as a device would.
        void device.wake().catch(() => undefined).finally(next);
      }, interval * (0.5 + Math.random()));
      timer.unref();
      timers.add(timer);
    };
    next();
  };

  // A fixed number of workers taking the next index: bounded concurrency without a library.
  let cursor = 0;
  const worker = async () => {
    while (!stopped && !options.signal?.aborted && cursor < presets.length) await enrollOne(cursor++);
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));

  return {
    devices,
    progress: snapshot,
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await router?.settled();
      router?.close();
    },
  };
}

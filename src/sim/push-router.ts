// Delivers what the local APNs mock accepts to the simulated device it is addressed to: the one
// whose push token (lowercase hex, as in the APNs request path) matches. The mock already honours
// apns-expiration and holds pushes for devices that are offline; the router only routes.
//
// Wakes never overlap per device: SimulatedDevice.wake serialises them (a push that arrives during
// a wake becomes one more wake afterwards), because pushes are not the only thing that wakes a
// device — unlocking after a NotNow does too. The router keeps the promises so a test can wait
// until every wake it caused has finished.

import type { ApnsMock, MockPush } from './apns-mock.ts';
import type { SimulatedDevice } from './simulated-device.ts';

export interface PushRouter {
  add(device: SimulatedDevice): SimulatedDevice;
  remove(device: SimulatedDevice): void;
  /** Pushes that matched no device (a token the server kept after the device went away). */
  readonly unrouted: MockPush[];
  /** Wakes that failed (a bug or a dead server), with the device they belong to. */
  readonly failures: { device: SimulatedDevice; error: unknown }[];
  /** Resolves when no wake started by a push is running any more. */
  settled(): Promise<void>;
  close(): void;
}

export function startPushRouter(apns: Pick<ApnsMock, 'onPush' | 'setOnline'>): PushRouter {
  const devices = new Set<SimulatedDevice>();
  const byToken = new Map<string, SimulatedDevice>();
  const inFlight = new Set<Promise<void>>();
  const unrouted: MockPush[] = [];
  const failures: { device: SimulatedDevice; error: unknown }[] = [];

  // Tokens change (re-enrollment, a user channel opening), so a miss rebuilds the index.
  const find = (token: string): SimulatedDevice | undefined => {
    const cached = byToken.get(token);
    if (cached?.channelOfToken(token) !== undefined) return cached;
    byToken.clear();
    for (const device of devices) {
      for (const own of [device.pushToken, device.userPushToken]) if (own !== undefined) byToken.set(own, device);
    }
    return byToken.get(token);
  };

  const unsubscribe = apns.onPush((push) => {
    const device = find(push.token);
    if (!device) {
      unrouted.push(push);
      return;
    }
    const wake = device.receivePush(push).catch((error: unknown) => {
      failures.push({ device, error });
    });
    inFlight.add(wake);
    void wake.finally(() => inFlight.delete(wake));
  });

  return {
    add(device) {
      devices.add(device);
      device.connectPushNetwork(apns);
      return device;
    },
    remove(device) {
      devices.delete(device);
      byToken.clear();
    },
    unrouted,
    failures,
    async settled() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    close() {
      unsubscribe();
      devices.clear();
      byToken.clear();
    },
  };
}

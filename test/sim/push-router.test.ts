// The push router: each push the APNs mock delivers wakes the device whose token it names; pushes
// that arrive during a wake become one more wake, never a concurrent one.
import { describe, expect, it } from 'vitest';
import type { MockPush } from '../../src/sim/apns-mock.ts';
import { VirtualClock } from '../../src/sim/clock.ts';
import type { MdmResponse } from '../../src/sim/mdm-client.ts';
import { startPushRouter } from '../../src/sim/push-router.ts';
import { SimulatedDevice } from '../../src/sim/simulated-device.ts';
import type { MdmTransport } from '../../src/sim/simulated-device.ts';

function fakeApns() {
  const listeners = new Set<(push: MockPush) => void>();
  const online = new Map<string, boolean>();
  return {
    online,
    onPush(listener: (push: MockPush) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    setOnline(token: string, value: boolean) {
      online.set(token, value);
    },
    deliver(token: string, mdm: string) {
      const push: MockPush = { token, topic: 't', pushType: 'mdm', expiration: 0, priority: 10, body: { mdm }, apnsId: 'id', status: 200, receivedAt: 0 };
      for (const listener of listeners) listener(push);
    },
  };
}

async function device(kind: 'iphone' | 'mac', delayMs: number) {
  const idles: number[] = [];
  let inside = 0;
  let most = 0;
  const transport: MdmTransport = {
    checkIn: async (): Promise<MdmResponse> => ({ status: 200, body: Buffer.alloc(0) }),
    connect: async (): Promise<MdmResponse> => {
      inside += 1;
      most = Math.max(most, inside);
      idles.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      inside -= 1;
      return { status: 200, body: Buffer.alloc(0) };
    },
  };
  const d = new SimulatedDevice({ kind, clock: new VirtualClock() });
  d.attach(transport, { topic: 'com.apple.mgmt.External.t', accessRights: 8191, checkOutWhenRemoved: true, serverCapabilities: [], profile: { PayloadIdentifier: 'enroll', PayloadUUID: 'E', PayloadContent: [] } });
  await d.checkIn();
  return { device: d, idles, most: () => most };
}

describe('push router', () => {
  it('wakes the device the token names, and only it', async () => {
    const apns = fakeApns();
    const router = startPushRouter(apns);
    const a = await device('iphone', 1);
    const b = await device('mac', 1);
    router.add(a.device);
    router.add(b.device);
    apns.deliver(a.device.pushToken!, a.device.pushMagic!);
    await router.settled();
    expect(a.idles).toHaveLength(1);
    expect(b.idles).toHaveLength(0);
    expect(a.device.received.pushes).toHaveLength(1);
    apns.deliver('ab'.repeat(32), 'nobody');
    expect(router.unrouted).toHaveLength(1);
    router.close();
  });

  it('turns pushes during a wake into one more wake afterwards, never a concurrent one', async () => {
    const apns = fakeApns();
    const router = startPushRouter(apns);
    const a = await device('iphone', 30);
    router.add(a.device);
    for (let i = 0; i < 5; i++) apns.deliver(a.device.pushToken!, a.device.pushMagic!);
    await router.settled();
    expect(a.idles).toHaveLength(2);
    expect(a.most()).toBe(1);
    expect(a.device.received.pushes).toHaveLength(5);
    expect(router.failures).toEqual([]);
    router.close();
  });

  it('puts devices on the push network, so dropping off tells the APNs mock', async () => {
    const apns = fakeApns();
    const router = startPushRouter(apns);
    const a = await device('iphone', 1);
    router.add(a.device);
    a.device.dropOff();
    expect(apns.online.get(a.device.pushToken!)).toBe(false);
    apns.deliver(a.device.pushToken!, a.device.pushMagic!);
    await router.settled();
    expect(a.idles).toHaveLength(0);
    a.device.comeBack();
    expect(apns.online.get(a.device.pushToken!)).toBe(true);
    router.close();
  });

  it('finds a device again after its token changed', async () => {
    const apns = fakeApns();
    const router = startPushRouter(apns);
    const a = await device('iphone', 1);
    router.add(a.device);
    apns.deliver(a.device.pushToken!, a.device.pushMagic!);
    await router.settled();
    router.remove(a.device);
    apns.deliver(a.device.pushToken!, a.device.pushMagic!);
    await router.settled();
    expect(a.idles).toHaveLength(1);
    expect(router.unrouted).toHaveLength(1);
    router.close();
  });
});

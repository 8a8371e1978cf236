// Policy delivery on both databases: what reconcile sends for enrollment, a change, an
// unassignment, a device no policy can reach, and a device that already has what it needs; devices
// that get the same bytes share one command (and one audit event) and each is pushed once; changes
// reach only the devices they affect; the DDM channel serves the declaration and syncs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readProfileBytes } from '../../src/plist/mobileconfig.ts';
import { EFFECTIVE_PROFILE_IDENTIFIER, PLATFORM_NOT_KNOWN } from '../../src/services/policies.ts';
import type { Store } from '../../src/store/database.ts';
import { ADMIN, openWorld } from '../support/compliance-world.ts';
import type { World } from '../support/compliance-world.ts';
import { databases } from '../support/databases.ts';

const CORPORATE = { MinimumLength: 6, AllowSimple: false };
const types = (w: { commands: Array<{ requestType: string }> }) => w.commands.map((c) => c.requestType);

for (const database of databases) {
  describe.skipIf(!database.available)(`policy delivery (${database.name})`, () => {
    let store: Store;
    let world: World;

    beforeEach(async () => {
      store = await database.open();
      world = await openWorld(store);
    });
    afterEach(async () => {
      await world.close();
      expect(await world.audit.verify()).toMatchObject({ ok: true });
      await store.close();
    });

    const assignAll = async (policy: unknown = CORPORATE) => {
      const id = await world.createPolicy('Corporate', policy);
      expect(await world.policies.assign(ADMIN, id, { kind: 'all' })).toMatchObject({ ok: true, created: true });
      return id;
    };

    it('delivers the effective profile to an enrolled device, asks for proof, and pushes it once', async () => {
      await assignAll();
      await world.enroll('PHONE-1');
      const result = await world.delivery.reconcile(['PHONE-1']);
      expect(types(result)).toEqual(['InstallProfile', 'ProfileList', 'SecurityInfo']);
      expect(result.pushed).toEqual(['PHONE-1']);
      expect(world.pushes).toEqual([['PHONE-1']]);
      // The device's queue keeps the plan's order.
      expect((await world.pendingCommands('PHONE-1')).map((c) => c.requestType)).toEqual(['InstallProfile', 'ProfileList', 'SecurityInfo']);

      const install = await world.body('PHONE-1', result.commands[0]!.commandUuid);
      const profile = await readProfileBytes(install.Command.Payload as Uint8Array);
      expect(profile.signature).toBeUndefined();
      expect(profile.plist).toMatchObject({ PayloadIdentifier: EFFECTIVE_PROFILE_IDENTIFIER });
      expect((await world.body('PHONE-1', result.commands[1]!.commandUuid)).Command).toEqual({ RequestType: 'ProfileList', ManagedOnly: true });

      const record = await store.compliance.get('PHONE-1');
      expect(record).toMatchObject({
        platform: 'ios', channel: 'profile', state: 'pending-delivery', reasonCode: 'awaiting-result', profileManaged: true,
        desired: { kind: 'profile', identifier: EFFECTIVE_PROFILE_IDENTIFIER, since: world.now() },
        delivery: { command: 'InstallProfile', commandUuid: result.commands[0]!.commandUuid, resultStatus: null },
      });
      // Queued by 'system', each command with its audit event.
      const events = await world.audit.list({ limit: 100, order: 'asc', action: 'command.enqueue' });
      expect(events.map((e) => [e.actor, e.details.requestType, e.details.deviceIds])).toEqual([
        ['system', 'InstallProfile', ['PHONE-1']], ['system', 'ProfileList', ['PHONE-1']], ['system', 'SecurityInfo', ['PHONE-1']],
      ]);
    });

    it('sends nothing when the same bytes are already on their way, or confirmed', async () => {
      await assignAll();
      await world.enroll('PHONE-1');
      const first = await world.delivery.reconcile(['PHONE-1']);
      const again = await world.delivery.reconcile(['PHONE-1']);
      expect(again).toMatchObject({ devices: 1, commands: [], pushed: [] });

      world.advance(1000);
      const [install, list, info] = first.commands;
      await world.answer('PHONE-1', install!.commandUuid, 'Acknowledged');
      await world.answer('PHONE-1', list!.commandUuid, 'Acknowledged', await world.profileList('PHONE-1'));
      await world.answer('PHONE-1', info!.commandUuid, 'Acknowledged', world.securityInfo(true));
      await world.processor.processPending();
      await world.settle();
      world.pushes.length = 0;
      expect(await world.delivery.reconcile(['PHONE-1'])).toMatchObject({ commands: [], pushed: [] });
      expect(world.pushes).toEqual([]);
    });

    it('groups devices that get the same bytes into one command, and pushes each device once', async () => {
      // A 30-minute auto-lock is capped to 15 on iOS and kept on macOS: two distinct profiles.
      await assignAll({ ...CORPORATE, AutoLockTimeout: 30 });
      for (const id of ['PHONE-1', 'PHONE-2', 'PHONE-3']) await world.enroll(id);
      await world.enroll('MAC-1', { platform: 'macos', productName: 'Mac14,2', osVersion: '15.1' });
      const result = await world.delivery.reconcile(['PHONE-1', 'PHONE-2', 'MAC-1', 'PHONE-3']);
      const byType = (type: string) => result.commands.filter((c) => c.requestType === type).map((c) => [...c.deviceIds].sort());
      expect(byType('InstallProfile').sort()).toEqual([['MAC-1'], ['PHONE-1', 'PHONE-2', 'PHONE-3']]);
      expect(byType('ProfileList')).toEqual([['MAC-1', 'PHONE-1', 'PHONE-2', 'PHONE-3']]);
      // macOS reports no passcode compliance: it is not asked for it.
      expect(byType('SecurityInfo')).toEqual([['PHONE-1', 'PHONE-2', 'PHONE-3']]);
      expect(world.pushes).toHaveLength(1);
      expect([...world.pushes[0]!].sort()).toEqual(['MAC-1', 'PHONE-1', 'PHONE-2', 'PHONE-3']);
      expect(await world.audit.list({ limit: 100, action: 'command.enqueue' })).toHaveLength(4);
    });

    it('queues one command per kind for a fleet that gets the same bytes', async () => {
      await assignAll();
      const ids = Array.from({ length: 120 }, (_, i) => `PHONE-${String(i).padStart(3, '0')}`);
      for (const id of ids) await world.enroll(id);
      const result = await world.delivery.reconcile(ids);
      expect(result.commands.map((c) => [c.requestType, c.deviceIds.length])).toEqual([['InstallProfile', 120], ['ProfileList', 120], ['SecurityInfo', 120]]);
      expect(world.pushes.flat().sort()).toEqual(ids);
      expect((await store.compliance.countByState())['pending-delivery']).toBe(120);
    });

    it('delivers a new version when the policy changes, only to the devices the policy reaches', async () => {
      const sales = await world.createPolicy('Sales', CORPORATE);
      await world.policies.assign(ADMIN, sales, { kind: 'group', group: 'Sales' });
      await world.enroll('SELLER');
      await world.enroll('OTHER');
      await world.policies.setDeviceGroups(ADMIN, 'SELLER', ['Sales']);
      await world.settle();
      const seller = await store.compliance.get('SELLER');
      expect(seller).toMatchObject({ state: 'pending-delivery', desired: { kind: 'profile' } });
      expect(await store.compliance.get('OTHER')).toBeUndefined();

      world.pushes.length = 0;
      world.advance(60_000);
      expect(await world.policies.update(ADMIN, sales, { policy: { MinimumLength: 10, AllowSimple: false } })).toMatchObject({ ok: true });
      await world.settle();
      expect(world.pushes).toEqual([['SELLER']]);
      const updated = await store.compliance.get('SELLER');
      expect(updated!.desired.contentHash).not.toBe(seller!.desired.contentHash);
      expect(updated!.desired.since).toBe(world.now());
      expect(updated!.delivery!.commandUuid).not.toBe(seller!.delivery!.commandUuid);
      // The admin who changed it is who queued the commands.
      const last = (await world.audit.list({ limit: 1, action: 'command.enqueue' }))[0]!;
      expect(last.actor).toBe(ADMIN.id);
    });

    it('removes lockwarden\'s profile when nothing applies any more, and only its own', async () => {
      const corporate = await assignAll();
      await world.enroll('PHONE-1');
      const first = await world.delivery.reconcile(['PHONE-1']);
      world.advance(1000);
      await world.answer('PHONE-1', first.commands[0]!.commandUuid, 'Acknowledged');
      await world.answer('PHONE-1', first.commands[1]!.commandUuid, 'Acknowledged', await world.profileList('PHONE-1'));
      await world.processor.processPending();
      await world.settle();

      world.advance(1000);
      await world.policies.unassign(ADMIN, corporate, { kind: 'all' });
      await world.settle();
      const queued = await world.pendingCommands('PHONE-1');
      const removal = queued.find((c) => c.requestType === 'RemoveProfile')!;
      expect((await world.body('PHONE-1', removal.uuid)).Command).toEqual({ RequestType: 'RemoveProfile', Identifier: EFFECTIVE_PROFILE_IDENTIFIER });
      expect(queued.map((c) => c.requestType)).toEqual(['SecurityInfo', 'RemoveProfile', 'ProfileList']);
      expect(await store.compliance.get('PHONE-1')).toMatchObject({ state: 'unknown', reasonCode: 'no-policy', desired: { kind: 'none' }, profileManaged: true });

      // Not twice while it is on its way; not at all once the device has removed it.
      expect(types(await world.delivery.reconcile(['PHONE-1']))).toEqual([]);
      world.advance(1000);
      await world.answer('PHONE-1', removal.uuid, 'Acknowledged');
      await world.processor.processPending();
      expect(await store.compliance.get('PHONE-1')).toMatchObject({ profileManaged: false });
      expect(types(await world.delivery.reconcile(['PHONE-1']))).toEqual([]);

      // A device lockwarden never installed on gets no RemoveProfile.
      await world.enroll('PHONE-2');
      expect(types(await world.delivery.reconcile(['PHONE-2']))).toEqual([]);
      expect(await store.compliance.get('PHONE-2')).toMatchObject({ state: 'unknown', profileManaged: false });
    });

    it('sends nothing where no passcode policy can go, and says why', async () => {
      await assignAll();
      await world.enroll('TV-1', { platform: 'tvos', productName: 'AppleTV14,1', osVersion: '18.1' });
      await world.enroll('ODD-1', { platform: null, productName: 'Unknown1,1' });
      const result = await world.delivery.reconcile(['TV-1', 'ODD-1']);
      expect(result.commands).toEqual([]);
      expect(world.pushes).toEqual([]);
      expect(await store.compliance.get('TV-1')).toMatchObject({ state: 'not-applicable', desired: { kind: 'not-applicable', reason: expect.stringMatching(/tvOS/) }, channel: null });
      expect(await store.compliance.get('ODD-1')).toMatchObject({ state: 'not-applicable', reason: PLATFORM_NOT_KNOWN });
    });

    it('records a device with no policy as unknown, with one history entry', async () => {
      await world.enroll('PHONE-1');
      expect((await world.delivery.reconcile(['PHONE-1'])).commands).toEqual([]);
      await world.delivery.reconcile(['PHONE-1']);
      expect(await store.compliance.history('PHONE-1', { limit: 10 })).toEqual([
        expect.objectContaining({ seq: 1, fromState: null, toState: 'unknown', reasonCode: 'no-policy' }),
      ]);
      expect(world.changes).toEqual([expect.objectContaining({ deviceId: 'PHONE-1', toState: 'unknown' })]);
    });

    it('skips devices that are not enrolled, and reconciles scheduled devices off the caller\'s path', async () => {
      await assignAll();
      await world.enroll('PHONE-1');
      await store.enrollments.checkOut('PHONE-1', world.now());
      expect(await world.delivery.reconcile(['PHONE-1', 'NOBODY'])).toMatchObject({ devices: 0, commands: [] });

      await world.enroll('PHONE-2');
      world.delivery.schedule(['PHONE-2']);
      world.delivery.schedule(['PHONE-2']);
      expect(await store.compliance.get('PHONE-2')).toBeUndefined();
      await world.settle();
      expect(world.pushes).toEqual([['PHONE-2']]);
    });
  });

  describe.skipIf(!database.available)(`policy delivery over DDM (${database.name})`, () => {
    let store: Store;
    let world: World;
    beforeEach(async () => {
      store = await database.open();
      world = await openWorld(store, { channel: 'auto' });
    });
    afterEach(async () => {
      await world.close();
      await store.close();
    });

    it('serves the compiled declaration to an iOS 18 device and syncs it, and a profile to an older one', async () => {
      const id = await world.createPolicy('Corporate', CORPORATE);
      await world.policies.assign(ADMIN, id, { kind: 'all' });
      await world.enroll('NEW-PHONE');
      await world.enroll('OLD-PHONE', { osVersion: '16.1' });
      const result = await world.delivery.reconcile(['NEW-PHONE', 'OLD-PHONE']);
      const byType = Object.fromEntries(result.commands.map((c) => [c.requestType, c.deviceIds]));
      expect(byType).toEqual({ InstallProfile: ['OLD-PHONE'], DeclarativeManagement: ['NEW-PHONE'], ProfileList: ['OLD-PHONE'], SecurityInfo: ['NEW-PHONE', 'OLD-PHONE'] });
      expect(world.pushes.map((ids) => [...ids].sort())).toEqual([['NEW-PHONE', 'OLD-PHONE']]);

      const served = await world.delivery.declarationsFor({ deviceId: 'NEW-PHONE', enrollmentId: 'NEW-PHONE', channel: 'device', type: 'Device' });
      expect(served.configurations).toEqual([expect.objectContaining({ Type: 'com.apple.configuration.passcode.settings', Identifier: `${EFFECTIVE_PROFILE_IDENTIFIER}.passcode-settings` })]);
      expect(await world.delivery.declarationsFor({ deviceId: 'OLD-PHONE', enrollmentId: 'OLD-PHONE', channel: 'device', type: 'Device' })).toEqual({ configurations: [] });
      expect(await store.compliance.get('NEW-PHONE')).toMatchObject({
        channel: 'ddm', channelReason: expect.stringMatching(/passcode settings declaration/),
        desired: { kind: 'ddm', serverToken: served.configurations[0]!.ServerToken },
        delivery: { command: 'DeclarativeManagement' },
      });
      expect(await store.compliance.get('OLD-PHONE')).toMatchObject({ channel: 'profile', channelReason: expect.stringMatching(/16\.2/) });
    });
  });
}

// EnrollmentStore on both databases: Authenticate, TokenUpdate, CheckOut, certificate binding,
// user channels, push targets and UnlockToken custody.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/database.ts';
import { StoreError, UnknownEnrollmentError } from '../../src/store/errors.ts';
import type { AuthenticateInput, TokenUpdateInput } from '../../src/store/types.ts';
import { databases } from '../support/databases.ts';

const UDID = '00008110-000A1C2E3F00801E';
const USER = `${UDID}:A1B2C3D4-USER`;
const TOPIC = 'com.apple.mgmt.External.test';
const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

function authenticate(overrides: Partial<AuthenticateInput> = {}): AuthenticateInput {
  return {
    deviceId: UDID,
    type: 'Device',
    topic: TOPIC,
    certHash: HASH_A,
    serialNumber: 'F2LXK0ABCDEF',
    model: 'iPhone14,5',
    modelName: 'iPhone',
    productName: 'iPhone14,5',
    osVersion: '17.4',
    buildVersion: '21E219',
    deviceName: 'Test iPhone',
    rawAuthenticate: '<plist>Authenticate</plist>',
    now: 1_000,
    ...overrides,
  };
}

function tokenUpdate(overrides: Partial<TokenUpdateInput> = {}): TokenUpdateInput {
  return {
    enrollmentId: UDID,
    deviceId: UDID,
    channel: 'device',
    type: 'Device',
    topic: TOPIC,
    pushToken: Buffer.from('push-token-1'),
    pushMagic: 'MAGIC-1',
    now: 2_000,
    ...overrides,
  };
}

for (const database of databases) {
  describe.skipIf(!database.available)(`EnrollmentStore (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => { store = await database.open(); });
    afterEach(async () => { await store.close(); });

    it('authenticate creates the device and its device-channel enrollment', async () => {
      const enrollment = await store.enrollments.authenticate(authenticate());
      expect(enrollment).toMatchObject({
        id: UDID, deviceId: UDID, channel: 'device', type: 'Device', topic: TOPIC, certHash: HASH_A,
        pushToken: null, pushMagic: null, tokenUpdateCount: 0, enabled: true, lastSeenAt: 1_000, createdAt: 1_000,
      });
      const device = await store.enrollments.getDevice(UDID);
      expect(device).toMatchObject({
        id: UDID, serialNumber: 'F2LXK0ABCDEF', model: 'iPhone14,5', osVersion: '17.4', enrollmentKind: 'device',
        hasUnlockToken: false, hasBootstrapToken: false, lastAuthenticate: '<plist>Authenticate</plist>',
      });
      expect(typeof device!.createdAt).toBe('number');
      expect(await store.enrollments.get(UDID)).toEqual(enrollment);
    });

    it('a User Enrollment device is of kind user unless told otherwise', async () => {
      await store.enrollments.authenticate(authenticate({ deviceId: 'ENROLLMENT-ID-1', type: 'User Enrollment (Device)', serialNumber: null }));
      expect((await store.enrollments.getDevice('ENROLLMENT-ID-1'))?.enrollmentKind).toBe('user');
      await store.enrollments.authenticate(authenticate({ deviceId: 'SHARED', enrollmentKind: 'shared-ipad' }));
      await store.enrollments.authenticate(authenticate({ deviceId: 'SHARED', now: 5_000 }));
      expect((await store.enrollments.getDevice('SHARED'))?.enrollmentKind).toBe('shared-ipad');
    });

    it('refuses an Authenticate for a channel that is not the device channel', async () => {
      await expect(store.enrollments.authenticate(authenticate({ enrollmentId: USER }))).rejects.toBeInstanceOf(StoreError);
      await expect(store.enrollments.authenticate(authenticate({ channel: 'user' }))).rejects.toBeInstanceOf(StoreError);
      expect(await store.enrollments.getDevice(UDID)).toBeUndefined();
    });

    it('tokenUpdate stores push coordinates, counts updates and keeps the UnlockToken when none is sent', async () => {
      await store.enrollments.authenticate(authenticate());
      const unlock = Buffer.from('ciphertext-of-unlock-token');
      const first = await store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: unlock }));
      expect(first).toMatchObject({ pushToken: Buffer.from('push-token-1'), pushMagic: 'MAGIC-1', tokenUpdateCount: 1, lastSeenAt: 2_000 });
      expect((await store.enrollments.getUnlockToken(UDID))?.equals(unlock)).toBe(true);
      expect(await store.enrollments.getDevice(UDID)).toMatchObject({ hasUnlockToken: true, unlockTokenAt: 2_000 });

      // The NanoMDM/MicroMDM complaint: a later TokenUpdate without UnlockToken must not erase it.
      const second = await store.enrollments.tokenUpdate(tokenUpdate({ pushToken: Buffer.from('push-token-2'), pushMagic: 'MAGIC-2', now: 3_000 }));
      expect(second).toMatchObject({ pushMagic: 'MAGIC-2', tokenUpdateCount: 2 });
      expect((await store.enrollments.getUnlockToken(UDID))?.equals(unlock)).toBe(true);
      await store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: null, now: 3_500 }));
      expect((await store.enrollments.getUnlockToken(UDID))?.equals(unlock)).toBe(true);
      expect((await store.enrollments.getDevice(UDID))?.unlockTokenAt).toBe(2_000);

      // A new one replaces it.
      const replacement = Buffer.from('ciphertext-2');
      await store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: replacement, now: 4_000 }));
      expect((await store.enrollments.getUnlockToken(UDID))?.equals(replacement)).toBe(true);
    });

    it('re-Authenticate re-binds the certificate, clears push info, re-enables, and keeps the UnlockToken', async () => {
      await store.enrollments.authenticate(authenticate());
      const unlock = Buffer.from('kept-ciphertext');
      await store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: unlock }));
      await store.enrollments.checkOut(UDID, 2_500);
      // Checked out: not managed, so no certificate speaks for it until it authenticates again.
      expect(await store.enrollments.boundCertHash(UDID)).toBeUndefined();

      const again = await store.enrollments.authenticate(authenticate({ certHash: HASH_B, osVersion: undefined, now: 3_000 }));
      expect(again).toMatchObject({ certHash: HASH_B, pushToken: null, pushMagic: null, tokenUpdateCount: 0, enabled: true, createdAt: 1_000, updatedAt: 3_000 });
      expect(await store.enrollments.boundCertHash(UDID)).toBe(HASH_B);
      expect((await store.enrollments.getUnlockToken(UDID))?.equals(unlock)).toBe(true);
      // Device facts left out of the new Authenticate keep their value.
      expect((await store.enrollments.getDevice(UDID))?.osVersion).toBe('17.4');
    });

    it.each([
      ['an iPhone', { platform: 'ios' }, true],
      ['a device whose platform is not known yet', { platform: undefined }, true],
      ['a Mac', { platform: 'macos', productName: 'Mac14,2', model: 'Mac14,2' }, false],
      ['an Apple TV', { platform: 'tvos', productName: 'AppleTV14,1', model: 'AppleTV14,1' }, false],
      ['a Shared iPad', { platform: 'ipados', enrollmentKind: 'shared-ipad' }, false],
      ['a User Enrollment', { platform: 'ios', enrollmentKind: 'user' }, false],
    ] as const)('keeps an UnlockToken from %s only where one can exist (decision 9): %s', async (_what, facts, kept) => {
      await store.enrollments.authenticate(authenticate(facts as Partial<AuthenticateInput>));
      // With and without the binding condition: the two statements that can store a token.
      await store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: Buffer.from('first') }));
      await store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: Buffer.from('second'), boundCertHash: HASH_A, now: 2_500 }));
      const held = await store.enrollments.getUnlockToken(UDID);
      if (kept) expect(held?.toString()).toBe('second');
      else expect(held).toBeUndefined();
      // The TokenUpdate itself is recorded either way.
      expect(await store.enrollments.get(UDID)).toMatchObject({ tokenUpdateCount: 2, enabled: true });
    });

    it('tokenUpdate for a device that never authenticated fails and stores nothing', async () => {
      await expect(store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: Buffer.from('x') }))).rejects.toBeInstanceOf(UnknownEnrollmentError);
      await expect(store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User' }))).rejects.toBeInstanceOf(UnknownEnrollmentError);
      expect(await store.enrollments.get(UDID)).toBeUndefined();
      expect(await store.enrollments.get(USER)).toBeUndefined();
    });

    it('tokenUpdate with an UnlockToken for a device without its device channel stores nothing', async () => {
      await store.enrollments.authenticate(authenticate());
      await store.db.deleteFrom('enrollments').where('id', '=', UDID).execute();
      await expect(store.enrollments.tokenUpdate(tokenUpdate({ unlockToken: Buffer.from('x') }))).rejects.toBeInstanceOf(UnknownEnrollmentError);
      expect(await store.enrollments.getUnlockToken(UDID)).toBeUndefined();
      expect(await store.enrollments.getDevice(UDID)).toMatchObject({ hasUnlockToken: false, unlockTokenAt: null });
    });

    it('tokenUpdate with boundCertHash writes only while the device channel is bound to that certificate', async () => {
      await store.enrollments.authenticate(authenticate());
      await expect(store.enrollments.tokenUpdate(tokenUpdate({ boundCertHash: HASH_B, unlockToken: Buffer.from('evil') }))).rejects.toBeInstanceOf(UnknownEnrollmentError);
      await expect(store.enrollments.tokenUpdate(tokenUpdate({ boundCertHash: HASH_B }))).rejects.toBeInstanceOf(UnknownEnrollmentError);
      expect(await store.enrollments.get(UDID)).toMatchObject({ tokenUpdateCount: 0, pushMagic: null });
      expect(await store.enrollments.getUnlockToken(UDID)).toBeUndefined();
      const updated = await store.enrollments.tokenUpdate(tokenUpdate({ boundCertHash: HASH_A, unlockToken: Buffer.from('good') }));
      expect(updated).toMatchObject({ certHash: HASH_A, tokenUpdateCount: 1, pushMagic: 'MAGIC-1' });
      expect((await store.enrollments.getUnlockToken(UDID))?.equals(Buffer.from('good'))).toBe(true);
      await expect(store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User', boundCertHash: HASH_A }))).rejects.toBeInstanceOf(StoreError);
    });

    it('the user channel is created on its first TokenUpdate, bound to the device certificate', async () => {
      await store.enrollments.authenticate(authenticate({ enrollmentTokenId: null, accessRights: 8191 }));
      const user = await store.enrollments.tokenUpdate(tokenUpdate({
        enrollmentId: USER, channel: 'user', type: 'User', pushToken: Buffer.from('user-push'), pushMagic: 'USER-MAGIC',
        userId: 'A1B2C3D4-USER', userShortName: 'jappleseed', userLongName: 'John Appleseed', now: 2_500,
      }));
      expect(user).toMatchObject({
        id: USER, deviceId: UDID, channel: 'user', type: 'User', certHash: HASH_A, enabled: true, tokenUpdateCount: 1,
        accessRights: 8191, userShortName: 'jappleseed', createdAt: 2_500,
      });
      const again = await store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User', pushMagic: 'USER-MAGIC-2', now: 2_600 }));
      expect(again).toMatchObject({ tokenUpdateCount: 2, pushMagic: 'USER-MAGIC-2', userShortName: 'jappleseed', createdAt: 2_500 });
      expect((await store.enrollments.listForDevice(UDID)).map((e) => e.id)).toEqual([UDID, USER]);
      // The device channel is untouched by the user channel's update.
      expect((await store.enrollments.get(UDID))?.tokenUpdateCount).toBe(0);
    });

    it('re-Authenticate expires what was still queued for the device and its user channels, and keeps finished results', async () => {
      await store.enrollments.authenticate(authenticate());
      await store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User' }));
      const command = (uuid: string) => ({ uuid, requestType: 'ProfileList', body: Buffer.from(`<plist>${uuid}</plist>`) });
      await store.commands.enqueue(command('DONE'), [UDID], { now: 2_000 });
      await store.commands.enqueue(command('DEFERRED'), [UDID], { now: 2_001 });
      await store.commands.enqueue(command('WAITING'), [UDID, USER], { now: 2_002 });
      await store.commands.report(UDID, 'DONE', 'Acknowledged', Buffer.from('ok'), 2_100);
      await store.commands.report(UDID, 'DEFERRED', 'NotNow', null, 2_200);

      await store.enrollments.authenticate(authenticate({ certHash: HASH_B, now: 3_000 }));
      expect((await store.commands.get(UDID, 'DONE'))?.status).toBe('Acknowledged');
      for (const [id, uuid] of [[UDID, 'DEFERRED'], [UDID, 'WAITING'], [USER, 'WAITING']] as const) {
        expect(await store.commands.get(id, uuid)).toMatchObject({ status: 'Expired', updatedAt: 3_000 });
      }
      expect(await store.commands.next(UDID, { skipNotNow: false, now: 3_001 })).toBeUndefined();
    });

    it('re-Authenticate re-binds and disables the user channels until their own TokenUpdate', async () => {
      await store.enrollments.authenticate(authenticate());
      await store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User' }));
      await store.enrollments.authenticate(authenticate({ certHash: HASH_B, now: 5_000 }));
      expect(await store.enrollments.get(USER)).toMatchObject({ certHash: HASH_B, enabled: false, pushToken: null });
      await store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User', now: 6_000 }));
      expect(await store.enrollments.get(USER)).toMatchObject({ enabled: true, tokenUpdateCount: 1 });
    });

    it('checkOut of the device channel disables its user channels; of a user channel, only that one', async () => {
      await store.enrollments.authenticate(authenticate());
      await store.enrollments.tokenUpdate(tokenUpdate());
      await store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User' }));
      await store.enrollments.authenticate(authenticate({ deviceId: 'OTHER', certHash: HASH_B }));

      expect(await store.enrollments.checkOut(USER, 3_000)).toBe(true);
      expect((await store.enrollments.get(USER))?.enabled).toBe(false);
      expect((await store.enrollments.get(UDID))?.enabled).toBe(true);

      await store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: USER, channel: 'user', type: 'User' }));
      expect(await store.enrollments.checkOut(UDID, 4_000)).toBe(true);
      expect(await store.enrollments.get(UDID)).toMatchObject({ enabled: false, updatedAt: 4_000 });
      expect((await store.enrollments.get(USER))?.enabled).toBe(false);
      expect((await store.enrollments.get('OTHER'))?.enabled).toBe(true);
      expect(await store.enrollments.checkOut('NOBODY', 4_000)).toBe(false);
    });

    it('boundCertHash and deviceIdForCertHash answer from the binding', async () => {
      expect(await store.enrollments.boundCertHash(UDID)).toBeUndefined();
      await store.enrollments.authenticate(authenticate());
      expect(await store.enrollments.boundCertHash(UDID)).toBe(HASH_A);
      expect(await store.enrollments.deviceIdForCertHash(HASH_A)).toBe(UDID);
      expect(await store.enrollments.deviceIdForCertHash(HASH_B)).toBeUndefined();
    });

    it('touch records last_seen_at', async () => {
      await store.enrollments.authenticate(authenticate());
      await store.enrollments.touch(UDID, 9_999_999_999_999);
      expect((await store.enrollments.get(UDID))?.lastSeenAt).toBe(9_999_999_999_999);
    });

    it('bootstrap token: set, read, delete; unknown devices are reported', async () => {
      await store.enrollments.authenticate(authenticate());
      expect(await store.enrollments.getBootstrapToken(UDID)).toBeUndefined();
      const token = Buffer.from([0, 1, 2, 255]);
      expect(await store.enrollments.setBootstrapToken(UDID, token, 2_000)).toBe(true);
      expect((await store.enrollments.getBootstrapToken(UDID))?.equals(token)).toBe(true);
      expect((await store.enrollments.getDevice(UDID))?.hasBootstrapToken).toBe(true);
      expect(await store.enrollments.setBootstrapToken(UDID, null, 3_000)).toBe(true);
      expect(await store.enrollments.getBootstrapToken(UDID)).toBeUndefined();
      expect(await store.enrollments.setBootstrapToken('NOBODY', token, 3_000)).toBe(false);
    });

    it('pushTargets lists enabled enrollments with a push token, and markPushTokenDead removes one', async () => {
      await store.enrollments.authenticate(authenticate());
      await store.enrollments.tokenUpdate(tokenUpdate());
      await store.enrollments.authenticate(authenticate({ deviceId: 'NO-TOKEN-YET', certHash: HASH_B }));
      await store.enrollments.authenticate(authenticate({ deviceId: 'CHECKED-OUT', certHash: 'c'.repeat(64) }));
      await store.enrollments.tokenUpdate(tokenUpdate({ enrollmentId: 'CHECKED-OUT', deviceId: 'CHECKED-OUT' }));
      await store.enrollments.checkOut('CHECKED-OUT', 3_000);

      const targets = await store.enrollments.pushTargets([UDID, 'NO-TOKEN-YET', 'CHECKED-OUT', 'NOBODY', UDID]);
      expect(targets).toEqual([{ enrollmentId: UDID, topic: TOPIC, pushToken: Buffer.from('push-token-1'), pushMagic: 'MAGIC-1' }]);

      // A dead token that is no longer the stored one (a TokenUpdate raced the push) is ignored.
      expect(await store.enrollments.markPushTokenDead(UDID, Buffer.from('older-token'))).toBe(false);
      expect(await store.enrollments.pushTargets([UDID])).toHaveLength(1);
      expect(await store.enrollments.markPushTokenDead(UDID, Buffer.from('push-token-1'))).toBe(true);
      expect(await store.enrollments.pushTargets([UDID])).toEqual([]);
      await store.enrollments.tokenUpdate(tokenUpdate({ pushToken: Buffer.from('fresh'), now: 4_000 }));
      expect(await store.enrollments.pushTargets([UDID])).toHaveLength(1);
      expect(await store.enrollments.markPushTokenDead(UDID)).toBe(true);
      expect(await store.enrollments.pushTargets([UDID])).toEqual([]);
    });

    it('pushTargets handles more ids than one statement can bind', async () => {
      await store.enrollments.authenticate(authenticate());
      await store.enrollments.tokenUpdate(tokenUpdate());
      const ids = Array.from({ length: 70_000 }, (_, i) => `missing-${i}`);
      ids.push(UDID);
      expect((await store.enrollments.pushTargets(ids)).map((t) => t.enrollmentId)).toEqual([UDID]);
    });

    it('listDevices pages by id', async () => {
      for (const id of ['C', 'A', 'B']) await store.enrollments.authenticate(authenticate({ deviceId: id, certHash: id.repeat(64).toLowerCase() }));
      expect((await store.enrollments.listDevices({ limit: 2 })).map((d) => d.id)).toEqual(['A', 'B']);
      expect((await store.enrollments.listDevices({ limit: 2, afterId: 'B' })).map((d) => d.id)).toEqual(['C']);
    });
  });
}

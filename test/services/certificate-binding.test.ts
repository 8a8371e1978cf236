// The certificate binding around the command queue: Idle answered with the binding read in the
// queue's own statement must refuse exactly what the two-statement path refuses, and a handler
// that does not check, or a wrapper around the command service, must not open a way around it.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenUpdateMessage } from '../../src/mdm/checkin-messages.ts';
import type { CommandReport } from '../../src/mdm/command-report.ts';
import type { CommandHandler, RequestContext } from '../../src/mdm/handler.ts';
import { certificateBinding, IDLE_WITH_BINDING, offerIdleWithBinding, TOKEN_UPDATE_WITH_BINDING } from '../../src/services/certificate-binding.ts';
import { checkinService } from '../../src/services/checkin-service.ts';
import { commandService } from '../../src/services/command-service.ts';
import { DeviceRefusedError } from '../../src/services/device-refusal.ts';
import type { Store } from '../../src/store/database.ts';
import { databases } from '../support/databases.ts';

const UDID = 'BINDING-DEVICE';
const BOUND = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const ctx = (certHash: string, deviceId = UDID): RequestContext => ({
  identity: { certHash, subject: 'CN=test' },
  enrollment: { deviceId, enrollmentId: deviceId, channel: 'device', type: 'Device' },
  now: 10_000,
  log: silent,
});
const idle: CommandReport = { udid: UDID, status: 'Idle', response: {} };
const tokenUpdate = (PushMagic: string, UnlockToken?: Uint8Array): TokenUpdateMessage => ({
  MessageType: 'TokenUpdate', UDID, Topic: 'topic', Token: Buffer.from('push-token'), PushMagic, raw: {}, ...(UnlockToken && { UnlockToken }),
} as TokenUpdateMessage);

for (const database of databases) {
  describe.skipIf(!database.available)(`certificate binding on the connect endpoint (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await database.open();
      await store.enrollments.authenticate({ deviceId: UDID, type: 'Device', topic: 'topic', certHash: BOUND, now: 1_000 });
      await store.commands.enqueue({ uuid: 'CMD-1', requestType: 'ProfileList', body: Buffer.from('<plist>CMD-1</plist>') }, [UDID], { now: 2_000 });
    });
    afterEach(async () => { await store.close(); });

    it('the command service offers Idle with the binding, non-enumerably', () => {
      const service = commandService({ store });
      expect(typeof (service as { [IDLE_WITH_BINDING]?: unknown })[IDLE_WITH_BINDING]).toBe('function');
      expect(IDLE_WITH_BINDING in { ...service }).toBe(false);
    });

    it('Idle: the bound certificate gets its command; another, or an unknown device, gets 403 and nothing', async () => {
      const handler = certificateBinding(store).commands(commandService({ store }));
      expect(Buffer.from((await handler.reportAndNext(ctx(BOUND), idle))!).toString()).toBe('<plist>CMD-1</plist>');
      await expect(handler.reportAndNext(ctx(OTHER), idle)).rejects.toMatchObject({ status: 403, message: expect.stringContaining('not the one enrolled') });
      await expect(handler.reportAndNext(ctx(OTHER, 'NOBODY'), { ...idle, udid: 'NOBODY' })).rejects.toMatchObject({ status: 403, message: expect.stringContaining('no Authenticate') });
      // After a re-Authenticate with a new certificate, the old one is refused at once; the new
      // enrollment starts with an empty queue (CMD-1 was for the previous one).
      await store.commands.enqueue({ uuid: 'CMD-2', requestType: 'ProfileList', body: Buffer.from('<plist>CMD-2</plist>') }, [UDID], { now: 2_500 });
      await store.enrollments.authenticate({ deviceId: UDID, type: 'Device', topic: 'topic', certHash: OTHER, now: 3_000 });
      await expect(handler.reportAndNext(ctx(BOUND), idle)).rejects.toBeInstanceOf(DeviceRefusedError);
      expect(await handler.reportAndNext(ctx(OTHER), idle)).toBeUndefined();
      expect((await store.commands.get(UDID, 'CMD-2'))?.status).toBe('Expired');
    });

    it('after CheckOut the enrollment gets nothing, on either path, until it authenticates again', async () => {
      const commands = certificateBinding(store).commands(commandService({ store }));
      const checkins = certificateBinding(store).checkins(checkinService({ store, masterKey: randomBytes(32) }));
      await checkins.checkOut(ctx(BOUND), { MessageType: 'CheckOut', Topic: 'topic', UDID, raw: {} } as never);
      // Idle (the fast path), a result (the ordinary path), TokenUpdate, another CheckOut: all refused.
      await expect(commands.reportAndNext(ctx(BOUND), idle)).rejects.toMatchObject({ status: 403, message: expect.stringContaining('checked out') });
      await expect(commands.reportAndNext(ctx(BOUND), { udid: UDID, status: 'Acknowledged', commandUuid: 'CMD-1', response: {} })).rejects.toMatchObject({ status: 403 });
      await expect(checkins.tokenUpdate(ctx(BOUND), tokenUpdate('AFTER', Buffer.from('unlock-after')))).rejects.toMatchObject({ status: 403 });
      await expect(checkins.checkOut(ctx(BOUND), { MessageType: 'CheckOut', Topic: 'topic', UDID, raw: {} } as never)).rejects.toMatchObject({ status: 403 });
      expect(await store.enrollments.get(UDID)).toMatchObject({ enabled: false });
      expect((await store.commands.get(UDID, 'CMD-1'))?.status).toBe('pending');
      expect(await store.enrollments.getUnlockToken(UDID)).toBeUndefined();
      // A new enrollment: Authenticate, then TokenUpdate, and the device is managed again.
      await checkins.authenticate(ctx(BOUND), { MessageType: 'Authenticate', Topic: 'topic', UDID, raw: {} } as never);
      await checkins.tokenUpdate(ctx(BOUND), tokenUpdate('AGAIN'));
      expect(await store.enrollments.get(UDID)).toMatchObject({ enabled: true, pushMagic: 'AGAIN' });
      expect(await commands.reportAndNext(ctx(BOUND), idle)).toBeUndefined();
    });

    it('a result from another certificate is refused before it is recorded', async () => {
      const handler = certificateBinding(store).commands(commandService({ store }));
      const result: CommandReport = { udid: UDID, status: 'Acknowledged', commandUuid: 'CMD-1', response: {} };
      await expect(handler.reportAndNext({ ...ctx(OTHER), body: Buffer.from('forged') }, result)).rejects.toMatchObject({ status: 403 });
      expect((await store.commands.get(UDID, 'CMD-1'))?.status).toBe('pending');
    });

    it('TokenUpdate: the bound certificate updates; another, or an unknown device, gets 403 and writes nothing', async () => {
      const service = checkinService({ store, masterKey: randomBytes(32) });
      expect(typeof (service as { [TOKEN_UPDATE_WITH_BINDING]?: unknown })[TOKEN_UPDATE_WITH_BINDING]).toBe('function');
      expect(TOKEN_UPDATE_WITH_BINDING in { ...service }).toBe(false);
      const handler = certificateBinding(store).checkins(service);
      await handler.tokenUpdate(ctx(BOUND), tokenUpdate('MAGIC-1', Buffer.from('unlock-1')));
      expect(await store.enrollments.get(UDID)).toMatchObject({ pushMagic: 'MAGIC-1', tokenUpdateCount: 1 });
      const sealed = await store.enrollments.getUnlockToken(UDID);
      expect(sealed).toBeDefined();

      await expect(handler.tokenUpdate(ctx(OTHER), tokenUpdate('EVIL', Buffer.from('unlock-evil')))).rejects.toMatchObject({ status: 403, message: expect.stringContaining('not the one enrolled') });
      await expect(handler.tokenUpdate(ctx(OTHER, 'NOBODY'), { ...tokenUpdate('EVIL'), UDID: 'NOBODY' })).rejects.toMatchObject({ status: 403, message: expect.stringContaining('no Authenticate') });
      expect(await store.enrollments.get(UDID)).toMatchObject({ pushMagic: 'MAGIC-1', tokenUpdateCount: 1 });
      expect((await store.enrollments.getUnlockToken(UDID))?.equals(sealed!)).toBe(true);

      // A user channel takes the ordinary path, checked against the device channel's binding.
      const user = { deviceId: UDID, enrollmentId: `${UDID}:USER`, channel: 'user' as const, type: 'User' as const };
      await handler.tokenUpdate({ ...ctx(BOUND), enrollment: user }, { ...tokenUpdate('USER-MAGIC'), UserID: 'USER' } as TokenUpdateMessage);
      await expect(handler.tokenUpdate({ ...ctx(OTHER), enrollment: user }, { ...tokenUpdate('EVIL'), UserID: 'USER' } as TokenUpdateMessage)).rejects.toMatchObject({ status: 403 });
      expect(await store.enrollments.get(user.enrollmentId)).toMatchObject({ pushMagic: 'USER-MAGIC', tokenUpdateCount: 1 });
    });

    it('a handler that answers Idle without calling the check gets no answer through', async () => {
      const careless = offerIdleWithBinding<CommandHandler>({ reportAndNext: async () => undefined }, async () => Buffer.from('leaked'));
      const handler = certificateBinding(store).commands(careless);
      await expect(handler.reportAndNext(ctx(BOUND), idle)).rejects.toThrow(/without the certificate binding check/);
    });

    it('a wrapper that spreads the command service keeps its own reportAndNext, checked the ordinary way', async () => {
      const service = commandService({ store });
      const seen: string[] = [];
      const wrapped: CommandHandler = { ...service, async reportAndNext(c, report) { seen.push(report.status); return service.reportAndNext(c, report); } };
      const handler = certificateBinding(store).commands(wrapped);
      expect(await handler.reportAndNext(ctx(BOUND), idle)).toBeDefined();
      await expect(handler.reportAndNext(ctx(OTHER), idle)).rejects.toMatchObject({ status: 403 });
      expect(seen).toEqual(['Idle']);
    });
  });
}

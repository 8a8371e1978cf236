// What simulated devices do beyond the basic path, against a real server over HTTP, on SQLite and
// PostgreSQL: the 60-minute passcode grace period on the virtual clock, ClearPasscode with the
// escrowed UnlockToken's exact bytes only, RemoveProfile and the user's own removals, DDM against
// the server as it is (no declarations yet), hostile bodies that must change nothing, a
// re-enrollment with a new identity, and a push that expires while the device is away.
//
// The tests share one fleet and run concurrently, except the last: it moves the fleet's clock
// (which the APNs mock keeps) past every push's apns-expiration. The grace test moves only its
// own device's clock.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProfileListResponse } from '../../src/mdm/profile-list-response.ts';
import { parseSecurityInfoResponse } from '../../src/mdm/security-info-response.ts';
import { buildProfile } from '../../src/plist/mobileconfig.ts';
import { encodePlist } from '../../src/plist/plist-codec.ts';
import { compilePolicy, parsePolicyDocument, profileContent } from '../../src/policy/index.ts';
import { DAY_MS, MINUTE_MS, VirtualClock } from '../../src/sim/clock.ts';
import { MdmClient } from '../../src/sim/mdm-client.ts';
import type { GarbageKind, SimulatedDevice } from '../../src/sim/simulated-device.ts';
import { databaseUrls } from '../support/databases.ts';
import { startFleet } from '../support/fleet-harness.ts';
import type { Fleet } from '../support/fleet-harness.ts';

const PROFILE_ID = 'com.example.behaviours.passcode';

function iosPasscodeProfile(options: { removalDisallowed?: boolean } = {}): Buffer {
  const parsed = parsePolicyDocument({ MinimumLength: 6, AllowSimple: false }, 'any');
  if (!parsed.ok) throw new Error('policy');
  const compiled = compilePolicy(parsed.value.requirements, { platform: 'ios', enrollment: 'device' });
  if (!compiled.ok) throw new Error(compiled.reason);
  const content = profileContent(compiled.compiled, { identifier: PROFILE_ID, displayName: 'Passcode' });
  return Buffer.from(encodePlist(buildProfile({ ...content, ...(options.removalDisallowed !== undefined && { removalDisallowed: options.removalDisallowed }) })));
}

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`simulated device behaviours over HTTP (${database.name})`, () => {
    let fleet: Fleet;

    beforeAll(async () => {
      fleet = await startFleet({ database });
    });

    afterAll(async () => {
      expect(fleet?.router.failures ?? []).toEqual([]);
      await fleet?.close();
    });

    const run = async (device: SimulatedDevice, command: { RequestType: string } & Record<string, unknown>, statuses?: readonly ('Acknowledged' | 'Error' | 'NotNow')[]) => {
      const queued = await fleet.enqueue(device.id, command);
      expect(queued.status).toBe(200);
      return fleet.untilAnswered(device.id, queued.commandUuid, statuses ? { statuses } : {});
    };
    const securityInfo = async (device: SimulatedDevice) => parseSecurityInfoResponse((await run(device, { RequestType: 'SecurityInfo' })).response).SecurityInfo;

    it.concurrent('gives the user 60 minutes of grace after a stricter policy, on the virtual clock', async () => {
      const clock = new VirtualClock();
      const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '1234', clock });
      expect((await securityInfo(phone))).toMatchObject({ PasscodePresent: true, PasscodeCompliant: true });
      expect((await run(phone, { RequestType: 'InstallProfile', Payload: iosPasscodeProfile() })).status).toBe('Acknowledged');
      const installedAt = clock.now();

      // Still compliant while the grace runs…
      expect(phone.passcodeStatus()).toMatchObject({ state: 'in-grace' });
      expect(phone.passcodeStatus().graceEndsAt).toBeGreaterThan(installedAt + 59 * MINUTE_MS);
      expect(await securityInfo(phone)).toMatchObject({ PasscodePresent: true, PasscodeCompliant: true, PasscodeCompliantWithProfiles: true });

      // …not once 61 minutes have passed…
      clock.advance(61 * MINUTE_MS);
      expect(await securityInfo(phone)).toMatchObject({ PasscodePresent: true, PasscodeCompliant: false, PasscodeCompliantWithProfiles: false });

      // …and again after the user sets a passcode the policy accepts (the passcode screen refuses others).
      expect(await phone.setPasscode('12345')).toMatchObject({ ok: false });
      expect(await phone.setPasscode('739164')).toEqual({ ok: true });
      expect(await securityInfo(phone)).toMatchObject({ PasscodePresent: true, PasscodeCompliant: true });
    });

    it.concurrent('clears the passcode only with the exact UnlockToken it escrowed, even while locked', async () => {
      const phone = await fleet.enroll('iphone', { identity: 'pkcs12', passcode: '739164' });
      expect((await fleet.getDevice(phone.id)).escrow.unlockToken).toBe('escrowed');
      const token = phone.unlockToken!;
      phone.lock();

      // The server never hands the token out: the test knows it because it played the device.
      const wrong = Buffer.from(token);
      wrong[wrong.length - 1] = wrong.at(-1)! ^ 0x01;
      const attempts = [];
      for (const offered of [wrong, token.subarray(0, token.length - 1), randomBytes(token.length)]) {
        attempts.push(await fleet.enqueue(phone.id, { RequestType: 'ClearPasscode', UnlockToken: offered }));
      }
      for (const attempt of attempts) {
        const refused = await fleet.untilAnswered(phone.id, attempt.commandUuid);
        expect(refused.status).toBe('Error');
        expect(refused.response.ErrorChain).toEqual([expect.objectContaining({ LocalizedDescription: expect.stringMatching(/UnlockToken/) })]);
      }
      expect(phone.passcode).toBe('739164');
      expect((await run(phone, { RequestType: 'ClearPasscode', UnlockToken: token })).status).toBe('Acknowledged');
      expect(phone.passcode).toBeUndefined();
      expect(phone.locked).toBe(false);
      expect(await securityInfo(phone)).toMatchObject({ PasscodePresent: false });

      // A Mac has no ClearPasscode at all (passcode.clear.yaml: macOS n/a).
      const mac = await fleet.enroll('mac', { identity: 'scep', passcode: 'correct horse' });
      const onMac = await run(mac, { RequestType: 'ClearPasscode', UnlockToken: randomBytes(32) });
      expect(onMac.status).toBe('Error');
      expect(mac.passcode).toBe('correct horse');
    });

    it.concurrent('honours RemoveProfile, and lets its user remove only what the platform lets them', async () => {
      // Unsupervised iOS ignores PayloadRemovalDisallowed (TopLevel.yaml: supervised only).
      const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '739164' });
      expect((await run(phone, { RequestType: 'InstallProfile', Payload: iosPasscodeProfile({ removalDisallowed: true }) })).status).toBe('Acknowledged');
      expect(await phone.userRemovesProfile(PROFILE_ID)).toEqual({ ok: true });
      const afterUser = parseProfileListResponse((await run(phone, { RequestType: 'ProfileList' })).response).ProfileList;
      expect(afterUser.map((p) => p.PayloadIdentifier)).not.toContain(PROFILE_ID);

      // Supervised, it holds; the MDM can still remove it.
      const supervised = await fleet.enroll('iphone-supervised', { identity: 'pkcs12', passcode: '1234' });
      expect((await run(supervised, { RequestType: 'InstallProfile', Payload: iosPasscodeProfile({ removalDisallowed: true }) })).status).toBe('Acknowledged');
      expect(await supervised.userRemovesProfile(PROFILE_ID)).toMatchObject({ ok: false, reason: expect.stringMatching(/PayloadRemovalDisallowed/) });
      expect(supervised.passcodeStatus().state).toBe('in-grace');
      expect((await run(supervised, { RequestType: 'RemoveProfile', Identifier: PROFILE_ID })).status).toBe('Acknowledged');
      expect(supervised.hasProfile(PROFILE_ID)).toBe(false);
      expect(supervised.passcodeStatus().state).toBe('compliant');
      expect((await run(supervised, { RequestType: 'RemoveProfile', Identifier: PROFILE_ID })).status).toBe('Error');
    });

    it.concurrent('syncs Declarative Management with the server as it is (no declarations) and reports status', async () => {
      const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '739164' });
      expect((await run(phone, { RequestType: 'DeclarativeManagement' })).status).toBe('Acknowledged');
      expect(phone.ddmEnabled).toBe(true);
      expect(phone.declarations.declarationsToken).toEqual(expect.any(String));
      expect(phone.declarations.all()).toEqual([]);
      // Nothing subscribed the passcode items yet, so the report carries the declarations only.
      expect(phone.statusReports).toEqual([{
        StatusItems: { management: { declarations: { activations: [], configurations: [], assets: [], management: [] } } },
        Errors: [],
        FullReport: true,
      }]);
      expect(phone.refusals).toEqual([]);
    });

    it.concurrent('answers hostile bodies with a 4xx and writes nothing', async () => {
      const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '739164' });
      const other = await fleet.enroll('ipad', { identity: 'pkcs12', passcode: '739164' });
      // Something queued (while the phone is away, so it stays queued): a wrongly accepted Idle
      // would hand it out and mark it.
      phone.dropOff();
      const pending = await fleet.enqueue(phone.id, { RequestType: 'DeviceInformation', Queries: ['OSVersion'] });
      const snapshot = async () => ({
        phone: await fleet.runtime.store.enrollments.get(phone.id),
        phoneDevice: await fleet.runtime.store.enrollments.getDevice(phone.id),
        other: await fleet.runtime.store.enrollments.get(other.id),
        otherDevice: await fleet.runtime.store.enrollments.getDevice(other.id),
        queue: await fleet.runtime.store.commands.list(phone.id, { limit: 50 }),
      });
      const before = await snapshot();
      expect(before.queue.map((c) => [c.uuid, c.status])).toEqual([[pending.commandUuid, 'pending']]);
      const kinds: GarbageKind[] = ['not-a-plist', 'truncated-plist', 'unsigned', 'signature-of-other-body', 'unknown-message-type', 'other-device'];
      for (const kind of kinds) {
        const answer = await phone.sendGarbage(kind);
        expect(answer.status, kind).toBeGreaterThanOrEqual(400);
        expect(answer.status, kind).toBeLessThan(500);
      }
      // A TokenUpdate that names the iPad, signed with the iPhone's certificate: impersonation.
      const impersonation = await phone.sendGarbage('other-device', other.id);
      expect(impersonation.status).toBe(403);
      expect(await snapshot()).toEqual(before);
    });

    it.concurrent('keeps no UnlockToken that a Mac or a User Enrollment should never have sent (decision 9)', async () => {
      for (const kind of ['mac', 'iphone-user-enrollment'] as const) {
        const device = await fleet.enroll(kind, { identity: 'scep' });
        const forged = await device.sendCheckIn(device.tokenUpdateMessage('device', Buffer.from('an UnlockToken it cannot have')));
        expect(forged.status).toBe(200);
        expect((await fleet.getDevice(device.id)).escrow.unlockToken).toBe('absent');
      }
    });

    it.concurrent('is not managed after CheckOut: nothing is delivered, and a new Authenticate starts with an empty queue', async () => {
      const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '739164' });
      const token = phone.unlockToken!;
      const transport = new MdmClient({ serverUrl: fleet.url, identity: phone.identity! });
      const lateTokenUpdate = phone.tokenUpdateMessage('device', Buffer.from('after check-out'));
      // A ClearPasscode is queued while the device is out of reach, and then it checks out.
      phone.dropOff();
      const queued = await fleet.enqueue(phone.id, { RequestType: 'ClearPasscode', UnlockToken: token });
      expect(queued.status).toBe(200);
      expect((await phone.checkOut())?.status).toBe(200);
      phone.comeBack();
      // Nothing new can be queued for it, and what was queued is never handed out.
      expect((await fleet.enqueue(phone.id, { RequestType: 'SecurityInfo' })).status).toBe(404);
      const idle = await transport.connect({ UDID: phone.udid, Status: 'Idle' });
      expect(idle.status).toBe(403);
      expect(idle.body.toString()).not.toContain('ClearPasscode');
      const tokenUpdate = await transport.checkIn(lateTokenUpdate);
      expect(tokenUpdate.status).toBe(403);
      // Enrolling again (Authenticate, TokenUpdate) does not revive what was queued before.
      await phone.enroll(await fleet.enrollmentUrl(), { identity: 'scep' });
      await phone.wake();
      expect(phone.received.commands.map((c) => c.requestType)).not.toContain('ClearPasscode');
      expect((await fleet.command(phone.id, queued.commandUuid))?.status).toBe('Expired');
    });

    it.concurrent('serves the user channel of a Shared iPad: its own push, its own queue', async () => {
      const ipad = await fleet.enroll('shared-ipad', { identity: 'scep' });
      const user = (await fleet.getDevice(ipad.id)).enrollments.find((e) => e.channel === 'user')!;
      expect(user).toMatchObject({ type: 'Shared iPad', enabled: true, pushable: true });
      const queued = await fleet.enqueue(user.id, { RequestType: 'ProfileList' });
      expect(queued.status).toBe(200);
      expect((await fleet.untilAnswered(user.id, queued.commandUuid)).status).toBe('Acknowledged');
      expect(ipad.received.pushes.some((p) => p.channel === 'user')).toBe(true);
      expect(ipad.received.commands.find((c) => c.commandUuid === queued.commandUuid)).toMatchObject({ channel: 'user', status: 'Acknowledged' });
    });

    it.concurrent('re-enrolls with a new identity; the old certificate is refused from then on', async () => {
      const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '739164' });
      const oldIdentity = phone.identity!;
      const oldToken = phone.unlockToken!;
      await phone.reEnroll(await fleet.enrollmentUrl({ identity: 'pkcs12' }), { identity: 'pkcs12' });
      expect(phone.identity!.certificatePem).not.toBe(oldIdentity.certificatePem);
      expect(phone.unlockToken!.equals(oldToken)).toBe(false);
      const view = await fleet.getDevice(phone.id);
      expect(view.escrow.unlockToken).toBe('escrowed');
      expect(view.enrollments).toEqual([expect.objectContaining({ enabled: true, tokenUpdateCount: 1 })]);

      const stale = new MdmClient({ serverUrl: fleet.url, identity: oldIdentity });
      expect((await stale.connect({ UDID: phone.udid, Status: 'Idle' })).status).toBe(403);
      expect((await run(phone, { RequestType: 'SecurityInfo' })).status).toBe('Acknowledged');
      // The ClearPasscode token is the new one now.
      expect((await run(phone, { RequestType: 'ClearPasscode', UnlockToken: oldToken })).status).toBe('Error');
    });

    // Last: it moves the shared clock past every push's apns-expiration.
    it('misses a push that expires at the APNs mock while it is away, and gets the command when it next checks in', async () => {
      const phone = await fleet.enroll('iphone', { identity: 'pkcs12', passcode: '739164' });
      const pushesBefore = phone.received.pushes.length;
      phone.dropOff();
      const queued = await fleet.enqueue(phone.id, { RequestType: 'SecurityInfo' });
      expect(queued.body).toMatchObject({ push: { counts: { sent: 1 } } });
      const push = fleet.apns.received.findLast((p) => p.token === phone.pushToken)!;
      expect(push.status).toBe(200);
      expect(fleet.apns.delivered).not.toContain(push);

      // The server's pushes live 7 days (apns-expiration); the device is back after 8.
      fleet.clock.advance(8 * DAY_MS);
      phone.comeBack();
      expect(fleet.apns.expired).toContain(push);
      await fleet.router.settled();
      expect(phone.received.pushes.length).toBe(pushesBefore);
      expect((await fleet.command(phone.id, queued.commandUuid))?.status).toBe('pending');

      // The next check-in of its own (the user opens Settings) picks the command up.
      await phone.wake();
      expect((await fleet.command(phone.id, queued.commandUuid))?.status).toBe('Acknowledged');
    });
  });
}

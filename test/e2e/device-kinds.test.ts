// Issue 5's path for every kind of simulated device, one server and devices over HTTP only, on
// SQLite and on PostgreSQL: enroll (SCEP or PKCS#12) → TokenUpdate (UnlockToken escrowed exactly
// where DESIGN decision 9 allows) → a passcode policy compiled for the platform and enrollment,
// queued as InstallProfile → the push reaches the device through the APNs mock → the device
// installs it and judges its passcode → ProfileList shows it → SecurityInfo as that platform
// answers it, stored by the server → NotNow while locked, delivered after unlocking → CheckOut.
// Where Apple forbids the Passcode payload (Shared iPad, macOS User Enrollment, tvOS) the policy
// engine refuses to compile it and the device refuses a hand-made one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProfileListResponse } from '../../src/mdm/profile-list-response.ts';
import { parseSecurityInfoResponse } from '../../src/mdm/security-info-response.ts';
import { buildProfile } from '../../src/plist/mobileconfig.ts';
import { encodePlist } from '../../src/plist/plist-codec.ts';
import { compilePolicy, parsePolicyDocument, profileContent } from '../../src/policy/index.ts';
import type { Enrollment, Platform } from '../../src/policy/index.ts';
import type { ProfileContent } from '../../src/policy/index.ts';
import { DEVICE_KIND_PRESETS } from '../../src/sim/device-kinds.ts';
import type { PresetName } from '../../src/sim/device-kinds.ts';
import type { SimulatedDevice } from '../../src/sim/simulated-device.ts';
import { databaseUrls } from '../support/databases.ts';
import { startFleet } from '../support/fleet-harness.ts';
import type { Fleet } from '../support/fleet-harness.ts';

interface KindCase {
  kind: PresetName;
  identity: 'scep' | 'pkcs12';
  escrow: 'escrowed' | 'absent';
  /** The policy engine compiles a passcode profile for this platform and enrollment. */
  compiles: boolean;
}

// SCEP and PKCS#12 alternate, so both identities are covered on every platform family.
const CASES: readonly KindCase[] = [
  { kind: 'iphone', identity: 'scep', escrow: 'escrowed', compiles: true },
  { kind: 'iphone-supervised', identity: 'pkcs12', escrow: 'escrowed', compiles: true },
  { kind: 'iphone-user-enrollment', identity: 'pkcs12', escrow: 'absent', compiles: true },
  { kind: 'ipad', identity: 'scep', escrow: 'escrowed', compiles: true },
  { kind: 'shared-ipad', identity: 'pkcs12', escrow: 'absent', compiles: false },
  { kind: 'mac', identity: 'scep', escrow: 'absent', compiles: true },
  { kind: 'mac-user-enrollment', identity: 'pkcs12', escrow: 'absent', compiles: false },
  { kind: 'apple-watch', identity: 'scep', escrow: 'escrowed', compiles: true },
  { kind: 'vision-pro', identity: 'pkcs12', escrow: 'escrowed', compiles: true },
  { kind: 'apple-tv', identity: 'scep', escrow: 'absent', compiles: false },
];

const POLICY = (() => {
  const parsed = parsePolicyDocument({ MinimumLength: 6, AllowSimple: false, MaxFailedAttempts: 10 }, 'any');
  if (!parsed.ok) throw new Error('the test policy does not parse');
  return parsed.value.requirements;
})();
const PASSCODE_PROFILE_ID = 'com.example.lockwarden.passcode';
// Fails the policy (too short, a rising run), so installing it starts the grace period.
const WEAK_PASSCODE = '1234';

/** The policy as a .mobileconfig for one platform and enrollment, as the server will compile it. */
function passcodeProfile(platform: Platform, enrollment: Enrollment): { ok: true; content: ProfileContent; bytes: Buffer } | { ok: false; reason: string } {
  const compiled = compilePolicy(POLICY, { platform, enrollment });
  if (!compiled.ok) return compiled;
  const content = profileContent(compiled.compiled, { identifier: PASSCODE_PROFILE_ID, displayName: 'Passcode policy', organization: 'Example' });
  return { ok: true, content, bytes: Buffer.from(encodePlist(buildProfile(content))) };
}

async function installProfileOn(fleet: Fleet, device: SimulatedDevice, bytes: Buffer) {
  const queued = await fleet.enqueue(device.id, { RequestType: 'InstallProfile', Payload: bytes });
  expect(queued.status).toBe(200);
  expect(queued.body).toMatchObject({ enqueued: 1, push: { counts: { sent: 1 } } });
  return fleet.untilAnswered(device.id, queued.commandUuid);
}

async function ask(fleet: Fleet, device: SimulatedDevice, command: { RequestType: string } & Record<string, unknown>, statuses?: readonly ('Acknowledged' | 'Error' | 'NotNow' | 'CommandFormatError')[]) {
  const queued = await fleet.enqueue(device.id, command);
  expect(queued.status).toBe(200);
  return fleet.untilAnswered(device.id, queued.commandUuid, statuses ? { statuses } : {});
}

async function kindPath(fleet: Fleet, c: KindCase): Promise<void> {
  const kind = DEVICE_KIND_PRESETS[c.kind];
  const device = await fleet.enroll(c.kind, { identity: c.identity, ...(kind.lockable && { passcode: WEAK_PASSCODE }) });

  // Authenticate + TokenUpdate as the server recorded them; the UnlockToken only where allowed.
  const view = await fleet.getDevice(device.id);
  expect(view).toMatchObject({ udid: device.id, platform: kind.platform, productName: kind.productName, osVersion: kind.osVersion });
  expect(view.escrow.unlockToken).toBe(c.escrow);
  expect(device.unlockToken !== undefined).toBe(c.escrow === 'escrowed');
  // The server offers per-user connections (Apple requires it for Shared iPad and macOS): a
  // Shared iPad's signed-in user and a Mac's User Enrollment user open a user channel at once; a
  // Mac's local user is declined at UserAuthenticate (410) and gets none.
  const userChannel = kind.enrollment === 'shared-ipad' || (kind.platform === 'macos' && kind.enrollment === 'user');
  expect(view.enrollments).toEqual([
    expect.objectContaining({
      id: device.id, channel: 'device', enabled: true, pushable: true, tokenUpdateCount: 1,
      type: kind.enrollment === 'user' ? 'User Enrollment (Device)' : 'Device',
    }),
    ...(userChannel ? [expect.objectContaining({
      channel: 'user', enabled: true, pushable: true, tokenUpdateCount: 1,
      type: kind.enrollment === 'shared-ipad' ? 'Shared iPad' : 'User Enrollment',
    })] : []),
  ]);
  expect(device.userPushToken !== undefined).toBe(userChannel);
  if (kind.enrollment === 'user') {
    // User Enrollment sends an EnrollmentID instead of the UDID, and never the serial number.
    expect(device.id).not.toBe(device.udid);
    expect(view.enrollmentKind).toBe('user');
    expect(view.serialNumber).toBeNull();
  } else {
    expect(device.id).toBe(device.udid);
    expect(view.serialNumber).toBe(device.facts.serialNumber);
  }

  // The passcode policy, compiled for this platform and enrollment (or refused, as Apple forbids it).
  const profile = passcodeProfile(kind.platform, kind.enrollment);
  expect(profile.ok).toBe(c.compiles);
  let installed: ProfileContent | undefined;
  if (profile.ok) {
    const result = await installProfileOn(fleet, device, profile.bytes);
    expect(result.status).toBe('Acknowledged');
    // It came by push: the APNs mock delivered the server's push to this device's token.
    expect(fleet.apns.delivered.some((p) => p.token === device.pushToken && p.body.mdm === device.pushMagic)).toBe(true);
    expect(device.received.pushes.length).toBeGreaterThanOrEqual(1);
    expect(device.hasProfile(PASSCODE_PROFILE_ID)).toBe(true);
    // The weak passcode fails the new policy: the user is in the 60-minute grace period.
    expect(device.passcodeStatus()).toMatchObject({ present: true, meetsRequirements: false, state: 'in-grace', compliant: true });
    installed = profile.content;
  } else {
    expect(profile.reason).toMatch(kind.platform === 'tvos' ? /tvOS/ : kind.enrollment === 'shared-ipad' ? /Shared iPad/ : /User Enrollment/);
    // A profile made for the platform's device enrollment anyway is refused by the device itself.
    const forced = passcodeProfile(kind.platform === 'tvos' ? 'ios' : kind.platform, 'device');
    if (!forced.ok) throw new Error(forced.reason);
    const result = await installProfileOn(fleet, device, forced.bytes);
    expect(result.status).toBe('Error');
    expect(result.response.ErrorChain).toEqual([expect.objectContaining({ ErrorDomain: expect.any(String), ErrorCode: expect.any(Number), LocalizedDescription: expect.stringMatching(/passwordpolicy/) })]);
    expect(device.hasProfile(PASSCODE_PROFILE_ID)).toBe(false);
  }

  // ProfileList and SecurityInfo, queued together: one wake drains both.
  const listQueued = await fleet.enqueue(device.id, { RequestType: 'ProfileList' });
  const infoQueued = await fleet.enqueue(device.id, { RequestType: 'SecurityInfo' });
  const list = await fleet.untilAnswered(device.id, listQueued.commandUuid);
  const info = await fleet.untilAnswered(device.id, infoQueued.commandUuid);
  expect([list.status, info.status]).toEqual(['Acknowledged', 'Acknowledged']);

  const items = parseProfileListResponse(list.response).ProfileList;
  const item = items.find((i) => i.PayloadIdentifier === PASSCODE_PROFILE_ID);
  if (installed) {
    expect(item).toMatchObject({ PayloadUUID: installed.uuid });
    const payload = installed.payloads[0]!;
    expect(item?.PayloadContent).toEqual([expect.objectContaining({ PayloadType: 'com.apple.mobiledevice.passwordpolicy', PayloadIdentifier: payload.PayloadIdentifier, PayloadUUID: payload.PayloadUUID })]);
  } else {
    expect(item).toBeUndefined();
  }
  // The enrollment profile is listed too, except under User Enrollment (managed profiles only).
  expect(items.some((i) => i.PayloadIdentifier.startsWith('lockwarden.enrollment.'))).toBe(kind.enrollment !== 'user');

  // SecurityInfo exactly as the platform documents it: passcode evidence on the iOS family, none on
  // a Mac. `info.response` is what the server stored in its queue for this command.
  const security = parseSecurityInfoResponse(info.response).SecurityInfo;
  const reported = Object.keys(info.response.SecurityInfo as Record<string, unknown>).sort();
  expect(reported).toEqual([...kind.securityInfoKeys].sort());
  if (kind.platform === 'macos') {
    expect(security).not.toHaveProperty('PasscodePresent');
    expect(security).not.toHaveProperty('PasscodeCompliant');
    expect(security.raw).toMatchObject({ FDE_Enabled: true });
  } else if (kind.enrollment === 'user') {
    expect(security).toMatchObject({ PasscodeCompliant: true, ManagementStatus: { IsUserEnrollment: true } });
    expect(security).not.toHaveProperty('PasscodePresent');
  } else {
    expect(security).toMatchObject({ PasscodePresent: kind.lockable, PasscodeCompliant: true, PasscodeCompliantWithProfiles: true });
  }

  // Locked: a deferrable command gets NotNow; after unlocking the device checks in and runs it.
  if (kind.lockable) {
    device.lock();
    const deferredQueued = await fleet.enqueue(device.id, { RequestType: 'SecurityInfo' });
    const runsLocked = await fleet.enqueue(device.id, { RequestType: 'ProfileList' });
    const deferred = await fleet.untilAnswered(device.id, deferredQueued.commandUuid, { statuses: ['NotNow'] });
    // ProfileList runs even while locked (COMMAND_RULES notNowWhenLocked false).
    expect((await fleet.untilAnswered(device.id, runsLocked.commandUuid)).status).toBe('Acknowledged');
    expect(device.received.commands.filter((r) => r.commandUuid === deferred.uuid).map((r) => r.status)).toEqual(['NotNow']);
    await device.unlock();
    const later = await fleet.untilAnswered(device.id, deferred.uuid, { statuses: ['Acknowledged'] });
    expect(later.response).toHaveProperty('SecurityInfo');
  } else {
    expect(() => device.lock()).toThrow(/no lock screen/);
  }

  // Removing the MDM profile: CheckOut (the profile asks for it), and the server disables the enrollment.
  const checkOut = await device.checkOut();
  expect(checkOut?.status).toBe(200);
  // Its user channel goes with it.
  expect((await fleet.getDevice(device.id)).enrollments.map((e) => e.enabled)).toEqual(userChannel ? [false, false] : [false]);
  expect(device.refusals).toEqual([]);
}

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`every device kind over HTTP (${database.name})`, () => {
    let fleet: Fleet;

    beforeAll(async () => {
      fleet = await startFleet({ database });
    });

    afterAll(async () => {
      expect(fleet?.router.failures ?? []).toEqual([]);
      await fleet?.close();
    });

    for (const c of CASES) {
      it.concurrent(`${c.kind}: enroll (${c.identity}) → policy → push → ProfileList → SecurityInfo → NotNow → check-out`, async () => {
        await kindPath(fleet, c);
      });
    }

    it.concurrent('an iPhone whose profile lacks AccessRights bit 4 sends no UnlockToken, and none is escrowed', async () => {
      // The server's profile always grants 8191; the device installs it as if edited to lack bit 4.
      const device = await fleet.enroll('iphone', { identity: 'pkcs12', accessRights: 8191 & ~4 });
      expect(device.unlockToken).toBeUndefined();
      expect((await fleet.getDevice(device.id)).escrow.unlockToken).toBe('absent');
      // And the device itself refuses ClearPasscode without the right.
      const refused = await ask(fleet, device, { RequestType: 'ClearPasscode', UnlockToken: Buffer.from('anything') });
      expect(refused.status).toBe('Error');
    });
  });
}

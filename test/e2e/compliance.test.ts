// Passcode policy delivery and compliance end to end, on SQLite and PostgreSQL, with simulated
// devices over HTTP only: a policy assigned to everyone reaches an iPhone the moment it enrolls
// (no command queued by the test), signed; ProfileList proves it is there; SecurityInfo puts the
// phone in its 60-minute grace, shown with its deadline; moving the shared clock past it and
// sweeping finds the passcode never changed; a conforming passcode is compliant at the next poll;
// a profile the user removes is found missing and delivered again, counted; a Mac is installed but
// not observable, an Apple TV not applicable; a policy update reaches only the devices it affects;
// unassigning removes the profile. On the DDM channel an iPhone gets the declaration and its
// compliance follows passcode.is-compliant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePlist } from '../../src/plist/plist-codec.ts';
import { readProfileBytes } from '../../src/plist/mobileconfig.ts';
import { EFFECTIVE_PROFILE_IDENTIFIER } from '../../src/services/policies.ts';
import { HOUR_MS, MINUTE_MS } from '../../src/sim/clock.ts';
import type { SimulatedDevice } from '../../src/sim/simulated-device.ts';
import { databaseUrls } from '../support/databases.ts';
import { startFleet } from '../support/fleet-harness.ts';
import type { Fleet } from '../support/fleet-harness.ts';

interface HistoryBody {
  entries: Array<{ seq: number; at: string; fromState: string | null; toState: string; reasonCode: string; reason: string; graceDeadline: string | null }>;
  next: number | null;
}

const CORPORATE = { MinimumLength: 6, AllowSimple: false };
// Fails CORPORATE (too short, a rising run): installing the policy starts the grace period.
const WEAK = '1234';
const STRONG = '739164';

const received = (device: SimulatedDevice, requestType: string) => device.received.commands.filter((c) => c.requestType === requestType);

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`passcode delivery and compliance, profile channel (${database.name})`, () => {
    let fleet: Fleet;
    let corporate: string;
    let phone: SimulatedDevice;

    const history = async (id: string) => (await fleet.api<HistoryBody>('GET', `/api/v1/devices/${encodeURIComponent(id)}/compliance-history`)).body.entries;
    /** Moves devices and server together, then runs the poll sweep as the timer would. */
    const later = async (ms: number) => {
      fleet.clock.advance(ms);
      await fleet.runtime.compliance.sweep();
    };

    beforeAll(async () => {
      fleet = await startFleet({ database, signing: true, passcodeChannel: 'profile' });
      const created = await fleet.api<{ id: string }>('POST', '/api/v1/policies', { name: 'Corporate', policy: CORPORATE });
      expect(created.status).toBe(201);
      corporate = created.body.id;
      expect((await fleet.api('POST', `/api/v1/policies/${corporate}/assignments`, { all: true })).status).toBe(201);
    });

    afterAll(async () => {
      expect(fleet?.router.failures ?? []).toEqual([]);
      if (fleet) expect(await fleet.runtime.audit.verify()).toMatchObject({ ok: true });
      await fleet?.close();
    });

    it('delivers the policy on enrollment, signed, verifies it by ProfileList, and shows the grace deadline', async () => {
      phone = await fleet.enroll('iphone', { passcode: WEAK });
      const view = await fleet.untilCompliance(phone.id, 'in-grace');

      // Nothing was queued by the test: the server sent the profile, then asked for the proof.
      expect(phone.received.commands.map((c) => `${c.requestType} ${c.status}`)).toEqual(['InstallProfile Acknowledged', 'ProfileList Acknowledged', 'SecurityInfo Acknowledged']);
      expect(phone.hasProfile(EFFECTIVE_PROFILE_IDENTIFIER)).toBe(true);
      const command = await fleet.command(phone.id, view.delivery!.commandUuid);
      const payload = (decodePlist(command!.body) as { Command: { Payload: Uint8Array } }).Command.Payload;
      const read = await readProfileBytes(payload);
      expect(read.signature?.signatureValid).toBe(true);
      expect(read.plist).toMatchObject({ PayloadIdentifier: EFFECTIVE_PROFILE_IDENTIFIER });

      const effective = (await fleet.api<{ profile: { payloadUuids: string[] } }>('GET', `/api/v1/devices/${phone.id}/effective-policy`)).body;
      expect(view).toMatchObject({ channel: 'profile', reasonCode: 'compliant-within-grace', reinstallCount: 0, delivery: { command: 'InstallProfile', status: 'Acknowledged' } });
      expect(view.channelReason).toMatch(/configuration profile/);
      expect(Date.parse(view.graceDeadline!) - Date.parse(view.installedAt!)).toBe(60 * MINUTE_MS);
      expect(view.evidence.map((e) => e.kind)).toEqual(['InstallProfile result', 'ProfileList', 'SecurityInfo']);
      expect(view.evidence[1]!.detail).toContain(effective.profile.payloadUuids.join(', '));
      expect(view.reason).toContain(view.graceDeadline!);
    });

    it('finds the passcode never changed once the grace ends, and compliant after the user sets a conforming one', async () => {
      await later(61 * MINUTE_MS);
      const lapsed = await fleet.untilCompliance(phone.id, 'non-compliant');
      expect(lapsed.reason).toMatch(/^PasscodeCompliant false, PasscodeCompliantWithProfiles false in SecurityInfo at .*; passcode present: yes; the 60-minute grace period ended at /);
      expect(lapsed.graceDeadline).not.toBeNull();

      expect(await phone.setPasscode(STRONG)).toEqual({ ok: true });
      await later(7 * HOUR_MS);
      const compliant = await fleet.untilCompliance(phone.id, 'compliant');
      expect(compliant.reason).toMatch(/^PasscodeCompliant true/);
      expect(compliant.graceDeadline).toBeNull();

      // A poll that finds the same situation adds nothing to the history.
      const before = await history(phone.id);
      await later(7 * HOUR_MS);
      await fleet.untilCompliance(phone.id, (v) => Date.parse(v.assessedAt!) > Date.parse(compliant.assessedAt!) && v.state === 'compliant');
      expect(await history(phone.id)).toEqual(before);
      // Newest first. The grace ending is an entry of its own: still in grace, waiting for a report after it.
      expect(before.map((e) => `${e.toState}:${e.reasonCode}`).reverse()).toEqual([
        'pending-delivery:awaiting-result', 'pending-delivery:acknowledged-unverified', 'installed-awaiting-report:awaiting-report',
        'in-grace:compliant-within-grace', 'in-grace:grace-ended-awaiting-report', 'non-compliant:reported-non-compliant', 'compliant:reported-compliant',
      ]);
      expect(before[0]).toMatchObject({ seq: 7, fromState: 'non-compliant', toState: 'compliant', graceDeadline: null });
    });

    it('delivers the profile again when the user removes it, and counts it', async () => {
      expect(await phone.userRemovesProfile(EFFECTIVE_PROFILE_IDENTIFIER)).toEqual({ ok: true });
      const installs = received(phone, 'InstallProfile').length;
      await later(7 * HOUR_MS);
      const back = await fleet.untilCompliance(phone.id, (v) => v.reinstallCount === 1 && v.state === 'in-grace');
      expect(received(phone, 'InstallProfile').length).toBe(installs + 1);
      expect(phone.hasProfile(EFFECTIVE_PROFILE_IDENTIFIER)).toBe(true);
      expect(back.reasonCode).toBe('compliant-within-grace');
      const states = (await history(phone.id)).map((e) => `${e.toState}:${e.reasonCode}`);
      expect(states).toContain('pending-delivery:removed');
    });

    it('proves a Mac has the profile but cannot observe its passcode, and sends an Apple TV nothing', async () => {
      const mac = await fleet.enroll('mac', { passcode: 'correct horse battery' });
      const tv = await fleet.enroll('apple-tv');
      const macView = await fleet.untilCompliance(mac.id, 'not-observable');
      expect(macView).toMatchObject({ channel: 'profile', reasonCode: 'platform-not-observable' });
      expect(mac.hasProfile(EFFECTIVE_PROFILE_IDENTIFIER)).toBe(true);
      expect(received(mac, 'SecurityInfo')).toEqual([]);
      const tvView = await fleet.untilCompliance(tv.id, 'not-applicable');
      expect(tvView.reason).toMatch(/tvOS/);
      expect(tvView.channel).toBeNull();
      expect(tv.received.commands).toEqual([]);
    });

    it('learns an iPad is shared from its user channel, and then holds no passcode policy for it', async () => {
      const ipad = await fleet.enroll('shared-ipad');
      const view = await fleet.untilCompliance(ipad.id, 'not-applicable');
      expect(view.reason).toMatch(/Shared iPad/);
      expect((await fleet.getDevice(ipad.id)).enrollmentKind).toBe('shared-ipad');
      await fleet.settled();
      expect(ipad.hasProfile(EFFECTIVE_PROFILE_IDENTIFIER)).toBe(false);
    });

    it('sends a policy update only to the devices it affects', async () => {
      const sales = await fleet.api<{ id: string }>('POST', '/api/v1/policies', { name: 'Sales', policy: { MinimumLength: 8, AllowSimple: false } });
      expect((await fleet.api('POST', `/api/v1/policies/${sales.body.id}/assignments`, { group: 'Sales' })).status).toBe(201);
      const seller = await fleet.enroll('iphone', { passcode: '73916482' });
      await fleet.untilCompliance(seller.id, 'in-grace');
      const corporateOnly = (await fleet.getDevice(seller.id)).compliance.delivery!.commandUuid;
      expect((await fleet.api('PUT', `/api/v1/devices/${seller.id}/groups`, { groups: ['Sales'] })).status).toBe(200);
      const inSales = await fleet.untilCompliance(seller.id, (v) => v.delivery!.commandUuid !== corporateOnly && v.state === 'in-grace');

      const phoneCommands = phone.received.commands.length;
      const phonePushes = phone.received.pushes.length;
      expect((await fleet.api('PUT', `/api/v1/policies/${sales.body.id}`, { policy: { MinimumLength: 10, AllowSimple: false } })).status).toBe(200);
      const updated = await fleet.untilCompliance(seller.id, (v) => v.delivery!.commandUuid !== inSales.delivery!.commandUuid && v.state === 'in-grace');
      expect(updated.delivery!.status).toBe('Acknowledged');
      await fleet.settled();
      expect(phone.received.commands.length).toBe(phoneCommands);
      expect(phone.received.pushes.length).toBe(phonePushes);
    });

    it('removes the profile when the policy is unassigned, and the state is unknown', async () => {
      expect((await fleet.api('DELETE', `/api/v1/policies/${corporate}/assignments`, { all: true })).status).toBe(204);
      const view = await fleet.untilCompliance(phone.id, (v) => v.state === 'unknown' && !phone.hasProfile(EFFECTIVE_PROFILE_IDENTIFIER));
      expect(view).toMatchObject({ reasonCode: 'no-policy', channel: null });
      expect(received(phone, 'RemoveProfile').map((c) => c.status)).toEqual(['Acknowledged']);
      expect((await history(phone.id))[0]).toMatchObject({ toState: 'unknown', reasonCode: 'no-policy' });
    });
  });

  describe.skipIf(!database.available)(`passcode delivery and compliance, DDM channel (${database.name})`, () => {
    let fleet: Fleet;

    beforeAll(async () => {
      fleet = await startFleet({ database, passcodeChannel: 'auto' });
      const created = await fleet.api<{ id: string }>('POST', '/api/v1/policies', { name: 'Corporate', policy: CORPORATE });
      expect((await fleet.api('POST', `/api/v1/policies/${created.body.id}/assignments`, { all: true })).status).toBe(201);
    });

    afterAll(async () => {
      expect(fleet?.router.failures ?? []).toEqual([]);
      await fleet?.close();
    });

    it('declares the policy to an iOS 18 iPhone and follows passcode.is-compliant', async () => {
      const phone = await fleet.enroll('iphone', { passcode: WEAK });
      const graced = await fleet.untilCompliance(phone.id, 'in-grace');
      expect(graced.channel).toBe('ddm');
      expect(graced.channelReason).toMatch(/passcode settings declaration/);
      expect(graced.delivery).toMatchObject({ command: 'DeclarativeManagement', status: 'Acknowledged' });
      // Installed on the device's own DDM status report; in grace on the newest passcode report
      // (passcode.is-compliant, or the SecurityInfo sent with the declaration), while the grace runs.
      expect(graced.evidence[0]).toMatchObject({ kind: 'DDM status', detail: expect.stringMatching(/^com\.lockwarden\.passcode\.passcode-settings \(server token \w+\) valid and active$/) });
      expect(graced.reason).toMatch(/^(passcode\.is-compliant true in DDM status|PasscodeCompliant true, PasscodeCompliantWithProfiles true in SecurityInfo) at .*, but a device may report compliance while its grace period runs/);
      expect(await fleet.runtime.store.compliance.get(phone.id)).toMatchObject({ ddmStatus: { passcode: { isCompliant: true, isPresent: true } } });
      expect(phone.declarations.activeConfigurations().map((d) => d.identifier)).toContain(`${EFFECTIVE_PROFILE_IDENTIFIER}.passcode-settings`);
      expect(received(phone, 'InstallProfile')).toEqual([]);

      // The grace ends: the device reports passcode.is-compliant false when it next wakes.
      fleet.clock.advance(61 * MINUTE_MS);
      await fleet.runtime.compliance.sweep();
      const lapsed = await fleet.untilCompliance(phone.id, 'non-compliant');
      expect(lapsed.graceDeadline).toBe(graced.graceDeadline);

      // A conforming passcode: the device reports it at once, no poll needed.
      expect(await phone.setPasscode(STRONG)).toEqual({ ok: true });
      const compliant = await fleet.untilCompliance(phone.id, 'compliant');
      expect(compliant.reason).toMatch(/^passcode\.is-compliant true in DDM status at /);
    });
  });
}

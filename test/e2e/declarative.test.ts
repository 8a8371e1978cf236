// Declarative Device Management end to end, on SQLite and PostgreSQL: a server whose provider
// declares a passcode settings configuration compiled by the policy engine for iPhones, and a
// simulated iPhone that talks to it over HTTP only. The sync request queues DeclarativeManagement
// and pushes; the phone syncs, activates the configuration, and reports status, which the server
// stores; a stricter declaration changes the token, and the next DeclarativeManagement command
// makes the phone fetch it and report again, through the grace period and a new passcode.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileDeclaration, compilePolicy } from '../../src/policy/index.ts';
import type { PasscodeRequirements } from '../../src/policy/index.ts';
import {
  ACTIVATION_IDENTIFIER, STATUS_SUBSCRIPTIONS_IDENTIFIER,
} from '../../src/services/declarative-service.ts';
import type { ConfigurationDeclaration, DeclarationsProvider } from '../../src/services/declarative-service.ts';
import { MINUTE_MS, VirtualClock } from '../../src/sim/clock.ts';
import { databaseUrls } from '../support/databases.ts';
import { startFleet } from '../support/fleet-harness.ts';
import type { Fleet } from '../support/fleet-harness.ts';

const PASSCODE_ID = 'com.example.ddm.passcode-settings';

function iosDeclaration(requirements: PasscodeRequirements): ConfigurationDeclaration {
  const compiled = compilePolicy(requirements, { platform: 'ios', enrollment: 'device' });
  if (!compiled.ok) throw new Error(compiled.reason);
  const declaration = compileDeclaration(compiled.compiled, { identifier: 'com.example.ddm' });
  if (!declaration.ok) throw new Error(declaration.reason);
  return declaration.declaration;
}

for (const database of databaseUrls) {
  describe.skipIf(!database.available)(`Declarative Device Management over HTTP (${database.name})`, () => {
    let fleet: Fleet;
    let requirements: PasscodeRequirements = { minLength: 6, allowSimple: false };
    // What the policy assignments will supply: here, the one policy, for iPhones only.
    const declarationsFor: DeclarationsProvider = async (enrollment) => {
      const device = await fleet.runtime.store.enrollments.getDevice(enrollment.deviceId);
      return { configurations: device?.platform === 'ios' ? [iosDeclaration(requirements)] : [] };
    };

    beforeAll(async () => {
      fleet = await startFleet({ database, declarationsFor });
    });

    afterAll(async () => {
      expect(fleet?.router.failures ?? []).toEqual([]);
      await fleet?.close();
    });

    const sync = async (enrollmentId: string) => {
      const request = await fleet.runtime.declarative.requestSync([enrollmentId]);
      expect(request.queued).toBe(1);
      return fleet.untilAnswered(enrollmentId, request.commandUuid);
    };

    it('syncs, activates the passcode configuration, reports status, and follows a stricter declaration', async () => {
      const clock = new VirtualClock();
      const phone = await fleet.enroll('iphone', { identity: 'scep', passcode: '739164', clock });
      const ref = { deviceId: phone.id, enrollmentId: phone.id, channel: 'device', type: 'Device' } as const;
      const first = await fleet.runtime.declarative.served(ref);
      const firstPasscode = iosDeclaration(requirements);

      expect((await sync(phone.id)).status).toBe('Acknowledged');
      expect(phone.declarativeErrors).toEqual([]);
      expect(phone.declarations.declarationsToken).toBe(first.declarationsToken);
      expect(phone.declarations.activeConfigurations().map((d) => d.identifier).sort()).toEqual([PASSCODE_ID, STATUS_SUBSCRIPTIONS_IDENTIFIER]);
      expect(phone.passcodeStatus().state).toBe('compliant');
      expect(await fleet.runtime.store.declarative.statusOf(phone.id)).toEqual({
        passcodeIsCompliant: true,
        passcodeIsPresent: true,
        declarations: expect.arrayContaining([
          { group: 'activation', identifier: ACTIVATION_IDENTIFIER, serverToken: first.activations[0]!.ServerToken, active: true, valid: 'valid' },
          { group: 'configuration', identifier: PASSCODE_ID, serverToken: firstPasscode.ServerToken, active: true, valid: 'valid' },
          { group: 'configuration', identifier: STATUS_SUBSCRIPTIONS_IDENTIFIER, serverToken: first.configurations[1]!.ServerToken, active: true, valid: 'valid' },
        ]),
        errors: [],
        declarationsToken: first.declarationsToken,
        updatedAt: expect.any(Number),
      });

      // Stricter: the passcode's ServerToken and the DeclarationsToken move; the activation does not.
      requirements = { minLength: 8, allowSimple: false };
      const second = await fleet.runtime.declarative.served(ref);
      const secondPasscode = iosDeclaration(requirements);
      expect(second.declarationsToken).not.toBe(first.declarationsToken);
      expect(secondPasscode.ServerToken).not.toBe(firstPasscode.ServerToken);
      expect(second.activations).toEqual(first.activations);
      // Nothing reaches the phone until the next DeclarativeManagement command.
      expect(phone.declarations.declarationsToken).toBe(first.declarationsToken);

      const reportsBefore = phone.statusReports.length;
      expect((await sync(phone.id)).status).toBe('Acknowledged');
      expect(phone.declarations.declarationsToken).toBe(second.declarationsToken);
      expect(phone.declarations.all().find((d) => d.identifier === PASSCODE_ID)?.serverToken).toBe(secondPasscode.ServerToken);
      expect(phone.statusReports.length).toBeGreaterThan(reportsBefore);
      // A 6-digit passcode under an 8-character minimum: compliant only for the grace period.
      expect(phone.passcodeStatus().state).toBe('in-grace');
      const graced = await fleet.runtime.store.declarative.statusOf(phone.id);
      expect(graced).toMatchObject({ passcodeIsCompliant: true, passcodeIsPresent: true, declarationsToken: second.declarationsToken });
      expect(graced?.declarations).toContainEqual({ group: 'configuration', identifier: PASSCODE_ID, serverToken: secondPasscode.ServerToken, active: true, valid: 'valid' });

      // The grace runs out: the phone reports on its own (an incremental report, merged).
      clock.advance(61 * MINUTE_MS);
      await phone.wake();
      const lapsed = await fleet.runtime.store.declarative.statusOf(phone.id);
      expect(lapsed).toMatchObject({ passcodeIsCompliant: false, passcodeIsPresent: true });
      expect(lapsed?.declarations).toContainEqual(expect.objectContaining({ identifier: PASSCODE_ID, serverToken: secondPasscode.ServerToken, active: true }));

      await phone.setPasscode('73916482');
      expect(await fleet.runtime.store.declarative.statusOf(phone.id)).toMatchObject({ passcodeIsCompliant: true, passcodeIsPresent: true });
      expect(phone.refusals).toEqual([]);
    });

    it('gives a Mac, which the provider has nothing for, the empty manifest', async () => {
      const mac = await fleet.enroll('mac', { identity: 'scep', passcode: 'correct horse' });
      expect((await sync(mac.id)).status).toBe('Acknowledged');
      expect(mac.declarations.all()).toEqual([]);
      expect(await fleet.runtime.store.declarative.statusOf(mac.id)).toMatchObject({ declarations: [], errors: [] });
      expect(mac.refusals).toEqual([]);
    });
  });
}

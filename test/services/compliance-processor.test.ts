// The compliance processor on both databases: results of lockwarden's own commands become
// evidence and state, from the stored rows alone (processPending, no in-memory notification
// needed). ProfileList with exactly the desired payload UUIDs is installed, an acknowledgment alone
// is not; a profile gone from a later ProfileList is delivered again and counted; SecurityInfo moves
// a device through grace to non-compliant and compliant, with history only on change; errors keep
// the device's ErrorChain; DDM status reports count; each result is taken in once, across processors.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createComplianceProcessor, GONE_AFTER_MS } from '../../src/services/compliance-processor.ts';
import { DEFAULT_POLL_SCHEDULE, PASSCODE_GRACE_MS } from '../../src/services/compliance/index.ts';
import { EFFECTIVE_PROFILE_IDENTIFIER } from '../../src/services/policies.ts';
import type { Store } from '../../src/store/database.ts';
import { ADMIN, openWorld } from '../support/compliance-world.ts';
import type { World } from '../support/compliance-world.ts';
import { databases } from '../support/databases.ts';

const CORPORATE = { MinimumLength: 6, AllowSimple: false };
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

for (const database of databases) {
  describe.skipIf(!database.available)(`compliance processor (${database.name})`, () => {
    let store: Store;
    let world: World;

    beforeEach(async () => {
      store = await database.open();
      world = await openWorld(store);
      const id = await world.createPolicy('Corporate', CORPORATE);
      await world.policies.assign(ADMIN, id, { kind: 'all' });
      await world.enroll('PHONE-1');
    });
    afterEach(async () => {
      await world.close();
      await store.close();
    });

    const record = () => store.compliance.get('PHONE-1');
    const states = async () => (await store.compliance.history('PHONE-1', { limit: 100 })).map((e) => `${e.toState}:${e.reasonCode}`).reverse();
    /** The device answers what is waiting for it, in queue order, each a second later. */
    const answerAll = async (answers: Record<string, () => Promise<Record<string, unknown>> | Record<string, unknown>>) => {
      for (const command of await world.pendingCommands('PHONE-1')) {
        world.advance(1000);
        const give = answers[command.requestType] ?? (() => ({}));
        await world.answer('PHONE-1', command.uuid, 'Acknowledged', await give());
      }
      await world.processor.processPending();
      await world.settle();
    };
    const delivered = async () => {
      await world.delivery.reconcile(['PHONE-1']);
      return (await world.pendingCommands('PHONE-1')).map((c) => c.uuid);
    };

    it('counts an install only when ProfileList lists exactly its payload UUIDs; an acknowledgment alone is not one', async () => {
      const [install, list] = await delivered();
      world.advance(1000);
      await world.answer('PHONE-1', install!, 'Acknowledged');
      const acknowledgedAt = world.now();
      expect(await world.processor.processPending()).toBe(1);
      expect(await record()).toMatchObject({ state: 'pending-delivery', reasonCode: 'acknowledged-unverified', installedAt: null, delivery: { resultStatus: 'Acknowledged' } });

      world.advance(1000);
      await world.answer('PHONE-1', list!, 'Acknowledged', await world.profileList('PHONE-1', { payloadUuids: ['6A1F0000-0000-5000-8000-000000000000'] }));
      await world.processor.processPending();
      // Another version listed after the acknowledgment: it did not stay, so it is delivered again.
      expect(await record()).toMatchObject({ state: 'pending-delivery', reasonCode: 'missing-after-acknowledged', installedAt: null });
      await world.settle();
      const again = (await world.pendingCommands('PHONE-1')).filter((c) => c.requestType === 'InstallProfile');
      expect(again).toHaveLength(1);

      world.advance(1000);
      await world.answer('PHONE-1', again[0]!.uuid, 'Acknowledged');
      const reacknowledgedAt = world.now();
      const nextList = (await world.pendingCommands('PHONE-1')).find((c) => c.requestType === 'ProfileList')!;
      world.advance(1000);
      await world.answer('PHONE-1', nextList.uuid, 'Acknowledged', await world.profileList('PHONE-1'));
      await world.processor.processPending();
      // The device installs before it acknowledges: the installation dates from the acknowledgment.
      expect(await record()).toMatchObject({ state: 'installed-awaiting-report', installedAt: reacknowledgedAt });
      expect(reacknowledgedAt).toBeGreaterThan(acknowledgedAt);
    });

    it('moves through grace to non-compliant and compliant on SecurityInfo, with history only on change', async () => {
      await delivered();
      await answerAll({ ProfileList: () => world.profileList('PHONE-1'), SecurityInfo: () => world.securityInfo(true) });
      const graced = await record();
      expect(graced).toMatchObject({ state: 'in-grace', reasonCode: 'compliant-within-grace', graceDeadline: graced!.installedAt! + PASSCODE_GRACE_MS });
      // The next SecurityInfo is due right after the deadline.
      expect(graced!.nextSecurityInfoAt).toBe(graced!.graceDeadline! + DEFAULT_POLL_SCHEDULE.afterGraceMs);

      world.advance(61 * 60_000);
      expect(await world.delivery.pollDue()).toBe(1);
      await answerAll({ SecurityInfo: () => world.securityInfo(false) });
      expect(await record()).toMatchObject({ state: 'non-compliant', graceDeadline: graced!.graceDeadline, reason: expect.stringMatching(/^PasscodeCompliant false/) });
      const afterLapse = await states();

      // The same answer at the next poll changes nothing worth a history entry.
      world.advance(7 * 3_600_000);
      await world.delivery.pollDue();
      await answerAll({ SecurityInfo: () => world.securityInfo(false), ProfileList: () => world.profileList('PHONE-1') });
      expect(await states()).toEqual(afterLapse);

      world.advance(7 * 3_600_000);
      await world.delivery.pollDue();
      await answerAll({ SecurityInfo: () => world.securityInfo(true), ProfileList: () => world.profileList('PHONE-1') });
      expect(await record()).toMatchObject({ state: 'compliant', graceDeadline: null });
      expect(await states()).toEqual([
        'pending-delivery:awaiting-result', 'pending-delivery:acknowledged-unverified', 'installed-awaiting-report:awaiting-report',
        'in-grace:compliant-within-grace', 'in-grace:grace-ended-awaiting-report', 'non-compliant:reported-non-compliant', 'compliant:reported-compliant',
      ]);
      expect(world.changes.map((c) => c.toState).at(-1)).toBe('compliant');
    });

    it('delivers the profile again when a later ProfileList no longer has it, and counts the re-install', async () => {
      await delivered();
      await answerAll({ ProfileList: () => world.profileList('PHONE-1'), SecurityInfo: () => world.securityInfo(true) });
      expect(await record()).toMatchObject({ state: 'in-grace', reinstallCount: 0 });

      world.advance(7 * 3_600_000);
      await world.delivery.pollDue();
      const list = (await world.pendingCommands('PHONE-1')).find((c) => c.requestType === 'ProfileList')!;
      world.advance(1000);
      await world.answer('PHONE-1', list.uuid, 'Acknowledged', await world.profileList('PHONE-1', { installed: false }));
      await world.processor.processPending();
      expect(await states()).toContain('pending-delivery:removed');
      await world.settle();
      // The installation time goes with the profile: the re-install starts a new grace period.
      expect(await record()).toMatchObject({ state: 'pending-delivery', reasonCode: 'awaiting-result', installedAt: null, reinstallCount: 1, reinstallDue: false });
      expect((await world.pendingCommands('PHONE-1')).map((c) => c.requestType)).toContain('InstallProfile');

      // The SecurityInfo asked before the re-install is answered first, and cannot speak for it: asked again.
      await answerAll({ ProfileList: () => world.profileList('PHONE-1'), SecurityInfo: () => world.securityInfo(true) });
      expect(await record()).toMatchObject({ state: 'installed-awaiting-report', reinstallCount: 1 });
      await answerAll({ SecurityInfo: () => world.securityInfo(true) });
      expect(await record()).toMatchObject({ state: 'in-grace', reinstallCount: 1 });
    });

    it('shows an InstallProfile error with the device\'s ErrorChain, and a NotNow as still pending', async () => {
      const [install] = await delivered();
      world.advance(1000);
      await world.answer('PHONE-1', install!, 'NotNow');
      await world.processor.processPending();
      expect(await record()).toMatchObject({ state: 'pending-delivery', reasonCode: 'not-now' });
      // A second NotNow of the same command is taken in once.
      expect(await world.processor.processPending()).toBe(0);

      world.advance(1000);
      await world.answer('PHONE-1', install!, 'Error', {
        ErrorChain: [{ ErrorCode: 2002, ErrorDomain: 'MCPayloadErrorDomain', LocalizedDescription: 'refused', USEnglishDescription: 'The payload was refused' }],
      });
      await world.processor.processPending();
      expect(await record()).toMatchObject({ state: 'error', reasonCode: 'install-error', reason: expect.stringContaining('MCPayloadErrorDomain 2002: The payload was refused') });
      // A failed version is not retried by itself.
      expect((await world.delivery.reconcile(['PHONE-1'])).commands.map((c) => c.requestType)).not.toContain('InstallProfile');
    });

    it('takes each result in once, whichever processor sees it first, and needs no notification', async () => {
      const peerStore = await database.openPeer(store);
      const peer = createComplianceProcessor({ store: peerStore, now: world.now, log: SILENT, reconcile: () => undefined });
      try {
        await delivered();
        for (const command of await world.pendingCommands('PHONE-1')) {
          world.advance(1000);
          const answer = command.requestType === 'ProfileList' ? await world.profileList('PHONE-1') : command.requestType === 'SecurityInfo' ? world.securityInfo(true) : {};
          await world.answer('PHONE-1', command.uuid, 'Acknowledged', answer);
        }
        const [mine, theirs] = await Promise.all([world.processor.processPending(), peer.processPending()]);
        expect(mine + theirs).toBe(3);
        expect(await record()).toMatchObject({ state: 'in-grace' });
        const history = await store.compliance.history('PHONE-1', { limit: 100 });
        expect(new Set(history.map((e) => e.seq)).size).toBe(history.length);
        expect(await world.processor.processPending()).toBe(0);
      } finally {
        await peer.close();
        await peerStore.close();
      }
    });

    it('plans again when a delivery never reached the queue', async () => {
      const [install] = await delivered();
      // As if the server stopped between recording the delivery and queuing it.
      await store.db.deleteFrom('command_queue').where('enrollment_id', '=', 'PHONE-1').execute();
      expect(await world.processor.processPending()).toBe(0);
      world.advance(GONE_AFTER_MS + 10);
      expect(await world.processor.processPending()).toBe(3);
      await world.settle();
      const queued = await world.pendingCommands('PHONE-1');
      // The install again, first. ProfileList and SecurityInfo join it unless the re-plan ran while
      // their old rows were still being taken in; then they follow the install's acknowledgment.
      expect(queued[0]!.requestType).toBe('InstallProfile');
      expect(queued.slice(1).map((c) => c.requestType).every((t) => t === 'ProfileList' || t === 'SecurityInfo')).toBe(true);
      expect(queued.filter((c) => c.requestType === 'InstallProfile')).toHaveLength(1);
      expect(queued[0]!.uuid).not.toBe(install);
      expect(await record()).toMatchObject({ delivery: { commandUuid: queued[0]!.uuid } });
    });

    it('wakes on notify() without a sweep', async () => {
      const [install] = await delivered();
      world.advance(1000);
      await world.answer('PHONE-1', install!, 'Acknowledged');
      world.processor.notify('PHONE-1', install!, 'Acknowledged');
      world.processor.notify('PHONE-1', 'NOT-A-COMPLIANCE-COMMAND', 'Acknowledged');
      await world.settle();
      expect(await record()).toMatchObject({ reasonCode: 'acknowledged-unverified' });
    });
  });

  describe.skipIf(!database.available)(`compliance processor over DDM (${database.name})`, () => {
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

    it('confirms the declaration and reads passcode.is-compliant from the stored status report', async () => {
      const id = await world.createPolicy('Corporate', CORPORATE);
      await world.policies.assign(ADMIN, id, { kind: 'all' });
      await world.enroll('PHONE-1');
      await world.delivery.reconcile(['PHONE-1']);
      const desired = (await store.compliance.get('PHONE-1'))!.desired;
      expect(desired.kind).toBe('ddm');

      world.advance(1000);
      const statusItems = {
        management: { declarations: { configurations: [{ identifier: desired.identifier, 'server-token': desired.serverToken, active: true, valid: 'valid' }] } },
        passcode: { 'is-compliant': true, 'is-present': true },
      };
      await store.declarative.updateStatus('PHONE-1', () => ({ statusItems, errors: [] }), world.now());
      expect(await world.processor.processPending()).toBe(1);
      const graced = await store.compliance.get('PHONE-1');
      expect(graced).toMatchObject({ state: 'in-grace', installedAt: world.now(), reason: expect.stringMatching(/^passcode\.is-compliant true in DDM status/) });
      expect(graced!.evidence).toEqual([
        expect.objectContaining({ kind: 'DDM status', detail: expect.stringContaining(`${EFFECTIVE_PROFILE_IDENTIFIER}.passcode-settings`) }),
        expect.objectContaining({ kind: 'DDM status', detail: expect.stringMatching(/^passcode\.is-compliant true/) }),
      ]);

      world.advance(PASSCODE_GRACE_MS + 1000);
      await store.declarative.updateStatus('PHONE-1', () => ({ statusItems: { ...statusItems, passcode: { 'is-compliant': false, 'is-present': true } }, errors: [] }), world.now());
      world.processor.notifyStatus('PHONE-1');
      await world.settle();
      expect(await store.compliance.get('PHONE-1')).toMatchObject({ state: 'non-compliant', reason: expect.stringMatching(/^passcode\.is-compliant false in DDM status/) });
    });
  });
}

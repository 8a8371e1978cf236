// The compliance store on both databases: a device's record round-trips whole (JSON evidence
// included), history pages newest first, the work list of outstanding commands is claimed once,
// answered commands are found from the queue (a missing queue row only after a while), and the
// poll sweep and the fleet report read what they need.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newRecord } from '../../src/services/compliance-assessment.ts';
import type { Store } from '../../src/store/database.ts';
import type { ComplianceRecord } from '../../src/store/types.ts';
import { databases } from '../support/databases.ts';

const T = 1_800_000_000_000;

for (const database of databases) {
  describe.skipIf(!database.available)(`compliance store (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await database.open();
      for (const id of ['D1', 'D2', 'D3']) {
        await store.enrollments.authenticate({ deviceId: id, type: 'Device', topic: 't', certHash: `c-${id}`, platform: 'ios', now: T });
        await store.enrollments.tokenUpdate({ enrollmentId: id, deviceId: id, channel: 'device', type: 'Device', topic: 't', pushToken: Buffer.alloc(32, 1), pushMagic: 'm', now: T });
      }
    });
    afterEach(async () => { await store.close(); });

    const full = (id: string, patch: Partial<ComplianceRecord> = {}): ComplianceRecord => ({
      ...newRecord(id, 'ios', T),
      channel: 'profile',
      channelReason: 'configuration profile: because',
      desired: { kind: 'profile', reason: null, identifier: 'com.lockwarden.passcode', contentHash: 'abc', profileUuid: 'P-UUID', payloadUuids: ['U1', 'U2'], serverToken: null, since: T },
      servedDeclaration: { Type: 'com.apple.configuration.passcode.settings', Identifier: 'x', ServerToken: 's', Payload: { MinimumLength: 6 } },
      delivery: { command: 'InstallProfile', commandUuid: 'C1', contentHash: 'abc', queuedAt: T + 1, resultStatus: 'Error', resultAt: T + 2, errorChain: [{ ErrorCode: 1, ErrorDomain: 'd' }] },
      profileManaged: true,
      profileList: { at: T + 3, profiles: [{ identifier: 'com.lockwarden.passcode', payloadUuids: ['U1'] }] },
      securityInfo: { at: T + 4, passcodeCompliant: false },
      ddmStatus: { passcode: { at: T + 5, isCompliant: true } },
      ddmStatusAt: T + 5,
      installedAt: T + 2,
      reinstallCount: 2,
      reinstallDue: true,
      state: 'in-grace',
      reasonCode: 'compliant-within-grace',
      reason: 'because',
      graceDeadline: T + 3_600_000,
      evidence: [{ kind: 'SecurityInfo', at: T + 4, detail: 'd' }],
      nextProfileListAt: T + 10,
      nextSecurityInfoAt: T + 20,
      historyCount: 3,
      ...patch,
    });

    it('stores and replaces a record whole', async () => {
      const record = full('D1');
      await store.compliance.put(record);
      expect(await store.compliance.get('D1')).toEqual(record);
      const changed = { ...record, delivery: null, servedDeclaration: null, state: 'compliant', graceDeadline: null, nextProfileListAt: null };
      await store.compliance.put(changed);
      expect(await store.compliance.get('D1')).toEqual(changed);
      expect(await store.compliance.servedDeclaration('D1')).toBeUndefined();
      expect([...(await store.compliance.getMany(['D1', 'D2'])).keys()]).toEqual(['D1']);
      await store.transaction(async (tx) => { expect(await tx.compliance.lock('D1')).toEqual(changed); });
    });

    it('pages history newest first', async () => {
      for (let seq = 1; seq <= 3; seq++) {
        await store.compliance.appendHistory({ deviceId: 'D1', seq, at: T + seq, fromState: seq === 1 ? null : 'unknown', toState: 'unknown', reasonCode: 'no-policy', reason: `r${seq}`, graceDeadline: null, evidence: [] });
      }
      expect((await store.compliance.history('D1', { limit: 2 })).map((e) => e.seq)).toEqual([3, 2]);
      expect(await store.compliance.history('D1', { limit: 2, beforeSeq: 2 })).toEqual([
        { deviceId: 'D1', seq: 1, at: T + 1, fromState: null, toState: 'unknown', reasonCode: 'no-policy', reason: 'r1', graceDeadline: null, evidence: [] },
      ]);
    });

    it('claims an answered command once, and finds answers (and long-missing queue rows) from the queue', async () => {
      await store.commands.enqueue({ uuid: 'C1', requestType: 'ProfileList', body: Buffer.from('x') }, ['D1', 'D2'], { now: T });
      await store.compliance.addCommands([
        { enrollmentId: 'D1', commandUuid: 'C1', kind: 'ProfileList', contentHash: null, queuedAt: T, seenStatus: null },
        { enrollmentId: 'D2', commandUuid: 'C1', kind: 'ProfileList', contentHash: null, queuedAt: T, seenStatus: null },
        { enrollmentId: 'D3', commandUuid: 'NEVER-QUEUED', kind: 'SecurityInfo', contentHash: null, queuedAt: T, seenStatus: null },
      ]);
      expect(await store.compliance.answered(10, T)).toEqual([]);
      await store.commands.report('D1', 'C1', 'NotNow', null, T + 1);
      await store.commands.report('D2', 'C1', 'Acknowledged', null, T + 1);
      const answered = await store.compliance.answered(10, T + 1);
      expect(answered.map((a) => [a.enrollmentId, a.queueStatus]).sort()).toEqual([['D1', 'NotNow'], ['D2', 'Acknowledged'], ['D3', null]]);

      expect(await store.compliance.take('D1', 'C1', 'NotNow')).toBe(true);
      expect(await store.compliance.take('D1', 'C1', 'NotNow')).toBe(false);
      expect(await store.compliance.take('D2', 'C1', 'Acknowledged')).toBe(true);
      expect(await store.compliance.take('D2', 'C1', 'Acknowledged')).toBe(false);
      expect(await store.compliance.outstanding(['D1', 'D2'])).toEqual([
        { enrollmentId: 'D1', commandUuid: 'C1', kind: 'ProfileList', contentHash: null, queuedAt: T, seenStatus: 'NotNow' },
      ]);
      expect((await store.compliance.answered(10, T + 1)).map((a) => a.enrollmentId)).toEqual(['D3']);
    });

    it('lists devices due for a poll, longest waiting first, and counts devices by state', async () => {
      await store.compliance.put(full('D1', { nextProfileListAt: T + 50, nextSecurityInfoAt: null }));
      await store.compliance.put(full('D2', { nextProfileListAt: T + 90, nextSecurityInfoAt: T + 30, state: 'compliant' }));
      await store.compliance.put(full('D3', { nextProfileListAt: null, nextSecurityInfoAt: null }));
      expect(await store.compliance.dueForPoll(T + 60, 10)).toEqual(['D2', 'D1']);
      expect(await store.compliance.dueForPoll(T + 40, 10)).toEqual(['D2']);
      expect(await store.compliance.dueForPoll(T + 60, 1)).toEqual(['D2']);
      expect(await store.compliance.countByState()).toEqual({ 'in-grace': 2, compliant: 1 });
    });

    it('finds devices on the DDM channel whose stored status is newer than their evidence', async () => {
      await store.compliance.put(full('D1', { desired: { ...full('D1').desired, kind: 'ddm' }, ddmStatusAt: T + 5 }));
      await store.compliance.put(full('D2', { desired: { ...full('D2').desired, kind: 'ddm' }, ddmStatusAt: null }));
      await store.compliance.put(full('D3'));
      for (const id of ['D1', 'D2', 'D3']) await store.declarative.updateStatus(id, () => ({ statusItems: {}, errors: [] }), T + 5);
      expect(await store.compliance.statusChanged(10)).toEqual(['D2']);
      await store.declarative.updateStatus('D1', () => ({ statusItems: {}, errors: [] }), T + 6);
      expect((await store.compliance.statusChanged(10)).sort()).toEqual(['D1', 'D2']);
    });
  });
}

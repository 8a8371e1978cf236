// The command queue stays bounded: expired commands are marked, finished rows past retention go.
import { describe, expect, it } from 'vitest';
import { startQueueMaintenance } from '../../src/services/queue-maintenance.ts';
import { databases } from '../support/databases.ts';

const DAY = 86_400_000;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

for (const database of databases) {
  describe.skipIf(!database.available)(`queue maintenance (${database.name})`, () => {
    it('expires due commands and prunes finished rows older than the retention period, keeping the rest', async () => {
      const store = await database.open();
      const t0 = 1_800_000_000_000;
      await store.enrollments.authenticate({ deviceId: 'D1', type: 'Device', topic: 'com.apple.mgmt.x', certHash: 'a'.repeat(64), now: t0 });
      const enqueue = (uuid: string, at: number, expiresAt?: number) =>
        store.commands.enqueue({ uuid, requestType: 'SecurityInfo', body: Buffer.from(uuid) }, ['D1'], { now: at, ...(expiresAt && { expiresAt }) });
      await enqueue('OLD-DONE', t0);
      await store.commands.report('D1', 'OLD-DONE', 'Acknowledged', Buffer.from('r'), t0 + 1000);
      await enqueue('RECENT-DONE', t0 + 20 * DAY);
      await store.commands.report('D1', 'RECENT-DONE', 'Acknowledged', Buffer.from('r'), t0 + 20 * DAY);
      await enqueue('PENDING', t0);
      await enqueue('EXPIRING', t0, t0 + DAY);

      const maintenance = startQueueMaintenance({ store, retentionMs: 10 * DAY, log: silent, now: () => t0 + 25 * DAY, intervalMs: 3_600_000 });
      const result = await maintenance.runOnce();
      maintenance.stop();

      expect(result.expired).toBe(1);
      expect(result.prunedRows).toBe(1);
      expect(await store.commands.get('D1', 'OLD-DONE')).toBeUndefined();
      expect((await store.commands.get('D1', 'RECENT-DONE'))?.status).toBe('Acknowledged');
      expect((await store.commands.get('D1', 'PENDING'))?.status).toBe('pending');
      expect((await store.commands.get('D1', 'EXPIRING'))?.status).toBe('Expired');
    });
  });
}

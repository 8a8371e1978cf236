// CommandQueueStore on both databases: delivery order (priority, age, NotNow behind fresh,
// skipNotNow, expiry), report isolation, atomic bulk enqueue, prune and stats.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/database.ts';
import { DuplicateCommandError, NotEnrolledError, StoreError, UnknownEnrollmentError } from '../../src/store/errors.ts';
import type { ReportStatus } from '../../src/store/types.ts';
import { databases } from '../support/databases.ts';

const A = 'DEVICE-A';
const B = 'DEVICE-B';
const IDLE = { skipNotNow: false, now: 50_000 };
const BUSY = { skipNotNow: true, now: 50_000 };

const command = (uuid: string, requestType = 'ProfileList') => ({ uuid, requestType, body: Buffer.from(`<plist>${uuid}</plist>`) });

async function enroll(store: Store, id: string): Promise<void> {
  await store.enrollments.authenticate({ deviceId: id, type: 'Device', topic: 'topic', certHash: randomUUID(), now: 1 });
}

for (const database of databases) {
  describe.skipIf(!database.available)(`CommandQueueStore (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await database.open();
      await enroll(store, A);
      await enroll(store, B);
    });
    afterEach(async () => { await store.close(); });

    const nextUuid = async (opts = IDLE, id = A) => (await store.commands.next(id, opts))?.uuid;

    it('next returns the highest priority, then the oldest, pending command', async () => {
      await store.commands.enqueue(command('old-low'), [A], { now: 1_000 });
      await store.commands.enqueue(command('new-low'), [A], { now: 2_000 });
      await store.commands.enqueue(command('new-high'), [A], { priority: 5, now: 3_000 });
      await store.commands.enqueue(command('negative'), [A], { priority: -1, now: 500 });

      const first = await store.commands.next(A, IDLE);
      expect(first).toEqual({
        enrollmentId: A, uuid: 'new-high', requestType: 'ProfileList', body: Buffer.from('<plist>new-high</plist>'),
        priority: 5, status: 'pending', notNowCount: 0, expiresAt: null, createdAt: 3_000,
      });
      // Without a report the same command is offered again (it may not have reached the device).
      expect(await nextUuid()).toBe('new-high');
      const order: string[] = [];
      for (let uuid = await nextUuid(); uuid !== undefined; uuid = await nextUuid()) {
        order.push(uuid);
        expect(await store.commands.report(A, uuid, 'Acknowledged', Buffer.from('ok'), 60_000)).toBe(true);
      }
      expect(order).toEqual(['new-high', 'old-low', 'new-low', 'negative']);
    });

    it('a NotNow command comes after every fresh pending command, and only at Idle', async () => {
      await store.commands.enqueue(command('deferred'), [A], { priority: 9, now: 1_000 });
      await store.commands.enqueue(command('fresh-1'), [A], { now: 2_000 });
      await store.commands.enqueue(command('fresh-2'), [A], { now: 3_000 });

      expect(await nextUuid()).toBe('deferred');
      expect(await store.commands.report(A, 'deferred', 'NotNow', Buffer.from('notnow'), 4_000)).toBe(true);
      // Busy device: NotNow ones are skipped entirely.
      expect(await nextUuid(BUSY)).toBe('fresh-1');
      // Idle: fresh ones still come first, despite the deferred command's higher priority.
      expect(await nextUuid(IDLE)).toBe('fresh-1');
      await store.commands.report(A, 'fresh-1', 'Acknowledged', null, 5_000);
      await store.commands.report(A, 'fresh-2', 'Error', Buffer.from('err'), 5_000);
      expect(await nextUuid(BUSY)).toBeUndefined();
      const again = await store.commands.next(A, IDLE);
      expect(again).toMatchObject({ uuid: 'deferred', status: 'NotNow', notNowCount: 1 });

      await store.commands.report(A, 'deferred', 'NotNow', null, 6_000);
      expect(await store.commands.get(A, 'deferred')).toMatchObject({ status: 'NotNow', notNowCount: 2, notNowAt: 6_000 });
      await store.commands.report(A, 'deferred', 'Acknowledged', Buffer.from('done'), 7_000);
      expect(await store.commands.get(A, 'deferred')).toMatchObject({ status: 'Acknowledged', notNowCount: 2, result: Buffer.from('done') });
      expect(await nextUuid(IDLE)).toBeUndefined();
    });

    it('NotNow commands keep priority order among themselves', async () => {
      await store.commands.enqueue(command('n-low'), [A], { now: 1_000 });
      await store.commands.enqueue(command('n-high'), [A], { priority: 3, now: 2_000 });
      await store.commands.report(A, 'n-low', 'NotNow', null, 3_000);
      await store.commands.report(A, 'n-high', 'NotNow', null, 3_000);
      expect(await nextUuid(IDLE)).toBe('n-high');
    });

    it('expired commands are never delivered and are marked Expired', async () => {
      await store.commands.enqueue(command('expiring'), [A], { priority: 10, expiresAt: 10_000, now: 1_000 });
      await store.commands.enqueue(command('expiring-notnow'), [A], { priority: 10, expiresAt: 20_000, now: 1_000 });
      await store.commands.enqueue(command('lasting'), [A], { expiresAt: 100_000, now: 2_000 });
      await store.commands.report(A, 'expiring-notnow', 'NotNow', null, 1_500);

      expect(await nextUuid({ skipNotNow: false, now: 9_999 })).toBe('expiring');
      expect(await nextUuid({ skipNotNow: false, now: 10_000 })).toBe('lasting');
      expect((await store.commands.get(A, 'expiring'))?.status).toBe('Expired');
      await store.commands.report(A, 'lasting', 'Acknowledged', null, 10_001);
      expect(await nextUuid({ skipNotNow: false, now: 20_000 })).toBeUndefined();
      expect((await store.commands.get(A, 'expiring-notnow'))?.status).toBe('Expired');
      // A late NotNow does not bring an expired command back; a late final answer is recorded.
      await store.commands.report(A, 'expiring', 'NotNow', null, 30_000);
      expect((await store.commands.get(A, 'expiring'))?.status).toBe('Expired');
      await store.commands.report(A, 'expiring', 'Acknowledged', Buffer.from('late'), 30_000);
      expect((await store.commands.get(A, 'expiring'))?.status).toBe('Acknowledged');
    });

    it('nextForCertificate answers like next when the certificate is the bound one, and reads only otherwise', async () => {
      const bound = (await store.enrollments.boundCertHash(A))!;
      const forCert = (certHash: string, opts = IDLE, deviceId = A, enrollmentId = A) =>
        store.commands.nextForCertificate(enrollmentId, { ...opts, deviceId, certHash });
      expect(await forCert(bound)).toEqual({ boundCertHash: bound, next: undefined });

      await store.commands.enqueue(command('deferred'), [A], { priority: 9, now: 1_000 });
      await store.commands.enqueue(command('fresh'), [A], { now: 2_000 });
      await store.commands.enqueue(command('expiring'), [A], { priority: 5, expiresAt: 10_000, now: 1_500 });
      await store.commands.report(A, 'deferred', 'NotNow', null, 3_000);

      // Another certificate: the binding comes back, no command, and nothing is written (the due
      // command is not marked Expired on its behalf).
      expect(await forCert('not-the-bound-hash', { skipNotNow: false, now: 20_000 })).toEqual({ boundCertHash: bound, next: undefined });
      expect((await store.commands.get(A, 'expiring'))?.status).toBe('pending');
      // No such device: no binding.
      expect(await forCert(bound, IDLE, 'NOBODY', 'NOBODY')).toEqual({ boundCertHash: undefined, next: undefined });

      // The bound certificate: exactly next's answer, expiry and NotNow order included.
      for (const opts of [{ skipNotNow: false, now: 5_000 }, { skipNotNow: true, now: 5_000 }, { skipNotNow: false, now: 20_000 }]) {
        const fused = await forCert(bound, opts);
        expect(fused.boundCertHash).toBe(bound);
        expect(fused.next).toEqual(await store.commands.next(A, opts));
      }
      expect((await store.commands.get(A, 'expiring'))?.status).toBe('Expired');
      await store.commands.report(A, 'fresh', 'Acknowledged', null, 21_000);
      expect((await forCert(bound, { skipNotNow: false, now: 21_000 })).next).toMatchObject({ uuid: 'deferred', status: 'NotNow', notNowCount: 1 });
      expect((await forCert(bound, { skipNotNow: true, now: 21_000 })).next).toBeUndefined();
      // A user channel's queue, checked against its device channel's binding.
      const user = `${A}:USER`;
      await store.enrollments.tokenUpdate({ enrollmentId: user, deviceId: A, channel: 'user', type: 'User', topic: 'topic', pushToken: Buffer.from('p'), pushMagic: 'm', now: 22_000 });
      await store.commands.enqueue(command('for-user'), [user], { now: 22_000 });
      expect(await forCert(bound, IDLE, A, user)).toMatchObject({ boundCertHash: bound, next: { uuid: 'for-user', enrollmentId: user } });
    });

    it('expire marks due commands in batches', async () => {
      for (let i = 0; i < 25; i++) await store.commands.enqueue(command(`e${i}`), [A, B], { expiresAt: 5_000 + i, now: 1_000 });
      await store.commands.enqueue(command('never'), [A], { now: 1_000 });
      expect(await store.commands.expire(5_010, { batchSize: 4 })).toBe(22);
      expect((await store.commands.stats()).Expired).toBe(22);
      expect(await store.commands.expire(5_010)).toBe(0);
      expect((await store.commands.stats()).pending).toBe(29);
    });

    it('a report for another enrollment\'s command changes nothing', async () => {
      await store.commands.enqueue(command('only-b'), [B], { now: 1_000 });
      expect(await store.commands.report(A, 'only-b', 'Acknowledged', Buffer.from('forged'), 2_000)).toBe(false);
      expect(await store.commands.report(A, 'no-such-command', 'Error', null, 2_000)).toBe(false);
      expect(await store.commands.get(B, 'only-b')).toMatchObject({ status: 'pending', result: null });
      expect(await store.commands.get(A, 'only-b')).toBeUndefined();
      expect(await nextUuid(IDLE, B)).toBe('only-b');
    });

    it('a finished command keeps its first result', async () => {
      await store.commands.enqueue(command('c'), [A], { now: 1_000 });
      expect(await store.commands.report(A, 'c', 'Acknowledged', Buffer.from('first'), 2_000)).toBe(true);
      expect(await store.commands.report(A, 'c', 'Error', Buffer.from('second'), 3_000)).toBe(true);
      expect(await store.commands.report(A, 'c', 'NotNow', null, 3_000)).toBe(true);
      expect(await store.commands.get(A, 'c')).toMatchObject({ status: 'Acknowledged', result: Buffer.from('first'), updatedAt: 2_000 });
    });

    it('rejects a status that is not a command result', async () => {
      await store.commands.enqueue(command('c'), [A], { now: 1_000 });
      await expect(store.commands.report(A, 'c', 'Idle' as ReportStatus, null, 2_000)).rejects.toBeInstanceOf(StoreError);
    });

    it('reportAndNext records the answer and hands out the next command', async () => {
      await store.commands.enqueue(command('one'), [A], { now: 1_000 });
      await store.commands.enqueue(command('two'), [A], { now: 2_000 });
      expect(await store.commands.reportAndNext(A, null, IDLE)).toMatchObject({ found: false, next: { uuid: 'one' } });
      const after = await store.commands.reportAndNext(A, { uuid: 'one', status: 'NotNow', result: Buffer.from('x') }, BUSY);
      expect(after).toMatchObject({ found: true, next: { uuid: 'two' } });
      const last = await store.commands.reportAndNext(A, { uuid: 'two', status: 'Acknowledged', result: new Uint8Array([1, 2]) }, BUSY);
      expect(last).toEqual({ found: true, next: undefined });
      expect((await store.commands.get(A, 'two'))?.result).toEqual(Buffer.from([1, 2]));
      expect((await store.commands.reportAndNext(A, null, IDLE)).next?.uuid).toBe('one');
    });

    it('one command fans out to many enrollments, each with its own status', async () => {
      expect(await store.commands.enqueue(command('fan'), [A, B, A], { now: 1_000 })).toBe(2);
      await store.commands.report(A, 'fan', 'Acknowledged', null, 2_000);
      expect((await store.commands.get(A, 'fan'))?.status).toBe('Acknowledged');
      expect((await store.commands.get(B, 'fan'))?.status).toBe('pending');
    });

    it('a duplicate uuid is rejected with a typed error and leaves the original alone', async () => {
      await store.commands.enqueue(command('dup'), [A], { now: 1_000 });
      const attempt = store.commands.enqueue({ ...command('dup'), body: Buffer.from('other') }, [B], { now: 2_000 });
      await expect(attempt).rejects.toBeInstanceOf(DuplicateCommandError);
      expect((await store.commands.get(A, 'dup'))?.body).toEqual(Buffer.from('<plist>dup</plist>'));
      expect(await store.commands.get(B, 'dup')).toBeUndefined();
    });

    it('refuses to queue for a checked-out enrollment, naming it, and queues nothing for the others', async () => {
      await store.enrollments.checkOut(B, 1_500);
      const attempt = store.commands.enqueue(command('to-the-departed'), [A, B], { now: 2_000 });
      await expect(attempt).rejects.toBeInstanceOf(NotEnrolledError);
      await expect(attempt).rejects.toMatchObject({ enrollmentIds: [B], message: expect.stringContaining('checked-out') });
      expect(await store.commands.get(A, 'to-the-departed')).toBeUndefined();
      expect(await store.commands.enqueue(command('to-the-departed'), [A], { now: 2_001 })).toBe(1);
    });

    it('an empty recipient list is refused', async () => {
      await expect(store.commands.enqueue(command('nobody'), [], { now: 1 })).rejects.toBeInstanceOf(StoreError);
    });

    it('a bulk enqueue with an unknown enrollment in the middle leaves nothing behind', async () => {
      const ids = Array.from({ length: 12_000 }, (_, i) => `bulk-${i}`);
      await bulkEnroll(store, ids);
      const withStranger = [...ids.slice(0, 9_000), 'STRANGER', ...ids.slice(9_000)];
      const attempt = store.commands.enqueue(command('atomic'), withStranger, { now: 1_000 });
      await expect(attempt).rejects.toBeInstanceOf(UnknownEnrollmentError);
      await expect(attempt).rejects.toMatchObject({ enrollmentIds: ['STRANGER'] });
      const counts = await store.commands.stats();
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
      const commands = await store.db.selectFrom('commands').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      expect(Number(commands.n)).toBe(0);
      // The same uuid is free to use afterwards: the command row was rolled back too.
      expect(await store.commands.enqueue(command('atomic'), ids, { now: 2_000 })).toBe(12_000);
    });

    it('enqueues one command for 100,000 enrollments', async () => {
      const ids = Array.from({ length: 100_000 }, (_, i) => `fleet-${String(i).padStart(6, '0')}`);
      await bulkEnroll(store, ids);
      expect(await store.commands.enqueue(command('fleet-wide', 'SecurityInfo'), ids, { priority: 2, now: 1_000 })).toBe(100_000);
      expect((await store.commands.stats()).pending).toBe(100_000);
      for (const id of [ids[0]!, ids[54_321]!, ids[99_999]!]) {
        expect(await store.commands.next(id, IDLE)).toMatchObject({ uuid: 'fleet-wide', requestType: 'SecurityInfo', priority: 2 });
      }
    }, 120_000);

    it('prune deletes old finished rows and orphaned commands, batch by batch', async () => {
      await store.commands.enqueue(command('old-done'), [A, B], { now: 1_000 });
      await store.commands.enqueue(command('old-half'), [A, B], { now: 1_000 });
      await store.commands.enqueue(command('recent-done'), [A], { now: 1_000 });
      await store.commands.enqueue(command('still-pending'), [A], { now: 1_000 });
      for (let i = 0; i < 7; i++) {
        await store.commands.enqueue(command(`bulk-${i}`), [A], { now: 1_000 });
        await store.commands.report(A, `bulk-${i}`, 'Error', null, 2_000);
      }
      await store.commands.report(A, 'old-done', 'Acknowledged', null, 2_000);
      await store.commands.report(B, 'old-done', 'CommandFormatError', null, 2_000);
      await store.commands.report(A, 'old-half', 'Acknowledged', null, 2_000);
      await store.commands.report(A, 'recent-done', 'Acknowledged', null, 9_000);

      expect(await store.commands.prune({ completedBefore: 5_000, batchSize: 2 })).toEqual({ queueRows: 10, commands: 8 });
      expect(await store.commands.get(A, 'old-done')).toBeUndefined();
      expect(await store.commands.get(B, 'old-half')).toMatchObject({ status: 'pending' });
      expect(await store.commands.get(A, 'recent-done')).toMatchObject({ status: 'Acknowledged' });
      expect(await store.commands.get(A, 'still-pending')).toMatchObject({ status: 'pending' });
      const left = await store.db.selectFrom('commands').select('uuid').orderBy('uuid').execute();
      expect(left.map((row) => row.uuid)).toEqual(['old-half', 'recent-done', 'still-pending']);
      expect(await store.commands.prune({ completedBefore: 5_000 })).toEqual({ queueRows: 0, commands: 0 });
    });

    it('stats counts every status', async () => {
      await store.commands.enqueue(command('s1'), [A, B], { now: 1_000 });
      await store.commands.enqueue(command('s2'), [A], { now: 1_000 });
      await store.commands.report(A, 's1', 'NotNow', null, 2_000);
      await store.commands.report(B, 's1', 'Acknowledged', null, 2_000);
      const stats = await store.commands.stats();
      expect(stats).toEqual({ pending: 1, NotNow: 1, Acknowledged: 1, Error: 0, CommandFormatError: 0, Expired: 0 });
      expect(typeof stats.pending).toBe('number');
    });

    it('list shows the newest first, up to the limit', async () => {
      for (let i = 0; i < 5; i++) await store.commands.enqueue(command(`l${i}`), [A], { now: 1_000 + i });
      const listed = await store.commands.list(A, { limit: 3 });
      expect(listed.map((c) => c.uuid)).toEqual(['l4', 'l3', 'l2']);
      expect(listed[0]).toMatchObject({ enrollmentId: A, requestType: 'ProfileList', status: 'pending', result: null, createdAt: 1_004 });
      expect(await store.commands.list(B, { limit: 3 })).toEqual([]);
    });

    it('deleting a device removes its enrollments and their queue rows', async () => {
      await store.commands.enqueue(command('gone'), [A, B], { now: 1_000 });
      await store.db.deleteFrom('devices').where('id', '=', A).execute();
      expect(await store.commands.get(A, 'gone')).toBeUndefined();
      expect(await store.commands.get(B, 'gone')).toBeDefined();
    });

    it('next is answered from the next-command index without a sort', async () => {
      await store.commands.enqueue(command('p'), [A], { now: 1_000 });
      const plan = await queryPlan(store, A);
      expect(plan).toContain('command_queue_next_idx');
      expect(plan).not.toMatch(/TEMP B-TREE|Sort/i);
    });
  });
}

async function bulkEnroll(store: Store, ids: string[]): Promise<void> {
  // Straight inserts: 100,000 Authenticates one by one would only measure the test's patience.
  const step = 2_000;
  for (let start = 0; start < ids.length; start += step) {
    const part = ids.slice(start, start + step);
    await store.db.insertInto('devices').values(part.map((id) => ({ id, enrollment_kind: 'device' as const, created_at: 1, updated_at: 1 }))).execute();
    await store.db.insertInto('enrollments').values(part.map((id) => ({
      id, device_id: id, channel: 'device' as const, type: 'Device' as const, topic: 't', token_update_count: 0, enabled: 1,
      cert_hash: id, created_at: 1, updated_at: 1,
    }))).execute();
  }
}

/** The plan of the statement `next` runs, with sequential scans ruled out on PostgreSQL so a
 * tiny test table cannot hide a missing index. */
async function queryPlan(store: Store, enrollmentId: string): Promise<string> {
  const nextSql = sql`
    SELECT q.command_uuid FROM command_queue AS q INNER JOIN commands AS c ON c.uuid = q.command_uuid
    WHERE q.enrollment_id = ${enrollmentId} AND q.delivery_rank IS NOT NULL AND q.delivery_rank <= ${1}
    ORDER BY q.delivery_rank, q.priority DESC, q.created_at, q.command_uuid LIMIT 1`;
  if (store.dialect === 'sqlite') {
    const { rows } = await sql<{ detail: string }>`EXPLAIN QUERY PLAN ${nextSql}`.execute(store.db);
    return rows.map((row) => row.detail).join('\n');
  }
  return store.db.transaction().execute(async (trx) => {
    await sql`SET LOCAL enable_seqscan = off`.execute(trx);
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${nextSql}`.execute(trx);
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  });
}

// SecretStore and CertificateStore on both databases.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/database.ts';
import { DuplicateKeyError } from '../../src/store/errors.ts';
import { databases } from '../support/databases.ts';

for (const database of databases) {
  describe.skipIf(!database.available)(`SecretStore and CertificateStore (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => { store = await database.open(); });
    afterEach(async () => { await store.close(); });

    it('put, get and replace keep bytes exact', async () => {
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      expect(await store.secrets.get('push-key')).toBeUndefined();
      await store.secrets.put('push-key', bytes, 1_000);
      expect(await store.secrets.get('push-key')).toEqual(bytes);
      await store.secrets.put('push-key', Buffer.from('replaced'), 2_000);
      expect(await store.secrets.get('push-key')).toEqual(Buffer.from('replaced'));
      const row = await store.db.selectFrom('secrets').selectAll().executeTakeFirstOrThrow();
      expect(row).toMatchObject({ created_at: 1_000, updated_at: 2_000 });
      expect(await store.secrets.delete('push-key')).toBe(true);
      expect(await store.secrets.get('push-key')).toBeUndefined();
    });

    it('putIfAbsent keeps the first value', async () => {
      expect(await store.secrets.putIfAbsent('ca', Buffer.from('first'))).toEqual(Buffer.from('first'));
      expect(await store.secrets.putIfAbsent('ca', Buffer.from('second'))).toEqual(Buffer.from('first'));
      expect(await store.secrets.get('ca')).toEqual(Buffer.from('first'));
    });

    it('replicas racing to create the CA all agree on one value', async () => {
      const peers = [store, await database.openPeer(store), await database.openPeer(store), await database.openPeer(store)];
      const winners = await Promise.all(
        Array.from({ length: 16 }, (_, i) => peers[i % peers.length]!.secrets.putIfAbsent('device-ca', Buffer.from(`candidate-${i}`))),
      );
      const stored = await store.secrets.get('device-ca');
      expect(stored).toBeDefined();
      for (const winner of winners) expect(winner).toEqual(stored);
      for (const peer of peers.slice(1)) await peer.close();
    });

    it('records issued certificates and finds them by hash or serial', async () => {
      const cert = { serial: '01ab', certHash: 'f'.repeat(64), subject: 'CN=device', enrollmentTokenId: 'et-1', notAfter: 2e12, issuedAt: 1.7e12 };
      await store.certificates.recordIssued(cert);
      expect(await store.certificates.findByHash('f'.repeat(64))).toEqual(cert);
      expect(await store.certificates.findBySerial('01ab')).toEqual(cert);
      expect(await store.certificates.findByHash('e'.repeat(64))).toBeUndefined();
      await expect(store.certificates.recordIssued({ ...cert, serial: '02' })).rejects.toBeInstanceOf(DuplicateKeyError);
      await expect(store.certificates.recordIssued({ ...cert, certHash: 'e'.repeat(64) })).rejects.toBeInstanceOf(DuplicateKeyError);
    });
  });
}

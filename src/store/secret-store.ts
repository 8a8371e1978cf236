// Named secrets of the server itself (device CA key, push key, SCEP challenge material), stored
// as the ciphertext the caller sealed: the store never sees a key in clear.

import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface SecretStore {
  get(name: string): Promise<Buffer | undefined>;
  /** Creates or replaces. */
  put(name: string, value: Buffer, now?: number): Promise<void>;
  /**
   * Stores `value` unless the name is taken, and returns whichever value is stored afterwards:
   * two replicas creating a CA at the same moment both end up with the one that won.
   */
  putIfAbsent(name: string, value: Buffer, now?: number): Promise<Buffer>;
  delete(name: string): Promise<boolean>;
}

export function createSecretStore(db: Kysely<Database>): SecretStore {
  const read = async (name: string) =>
    (await db.selectFrom('secrets').select('value').where('name', '=', name).executeTakeFirst())?.value;

  return {
    get: read,

    async put(name, value, now = Date.now()) {
      await db
        .insertInto('secrets')
        .values({ name, value, created_at: now, updated_at: now })
        .onConflict((oc) => oc.column('name').doUpdateSet((eb) => ({
          value: eb.ref('excluded.value'),
          updated_at: eb.ref('excluded.updated_at'),
        })))
        .execute();
    },

    async putIfAbsent(name, value, now = Date.now()) {
      // ON CONFLICT DO NOTHING waits for a concurrent inserter of the same name to commit, so the
      // read that follows sees the winner.
      await db
        .insertInto('secrets')
        .values({ name, value, created_at: now, updated_at: now })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
      const stored = await read(name);
      if (stored === undefined) throw new Error(`secret ${name} vanished while it was being created`);
      return stored;
    },

    async delete(name) {
      const result = await db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}

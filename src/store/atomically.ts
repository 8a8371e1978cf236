// One all-or-nothing unit of work, whether or not the caller already opened a transaction
// (Store.transaction): SQL cannot nest transactions, so inside one the work runs in a savepoint.

import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * Runs `work` in a transaction of its own, or, on a transaction-bound repository, in a savepoint
 * named `name`. The savepoint is what lets a caller examine a failure inside a larger transaction:
 * on PostgreSQL a failed statement refuses every later one until rolled back to a savepoint.
 */
export async function atomically<T>(db: Kysely<Database>, name: string, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (!db.isTransaction) return db.transaction().execute(work);
  await sql`savepoint ${sql.id(name)}`.execute(db);
  let result: T;
  try {
    result = await work(db);
  } catch (err) {
    // If even the rollback fails the outer transaction is lost anyway; the first error says why.
    await sql`rollback to savepoint ${sql.id(name)}`.execute(db).catch(() => undefined);
    throw err;
  }
  await sql`release savepoint ${sql.id(name)}`.execute(db);
  return result;
}

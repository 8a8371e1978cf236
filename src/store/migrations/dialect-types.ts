// The few column types that differ between SQLite and PostgreSQL. Migrations run before a Store
// exists, so the dialect is read from the Kysely instance's adapter.

import { PostgresAdapter } from 'kysely';
import type { Kysely } from 'kysely';

export function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** Binary column type: bytea on PostgreSQL, BLOB on SQLite (both read back as Buffers). */
export function binaryType(db: Kysely<unknown>): 'bytea' | 'blob' {
  return isPostgres(db) ? 'bytea' : 'blob';
}

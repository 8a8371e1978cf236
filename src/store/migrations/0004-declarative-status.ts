// Declarative Device Management state per enrollment (declarative-store.ts): the status the
// device reported (incremental reports merged, so the row holds the device's whole current
// status), and the DeclarationsToken lockwarden last served with the time it last changed, so the
// SyncTokens Timestamp stays put while nothing changes.

import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('declarative_status')
    .addColumn('enrollment_id', 'text', (col) => col.primaryKey().references('enrollments.id').onDelete('cascade'))
    // JSON: StatusItems nested by the dots in their names, as devices send them.
    .addColumn('status', 'text', (col) => col.notNull())
    // JSON: the StatusReport Errors still standing, one per status item.
    .addColumn('errors', 'text', (col) => col.notNull())
    // The DeclarationsToken of the manifest the device had fetched when it reported.
    .addColumn('declarations_token_reported', 'text')
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('declarative_tokens')
    .addColumn('enrollment_id', 'text', (col) => col.primaryKey().references('enrollments.id').onDelete('cascade'))
    .addColumn('token', 'text', (col) => col.notNull())
    .addColumn('changed_at', 'bigint', (col) => col.notNull())
    // The token of the last declaration-items answer this enrollment fetched.
    .addColumn('fetched_token', 'text')
    .addColumn('fetched_at', 'bigint')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('declarative_tokens').execute();
  await db.schema.dropTable('declarative_status').execute();
}

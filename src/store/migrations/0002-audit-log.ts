// The audit log (audit-store.ts): one append-only table whose rows form an HMAC chain. `seq` is
// assigned by the appender (previous + 1, under the chain's lock), not by an autoincrement, whose
// semantics differ between the dialects and which may skip values on PostgreSQL: a gap in `seq`
// must mean a deleted row and nothing else.

import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('seq', 'bigint', (col) => col.primaryKey().check(sql`seq >= 1`))
    .addColumn('at', 'bigint', (col) => col.notNull())
    .addColumn('actor', 'text', (col) => col.notNull())
    .addColumn('actor_name', 'text', (col) => col.notNull())
    .addColumn('action', 'text', (col) => col.notNull())
    .addColumn('target', 'text')
    .addColumn('details', 'text', (col) => col.notNull())
    .addColumn('prev_mac', 'text', (col) => col.notNull())
    .addColumn('mac', 'text', (col) => col.notNull())
    .execute();
  // The admin API's filters, each served newest-first by one index range.
  await db.schema.createIndex('audit_events_action_idx').on('audit_events').columns(['action', 'seq']).execute();
  await db.schema.createIndex('audit_events_target_idx').on('audit_events').columns(['target', 'seq']).execute();
  await db.schema.createIndex('audit_events_at_idx').on('audit_events').column('at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_events').execute();
}

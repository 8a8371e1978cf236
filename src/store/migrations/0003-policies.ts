// Stored passcode policies (policy-store.ts): each policy keeps every version it had, devices
// carry group names, and a policy is assigned to a device, a group or the whole fleet.
// `policy_assignments.target` is polymorphic (a device id, a group name, or '' for all), so it has
// no foreign key: the service checks that a device exists before assigning to it.

import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('policies')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    // The PayloadIdentifier base, fixed at creation: every version compiles to the same identity.
    .addColumn('identifier', 'text', (col) => col.notNull())
    .addColumn('current_version', 'integer', (col) => col.notNull().check(sql`current_version >= 1`))
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .addColumn('deleted_at', 'bigint')
    .execute();
  // A deleted policy keeps its history and frees its name for a new one.
  await db.schema
    .createIndex('policies_live_name_idx')
    .on('policies')
    .column('name')
    .unique()
    .where(sql.ref('deleted_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('policy_versions')
    .addColumn('policy_id', 'text', (col) => col.notNull().references('policies.id').onDelete('cascade'))
    .addColumn('version', 'integer', (col) => col.notNull().check(sql`version >= 1`))
    .addColumn('document', 'text', (col) => col.notNull())
    .addColumn('requirements', 'text', (col) => col.notNull())
    .addColumn('meta', 'text', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('created_by', 'text')
    .addPrimaryKeyConstraint('policy_versions_pk', ['policy_id', 'version'])
    .execute();

  await db.schema
    .createTable('device_groups')
    .addColumn('device_id', 'text', (col) => col.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('name', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('device_groups_pk', ['device_id', 'name'])
    .execute();
  // "Members of group G, by device id": fan-out pages through a group without a sort.
  await db.schema.createIndex('device_groups_name_idx').on('device_groups').columns(['name', 'device_id']).execute();

  await db.schema
    .createTable('policy_assignments')
    .addColumn('policy_id', 'text', (col) => col.notNull().references('policies.id').onDelete('cascade'))
    .addColumn('target_kind', 'text', (col) => col.notNull().check(sql`target_kind IN ('device', 'group', 'all')`))
    .addColumn('target', 'text', (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('created_by', 'text')
    .addPrimaryKeyConstraint('policy_assignments_pk', ['policy_id', 'target_kind', 'target'])
    .addCheckConstraint('policy_assignments_all_has_no_target', sql`(target_kind = 'all') = (target = '')`)
    .execute();
  // "Policies assigned to this device / these groups / everyone": each branch of
  // policiesForDevice is one range of this index, and it covers the policy id.
  await db.schema
    .createIndex('policy_assignments_target_idx')
    .on('policy_assignments')
    .columns(['target_kind', 'target', 'policy_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['policy_assignments', 'device_groups', 'policy_versions', 'policies']) {
    await db.schema.dropTable(table).execute();
  }
}

// Passcode compliance per device (compliance-store.ts): what lockwarden wants on the device and on
// which channel, the latest command that carried it, the latest reports (ProfileList, SecurityInfo,
// DDM status) as evidence, and the assessment made from them; the commands lockwarden issued for
// compliance that are still waiting for their result; and the history of state changes.

import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('compliance_devices')
    .addColumn('device_id', 'text', (col) => col.primaryKey().references('devices.id').onDelete('cascade'))
    // Copied from the device so the fleet report counts by state and platform from one table.
    .addColumn('platform', 'text')
    .addColumn('channel', 'text', (col) => col.check(sql`channel IN ('profile', 'ddm')`))
    .addColumn('channel_reason', 'text')
    .addColumn('desired_kind', 'text', (col) => col.notNull().check(sql`desired_kind IN ('none', 'not-applicable', 'profile', 'ddm')`))
    .addColumn('desired_reason', 'text')
    .addColumn('desired_identifier', 'text')
    .addColumn('desired_hash', 'text')
    .addColumn('desired_profile_uuid', 'text')
    // JSON array of the passcode payloads' PayloadUUIDs.
    .addColumn('desired_payload_uuids', 'text')
    .addColumn('desired_server_token', 'text')
    .addColumn('desired_since', 'bigint')
    // JSON: the passcode settings declaration the DDM manifest serves this device (kept while a
    // move to the profile channel is not confirmed yet).
    .addColumn('served_declaration', 'text')
    .addColumn('delivery_command', 'text')
    .addColumn('delivery_uuid', 'text')
    .addColumn('delivery_hash', 'text')
    .addColumn('delivery_queued_at', 'bigint')
    .addColumn('delivery_result_status', 'text')
    .addColumn('delivery_result_at', 'bigint')
    // JSON: the device's ErrorChain.
    .addColumn('delivery_error_chain', 'text')
    // lockwarden installed its passcode profile here: the only case where it may remove it.
    .addColumn('profile_managed', 'integer', (col) => col.notNull().defaultTo(0).check(sql`profile_managed IN (0, 1)`))
    // JSON evidence, each with its `at`.
    .addColumn('profile_list', 'text')
    .addColumn('security_info', 'text')
    .addColumn('ddm_status', 'text')
    // declarative_status.updated_at of the status report last folded into ddm_status.
    .addColumn('ddm_status_at', 'bigint')
    .addColumn('profile_list_failed_at', 'bigint')
    .addColumn('security_info_failed_at', 'bigint')
    .addColumn('installed_at', 'bigint')
    .addColumn('reinstall_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('reinstall_due', 'integer', (col) => col.notNull().defaultTo(0).check(sql`reinstall_due IN (0, 1)`))
    .addColumn('state', 'text', (col) => col.notNull())
    .addColumn('reason_code', 'text', (col) => col.notNull())
    .addColumn('reason', 'text', (col) => col.notNull())
    .addColumn('grace_deadline', 'bigint')
    // JSON: the reports the assessment rests on.
    .addColumn('evidence', 'text', (col) => col.notNull())
    .addColumn('next_profile_list_at', 'bigint')
    .addColumn('next_security_info_at', 'bigint')
    // The earlier of the two: what the poll sweep orders by.
    .addColumn('next_poll_at', 'bigint')
    .addColumn('assessed_at', 'bigint', (col) => col.notNull())
    .addColumn('history_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();
  // The poll sweep: devices whose next poll has come, oldest first, without reading the others.
  await db.schema
    .createIndex('compliance_devices_next_poll_idx')
    .on('compliance_devices')
    .column('next_poll_at')
    .where(sql.ref('next_poll_at'), 'is not', null)
    .execute();
  // The fleet report: counts by state, and by state and platform, from the index alone.
  await db.schema.createIndex('compliance_devices_state_idx').on('compliance_devices').columns(['state', 'platform']).execute();

  await db.schema
    .createTable('compliance_commands')
    .addColumn('enrollment_id', 'text', (col) => col.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('command_uuid', 'text', (col) => col.notNull())
    .addColumn('kind', 'text', (col) =>
      col.notNull().check(sql`kind IN ('InstallProfile', 'RemoveProfile', 'ProfileList', 'SecurityInfo', 'DeclarativeManagement')`))
    .addColumn('content_hash', 'text')
    .addColumn('queued_at', 'bigint', (col) => col.notNull())
    // The last queue status taken in (NotNow), so a NotNow is taken in once.
    .addColumn('seen_status', 'text')
    .addPrimaryKeyConstraint('compliance_commands_pk', ['enrollment_id', 'command_uuid'])
    .execute();

  await db.schema
    .createTable('compliance_history')
    .addColumn('device_id', 'text', (col) => col.notNull().references('devices.id').onDelete('cascade'))
    // Per device, 1, 2, 3…: taken from compliance_devices.history_count under its row lock.
    .addColumn('seq', 'integer', (col) => col.notNull())
    .addColumn('at', 'bigint', (col) => col.notNull())
    .addColumn('from_state', 'text')
    .addColumn('to_state', 'text', (col) => col.notNull())
    .addColumn('reason_code', 'text', (col) => col.notNull())
    .addColumn('reason', 'text', (col) => col.notNull())
    .addColumn('grace_deadline', 'bigint')
    .addColumn('evidence', 'text', (col) => col.notNull())
    .addPrimaryKeyConstraint('compliance_history_pk', ['device_id', 'seq'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['compliance_history', 'compliance_commands', 'compliance_devices']) {
    await db.schema.dropTable(table).execute();
  }
}

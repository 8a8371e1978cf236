// The initial schema. Written once for both dialects with Kysely's schema builder; the only
// dialect difference is the binary column type (BLOB on SQLite, bytea on PostgreSQL).
// `Kysely<any>` on purpose: a migration describes the schema as it was, not as schema.ts is now.

import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { binaryType } from './dialect-types.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */

export async function up(db: Kysely<any>): Promise<void> {
  const binary = binaryType(db);

  await db.schema
    .createTable('devices')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('platform', 'text')
    .addColumn('serial_number', 'text')
    .addColumn('model', 'text')
    .addColumn('model_name', 'text')
    .addColumn('product_name', 'text')
    .addColumn('os_version', 'text')
    .addColumn('build_version', 'text')
    .addColumn('device_name', 'text')
    .addColumn('enrollment_kind', 'text', (col) =>
      col.notNull().check(sql`enrollment_kind IN ('device', 'user', 'shared-ipad')`))
    .addColumn('unlock_token', binary)
    .addColumn('unlock_token_at', 'bigint')
    .addColumn('bootstrap_token', binary)
    .addColumn('bootstrap_token_at', 'bigint')
    .addColumn('last_authenticate', 'text')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('devices_serial_number_idx').on('devices').column('serial_number').execute();

  await db.schema
    .createTable('enrollment_tokens')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('label', 'text', (col) => col.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('max_uses', 'integer', (col) => col.check(sql`max_uses >= 0`))
    .addColumn('uses', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('identity', 'text', (col) => col.notNull().check(sql`identity IN ('scep', 'pkcs12', 'any')`))
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();

  await db.schema
    .createTable('enrollments')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('device_id', 'text', (col) => col.notNull().references('devices.id').onDelete('cascade'))
    .addColumn('channel', 'text', (col) => col.notNull().check(sql`channel IN ('device', 'user')`))
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('topic', 'text', (col) => col.notNull())
    .addColumn('push_token', binary)
    .addColumn('push_magic', 'text')
    .addColumn('token_update_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('enabled', 'integer', (col) => col.notNull().defaultTo(1).check(sql`enabled IN (0, 1)`))
    .addColumn('cert_hash', 'text', (col) => col.notNull())
    .addColumn('enrollment_token_id', 'text', (col) => col.references('enrollment_tokens.id').onDelete('set null'))
    .addColumn('access_rights', 'integer')
    .addColumn('user_id', 'text')
    .addColumn('user_short_name', 'text')
    .addColumn('user_long_name', 'text')
    .addColumn('last_seen_at', 'bigint')
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('enrollments_device_id_idx').on('enrollments').column('device_id').execute();
  // "Is this certificate already enrolled for another device?" at every Authenticate.
  await db.schema.createIndex('enrollments_cert_hash_idx').on('enrollments').column('cert_hash').execute();

  await db.schema
    .createTable('commands')
    .addColumn('uuid', 'text', (col) => col.primaryKey())
    .addColumn('request_type', 'text', (col) => col.notNull())
    .addColumn('body', binary, (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('commands_created_at_idx').on('commands').column('created_at').execute();

  await db.schema
    .createTable('command_queue')
    .addColumn('enrollment_id', 'text', (col) => col.notNull().references('enrollments.id').onDelete('cascade'))
    .addColumn('command_uuid', 'text', (col) => col.notNull().references('commands.uuid').onDelete('cascade'))
    .addColumn('priority', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('status', 'text', (col) =>
      col.notNull().defaultTo('pending')
        .check(sql`status IN ('pending', 'NotNow', 'Acknowledged', 'Error', 'CommandFormatError', 'Expired')`))
    .addColumn('delivery_rank', 'integer', (col) => col.defaultTo(0))
    .addColumn('not_now_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('not_now_at', 'bigint')
    .addColumn('expires_at', 'bigint')
    .addColumn('result', binary)
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('command_queue_pk', ['enrollment_id', 'command_uuid'])
    // delivery_rank must agree with status, or a command could be delivered after it finished.
    .addCheckConstraint('command_queue_rank_matches_status', sql`
      (status = 'pending' AND delivery_rank = 0) OR
      (status = 'NotNow' AND delivery_rank = 1) OR
      (status NOT IN ('pending', 'NotNow') AND delivery_rank IS NULL)`)
    .execute();
  // "Next command for this enrollment" (see schema.ts, delivery_rank).
  await db.schema
    .createIndex('command_queue_next_idx')
    .on('command_queue')
    .columns(['enrollment_id', 'delivery_rank', 'priority desc', 'created_at', 'command_uuid'])
    .where(sql.ref('delivery_rank'), 'is not', null)
    .execute();
  // Cascading deletes of commands, and pruning's "command nobody references".
  await db.schema.createIndex('command_queue_command_uuid_idx').on('command_queue').column('command_uuid').execute();
  // Pruning finds finished rows by age without reading live ones.
  await db.schema
    .createIndex('command_queue_finished_idx')
    .on('command_queue')
    .column('updated_at')
    .where(sql.ref('delivery_rank'), 'is', null)
    .execute();
  // The expiry sweep finds due rows without reading the whole live queue.
  await db.schema
    .createIndex('command_queue_expiry_idx')
    .on('command_queue')
    .column('expires_at')
    .where((eb) => eb.and([eb(sql.ref('delivery_rank'), 'is not', null), eb(sql.ref('expires_at'), 'is not', null)]))
    .execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('role', 'text', (col) =>
      col.notNull().check(sql`role IN ('admin', 'operator', 'auditor', 'device-api')`))
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();

  await db.schema
    .createTable('secrets')
    .addColumn('name', 'text', (col) => col.primaryKey())
    .addColumn('value', binary, (col) => col.notNull())
    .addColumn('created_at', 'bigint', (col) => col.notNull())
    .addColumn('updated_at', 'bigint', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('certificates')
    .addColumn('serial', 'text', (col) => col.primaryKey())
    .addColumn('cert_hash', 'text', (col) => col.notNull().unique())
    .addColumn('subject', 'text', (col) => col.notNull())
    // No foreign key: the record of what the CA issued outlives the token it was issued for.
    .addColumn('enrollment_token_id', 'text')
    .addColumn('not_after', 'bigint', (col) => col.notNull())
    .addColumn('issued_at', 'bigint', (col) => col.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['certificates', 'secrets', 'api_tokens', 'command_queue', 'commands', 'enrollments', 'enrollment_tokens', 'devices']) {
    await db.schema.dropTable(table).execute();
  }
}

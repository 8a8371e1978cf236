// Runs the versioned migrations with Kysely's Migrator. On PostgreSQL the Migrator holds an
// advisory lock, so replicas starting together migrate once.

import { Migrator, NO_MIGRATIONS } from 'kysely';
import type { Kysely, MigrationProvider, MigrationResultSet } from 'kysely';
import { migrations } from './migrations/index.ts';

export const MIGRATION_TABLE = 'lockwarden_migration';
export const MIGRATION_LOCK_TABLE = 'lockwarden_migration_lock';

/* eslint-disable @typescript-eslint/no-explicit-any -- migrations run on any schema version */

const provider: MigrationProvider = { getMigrations: async () => ({ ...migrations }) };

function migrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
}

function unwrap(outcome: MigrationResultSet): string[] {
  if (outcome.error !== undefined) {
    const failed = outcome.results?.find((result) => result.status === 'Error');
    const cause = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${cause}`, { cause: outcome.error });
  }
  return (outcome.results ?? []).map((result) => result.migrationName);
}

/** Applies every pending migration; returns the names applied. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateToLatest());
}

/** Reverts every migration (tests and disaster recovery only); returns the names reverted. */
export async function migrateDownAll(db: Kysely<any>): Promise<string[]> {
  return unwrap(await migrator(db).migrateTo(NO_MIGRATIONS));
}

// The store's public surface: open it, use its repositories, catch its typed errors.
export { openDatabase, isPostgresUrl } from './database.ts';
export type { OpenDatabaseOptions, Repositories, Store } from './database.ts';
export type { AuditStore } from './audit-store.ts';
export type { EnrollmentStore } from './enrollment-store.ts';
export type { CommandQueueStore } from './command-queue-store.ts';
export type { TokenStore } from './token-store.ts';
export type { SecretStore } from './secret-store.ts';
export type { CertificateStore } from './certificate-store.ts';
export type { PolicyStore } from './policy-store.ts';
export type { ComplianceStore } from './compliance-store.ts';
export { DuplicateCommandError, DuplicateKeyError, PolicyVersionConflictError, StoreError, UnknownEnrollmentError, UnknownPolicyError } from './errors.ts';
export { migrateDownAll, migrateToLatest } from './migrate.ts';
export * from './types.ts';

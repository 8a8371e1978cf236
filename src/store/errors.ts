// Typed store errors, and the recognition of constraint violations on either driver.

export class StoreError extends Error {
  override name = 'StoreError';
}

/** A command with this uuid is already stored. */
export class DuplicateCommandError extends StoreError {
  override name = 'DuplicateCommandError';
  constructor(readonly uuid: string) {
    super(`command ${uuid} already exists`);
  }
}

/** One or more enrollment ids are not known to the store. */
export class UnknownEnrollmentError extends StoreError {
  override name = 'UnknownEnrollmentError';
  constructor(readonly enrollmentIds: readonly string[], what = 'unknown enrollment') {
    const shown = enrollmentIds.slice(0, 5).join(', ');
    const more = enrollmentIds.length > 5 ? ` and ${enrollmentIds.length - 5} more` : '';
    super(`${what}${enrollmentIds.length === 1 ? '' : 's'}: ${shown}${more}`);
  }
}

/** Commands go only to enrollments that exist and have not checked out. */
export class NotEnrolledError extends UnknownEnrollmentError {
  override name = 'NotEnrolledError';
  constructor(enrollmentIds: readonly string[]) {
    super(enrollmentIds, 'unknown or checked-out enrollment');
  }
}

/** A unique key (token hash, certificate hash, id) is already taken. */
export class DuplicateKeyError extends StoreError {
  override name = 'DuplicateKeyError';
  constructor(readonly what: string) {
    super(`${what} already exists`);
  }
}

/** No live policy with this id. */
export class UnknownPolicyError extends StoreError {
  override name = 'UnknownPolicyError';
  constructor(readonly policyId: string) {
    super(`no policy ${policyId}`);
  }
}

/** Optimistic concurrency: the policy moved on since the version the caller last read. */
export class PolicyVersionConflictError extends StoreError {
  override name = 'PolicyVersionConflictError';
  constructor(readonly policyId: string, readonly expectedVersion: number, readonly currentVersion: number) {
    super(`policy ${policyId} is at version ${currentVersion}, not ${expectedVersion}: read it again and reapply the change`);
  }
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
}

/** better-sqlite3 reports extended result codes; PostgreSQL reports SQLSTATE. */
export function isUniqueViolation(err: unknown): boolean {
  const code = codeOf(err);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}


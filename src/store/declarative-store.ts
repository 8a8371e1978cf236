// Declarative Device Management state per enrollment: the status the device reported, merged
// across incremental reports by the caller's rule (services/declarative-service.ts), read back
// as stored or as a typed projection; and the DeclarationsToken lockwarden served, with the time
// it last changed, which is the SyncTokens Timestamp.

import type { Kysely } from 'kysely';
import { atomically } from './atomically.ts';
import { UnknownEnrollmentError } from './errors.ts';
import type { Database } from './schema.ts';
import type {
  DeclarationGroup,
  DeclarationStatusReason,
  DeclarativeReportError,
  DeclarativeStatus,
  ReportedDeclaration,
  StoreDialect,
  StoredDeclarativeStatus,
} from './types.ts';

/** What a status merge produces; the store adds the token and the time. */
export type DeclarativeStatusUpdate = Pick<StoredDeclarativeStatus, 'statusItems' | 'errors'>;

export interface DeclarativeStore {
  /**
   * Notes the DeclarationsToken served to the enrollment now and returns when it last changed:
   * the same time for as long as the token stays the same. With `fetched`, also records that the
   * enrollment fetched the manifest carrying it. UnknownEnrollmentError for an unknown enrollment.
   */
  noteToken(enrollmentId: string, token: string, opts: { now: number; fetched?: boolean }): Promise<number>;
  /**
   * Reads the stored status, lets `merge` compute the next one, and stores it, in one transaction
   * (two reports from one device never lose each other's items). UnknownEnrollmentError for an
   * unknown enrollment, nothing stored.
   */
  updateStatus(enrollmentId: string, merge: (previous: StoredDeclarativeStatus | undefined) => DeclarativeStatusUpdate, now: number): Promise<StoredDeclarativeStatus>;
  /** The status as stored, or undefined before the first report. */
  storedStatus(enrollmentId: string): Promise<StoredDeclarativeStatus | undefined>;
  /** The stored status read as compliance needs it, or undefined before the first report. */
  statusOf(enrollmentId: string): Promise<DeclarativeStatus | undefined>;
}

export function createDeclarativeStore(db: Kysely<Database>, dialect: StoreDialect): DeclarativeStore {
  const readStatus = async (trx: Kysely<Database>, enrollmentId: string, lock: boolean) => {
    let query = trx.selectFrom('declarative_status').selectAll().where('enrollment_id', '=', enrollmentId);
    // SQLite's transactions already hold the write lock (sqlite-dialect.ts).
    if (lock && dialect === 'postgres') query = query.forUpdate();
    const row = await query.executeTakeFirst();
    return row && toStored(row);
  };

  return {
    async noteToken(enrollmentId, token, { now, fetched = false }) {
      if (!fetched) {
        // The common case, a device asking for tokens while nothing changed: one read, no write.
        const row = await db.selectFrom('declarative_tokens').select(['token', 'changed_at']).where('enrollment_id', '=', enrollmentId).executeTakeFirst();
        if (row?.token === token) return row.changed_at;
      }
      try {
        const row = await db
          .insertInto('declarative_tokens')
          .values({ enrollment_id: enrollmentId, token, changed_at: now, fetched_token: fetched ? token : null, fetched_at: fetched ? now : null })
          .onConflict((oc) => oc.column('enrollment_id').doUpdateSet((eb) => ({
            token: eb.ref('excluded.token'),
            // Decided in the statement: two replicas noting the same new token keep the first time.
            changed_at: eb.case().when('declarative_tokens.token', '=', eb.ref('excluded.token')).then(eb.ref('declarative_tokens.changed_at')).else(eb.ref('excluded.changed_at')).end(),
            ...(fetched && { fetched_token: eb.ref('excluded.fetched_token'), fetched_at: eb.ref('excluded.fetched_at') }),
          })))
          .returning('changed_at')
          .executeTakeFirstOrThrow();
        return row.changed_at;
      } catch (err) {
        throw isForeignKeyViolation(err) ? new UnknownEnrollmentError([enrollmentId]) : err;
      }
    },

    async updateStatus(enrollmentId, merge, now) {
      try {
        return await atomically(db, 'declarative_status', async (trx) => {
          const previous = await readStatus(trx, enrollmentId, true);
          const next = merge(previous);
          const fetched = await trx.selectFrom('declarative_tokens').select('fetched_token').where('enrollment_id', '=', enrollmentId).executeTakeFirst();
          const values = {
            status: JSON.stringify(next.statusItems),
            errors: JSON.stringify(next.errors),
            declarations_token_reported: fetched?.fetched_token ?? null,
            updated_at: now,
          };
          await trx.insertInto('declarative_status').values({ enrollment_id: enrollmentId, ...values })
            .onConflict((oc) => oc.column('enrollment_id').doUpdateSet(values))
            .execute();
          return { statusItems: next.statusItems, errors: next.errors, declarationsToken: values.declarations_token_reported, updatedAt: now };
        });
      } catch (err) {
        throw isForeignKeyViolation(err) ? new UnknownEnrollmentError([enrollmentId]) : err;
      }
    },

    storedStatus: (enrollmentId) => readStatus(db, enrollmentId, false),

    async statusOf(enrollmentId) {
      const stored = await readStatus(db, enrollmentId, false);
      return stored && projectStatus(stored);
    },
  };
}

function toStored(row: { status: string; errors: string; declarations_token_reported: string | null; updated_at: number }): StoredDeclarativeStatus {
  return {
    statusItems: JSON.parse(row.status) as Record<string, unknown>,
    errors: JSON.parse(row.errors) as DeclarativeReportError[],
    declarationsToken: row.declarations_token_reported,
    updatedAt: row.updated_at,
  };
}

const GROUPS: readonly [key: string, group: DeclarationGroup][] = [
  ['activations', 'activation'],
  ['configurations', 'configuration'],
  ['assets', 'asset'],
  ['management', 'management'],
];

/**
 * The typed reading of a stored status. Values the schema does not allow are left out rather than
 * guessed at: a passcode item that is not a boolean is "not reported", a declaration entry without
 * identifier, server-token, active and a known `valid` is skipped.
 */
export function projectStatus(stored: StoredDeclarativeStatus): DeclarativeStatus {
  const items = stored.statusItems;
  const isCompliant = at(items, ['passcode', 'is-compliant']);
  const isPresent = at(items, ['passcode', 'is-present']);
  const declarations: ReportedDeclaration[] = [];
  for (const [key, group] of GROUPS) {
    const entries = at(items, ['management', 'declarations', key]);
    if (!Array.isArray(entries)) continue;
    for (const entry of entries) {
      const read = readDeclaration(entry, group);
      if (read) declarations.push(read);
    }
  }
  return {
    ...(typeof isCompliant === 'boolean' && { passcodeIsCompliant: isCompliant }),
    ...(typeof isPresent === 'boolean' && { passcodeIsPresent: isPresent }),
    declarations,
    errors: stored.errors.map((e) => ({ statusItem: e.StatusItem, reasons: readReasons(e.Reasons, 'Code', 'Description', 'Details') ?? [] })),
    declarationsToken: stored.declarationsToken,
    updatedAt: stored.updatedAt,
  };
}

function readDeclaration(value: unknown, group: DeclarationGroup): ReportedDeclaration | undefined {
  if (!isObject(value)) return undefined;
  const { identifier, active, valid } = value;
  const serverToken = value['server-token'];
  if (typeof identifier !== 'string' || typeof serverToken !== 'string' || typeof active !== 'boolean') return undefined;
  if (valid !== 'valid' && valid !== 'invalid' && valid !== 'unknown') return undefined;
  const reasons = readReasons(value.reasons, 'code', 'description', 'details');
  return { group, identifier, serverToken, active, valid, ...(reasons && reasons.length > 0 && { reasons }) };
}

// management.declarations spells reason keys in lower case, StatusReport.Errors capitalised.
function readReasons(value: unknown, code: string, description: string, details: string): DeclarationStatusReason[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter(isObject).flatMap((r) => {
    const c = r[code];
    if (typeof c !== 'string') return [];
    const d = r[description];
    const x = r[details];
    return [{ code: c, ...(typeof d === 'string' && { description: d }), ...(isObject(x) && { details: x }) }];
  });
}

function at(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (!isObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** better-sqlite3 reports extended result codes; PostgreSQL reports SQLSTATE. */
function isForeignKeyViolation(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

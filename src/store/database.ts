// Opening the store: one Kysely instance over SQLite (better-sqlite3) or PostgreSQL (pg Pool),
// migrated to the latest schema, with the repositories bound to it. The repositories are the
// same code on both dialects.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { LogEvent } from 'kysely';
import pg from 'pg';
import type { CustomTypesConfig } from 'pg';
import { createAuditStore } from './audit-store.ts';
import type { AuditStore } from './audit-store.ts';
import { createCertificateStore } from './certificate-store.ts';
import type { CertificateStore } from './certificate-store.ts';
import { createCommandQueueStore } from './command-queue-store.ts';
import type { CommandQueueStore } from './command-queue-store.ts';
import { createComplianceStore } from './compliance-store.ts';
import type { ComplianceStore } from './compliance-store.ts';
import { createDeclarativeStore } from './declarative-store.ts';
import type { DeclarativeStore } from './declarative-store.ts';
import { createEnrollmentStore } from './enrollment-store.ts';
import type { EnrollmentStore } from './enrollment-store.ts';
import { StoreError } from './errors.ts';
import { migrateToLatest } from './migrate.ts';
import { createPolicyStore } from './policy-store.ts';
import type { PolicyStore } from './policy-store.ts';
import type { Database } from './schema.ts';
import { createSecretStore } from './secret-store.ts';
import type { SecretStore } from './secret-store.ts';
import { WriteLockingSqliteDialect } from './sqlite-dialect.ts';
import { createTokenStore } from './token-store.ts';
import type { TokenStore } from './token-store.ts';
import type { StoreDialect } from './types.ts';

export interface OpenDatabaseOptions {
  /** postgres:// or postgresql:// selects PostgreSQL. */
  url?: string;
  /** The SQLite file when no PostgreSQL url is given (parent directories are created). */
  sqlitePath?: string;
  /** Log each statement's SQL and duration to stderr; parameters are never logged. */
  logQueries?: boolean;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  /** SQLite: how long a statement waits for another connection's write lock (default 5000 ms). */
  busyTimeoutMs?: number;
}

export interface Repositories {
  enrollments: EnrollmentStore;
  commands: CommandQueueStore;
  tokens: TokenStore;
  secrets: SecretStore;
  certificates: CertificateStore;
  audit: AuditStore;
  policies: PolicyStore;
  declarative: DeclarativeStore;
  compliance: ComplianceStore;
}

export interface Store extends Repositories {
  db: Kysely<Database>;
  dialect: StoreDialect;
  /**
   * Runs `work` in one transaction, with repositories bound to it: everything it writes commits
   * together or not at all (an admin action and its audit event). On SQLite it holds the write
   * lock throughout, so keep it short.
   */
  transaction<T>(work: (tx: Repositories) => Promise<T>): Promise<T>;
  /** One round trip to the database, for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Store> {
  const dialect: StoreDialect = isPostgresUrl(options.url) ? 'postgres' : 'sqlite';
  const log = options.logQueries ? logQuery : undefined;
  let db: Kysely<Database>;
  if (dialect === 'postgres') {
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(options.url!, options.poolSize ?? 10) }), ...(log && { log }) });
  } else {
    if (options.url !== undefined) {
      throw new StoreError('DATABASE_URL must start with postgres:// or postgresql://; leave it unset for the embedded SQLite database');
    }
    if (options.sqlitePath === undefined) throw new StoreError('no database: give a PostgreSQL url or a SQLite path');
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    const sqlite = openSqlite(options.sqlitePath, busyTimeoutMs);
    const sqliteDialect = new WriteLockingSqliteDialect({ database: withStatementCache(sqlite), sqlite, busyTimeoutMs });
    db = new Kysely<Database>({ dialect: sqliteDialect, ...(log && { log }) });
  }

  try {
    await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }

  return {
    db,
    dialect,
    ...repositories(db, dialect),
    transaction: (work) => db.transaction().execute((trx) => work(repositories(trx, dialect))),
    async ping() {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/**
 * The repositories over `db`, the database or one transaction. Each is made on first use: a
 * transaction's work touches one or two of them, and some compile their statements when made.
 */
function repositories(db: Kysely<Database>, dialect: StoreDialect): Repositories {
  const made: Partial<Repositories> = {};
  return {
    get enrollments() { return made.enrollments ??= createEnrollmentStore(db, dialect); },
    get commands() { return made.commands ??= createCommandQueueStore(db, dialect); },
    get tokens() { return made.tokens ??= createTokenStore(db); },
    get secrets() { return made.secrets ??= createSecretStore(db); },
    get certificates() { return made.certificates ??= createCertificateStore(db); },
    get audit() { return made.audit ??= createAuditStore(db, dialect); },
    get policies() { return made.policies ??= createPolicyStore(db, dialect); },
    get declarative() { return made.declarative ??= createDeclarativeStore(db, dialect); },
    get compliance() { return made.compliance ??= createComplianceStore(db, dialect); },
  };
}

/**
 * Kysely's SQLite driver prepares every query afresh; preparing cost more than running the query
 * on the Idle check-in path (measured: ~13% of server CPU vs ~12% executing). The same SQL text
 * always gets the same prepared statement back. Safe because the driver runs one query at a time.
 */
function withStatementCache(sqlite: SqliteDatabase.Database, capacity = 256) {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string): SqliteDatabase.Statement {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = sqlite.prepare(text);
        // Oldest first out: bulk inserts of many shapes must not grow the cache without bound.
        if (statements.size >= capacity) statements.delete(statements.keys().next().value!);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

function openSqlite(path: string, busyTimeoutMs: number): SqliteDatabase.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SqliteDatabase(path);
  // WAL: readers never block the writer. synchronous=NORMAL is safe with WAL (a power cut may
  // lose the last commits, never corrupt or half-apply one; a process crash loses nothing).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  sqlite.pragma('foreign_keys = ON');
  return sqlite;
}

/** int8 (BIGINT, and count(*)) as a JS number: times are epoch ms and counts are small. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} does not fit a JS number`);
  return n;
}

function createPool(url: string, max: number): pg.Pool {
  // A per-pool type parser: the global pg.types registry would change every other pg user in the process.
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') =>
      oid === pg.types.builtins.INT8 && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format),
  } as CustomTypesConfig;
  const pool = new pg.Pool({ connectionString: url, max, types });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => console.error(JSON.stringify({ level: 'error', msg: 'PostgreSQL idle client error', err: err.message })));
  return pool;
}

function logQuery(event: LogEvent): void {
  const line = { level: event.level === 'error' ? 'error' : 'debug', msg: 'sql', ms: Math.round(event.queryDurationMillis * 100) / 100, sql: event.query.sql };
  if (event.level === 'error') Object.assign(line, { err: event.error instanceof Error ? event.error.message : String(event.error) });
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

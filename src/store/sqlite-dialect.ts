// Kysely's SQLite dialect with one change: transactions begin with the write lock (BEGIN
// IMMEDIATE), taken without blocking the event loop.
//
// Every transaction in the store writes. A plain (deferred) BEGIN reads from a snapshot and takes
// the write lock at the first write, which fails at once with SQLITE_BUSY, busy timeout or not,
// when another connection committed in between: a read-then-write such as appending to the audit
// chain (read the head, insert the next row) would fail rather than wait. BEGIN IMMEDIATE makes
// writers queue at BEGIN instead, so what a transaction reads stays current until it commits.
//
// better-sqlite3 waits for a busy lock synchronously, inside the call: the event loop stops, and a
// connection of the same process that holds the lock (another Store on the same file) can never
// commit to release it. So BEGIN IMMEDIATE is tried with no busy wait, and retried on a timer until
// the connection's busy timeout has passed.

import type BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, SqliteDialect, SqliteDriver } from 'kysely';
import type { DatabaseConnection, Driver, SqliteDialectConfig } from 'kysely';

export interface WriteLockingSqliteConfig extends SqliteDialectConfig {
  /** The connection behind `database`, whose busy timeout is lifted while BEGIN is tried. */
  sqlite: BetterSqlite3.Database;
  busyTimeoutMs: number;
}

const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');

export class WriteLockingSqliteDialect extends SqliteDialect {
  readonly #config: WriteLockingSqliteConfig;

  constructor(config: WriteLockingSqliteConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new WriteLockingSqliteDriver(this.#config);
  }
}

class WriteLockingSqliteDriver extends SqliteDriver {
  readonly #config: WriteLockingSqliteConfig;

  constructor(config: WriteLockingSqliteConfig) {
    super(config);
    this.#config = config;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const { sqlite, busyTimeoutMs } = this.#config;
    const deadline = Date.now() + busyTimeoutMs;
    for (let pause = 1; ; pause = Math.min(pause * 2, 25)) {
      // pragma() each time (≈2 µs): SQLite applies busy_timeout when the statement is prepared,
      // so a prepared statement kept for reuse would not apply it again.
      sqlite.pragma('busy_timeout = 0');
      try {
        await connection.executeQuery(BEGIN_IMMEDIATE);
        return;
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err;
      } finally {
        sqlite.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

function isBusy(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' && err.code.startsWith('SQLITE_BUSY');
}

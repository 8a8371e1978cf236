// The databases every store test runs against: SQLite on fresh temporary files, and PostgreSQL
// on throwaway databases created for this test file's worker and dropped (WITH (FORCE)) after it.
// PostgreSQL comes from LOCKWARDEN_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/postgres;
// when it does not answer, its suites are skipped and a warning says so loudly.
//
//   for (const database of databases) {
//     describe.skipIf(!database.available)(`… (${database.name})`, () => { … database.open() … });
//   }

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import type { Store } from '../../src/store/database.ts';

const ADMIN_URL = process.env.LOCKWARDEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  available: boolean;
  /** A Store on an empty, migrated database. Closed after the test file if the test does not. */
  open(): Promise<Store>;
  /** A second Store, with its own connections, on the same database as `store`. */
  openPeer(store: Store): Promise<Store>;
}

/** For tests that open the database through the server's own configuration (DATABASE_URL). */
export interface TestDatabaseUrl {
  name: 'sqlite' | 'postgres';
  available: boolean;
  /** A URL of a fresh, empty database; undefined for SQLite (the server's data dir holds it). */
  url?: () => Promise<string>;
}

async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message || err.name : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const postgresProblem = await probePostgres();
if (postgresProblem !== undefined) {
  console.warn(`PostgreSQL tests SKIPPED: ${redact(ADMIN_URL)} is unreachable (${postgresProblem}). ` +
    'Set LOCKWARDEN_TEST_PG_URL or start PostgreSQL on 127.0.0.1:5432 to run them.');
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

const openStores = new Set<Store>();
const createdDatabases: string[] = [];
const tempDirs: string[] = [];
const sqlitePaths = new WeakMap<Store, string>();
const postgresUrls = new WeakMap<Store, string>();

function tracked(store: Store): Store {
  openStores.add(store);
  const close = store.close.bind(store);
  store.close = async () => {
    openStores.delete(store);
    await close();
  };
  return store;
}

async function createThrowawayDatabase(): Promise<string> {
  const name = `lockwarden_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  createdDatabases.push(name);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

// One database per test file (worker), emptied at each open(): creating a database per test
// would cost more than the tests themselves.
let sharedPostgres: Promise<string> | undefined;

const TABLES = [
  'command_queue', 'commands', 'enrollments', 'devices', 'enrollment_tokens', 'api_tokens', 'secrets', 'certificates', 'audit_events',
  'policy_assignments', 'device_groups', 'policy_versions', 'policies', 'declarative_status', 'declarative_tokens',
  'compliance_history', 'compliance_commands', 'compliance_devices',
];

export const databases: TestDatabase[] = [
  {
    name: 'sqlite',
    available: true,
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'lockwarden-store-'));
      tempDirs.push(dir);
      const path = join(dir, 'store.db');
      const store = tracked(await openDatabase({ sqlitePath: path }));
      sqlitePaths.set(store, path);
      return store;
    },
    async openPeer(store) {
      const path = sqlitePaths.get(store);
      if (path === undefined) throw new Error('openPeer: not a store opened by databases.sqlite.open()');
      const peer = tracked(await openDatabase({ sqlitePath: path }));
      sqlitePaths.set(peer, path);
      return peer;
    },
  },
  {
    name: 'postgres',
    available: postgresProblem === undefined,
    async open() {
      sharedPostgres ??= createThrowawayDatabase();
      const url = await sharedPostgres;
      const store = tracked(await openDatabase({ url }));
      postgresUrls.set(store, url);
      await sql.raw(`TRUNCATE ${TABLES.join(', ')}`).execute(store.db);
      return store;
    },
    async openPeer(store) {
      const url = postgresUrls.get(store);
      if (url === undefined) throw new Error('openPeer: not a store opened by databases.postgres.open()');
      const peer = tracked(await openDatabase({ url }));
      postgresUrls.set(peer, url);
      return peer;
    },
  },
];

export const databaseUrls: TestDatabaseUrl[] = [
  { name: 'sqlite', available: true },
  { name: 'postgres', available: postgresProblem === undefined, url: createThrowawayDatabase },
];

afterAll(async () => {
  await Promise.all([...openStores].map((store) => store.close()));
  if (createdDatabases.length > 0) {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    try {
      for (const name of createdDatabases.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

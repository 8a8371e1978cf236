// openDatabase and the migrations on both databases: column types come back as the domain
// expects (numbers, Buffers), migrations go down and up again, SQLite runs with its pragmas.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPostgresUrl, openDatabase } from '../../src/store/database.ts';
import type { Store } from '../../src/store/database.ts';
import { StoreError } from '../../src/store/errors.ts';
import { migrateDownAll, migrateToLatest } from '../../src/store/migrate.ts';
import { databases } from '../support/databases.ts';

const TABLES = [
  'api_tokens', 'audit_events', 'certificates', 'command_queue', 'commands', 'compliance_commands', 'compliance_devices', 'compliance_history', 'declarative_status', 'declarative_tokens', 'device_groups',
  'devices', 'enrollment_tokens', 'enrollments', 'policies', 'policy_assignments', 'policy_versions', 'secrets',
];
const MIGRATIONS = ['0001-initial', '0002-audit-log', '0003-policies', '0004-declarative-status', '0005-compliance'];

async function userTables(store: Store): Promise<string[]> {
  const tables = await store.db.introspection.getTables();
  return tables.map((t) => t.name).filter((name) => !name.startsWith('lockwarden_migration')).sort();
}

for (const database of databases) {
  describe.skipIf(!database.available)(`openDatabase and migrations (${database.name})`, () => {
    let store: Store;
    beforeEach(async () => { store = await database.open(); });
    afterEach(async () => { await store.close(); });

    it('creates every table and reports its dialect', async () => {
      expect(store.dialect).toBe(database.name);
      expect(await userTables(store)).toEqual(TABLES);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('returns BIGINT times as numbers beyond 32 bits and binary columns as Buffers', async () => {
      const late = 4_102_444_800_000; // 2100-01-01
      await store.db.insertInto('secrets').values({ name: 'n', value: Buffer.from([0, 0xff, 0x10]), created_at: late, updated_at: late }).execute();
      const row = await store.db.selectFrom('secrets').selectAll().executeTakeFirstOrThrow();
      expect(row.created_at).toBe(late);
      expect(Buffer.isBuffer(row.value)).toBe(true);
      expect(row.value).toEqual(Buffer.from([0, 0xff, 0x10]));
      const { rows } = await sql<{ n: unknown }>`select count(*) as n from secrets`.execute(store.db);
      expect(rows[0]?.n).toBe(1);
    });

    it('enforces foreign keys', async () => {
      const orphan = store.db.insertInto('enrollments').values({
        id: 'x', device_id: 'missing', channel: 'device', type: 'Device', topic: 't', token_update_count: 0, enabled: 1,
        cert_hash: 'h', created_at: 1, updated_at: 1,
      }).execute();
      await expect(orphan).rejects.toThrow();
    });

    it('keeps status and delivery order consistent by constraint', async () => {
      await store.enrollments.authenticate({ deviceId: 'D', type: 'Device', topic: 't', certHash: 'h', now: 1 });
      await store.commands.enqueue({ uuid: 'u', requestType: 'r', body: Buffer.from('b') }, ['D'], { now: 1 });
      const inconsistent = store.db.updateTable('command_queue').set({ status: 'Acknowledged' }).where('command_uuid', '=', 'u').execute();
      await expect(inconsistent).rejects.toThrow();
    });

    it('migrates down to nothing and up again; a second run applies nothing', async () => {
      expect(await migrateDownAll(store.db)).toEqual([...MIGRATIONS].reverse());
      expect(await userTables(store)).toEqual([]);
      expect(await migrateToLatest(store.db)).toEqual(MIGRATIONS);
      expect(await migrateToLatest(store.db)).toEqual([]);
      expect(await userTables(store)).toEqual(TABLES);
    });

    it('a peer opening the same database finds it migrated and sees the same data', async () => {
      await store.secrets.put('shared', Buffer.from('v'));
      const peer = await database.openPeer(store);
      expect(await peer.secrets.get('shared')).toEqual(Buffer.from('v'));
      await peer.close();
    });
  });
}

describe('openDatabase options', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'lockwarden-open-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('opens SQLite in WAL mode with foreign keys and a busy timeout, creating the parent directory', async () => {
    const store = await openDatabase({ sqlitePath: join(dir, 'nested', 'deeper', 'db.sqlite') });
    try {
      const pragma = async (name: string) => (await sql.raw<Record<string, unknown>>(`PRAGMA ${name}`).execute(store.db)).rows[0];
      expect(await pragma('journal_mode')).toEqual({ journal_mode: 'wal' });
      expect(await pragma('foreign_keys')).toEqual({ foreign_keys: 1 });
      expect(await pragma('busy_timeout')).toEqual({ timeout: 5000 });
    } finally {
      await store.close();
    }
  });

  it('chooses PostgreSQL only for postgres:// and postgresql:// URLs', async () => {
    expect(isPostgresUrl('postgres://u@h/db')).toBe(true);
    expect(isPostgresUrl('POSTGRESQL://u@h/db')).toBe(true);
    expect(isPostgresUrl('mysql://u@h/db')).toBe(false);
    expect(isPostgresUrl(undefined)).toBe(false);
    await expect(openDatabase({ url: 'mysql://u@h/db', sqlitePath: join(dir, 'x.db') })).rejects.toBeInstanceOf(StoreError);
    await expect(openDatabase({})).rejects.toBeInstanceOf(StoreError);
  });

  it.skipIf(!databases[1]!.available)('parses int8 per pool, leaving the global pg type registry alone', async () => {
    const store = await databases[1]!.open();
    try {
      const { rows } = await sql<{ n: unknown }>`select ${'9007199254740991'}::int8 as n`.execute(store.db);
      expect(rows[0]?.n).toBe(Number.MAX_SAFE_INTEGER);
      await expect(sql`select ${'9007199254740993'}::int8 as n`.execute(store.db)).rejects.toThrow(RangeError);
      expect(pg.types.getTypeParser(pg.types.builtins.INT8, 'text')('42')).toBe('42');
    } finally {
      await store.close();
    }
  });
});

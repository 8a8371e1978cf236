// The audit and API token commands as processes: api-token create/list/revoke and audit list
// against a running server, then `audit verify` reading the database the server left behind,
// intact (exit 0) and after a row was tampered with in SQL (exit 1, naming the seq). On
// PostgreSQL too, configured the way the server is (DATABASE_URL, LOCKWARDEN_MASTER_KEY).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime } from '../../src/services/runtime.ts';
import { SYSTEM_ACTOR } from '../../src/services/audit-log.ts';
import { configFromEnv } from '../../src/services/server-config.ts';
import { databaseUrls } from '../support/databases.ts';
import { runCli, startServer } from '../support/server-process.ts';
import type { Started } from '../support/server-process.ts';

const TOKEN = 'cli-audit-admin-token-0123456789abcdef';

const lockwarden = runCli;

describe('API token and audit commands, then audit verify on the data directory', () => {
  let server: Started;
  let dataDir: string;
  const as = (...args: string[]) => [...args, '--server', server.url, '--token', TOKEN];

  beforeAll(async () => {
    dataDir = join(await mkdtemp(join(tmpdir(), 'lockwarden-audit-cli-')), 'data');
    server = await startServer({ LOCKWARDEN_DATA_DIR: dataDir, LOCKWARDEN_ADMIN_TOKEN: TOKEN });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('creates, lists and revokes API tokens, and lists the audit events they left', async () => {
    const created = await lockwarden(as('api-token', 'create', '--name', 'ci', '--role', 'operator', '--json'));
    expect(created.code).toBe(0);
    const { id, token } = JSON.parse(created.stdout) as { id: string; token: string };
    expect(token).toMatch(/^lw_/);
    const plain = await lockwarden(as('api-token', 'create', '--name', 'reader', '--role', 'auditor'));
    expect(plain.stdout).toMatch(/^API token \(shown once\): lw_\S+\nid \S+, role auditor, name reader\n$/);
    const auditorToken = /lw_\S+/.exec(plain.stdout)![0];

    expect((await lockwarden(as('api-token', 'create', '--name', 'x', '--role', 'root'))).code).toBe(2);
    expect((await lockwarden(as('api-token', 'create', '--role', 'operator'))).code).toBe(2);

    const listed = await lockwarden(as('api-token', 'list'));
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\toperator\\tlive\\tlast used never\\tci$`, 'm'));
    expect(listed.stdout).not.toContain(token);

    const revoked = await lockwarden(as('api-token', 'revoke', id));
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked API token ${id} (ci, operator)\n` });
    expect((await lockwarden(as('api-token', 'revoke', id))).code).toBe(1);

    const events = await lockwarden(['audit', 'list', '--order', 'asc', '--json', '--server', server.url, '--token', auditorToken]);
    expect(events.code).toBe(0);
    expect((JSON.parse(events.stdout) as Array<{ action: string }>).map((e) => e.action))
      .toEqual(['api-token.create', 'api-token.create', 'api-token.create', 'api-token.revoke']);
    const paged = await lockwarden(as('audit', 'list', '--limit', '1', '--all', '--action', 'api-token.create'));
    expect(paged.stdout.trim().split('\n')).toHaveLength(3);
    expect(paged.stdout).toMatch(/^1\t\S+\tlockwarden \(system\)\tapi-token\.create\t\S+\t\{"name":"bootstrap \(LOCKWARDEN_ADMIN_TOKEN\)","role":"admin"\}$/m);
    // An operator may not read the audit log.
    const operator = JSON.parse((await lockwarden(as('api-token', 'create', '--name', 'op', '--role', 'operator', '--json'))).stdout) as { token: string };
    const refused = await lockwarden(['audit', 'list', '--server', server.url, '--token', operator.token]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('403');
  });

  it('audit verify: intact, then the seq of a row edited in SQL', async () => {
    expect(await server.stop()).toBe(0);
    const intact = await lockwarden(['audit', 'verify'], { LOCKWARDEN_DATA_DIR: dataDir });
    expect(intact.stdout).toMatch(/^audit log intact: 5 events\nhead: seq 5, mac [0-9a-f]{64}\n$/);
    expect(intact.code).toBe(0);

    // Someone with write access to the database, but not the master key, rewrites history.
    const sqlite = new SqliteDatabase(join(dataDir, 'lockwarden.db'));
    sqlite.prepare(`update audit_events set details = '{"name":"harmless","role":"auditor"}' where seq = 2`).run();
    sqlite.close();
    const tampered = await lockwarden(['audit', 'verify'], { LOCKWARDEN_DATA_DIR: dataDir });
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/^audit log broken at seq 2: seq 2 does not match its mac/);
    const json = await lockwarden(['audit', 'verify', '--json'], { LOCKWARDEN_DATA_DIR: dataDir });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, seq: 2, problem: 'mac', count: 1 });

    // Another master key verifies nothing.
    const otherKey = await lockwarden(['audit', 'verify'], { LOCKWARDEN_DATA_DIR: dataDir, LOCKWARDEN_MASTER_KEY: randomBytes(32).toString('hex') });
    expect(otherKey.code).toBe(1);
    expect(otherKey.stdout).toContain('broken at seq 1');
  });

  it('audit verify refuses, as a usage error, a directory with no database and creates nothing there', async () => {
    const empty = join(await mkdtemp(join(tmpdir(), 'lockwarden-audit-none-')), 'data');
    const missing = await lockwarden(['audit', 'verify'], { LOCKWARDEN_DATA_DIR: empty });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no lockwarden database');
    expect(existsSync(empty)).toBe(false);
  });
});

const postgres = databaseUrls.find((database) => database.name === 'postgres')!;

describe.skipIf(!postgres.available)('audit verify on PostgreSQL (DATABASE_URL, LOCKWARDEN_MASTER_KEY)', () => {
  it('reports an intact log, then the seq of a deleted row', async () => {
    const env = {
      DATABASE_URL: await postgres.url!(),
      LOCKWARDEN_MASTER_KEY: randomBytes(32).toString('base64'),
      LOCKWARDEN_DATA_DIR: await mkdtemp(join(tmpdir(), 'lockwarden-audit-pg-')),
    };
    const runtime = await openRuntime(configFromEnv({ ...env, LOCKWARDEN_ADMIN_TOKEN: TOKEN, LOCKWARDEN_APNS_TOPIC: 'com.apple.mgmt.External.audit-pg', LOG_LEVEL: 'silent' }));
    try {
      await runtime.apiTokens.issue(SYSTEM_ACTOR, { name: 'one', role: 'operator' });
      await runtime.apiTokens.issue(SYSTEM_ACTOR, { name: 'two', role: 'auditor' });
    } finally {
      await runtime.close();
    }
    const intact = await lockwarden(['audit', 'verify'], env);
    expect(intact).toMatchObject({ code: 0, stdout: expect.stringMatching(/^audit log intact: 3 events\n/) });

    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      await client.query('delete from audit_events where seq = 2');
    } finally {
      await client.end();
    }
    const broken = await lockwarden(['audit', 'verify'], env);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('audit log broken at seq 2: seq 2 is missing');
  });
});

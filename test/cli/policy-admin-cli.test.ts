// `lockwarden policies …` and `devices groups|effective-policy` as processes against a running
// server: files read as `policy validate` reads them, every version kept, assignments by target.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServer } from '../support/server-process.ts';
import type { Started } from '../support/server-process.ts';

const TOKEN = 'cli-policy-admin-token-0123456789abcdef';
const EXAMPLES = join(import.meta.dirname, '../../examples/policies');

const lockwarden = runCli;

describe('policy administration over the REST API', () => {
  let server: Started;
  let dir: string;
  const as = (...args: string[]) => [...args, '--server', server.url, '--token', TOKEN];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lockwarden-policy-cli-'));
    server = await startServer({ LOCKWARDEN_DATA_DIR: join(dir, 'data'), LOCKWARDEN_ADMIN_TOKEN: TOKEN, LOCKWARDEN_PUBLIC_URL: 'https://mdm.example.com' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('creates, versions, lists and assigns policies', async () => {
    const created = await lockwarden(as('policies', 'create', join(EXAMPLES, 'baseline.yaml'), '--name', 'baseline', '--json'));
    expect(created.code).toBe(0);
    const { id, version } = JSON.parse(created.stdout) as { id: string; version: number };
    expect(version).toBe(1);

    // A stricter file (the finance example, same identifier) becomes version 2.
    const stricter = join(dir, 'stricter.yaml');
    await writeFile(stricter, 'Identifier: com.example.lockwarden.baseline-passcode\nAllowSimple: false\nMinimumLength: 8\n');
    const updated = await lockwarden(as('policies', 'update', id, stricter, '--expected-version', '1'));
    expect(updated).toMatchObject({ code: 0, stdout: expect.stringContaining('is now at version 2') });
    const stale = await lockwarden(as('policies', 'update', id, stricter, '--expected-version', '1'));
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/409 Conflict: the policy is at version 2/);

    const listed = await lockwarden(as('policies', 'list'));
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\tv2\\t\\S+\\tbaseline$`, 'm'));
    expect((await lockwarden(as('policies', 'assign', id, '--all'))).stdout).toContain('assigned to every device');
    expect((await lockwarden(as('policies', 'assign', id, '--group', 'finance'))).stdout).toContain('assigned to group finance');
    const shown = JSON.parse((await lockwarden(as('policies', 'show', id))).stdout) as { version: number };
    expect(shown.version).toBe(2);
    expect((await lockwarden(as('policies', 'unassign', id, '--group', 'finance'))).code).toBe(0);
  });

  it('refuses an invalid file before sending it, listing every problem', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'MinimumLenght: 8\nMaxFailedAttempts: 1\n');
    const result = await lockwarden(as('policies', 'create', bad, '--name', 'bad'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/MinimumLenght.*did you mean "MinimumLength"/);
    expect(result.stderr).toMatch(/MaxFailedAttempts.*2.*11/);
    const listed = await lockwarden(as('policies', 'list'));
    expect(listed.stdout).not.toContain('\tbad');
  });

  it('needs exactly one assignment target, and names unknown devices', async () => {
    expect((await lockwarden(as('policies', 'assign', 'whatever', '--all', '--group', 'x'))).code).toBe(2);
    expect((await lockwarden(as('policies', 'assign', 'whatever'))).code).toBe(2);
    const groups = await lockwarden(as('devices', 'groups', 'NO-SUCH-DEVICE', 'finance'));
    expect(groups.code).toBe(1);
    expect(groups.stderr).toMatch(/404/);
    expect((await lockwarden(as('devices', 'effective-policy', 'NO-SUCH-DEVICE'))).code).toBe(1);
  });
});

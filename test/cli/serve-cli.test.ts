// `lockwarden serve` as a process: first start creates the data dir, the CA and an admin token
// (printed once); the server answers health checks; SIGTERM stops it cleanly; a second start
// reuses everything and prints no token.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, startServer } from '../support/server-process.ts';


describe('lockwarden serve', () => {
  it('starts on SQLite, prints the admin token once, answers /healthz and /readyz, and stops on SIGTERM', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'lockwarden-serve-'));
    const first = await startServer({ LOCKWARDEN_DATA_DIR: dataDir });
    const health = await fetch(`${first.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${first.url}/metrics`)).text();
    expect(metrics).toContain('lockwarden_checkins_total');
    expect(first.output()).toMatch(/admin API token was created[\s\S]*\n {2}lw_[A-Za-z0-9_-]{32}\n/);
    expect(first.output()).toContain('LOCKWARDEN_PUBLIC_URL is not set');
    expect(await first.stop()).toBe(0);

    const files = await readdir(dataDir);
    expect(files).toEqual(expect.arrayContaining(['lockwarden.db', 'master.key']));
    expect((await stat(join(dataDir, 'master.key'))).mode & 0o077).toBe(0);

    const second = await startServer({ LOCKWARDEN_DATA_DIR: dataDir });
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    expect(second.output()).not.toContain('admin API token was created');
    expect(await second.stop()).toBe(0);
  });

  it('refuses an invalid configuration with every problem listed', async () => {
    const child = spawn(BIN, ['serve'], { env: { ...process.env, PORT: 'eighty', DATABASE_URL: 'mysql://x', LOCKWARDEN_PUBLIC_URL: 'http://plain' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += String(d); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('PORT="eighty"');
    expect(stderr).toContain('DATABASE_URL must be a postgres://');
    expect(stderr).toContain('LOCKWARDEN_PUBLIC_URL must be an https:// URL');
    expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});

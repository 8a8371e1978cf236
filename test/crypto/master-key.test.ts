import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMasterKey, MasterKeyError } from '../../src/crypto/master-key.ts';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'lw-master-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');

describe('loadMasterKey', () => {
  it('takes the environment first, as hex or base64, and writes nothing', async () => {
    for (const env of [KEY.toString('hex'), KEY.toString('hex').toUpperCase(), KEY.toString('base64'), KEY.toString('base64url'), ` ${KEY.toString('base64')}\n`]) {
      const loaded = await loadMasterKey({ env, dataDir });
      expect(loaded.source).toBe('env');
      expect(loaded.key.equals(KEY)).toBe(true);
    }
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('refuses an environment value of the wrong length or alphabet without echoing it', async () => {
    for (const env of ['abcd', KEY.subarray(0, 31).toString('base64'), `${KEY.toString('hex')}00`, 'not*base64*at*all*but*long*enough*to*matter!!']) {
      const error = await loadMasterKey({ env, dataDir }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(MasterKeyError);
      expect((error as Error).message).not.toContain(env);
    }
  });

  it('generates a 32-byte key once, mode 0600, and reads the same key back', async () => {
    const first = await loadMasterKey({ dataDir });
    expect(first.source).toBe('generated');
    expect(first.key).toHaveLength(32);
    const path = join(dataDir, 'master.key');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const second = await loadMasterKey({ dataDir });
    expect(second).toEqual({ key: first.key, source: 'file' });
    expect(readdirSync(dataDir)).toEqual(['master.key']);
  });

  it('creates a missing data directory', async () => {
    const nested = join(dataDir, 'a', 'b');
    expect((await loadMasterKey({ dataDir: nested })).source).toBe('generated');
  });

  it('accepts a key file written by hand as hex, base64 or 32 raw bytes', async () => {
    const path = join(dataDir, 'master.key');
    for (const content of [Buffer.from(`${KEY.toString('hex')}\n`), Buffer.from(KEY.toString('base64')), KEY]) {
      writeFileSync(path, content, { mode: 0o600 });
      expect(await loadMasterKey({ dataDir })).toEqual({ key: KEY, source: 'file' });
    }
  });

  it('refuses a key file readable by group or others, or of the wrong length', async () => {
    const path = join(dataDir, 'master.key');
    writeFileSync(path, KEY.toString('base64'), { mode: 0o600 });
    chmodSync(path, 0o644);
    await expect(loadMasterKey({ dataDir })).rejects.toThrow(/accessible by group or others.*chmod 600/);
    chmodSync(path, 0o640);
    await expect(loadMasterKey({ dataDir })).rejects.toBeInstanceOf(MasterKeyError);
    writeFileSync(path, KEY.subarray(0, 16).toString('base64'), { mode: 0o600 });
    chmodSync(path, 0o600);
    await expect(loadMasterKey({ dataDir })).rejects.toThrow(/does not hold a 32-byte key/);
  });

  it('leaves one key when several processes start together', () => {
    const script = `import { loadMasterKey } from ${JSON.stringify(join(process.cwd(), 'src/crypto/master-key.ts'))};
      const { key, source } = await loadMasterKey({ dataDir: ${JSON.stringify(dataDir)} });
      console.log(key.toString('hex'), source);`;
    const scriptPath = join(dataDir, '..', `race-${process.pid}.mts`);
    writeFileSync(scriptPath, script);
    try {
      const command = Array.from({ length: 6 }, () => `node --import tsx ${scriptPath} &`).join(' ') + ' wait';
      const lines = execFileSync('sh', ['-c', command], { encoding: 'utf8' }).trim().split('\n');
      expect(lines).toHaveLength(6);
      const keys = new Set(lines.map((line) => line.split(' ')[0]));
      expect(keys.size).toBe(1);
      expect(lines.filter((line) => line.endsWith('generated')).length).toBeLessThanOrEqual(1);
      expect(readFileSync(join(dataDir, 'master.key'), 'utf8').trim()).toBe(Buffer.from([...keys][0] ?? '', 'hex').toString('base64'));
      expect(readdirSync(dataDir)).toEqual(['master.key']);
    } finally {
      rmSync(scriptPath, { force: true });
    }
  });
});

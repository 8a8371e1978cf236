// Runs `bin/lockwarden serve` as a child process, as an administrator would, and finds its URL.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '../../bin/lockwarden');

export interface Started { url: string; output: () => string; stop: () => Promise<number | null> }

export async function startServer(env: Record<string, string>): Promise<Started> {
  const child = spawn(BIN, ['serve'], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += String(d); });
  child.stderr.on('data', (d) => { output += String(d); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 20_000);
    const look = () => {
      const match = /lockwarden listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) { clearTimeout(timer); resolve(match[1]!); }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${output}`)); });
  });
  return { url, output: () => output, stop: async () => { child.kill('SIGTERM'); return exited; } };
}

export interface CliOutcome { code: number; stdout: string; stderr: string }

const execBin = promisify(execFile);

/**
 * Runs `bin/lockwarden ARGS` to the end. `env` replaces the server settings a developer's shell
 * may hold (DATABASE_URL, LOCKWARDEN_MASTER_KEY, LOCKWARDEN_DATA_DIR): only what the test gives.
 */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliOutcome> {
  const { DATABASE_URL: _url, LOCKWARDEN_MASTER_KEY: _key, LOCKWARDEN_DATA_DIR: _dir, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await execBin(BIN, args, { encoding: 'utf8', env: { ...inherited, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as CliOutcome;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

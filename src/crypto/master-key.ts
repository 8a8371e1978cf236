// The master key that seals secrets at rest (envelope.ts): UnlockTokens, bootstrap tokens, the
// CA and push keys. DESIGN.md decision 9 keeps it outside the database: in
// LOCKWARDEN_MASTER_KEY, or in `<dataDir>/master.key`, created on first start.
// Nothing here logs, and no error message quotes, the key or the file's content.

import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const MASTER_KEY_BYTES = 32;
export const MASTER_KEY_FILE = 'master.key';

export type MasterKeySource = 'env' | 'file' | 'generated';

export interface MasterKey {
  key: Buffer;
  source: MasterKeySource;
}

export interface LoadMasterKeyOptions {
  /** LOCKWARDEN_MASTER_KEY: 32 bytes as base64 (standard or URL-safe) or as 64 hex characters. */
  env?: string;
  dataDir: string;
  /** Create the key file when there is none (default true). Tools that only read what a server
   * wrote (`audit verify`) say false: a new key could open nothing. */
  create?: boolean;
}

/** Every refusal to load or create the master key. The message never contains key material. */
export class MasterKeyError extends Error {
  override readonly name = 'MasterKeyError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The environment wins; else the key file; else a new random key, written so that two
 * processes starting on the same data directory at once end up sharing one key.
 */
export async function loadMasterKey(options: LoadMasterKeyOptions): Promise<MasterKey> {
  if (options.env !== undefined && options.env.trim() !== '') {
    const key = decodeKeyText(options.env);
    if (key === undefined) {
      throw new MasterKeyError(`LOCKWARDEN_MASTER_KEY must be ${MASTER_KEY_BYTES} bytes as base64 or as 64 hex characters`);
    }
    return { key, source: 'env' };
  }
  const path = join(options.dataDir, MASTER_KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing !== undefined) return { key: existing, source: 'file' };
  if (options.create === false) throw new MasterKeyError(`no master key: LOCKWARDEN_MASTER_KEY is not set and there is no ${path}`);
  return createKeyFile(options.dataDir, path);
}

/** Hex (64 characters) or base64 of exactly 32 bytes; undefined for anything else. */
function decodeKeyText(text: string): Buffer | undefined {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  // Buffer.from(…, 'base64') skips characters it does not know, so validate the alphabet first.
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return undefined;
  const key = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return key.length === MASTER_KEY_BYTES ? key : undefined;
}

/**
 * The file holds the key as base64 text (what we write), hex text, or 32 raw bytes (what
 * `head -c 32 /dev/urandom > master.key` gives): the three lengths cannot be confused.
 */
async function readKeyFile(path: string): Promise<Buffer | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw new MasterKeyError(`cannot read the master key file ${path}: ${errorCode(err) ?? 'unknown error'}`, { cause: err });
  }
  if (!info.isFile()) throw new MasterKeyError(`${path} is not a regular file`);
  // Windows has no POSIX mode bits worth checking; everywhere else a key readable by others is
  // a key already disclosed, and the operator must fix it rather than have us carry on.
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(3, '0');
    throw new MasterKeyError(`${path} is accessible by group or others (mode ${mode}); run: chmod 600 ${path}`);
  }
  const content = await readFile(path);
  const key = content.length === MASTER_KEY_BYTES ? Buffer.from(content) : decodeKeyText(content.toString('latin1'));
  content.fill(0);
  if (key === undefined) {
    throw new MasterKeyError(`${path} does not hold a ${MASTER_KEY_BYTES}-byte key (base64, 64 hex characters, or ${MASTER_KEY_BYTES} raw bytes)`);
  }
  return key;
}

/**
 * Write a temporary file (mode 0600, O_EXCL), fsync it, then hard-link it to the final name.
 * link(2) fails with EEXIST when the name is taken, which rename(2) would silently replace:
 * with rename, two processes starting together would each keep a different key and one of
 * them would seal secrets that the other can never open. Whoever loses the race reads the
 * winner's file. A reader never sees a half-written key, because the final name only ever
 * appears fully written.
 */
async function createKeyFile(dataDir: string, path: string): Promise<MasterKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(MASTER_KEY_BYTES);
  const temporary = join(dataDir, `.${MASTER_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const text = Buffer.from(`${key.toString('base64')}\n`, 'latin1');
  try {
    const handle = await open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temporary, path);
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
      const winner = await readKeyFile(path);
      if (winner === undefined) throw new MasterKeyError(`${path} disappeared while it was being created`);
      return { key: winner, source: 'file' };
    }
    await syncDirectory(dataDir);
    return { key, source: 'generated' };
  } catch (err) {
    if (err instanceof MasterKeyError) throw err;
    throw new MasterKeyError(`cannot create the master key file ${path}: ${errorCode(err) ?? String(err)}`, { cause: err });
  } finally {
    text.fill(0);
    await unlink(temporary).catch(() => undefined);
  }
}

/** So the new directory entry survives a power cut; not every platform can open a directory. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, fsConstants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Best effort: Windows and some network file systems refuse; the key is written either way.
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

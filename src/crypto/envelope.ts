// AES-256-GCM envelope for secrets at rest (DESIGN.md decision 9): UnlockTokens, bootstrap
// tokens, the CA and push private keys. The master key lives outside the database
// (master-key.ts); the database only ever holds sealed bytes.
//
// Sealed layout (version 1):
//
//   offset 0   1 byte    format version (0x01)
//   offset 1   1 byte    key id: which master key sealed it (0 today)
//   offset 2   12 bytes  random nonce
//   offset 14  n bytes   ciphertext (same length as the plaintext)
//   offset 14+n 16 bytes GCM tag
//
// The additional authenticated data is the two header bytes followed by the UTF-8 context
// (e.g. `unlock-token:<deviceId>`), so a sealed value copied to another row, or relabelled with
// another key id, fails to open instead of yielding another device's secret.
//
// Key rotation: a future keyring seals with a new key id and, to open, reads the id with
// `sealedKeyId` and picks the matching key; values sealed under id 0 keep opening with the
// old key until they are re-sealed. Random 96-bit nonces are safe for far more than the
// number of secrets one master key will ever seal (NIST SP 800-38D's 2^32 invocations).

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const ENVELOPE_VERSION = 1;
const HEADER_BYTES = 2;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

export type SecretErrorCode = 'invalid-key' | 'invalid-context' | 'malformed' | 'unsupported-version' | 'authentication-failed';

/** Every refusal to seal or open. Never carries plaintext, key or ciphertext. */
export class SecretError extends Error {
  override readonly name = 'SecretError';

  constructor(
    readonly code: SecretErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SealOptions {
  /** Which master key this is (0–255); stored in the clear, authenticated. Default 0. */
  keyId?: number;
}

export function sealSecret(key: Buffer, plaintext: Buffer, context: string, options?: SealOptions): Buffer {
  checkKey(key);
  checkContext(context);
  const keyId = options?.keyId ?? 0;
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255) throw new SecretError('invalid-key', 'keyId must be an integer from 0 to 255');
  const header = Buffer.from([ENVELOPE_VERSION, keyId]);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, context));
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([header, nonce, ciphertext, cipher.getAuthTag()]);
}

/**
 * Open a value sealed by sealSecret under the same key and context. Anything else — another
 * key, another context, a truncated or altered value — throws SecretError; GCM verifies the
 * tag before a single plaintext byte is returned.
 */
export function openSecret(key: Buffer, sealed: Buffer, context: string): Buffer {
  checkKey(key);
  checkContext(context);
  if (!Buffer.isBuffer(sealed) || sealed.length < OVERHEAD) throw new SecretError('malformed', 'sealed secret is too short');
  if (sealed[0] !== ENVELOPE_VERSION) throw new SecretError('unsupported-version', `sealed secret has unknown format version ${sealed[0] ?? '?'}`);
  const header = sealed.subarray(0, HEADER_BYTES);
  const nonce = sealed.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const ciphertext = sealed.subarray(HEADER_BYTES + NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(header, context));
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(ciphertext);
  try {
    decipher.final();
  } catch (err) {
    plaintext.fill(0);
    throw new SecretError('authentication-failed', 'sealed secret does not open with this key and context (wrong key, wrong context, or altered)', { cause: err });
  }
  return plaintext;
}

/** The key id a value was sealed under, so a keyring can pick the key before openSecret. */
export function sealedKeyId(sealed: Buffer): number {
  if (!Buffer.isBuffer(sealed) || sealed.length < OVERHEAD) throw new SecretError('malformed', 'sealed secret is too short');
  if (sealed[0] !== ENVELOPE_VERSION) throw new SecretError('unsupported-version', `sealed secret has unknown format version ${sealed[0] ?? '?'}`);
  return sealed[1] ?? 0;
}

function additionalData(header: Buffer, context: string): Buffer {
  return Buffer.concat([header, Buffer.from(context, 'utf8')]);
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new SecretError('invalid-key', `the master key must be ${KEY_BYTES} bytes`);
}

function checkContext(context: string): void {
  // An empty context would let a value open in every row: the binding is the point.
  if (typeof context !== 'string' || context.length === 0) throw new SecretError('invalid-context', 'a non-empty context is required');
}

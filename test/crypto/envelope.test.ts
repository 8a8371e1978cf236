import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openSecret, sealedKeyId, sealSecret, SecretError } from '../../src/crypto/envelope.ts';

const key = randomBytes(32);
const token = Buffer.from('an UnlockToken: opaque device bytes \u0000\u0001\u0002');
const context = 'unlock-token:device-42';

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'opened';
  } catch (err) {
    return err instanceof SecretError ? err.code : `other: ${String(err)}`;
  }
}

describe('sealSecret / openSecret', () => {
  it('round-trips any plaintext, including empty, with a fresh nonce each time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.string({ minLength: 1 }), (bytes, ctx) => {
        const plaintext = Buffer.from(bytes);
        const sealed = sealSecret(key, plaintext, ctx);
        expect(sealed.length).toBe(plaintext.length + 30);
        expect(openSecret(key, sealed, ctx).equals(plaintext)).toBe(true);
      }),
    );
    expect(sealSecret(key, token, context).equals(sealSecret(key, token, context))).toBe(false);
  });

  it('lays out version, key id, nonce, ciphertext and tag, and never stores the plaintext', () => {
    const sealed = sealSecret(key, token, context, { keyId: 7 });
    expect(sealed[0]).toBe(1);
    expect(sealed[1]).toBe(7);
    expect(sealedKeyId(sealed)).toBe(7);
    expect(sealed.includes(token.subarray(0, 8))).toBe(false);
    expect(openSecret(key, sealed, context).equals(token)).toBe(true);
  });

  it('refuses another key, another context (a row copied elsewhere) and a relabelled key id', () => {
    const sealed = sealSecret(key, token, context);
    expect(codeOf(() => openSecret(randomBytes(32), sealed, context))).toBe('authentication-failed');
    expect(codeOf(() => openSecret(key, sealed, 'unlock-token:device-43'))).toBe('authentication-failed');
    expect(codeOf(() => openSecret(key, sealed, 'bootstrap-token:device-42'))).toBe('authentication-failed');
    const relabelled = Buffer.from(sealed);
    relabelled[1] = 1;
    expect(codeOf(() => openSecret(key, relabelled, context))).toBe('authentication-failed');
  });

  it('refuses every truncation and every bit flip with a SecretError', () => {
    const sealed = sealSecret(key, token, context);
    for (let length = 0; length < sealed.length; length++) {
      expect(codeOf(() => openSecret(key, sealed.subarray(0, length), context))).toMatch(/^(malformed|authentication-failed)$/);
    }
    for (let offset = 0; offset < sealed.length; offset++) {
      for (let bit = 0; bit < 8; bit++) {
        const mutant = Buffer.from(sealed);
        mutant[offset] = (mutant[offset] as number) ^ (1 << bit);
        expect(codeOf(() => openSecret(key, mutant, context))).toMatch(/^(unsupported-version|authentication-failed)$/);
      }
    }
  });

  it('refuses an unknown format version, a bad key and an empty context', () => {
    const sealed = Buffer.from(sealSecret(key, token, context));
    sealed[0] = 2;
    expect(codeOf(() => openSecret(key, sealed, context))).toBe('unsupported-version');
    expect(codeOf(() => sealSecret(randomBytes(16), token, context))).toBe('invalid-key');
    expect(codeOf(() => sealSecret(key, token, ''))).toBe('invalid-context');
    expect(codeOf(() => sealSecret(key, token, context, { keyId: 256 }))).toBe('invalid-key');
  });
});

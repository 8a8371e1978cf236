// RC2-CBC decryption (RFC 2268), only to read legacy PKCS#12 files: `openssl pkcs12 -export
// -legacy`, older OpenSSL, macOS Keychain and Windows exports protect their certificate bags
// with pbeWithSHAAnd40BitRC2-CBC. Node's OpenSSL 3 keeps RC2 in the legacy provider, which a
// running process cannot load, so this module implements the decryption. Never used to
// protect anything we write.

/** RFC 2268 §2 PITABLE: a permutation of 0–255 derived from the digits of π. */
const PITABLE = Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2' +
    '179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82' +
    '54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
    '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7' +
    '08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec' +
    'c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
    '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9' +
    '0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
);

/** RFC 2268 §2 key expansion into 64 16-bit words. */
function expandKey(key: Uint8Array, effectiveBits: number): Uint16Array {
  const t = key.length;
  if (t < 1 || t > 128 || effectiveBits < 1 || effectiveBits > 1024) throw new RangeError('RC2 key of 1–128 bytes and 1–1024 effective bits expected');
  const l = new Uint8Array(128);
  l.set(key);
  for (let i = t; i < 128; i++) l[i] = PITABLE[((l[i - 1] as number) + (l[i - t] as number)) & 0xff] as number;
  const t8 = Math.ceil(effectiveBits / 8);
  const tm = 0xff >> (8 * t8 - effectiveBits);
  l[128 - t8] = PITABLE[(l[128 - t8] as number) & tm] as number;
  for (let i = 127 - t8; i >= 0; i--) l[i] = PITABLE[(l[i + 1] as number) ^ (l[i + t8] as number)] as number;
  const k = new Uint16Array(64);
  for (let i = 0; i < 64; i++) k[i] = (l[2 * i] as number) | ((l[2 * i + 1] as number) << 8);
  return k;
}

const SHIFTS = [1, 2, 3, 5] as const;

function decryptBlock(k: Uint16Array, block: Uint8Array, out: Uint8Array, outOffset: number): void {
  const r = new Uint16Array(4);
  for (let i = 0; i < 4; i++) r[i] = (block[2 * i] as number) | ((block[2 * i + 1] as number) << 8);
  let j = 63;
  const unmix = (): void => {
    for (let i = 3; i >= 0; i--) {
      const s = SHIFTS[i] as number;
      const value = r[i] as number;
      r[i] = (value >>> s) | (value << (16 - s));
      const a = r[(i + 3) & 3] as number;
      const b = r[(i + 2) & 3] as number;
      const c = r[(i + 1) & 3] as number;
      r[i] = (r[i] as number) - (k[j] as number) - (a & b) - (~a & c);
      j--;
    }
  };
  const unmash = (): void => {
    for (let i = 3; i >= 0; i--) r[i] = (r[i] as number) - (k[(r[(i + 3) & 3] as number) & 63] as number);
  };
  for (let round = 0; round < 5; round++) unmix();
  unmash();
  for (let round = 0; round < 6; round++) unmix();
  unmash();
  for (let round = 0; round < 5; round++) unmix();
  for (let i = 0; i < 4; i++) {
    out[outOffset + 2 * i] = (r[i] as number) & 0xff;
    out[outOffset + 2 * i + 1] = (r[i] as number) >>> 8;
  }
}

/** RC2-CBC decryption with PKCS#7 padding removed. Throws RangeError on bad length or padding. */
export function rc2CbcDecrypt(key: Uint8Array, effectiveBits: number, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  if (iv.length !== 8) throw new RangeError('RC2 IV must be 8 bytes');
  if (ciphertext.length === 0 || ciphertext.length % 8 !== 0) throw new RangeError('RC2 ciphertext length is not a multiple of 8');
  const k = expandKey(key, effectiveBits);
  const out = Buffer.alloc(ciphertext.length);
  let previous = iv;
  for (let offset = 0; offset < ciphertext.length; offset += 8) {
    const block = ciphertext.subarray(offset, offset + 8);
    decryptBlock(k, block, out, offset);
    for (let i = 0; i < 8; i++) out[offset + i] = (out[offset + i] as number) ^ (previous[i] as number);
    previous = block;
  }
  const pad = out[out.length - 1] as number;
  if (pad < 1 || pad > 8) throw new RangeError('bad RC2 padding');
  for (let i = out.length - pad; i < out.length; i++) if (out[i] !== pad) throw new RangeError('bad RC2 padding');
  return out.subarray(0, out.length - pad);
}

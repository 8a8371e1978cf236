import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { signCms } from '../../src/crypto/cms-signer.ts';
import type { SigningIdentity } from '../../src/crypto/cms-signer.ts';
import { CmsError, readSignedData } from '../../src/crypto/cms-reader.ts';

// Test identities come from the openssl CLI, the same tool the verification side uses, so the
// signer is checked against an implementation that shares no code with it.
let dir = '';

function openssl(...args: string[]): Buffer {
  return execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

function file(name: string): string {
  return join(dir, name);
}

function identity(cert: string, key: string, chain?: string[]): SigningIdentity {
  return {
    certificatePem: readFileSync(file(cert), 'utf8'),
    privateKeyPem: readFileSync(file(key), 'utf8'),
    ...(chain ? { chainPem: chain.map((c) => readFileSync(file(c), 'utf8')) } : {}),
  };
}

/** `openssl smime|cms -verify`: returns stdout (the content) or throws with stderr. */
function opensslVerify(tool: 'smime' | 'cms', signed: Buffer, caFile: string): Buffer {
  const path = file(`verify-${tool}-${Math.random().toString(16).slice(2)}.der`);
  writeFileSync(path, signed);
  const run = spawnSync('openssl', [tool, '-verify', '-inform', 'DER', '-in', path, '-CAfile', file(caFile)], { cwd: dir });
  if (run.status !== 0) throw new Error(`openssl ${tool} -verify failed: ${run.stderr.toString()}`);
  expect(run.stderr.toString()).toMatch(/Verification successful/);
  return run.stdout;
}

async function readError(der: Uint8Array): Promise<CmsError> {
  try {
    await readSignedData(der);
  } catch (err) {
    expect(err).toBeInstanceOf(CmsError);
    return err as CmsError;
  }
  throw new Error('readSignedData accepted the input');
}

const profile = readFileSync(new URL('../fixtures/seed-002-passcode.mobileconfig', import.meta.url));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwarden-cms-'));
  const subj = (cn: string): string[] => ['-subj', `/CN=${cn}/O=Lockwarden Tests`];
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.pem', '-days', '2', ...subj('RSA Signer'));
  openssl('rsa', '-in', 'rsa.key', '-traditional', '-out', 'rsa-pkcs1.key');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ec.key', '-out', 'ec.pem', '-days', '2', ...subj('EC Signer'));
  openssl('ec', '-in', 'ec.key', '-out', 'ec-sec1.key');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', 'p384.key', '-out', 'p384.pem', '-days', '2', ...subj('P384'));
  openssl('pkey', '-in', 'rsa.key', '-aes256', '-passout', 'pass:secret', '-out', 'rsa-encrypted.key');
  // root → intermediate → leaf, to show the chain is embedded.
  writeFileSync(file('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(file('leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', '2', ...subj('Test Root'));
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'inter.key', '-out', 'inter.csr', ...subj('Test Intermediate'));
  openssl('x509', '-req', '-in', 'inter.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '2', '-extfile', 'ca.ext', '-out', 'inter.pem');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', ...subj('Test Leaf'));
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key', '-CAcreateserial', '-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.pem');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('signCms → openssl', () => {
  const identities: Array<[string, string, string, string]> = [
    ['RSA, PKCS#8 key', 'rsa.pem', 'rsa.key', 'CN=RSA Signer, O=Lockwarden Tests'],
    ['RSA, PKCS#1 key', 'rsa.pem', 'rsa-pkcs1.key', 'CN=RSA Signer, O=Lockwarden Tests'],
    ['ECDSA P-256, PKCS#8 key', 'ec.pem', 'ec.key', 'CN=EC Signer, O=Lockwarden Tests'],
    ['ECDSA P-256, SEC1 key', 'ec.pem', 'ec-sec1.key', 'CN=EC Signer, O=Lockwarden Tests'],
  ];

  for (const [label, cert, key, subject] of identities) {
    it(`${label}: openssl smime and cms verify it and print the profile byte for byte`, async () => {
      const signed = await signCms(profile, identity(cert, key));
      expect(signed[0]).toBe(0x30);
      expect(opensslVerify('smime', signed, cert).equals(profile)).toBe(true);
      expect(opensslVerify('cms', signed, cert).equals(profile)).toBe(true);
    });

    it(`${label}: readSignedData returns the content, the signer and signatureValid true`, async () => {
      const signed = await signCms(profile, identity(cert, key));
      const result = await readSignedData(signed);
      expect(result.content.equals(profile)).toBe(true);
      expect(result.signatureValid).toBe(true);
      expect(result.failure).toBeUndefined();
      expect(result.signers).toHaveLength(1);
      const serial = openssl('x509', '-in', cert, '-noout', '-serial').toString().trim().replace(/^serial=/, '');
      expect(result.signers[0]).toMatchObject({ subject, issuer: subject, serialNumber: serial.toLowerCase() });
      expect(result.signers[0]?.notAfter.getTime()).toBeGreaterThan(result.signers[0]?.notBefore.getTime() ?? Infinity);
    });
  }

  it('keeps binary and CRLF content byte for byte', async () => {
    const content = Buffer.concat([Buffer.from('line\r\nnext\r\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
    const signed = await signCms(content, identity('rsa.pem', 'rsa.key'));
    expect(opensslVerify('smime', signed, 'rsa.pem').equals(content)).toBe(true);
    expect((await readSignedData(signed)).content.equals(content)).toBe(true);
  });

  it('encodes large content as one primitive OCTET STRING (DER), not 64 KiB pieces', async () => {
    const content = Buffer.alloc(150_000, 'x');
    const signed = await signCms(content, identity('ec.pem', 'ec.key'));
    expect(signed.includes(content)).toBe(true);
    writeFileSync(file('large.der'), signed);
    const parsed = openssl('asn1parse', '-inform', 'DER', '-in', 'large.der').toString();
    expect(parsed).toMatch(/prim: OCTET STRING/);
    expect(parsed).not.toMatch(/cons: OCTET STRING/);
    expect(opensslVerify('cms', signed, 'ec.pem').equals(content)).toBe(true);
  });

  it('signs contentType, signingTime and messageDigest in DER order, SHA-256, with the given time', async () => {
    const signingTime = new Date('2031-05-06T07:08:09Z');
    const signed = await signCms(profile, identity('rsa.pem', 'rsa.key'), { signingTime });
    const contentInfo = pkijs.ContentInfo.fromBER(signed);
    const signedData = new pkijs.SignedData({ schema: contentInfo.content });
    expect(signedData.encapContentInfo.eContentType).toBe('1.2.840.113549.1.7.1');
    const signerInfo = signedData.signerInfos[0];
    expect(signerInfo?.digestAlgorithm.algorithmId).toBe('2.16.840.1.101.3.4.2.1');
    const attributes = signerInfo?.signedAttrs?.attributes ?? [];
    expect(attributes.map((a) => a.type)).toEqual(['1.2.840.113549.1.9.3', '1.2.840.113549.1.9.5', '1.2.840.113549.1.9.4']);
    const encoded = attributes.map((a) => Buffer.from(a.toSchema().toBER(false)));
    expect([...encoded].sort(Buffer.compare)).toEqual(encoded);
    const time = attributes[1]?.values[0] as asn1js.UTCTime;
    expect(time.toDate().toISOString()).toBe(signingTime.toISOString());
    const digest = (attributes[2]?.values[0] as asn1js.OctetString).valueBlock.valueHexView;
    expect(Buffer.from(digest).toString('hex')).toBe(createHash('sha256').update(profile).digest('hex'));
  });

  it('embeds the chain, so openssl verifies a leaf against the root alone', async () => {
    const withChain = await signCms(profile, identity('leaf.pem', 'leaf.key', ['inter.pem']));
    expect(opensslVerify('smime', withChain, 'root.pem').equals(profile)).toBe(true);
    const withoutChain = await signCms(profile, identity('leaf.pem', 'leaf.key'));
    expect(() => opensslVerify('smime', withoutChain, 'root.pem')).toThrow(/unable to get local issuer certificate/);
    const result = await readSignedData(withChain);
    expect(result.signatureValid).toBe(true);
    expect(result.signers).toEqual([expect.objectContaining({ subject: 'CN=Test Leaf, O=Lockwarden Tests', issuer: 'CN=Test Intermediate, O=Lockwarden Tests' })]);
  });

  it('refuses unusable identities with CmsError', async () => {
    const refuses = async (signer: SigningIdentity, message: RegExp): Promise<void> => {
      const attempt = signCms(profile, signer);
      await expect(attempt).rejects.toBeInstanceOf(CmsError);
      await expect(attempt).rejects.toThrow(message);
    };
    await refuses(identity('rsa.pem', 'ec.key'), /private key does not belong to the signing certificate/);
    await refuses(identity('rsa.pem', 'rsa-encrypted.key'), /not a readable, unencrypted PEM private key/);
    await refuses(identity('p384.pem', 'p384.key'), /unsupported signing key ec \(secp384r1\)/);
    await refuses({ ...identity('rsa.pem', 'rsa.key'), certificatePem: 'nothing here' }, /holds no PEM certificate/);
    const two = readFileSync(file('rsa.pem'), 'utf8') + readFileSync(file('ec.pem'), 'utf8');
    await refuses({ ...identity('rsa.pem', 'rsa.key'), certificatePem: two }, /exactly one certificate, found 2/);
  });
});

describe('signCms detached (the Mdm-Signature shape)', () => {
  it('leaves the content out, and openssl cms verifies it against the separate body', async () => {
    const body = Buffer.from('<?xml version="1.0"?><plist version="1.0"><dict><key>Status</key><string>Idle</string></dict></plist>');
    const signed = await signCms(body, identity('rsa.pem', 'rsa.key'), { detached: true });
    expect(signed.includes(body)).toBe(false);
    writeFileSync(file('detached.der'), signed);
    writeFileSync(file('body.plist'), body);
    expect(openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in', 'detached.der', '-content', 'body.plist', '-CAfile', 'rsa.pem').equals(body)).toBe(true);
    writeFileSync(file('other.plist'), Buffer.concat([body, Buffer.from(' ')]));
    expect(() => openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in', 'detached.der', '-content', 'other.plist', '-CAfile', 'rsa.pem')).toThrow();
  });
});

describe('readSignedData', () => {
  it('reads profiles signed by openssl, including BER with indefinite lengths', async () => {
    writeFileSync(file('profile.mobileconfig'), profile);
    for (const extra of [[], ['-stream']]) {
      openssl('cms', '-sign', '-nodetach', '-binary', '-in', 'profile.mobileconfig', '-signer', 'ec.pem', '-inkey', 'ec.key', '-outform', 'DER', '-out', 'openssl.der', ...extra);
      const result = await readSignedData(readFileSync(file('openssl.der')));
      expect(result.content.equals(profile)).toBe(true);
      expect(result.signatureValid).toBe(true);
      expect(result.signers[0]?.subject).toBe('CN=EC Signer, O=Lockwarden Tests');
    }
  });

  it('refuses what is not an attached SignedData, with a reason', async () => {
    expect((await readError(new Uint8Array())).message).toMatch(/empty input/);
    expect((await readError(Buffer.from('hello, not DER'))).message).toMatch(/not a DER-encoded CMS structure/);
    const signed = await signCms(profile, identity('rsa.pem', 'rsa.key'));
    expect((await readError(Buffer.concat([signed, Buffer.from([0])]))).message).toMatch(/1 unexpected bytes after it/);
    expect((await readError(signed.subarray(0, signed.length - 10))).message).toMatch(/not a DER-encoded CMS structure/);
    const certificateDer = openssl('x509', '-in', 'rsa.pem', '-outform', 'DER');
    expect((await readError(certificateDer)).message).toMatch(/not a CMS ContentInfo/);
    const dataContentInfo = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.1', content: new asn1js.OctetString({ valueHex: new Uint8Array([1]) }) });
    expect((await readError(new Uint8Array(dataContentInfo.toSchema().toBER(false)))).message).toMatch(/not a CMS SignedData \(content type 1\.2\.840\.113549\.1\.7\.1\)/);
    openssl('cms', '-sign', '-binary', '-in', 'profile.mobileconfig', '-signer', 'rsa.pem', '-inkey', 'rsa.key', '-outform', 'DER', '-out', 'detached.der');
    expect((await readError(readFileSync(file('detached.der')))).message).toMatch(/detached CMS signature/);
    expect((await readError(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]))).message).toMatch(/not a CMS ContentInfo/);
  });

  it('requires every signer to verify, and refuses more than 8 signers', async () => {
    const signed = await signCms(profile, identity('rsa.pem', 'rsa.key'));
    const withSigners = (count: number, tamperLast: boolean): Buffer => {
      const signedData = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(signed).content });
      const original = signedData.signerInfos[0];
      if (!original) throw new Error('no signer');
      signedData.signerInfos = Array.from({ length: count }, () => pkijs.SignerInfo.fromBER(original.toSchema().toBER(false)));
      const last = signedData.signerInfos[count - 1];
      if (tamperLast && last) {
        const signature = new Uint8Array(last.signature.valueBlock.valueHexView);
        signature[0] = (signature[0] ?? 0) ^ 0xff;
        last.signature = new asn1js.OctetString({ valueHex: signature });
      }
      const contentInfo = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: signedData.toSchema(true) });
      return Buffer.from(contentInfo.toSchema().toBER(false));
    };
    const two = await readSignedData(withSigners(2, false));
    expect(two.signatureValid).toBe(true);
    expect(two.signers).toHaveLength(2);
    const oneBad = await readSignedData(withSigners(2, true));
    expect(oneBad.signatureValid).toBe(false);
    expect(oneBad.failure).toMatch(/^signer 2:/);
    expect((await readError(withSigners(9, false))).message).toMatch(/lists 9 signers; at most 8/);
  });

  it('refuses input over maxBytes before parsing', async () => {
    const signed = await signCms(profile, identity('rsa.pem', 'rsa.key'));
    await expect(readSignedData(signed, { maxBytes: 100 })).rejects.toThrow(/larger than the 100-byte limit/);
  });

  it('reports a tampered content as signatureValid false, never true', async () => {
    const signed = await signCms(profile, identity('rsa.pem', 'rsa.key'));
    const at = signed.indexOf(Buffer.from('<integer>5</integer>'));
    expect(at).toBeGreaterThan(0);
    const tampered = Buffer.from(signed);
    tampered[at + 9] = '9'.charCodeAt(0); // maxFailedAttempts 5 → 9
    const result = await readSignedData(tampered);
    expect(result.content.includes('<integer>9</integer>')).toBe(true);
    expect(result.signatureValid).toBe(false);
    expect(result.failure).toMatch(/digest/i);
  });

  it('reports a tampered signature value as signatureValid false', async () => {
    for (const [cert, key] of [['rsa.pem', 'rsa.key'], ['ec.pem', 'ec.key']]) {
      const signed = await signCms(profile, identity(cert as string, key as string));
      const tampered = Buffer.from(signed);
      // The SignerInfo's signature OCTET STRING is the last element of the structure.
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
      const result = await readSignedData(tampered);
      expect(result.content.equals(profile)).toBe(true);
      expect(result.signatureValid).toBe(false);
      expect(result.failure).toMatch(/signer 1/);
    }
  });

  it('any single flipped byte gives CmsError or signatureValid false, unless the content is untouched', async () => {
    const signed = await signCms(profile, identity('ec.pem', 'ec.key'));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: signed.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, mask) => {
        const tampered = Buffer.from(signed);
        tampered[at] = (tampered[at] ?? 0) ^ mask;
        try {
          const result = await readSignedData(tampered);
          // A flip outside what is signed (the certificate's own signature, the outer
          // digestAlgorithms set) may leave the signature valid, but then over the same content.
          if (result.signatureValid) expect(result.content.equals(profile)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(CmsError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('hostile input (random bytes, truncations) only ever throws CmsError', async () => {
    const signed = await signCms(profile, identity('rsa.pem', 'rsa.key'));
    const onlyCmsErrors = async (bytes: Uint8Array): Promise<void> => {
      try {
        await readSignedData(bytes);
      } catch (err) {
        if (!(err instanceof CmsError)) throw err;
      }
    };
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), onlyCmsErrors), { numRuns: 500 });
    // Random bytes behind a plausible DER header get further into the parser.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), async (tail) => {
        await onlyCmsErrors(Buffer.concat([Buffer.from([0x30, 0x82, (tail.length >> 8) & 0xff, tail.length & 0xff]), tail]));
        await onlyCmsErrors(Buffer.concat([signed.subarray(0, 40), tail]));
      }),
      { numRuns: 500 },
    );
    for (let length = 0; length < signed.length; length += 7) {
      await expect(readSignedData(signed.subarray(0, length))).rejects.toBeInstanceOf(CmsError);
    }
  });
});

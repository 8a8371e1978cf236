import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildProfile, readProfileBytes } from '../../src/plist/mobileconfig.ts';
import type { ProfileEnvelope } from '../../src/plist/mobileconfig.ts';
import { decodePlist, encodePlist, PlistError } from '../../src/plist/plist-codec.ts';
import { signCms } from '../../src/crypto/cms-signer.ts';
import type { SigningIdentity } from '../../src/crypto/cms-signer.ts';
import { CmsError } from '../../src/crypto/cms-reader.ts';

const fixture = readFileSync(new URL('../fixtures/seed-002-passcode.mobileconfig', import.meta.url));

const passcodePayload = {
  PayloadType: 'com.apple.mobiledevice.passwordpolicy',
  PayloadVersion: 1,
  PayloadIdentifier: 'com.example.passcode.payload',
  PayloadUUID: '2a8a75e5-d17d-44d5-b062-3cb92161af9f',
  minLength: 8,
  maxPINAgeInDays: 30,
};

const minimal: ProfileEnvelope = {
  identifier: 'com.example.passcode',
  uuid: 'e044f50d-ff67-4bcd-9f3f-d7b678091061',
  displayName: 'Passcode',
  payloads: [passcodePayload],
};

let dir = '';
let signer: SigningIdentity;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockwarden-profile-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=Profile Signer'],
    { cwd: dir, stdio: 'ignore' },
  );
  signer = { certificatePem: readFileSync(join(dir, 'cert.pem'), 'utf8'), privateKeyPem: readFileSync(join(dir, 'key.pem'), 'utf8') };
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function readError(bytes: Uint8Array, opts?: { maxBytes?: number }): Promise<Error> {
  try {
    await readProfileBytes(bytes, opts);
  } catch (err) {
    expect(err instanceof PlistError || err instanceof CmsError).toBe(true);
    return err as Error;
  }
  throw new Error('readProfileBytes accepted the input');
}

describe('buildProfile', () => {
  it('writes the required TopLevel keys and only those when nothing optional is given', () => {
    expect(buildProfile(minimal)).toEqual({
      PayloadType: 'Configuration',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.passcode',
      PayloadUUID: 'e044f50d-ff67-4bcd-9f3f-d7b678091061',
      PayloadDisplayName: 'Passcode',
      PayloadContent: [passcodePayload],
    });
  });

  it('adds organization, description, scope and removalDisallowed when given', () => {
    const profile = buildProfile({ ...minimal, organization: 'Example Corp', description: 'Passcode rules', scope: 'System', removalDisallowed: false });
    expect(profile).toMatchObject({
      PayloadOrganization: 'Example Corp',
      PayloadDescription: 'Passcode rules',
      PayloadScope: 'System',
      PayloadRemovalDisallowed: false,
    });
    expect(Object.keys(profile)).toHaveLength(10);
  });

  it('does not share the caller\'s payload array', () => {
    const payloads = [passcodePayload];
    const profile = buildProfile({ ...minimal, payloads });
    payloads.push({ PayloadType: 'other' } as typeof passcodePayload);
    expect(profile.PayloadContent).toHaveLength(1);
  });

  it('refuses an empty identifier or UUID', () => {
    expect(() => buildProfile({ ...minimal, identifier: ' ' })).toThrow(/non-empty PayloadIdentifier/);
    expect(() => buildProfile({ ...minimal, uuid: '' })).toThrow(/non-empty PayloadUUID/);
  });

  it('encodes to a plist that decodes to the same dictionary, as the seed profile does', () => {
    const profile = buildProfile({ ...minimal, organization: 'Example Corp', scope: 'User' });
    expect(decodePlist(encodePlist(profile))).toEqual(profile);
    const seed = decodePlist(fixture) as Record<string, unknown>;
    const rebuilt = buildProfile({
      identifier: seed.PayloadIdentifier as string,
      uuid: seed.PayloadUUID as string,
      displayName: seed.PayloadDisplayName as string,
      payloads: seed.PayloadContent as Record<string, unknown>[],
    });
    expect(rebuilt).toEqual(seed);
  });
});

describe('readProfileBytes', () => {
  it('reads a plain XML profile, with no signature', async () => {
    const result = await readProfileBytes(fixture);
    expect(result.signature).toBeUndefined();
    const payload = (result.plist as { PayloadContent: Record<string, unknown>[] }).PayloadContent[0];
    expect(payload).toMatchObject({ maxPINAgeInDays: 30, pinHistory: 2 });
  });

  it('reads XML after a UTF-8 BOM and whitespace, and documents starting with <plist> or <!DOCTYPE>', async () => {
    const body = '<plist version="1.0"><string>ok</string></plist>';
    for (const text of [`\ufeff \n${fixture.toString('utf8')}`, body, `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "x">${body}`]) {
      const result = await readProfileBytes(Buffer.from(text, 'utf8'));
      expect(result.plist).toBeDefined();
      expect(result.signature).toBeUndefined();
    }
    expect((await readProfileBytes(Buffer.from(body))).plist).toBe('ok');
  });

  it('reads a CMS-signed profile: the plist of its content and the signature', async () => {
    const signed = await signCms(fixture, signer);
    const result = await readProfileBytes(signed);
    expect(result.plist).toEqual(decodePlist(fixture));
    expect(result.signature?.signatureValid).toBe(true);
    expect(result.signature?.signers[0]?.subject).toBe('CN=Profile Signer');
    expect(result.signature?.content.equals(fixture)).toBe(true);
  });

  it('reports a signed profile altered after signing as signatureValid false', async () => {
    const signed = await signCms(fixture, signer);
    const at = signed.indexOf(Buffer.from('<integer>8</integer>'));
    signed[at + 9] = '4'.charCodeAt(0);
    const result = await readProfileBytes(signed);
    expect((result.plist as { PayloadContent: Array<{ minLength: number }> }).PayloadContent[0]?.minLength).toBe(4);
    expect(result.signature?.signatureValid).toBe(false);
  });

  it('refuses binary plists with the plutil hint', async () => {
    const error = await readError(Buffer.concat([Buffer.from('bplist00'), Buffer.alloc(32)]));
    expect(error).toBeInstanceOf(PlistError);
    expect(error.message).toMatch(/plutil -convert xml1/);
  });

  it('refuses anything else as not a property list or CMS-signed profile', async () => {
    for (const text of ['hello', '{"PayloadType": "Configuration"}', 'PayloadType: Configuration', '<html></html>']) {
      const error = await readError(Buffer.from(text));
      expect(error).toBeInstanceOf(PlistError);
      expect(error.message).toBe('not a property list or CMS-signed profile');
    }
    expect((await readError(new Uint8Array())).message).toMatch(/^empty input/);
  });

  it('refuses DER that is not a signed profile with CmsError, and signed non-plists with PlistError', async () => {
    expect(await readError(Buffer.from([0x30, 0x80, 0x01]))).toBeInstanceOf(CmsError);
    const signedText = await signCms(Buffer.from('not a plist'), signer);
    const error = await readError(signedText);
    expect(error).toBeInstanceOf(PlistError);
    expect(error.message).toMatch(/not an XML property list/);
  });

  it('applies maxBytes to the signed content too', async () => {
    const signed = await signCms(fixture, signer);
    const error = await readError(signed, { maxBytes: 500 });
    expect(error).toBeInstanceOf(PlistError);
    expect(error.message).toMatch(/larger than the 500-byte limit/);
    expect((await readError(fixture, { maxBytes: 500 })).message).toMatch(/larger than the 500-byte limit/);
  });

  it('only ever throws PlistError or CmsError on hostile bytes', async () => {
    const signed = await signCms(fixture, signer);
    const onlyOurErrors = async (bytes: Uint8Array): Promise<void> => {
      try {
        await readProfileBytes(bytes);
      } catch (err) {
        if (!(err instanceof PlistError || err instanceof CmsError)) throw err;
      }
    };
    const prefix = fc.constantFrom('', '<?xml version="1.0"?>', '<plist>', '<!DOCTYPE plist>', '\ufeff', 'bplist00', '0');
    await fc.assert(
      fc.asyncProperty(prefix, fc.uint8Array({ maxLength: 300 }), async (head, tail) => {
        await onlyOurErrors(Buffer.concat([Buffer.from(head), tail]));
      }),
      { numRuns: 600 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: signed.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, mask) => {
        const tampered = Buffer.from(signed);
        tampered[at] = (tampered[at] ?? 0) ^ mask;
        await onlyOurErrors(tampered);
        await onlyOurErrors(signed.subarray(0, at));
      }),
      { numRuns: 300 },
    );
  });
});

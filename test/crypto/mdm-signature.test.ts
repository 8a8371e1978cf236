import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCa, generateDeviceIdentity, issueDeviceCertificate } from '../../src/crypto/device-ca.ts';
import type { DeviceCa, DeviceIdentity } from '../../src/crypto/device-ca.ts';
import { signCms } from '../../src/crypto/cms-signer.ts';
import { DeviceTrust } from '../../src/crypto/device-trust.ts';
import { MdmSignatureError, parseDetachedSignature, verifyMdmSignature } from '../../src/crypto/mdm-signature.ts';
import type { MdmSignatureReason } from '../../src/crypto/mdm-signature.ts';
import { certificateDer, opensslVerifies, pkijsVerifies, signDetachedWithOpenssl, signDetachedWithPkijs, toAppleBer } from './signature-fixtures.ts';

const IDLE = Buffer.from(
  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    '<plist version="1.0">\n<dict>\n\t<key>Status</key>\n\t<string>Idle</string>\n\t<key>UDID</key>\n\t<string>00008030-001A2B3C4D5E6F70</string>\n</dict>\n</plist>\n',
);
const BODIES: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['1 KB', Buffer.concat([IDLE, randomBytes(1024 - IDLE.length)])],
  ['100 KB', randomBytes(100 * 1024)],
];

let ca: DeviceCa;
let device: DeviceIdentity;
let trust: DeviceTrust;

function reasonOf(run: () => unknown): MdmSignatureReason | 'no error' | 'other error' {
  try {
    run();
    return 'no error';
  } catch (err) {
    return err instanceof MdmSignatureError ? err.reason : 'other error';
  }
}

beforeAll(async () => {
  ca = await createDeviceCa({ commonName: 'test device CA' });
  device = await generateDeviceIdentity(ca, 'device-1');
  trust = DeviceTrust.fromPem(ca.certificatePem);
});

describe('verifyMdmSignature with real signatures', () => {
  it.each(BODIES)('accepts a PKI.js detached signature over a %s body and names the device', async (_name, body) => {
    const signature = await signDetachedWithPkijs(body, device);
    const identity = verifyMdmSignature(signature.toString('base64'), body, trust);
    expect(identity.certHash).toBe(device.sha256);
    expect(identity.serialNumber).toBe(device.serialNumber);
    expect(identity.subject).toBe('CN=device-1');
    expect(identity.certificateDer.equals(certificateDer(device.certificatePem))).toBe(true);
    expect(identity.notAfter.getTime()).toBeGreaterThan(Date.now());
  });

  it.each(BODIES)('accepts `openssl cms -sign` and `openssl smime -sign` output over a %s body', (_name, body) => {
    for (const command of ['cms', 'smime'] as const) {
      const signature = signDetachedWithOpenssl(body, device, command);
      expect(verifyMdmSignature(signature.toString('base64'), body, trust).certHash).toBe(device.sha256);
    }
  });

  it('accepts the BER indefinite-length outer encoding Apple devices send, as OpenSSL and PKI.js do', async () => {
    const der = await signDetachedWithPkijs(IDLE, device);
    const ber = toAppleBer(der);
    expect(ber.subarray(0, 2).toString('hex')).toBe('3080');
    expect(ber.length).toBeGreaterThan(der.length);
    expect(opensslVerifies(ber, IDLE, ca.certificatePem)).toBe(true);
    expect((await pkijsVerifies(ber, IDLE)).ok).toBe(true);
    expect(verifyMdmSignature(ber.toString('base64'), IDLE, trust).certHash).toBe(device.sha256);
  });

  it.each(['SHA-1', 'SHA-384', 'SHA-512'] as const)('accepts %s digests (devices differ)', async (hash) => {
    const signature = await signDetachedWithPkijs(IDLE, device, { hash });
    expect(parseDetachedSignature(signature).digestAlgorithm).toBe(hash.replace('-', '').toLowerCase());
    expect(verifyMdmSignature(signature.toString('base64'), IDLE, trust).certHash).toBe(device.sha256);
  });

  it('accepts a signer named by subjectKeyIdentifier', async () => {
    const signature = await signDetachedWithPkijs(IDLE, device, { bySubjectKeyId: true });
    expect(parseDetachedSignature(signature).signerId.kind).toBe('subject-key-id');
    expect(verifyMdmSignature(signature.toString('base64'), IDLE, trust).certHash).toBe(device.sha256);
  });

  it('picks the signer certificate among others', async () => {
    const other = await generateDeviceIdentity(ca, 'device-2');
    const signature = await signDetachedWithPkijs(IDLE, device, { extraCertificatesPem: [other.certificatePem, ca.certificatePem] });
    expect(parseDetachedSignature(signature).certificates).toHaveLength(3);
    expect(verifyMdmSignature(signature.toString('base64'), IDLE, trust).certHash).toBe(device.sha256);
  });

  it('accepts RSA-PSS and ECDSA P-256 signatures', async () => {
    const pss = signDetachedWithOpenssl(IDLE, device, 'cms', ['-keyopt', 'rsa_padding_mode:pss', '-md', 'sha256']);
    expect(parseDetachedSignature(pss).scheme.kind).toBe('rsa-pss');
    expect(verifyMdmSignature(pss.toString('base64'), IDLE, trust).certHash).toBe(device.sha256);

    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issued = await issueDeviceCertificate(ca, { publicKey, commonName: 'ec-device' });
    const ecIdentity = { certificatePem: issued.certificatePem, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    for (const signature of [signDetachedWithOpenssl(IDLE, ecIdentity, 'cms'), await signDetachedWithPkijs(IDLE, ecIdentity)]) {
      expect(parseDetachedSignature(signature).scheme.kind).toBe('ecdsa');
      expect(verifyMdmSignature(signature.toString('base64'), IDLE, trust).certHash).toBe(issued.sha256);
    }
  });

  it("accepts the project's own signCms({ detached: true }), which the device simulator sends", async () => {
    const signature = await signCms(IDLE, device, { detached: true });
    expect(verifyMdmSignature(signature.toString('base64'), IDLE, trust).certHash).toBe(device.sha256);
  });

  it('tolerates line breaks in the header value', async () => {
    const base64 = (await signDetachedWithPkijs(IDLE, device)).toString('base64');
    const wrapped = base64.replace(/.{76}/g, '$&\r\n');
    expect(verifyMdmSignature(wrapped, IDLE, trust).certHash).toBe(device.sha256);
  });
});

describe('verifyMdmSignature refusals', () => {
  it('a different body is digest-mismatch', async () => {
    const signature = (await signDetachedWithPkijs(IDLE, device)).toString('base64');
    const tampered = Buffer.from(IDLE.toString().replace('Idle', 'Acknowledged'));
    expect(reasonOf(() => verifyMdmSignature(signature, tampered, trust))).toBe('digest-mismatch');
    expect(reasonOf(() => verifyMdmSignature(signature, Buffer.concat([IDLE, Buffer.from(' ')]), trust))).toBe('digest-mismatch');
  });

  it('a certificate from another CA is untrusted, even with a valid signature', async () => {
    const otherCa = await createDeviceCa({ commonName: 'test device CA' });
    const stranger = await generateDeviceIdentity(otherCa, 'device-1');
    const signature = (await signDetachedWithPkijs(IDLE, stranger)).toString('base64');
    expect(reasonOf(() => verifyMdmSignature(signature, IDLE, trust))).toBe('untrusted');
    expect(verifyMdmSignature(signature, IDLE, DeviceTrust.fromPem(otherCa.certificatePem)).certHash).toBe(stranger.sha256);
  });

  it('an expired certificate is expired; one not valid yet is not-yet-valid', async () => {
    const old = await generateDeviceIdentity(ca, 'old-device', { notBefore: new Date(Date.now() - 400 * 86_400_000), validityDays: 30 });
    const signature = (await signDetachedWithPkijs(IDLE, old)).toString('base64');
    expect(reasonOf(() => verifyMdmSignature(signature, IDLE, trust))).toBe('expired');
    const current = (await signDetachedWithPkijs(IDLE, device)).toString('base64');
    expect(reasonOf(() => verifyMdmSignature(current, IDLE, trust, new Date(Date.now() + 400 * 86_400_000)))).toBe('expired');
    expect(reasonOf(() => verifyMdmSignature(current, IDLE, trust, new Date(Date.now() - 2 * 86_400_000)))).toBe('not-yet-valid');
  });

  it('a signature made by another key with the device certificate attached is bad-signature', async () => {
    const impostor = { certificatePem: device.certificatePem, privateKeyPem: (await generateDeviceIdentity(ca, 'x')).privateKeyPem };
    // PKI.js refuses to sign with a mismatched pair, so sign as the impostor and swap certificates.
    const real = await generateDeviceIdentity(ca, 'impostor');
    const signature = await signDetachedWithPkijs(IDLE, { certificatePem: real.certificatePem, privateKeyPem: impostor.privateKeyPem });
    const swapped = Buffer.from(signature.toString('hex').replace(certificateDer(real.certificatePem).toString('hex'), certificateDer(device.certificatePem).toString('hex')).replace(
      Buffer.from(real.serialNumber, 'hex').toString('hex'),
      Buffer.from(device.serialNumber, 'hex').toString('hex'),
    ), 'hex');
    expect(reasonOf(() => verifyMdmSignature(swapped.toString('base64'), IDLE, trust))).toBe('bad-signature');
  });

  it('a signature without the signer certificate is no-signer-certificate', async () => {
    const signature = (await signDetachedWithPkijs(IDLE, device, { omitCertificate: true })).toString('base64');
    expect(reasonOf(() => verifyMdmSignature(signature, IDLE, trust))).toBe('no-signer-certificate');
  });

  it('an attached signature, garbage and non-base64 are malformed', async () => {
    const attached = signDetachedWithOpenssl(IDLE, device, 'cms', ['-nodetach']);
    expect(reasonOf(() => verifyMdmSignature(attached.toString('base64'), IDLE, trust))).toBe('malformed');
    expect(reasonOf(() => verifyMdmSignature('', IDLE, trust))).toBe('malformed');
    expect(reasonOf(() => verifyMdmSignature('not base64!', IDLE, trust))).toBe('malformed');
    expect(reasonOf(() => verifyMdmSignature('MIIB', IDLE, trust))).toBe('malformed');
    expect(reasonOf(() => verifyMdmSignature('A'.repeat(200_000), IDLE, trust))).toBe('malformed');
  });

  it('a signature with no signed attributes is refused', () => {
    const noAttributes = signDetachedWithOpenssl(IDLE, device, 'cms', ['-noattr']);
    expect(opensslVerifies(noAttributes, IDLE, ca.certificatePem)).toBe(true);
    expect(reasonOf(() => verifyMdmSignature(noAttributes.toString('base64'), IDLE, trust))).toBe('malformed');
  });

  it('deeply nested indefinite lengths are refused without exhausting the stack', () => {
    const depth = 10_000;
    const bomb = Buffer.concat([Buffer.from('3080'.repeat(depth), 'hex'), Buffer.alloc(depth * 2)]);
    expect(reasonOf(() => verifyMdmSignature(bomb.toString('base64'), IDLE, trust))).toBe('malformed');
  });
});

describe('verifyMdmSignature under mutation (fuzz)', () => {
  let signature: Buffer;
  let identityHash: string;

  beforeAll(async () => {
    signature = await signDetachedWithPkijs(IDLE, device);
    identityHash = verifyMdmSignature(signature.toString('base64'), IDLE, trust).certHash;
  });

  /**
   * A mutated signature may only be accepted if it still names the same certificate and an
   * independent implementation (PKI.js) agrees that it verifies: i.e. the mutation hit a field
   * nobody checks (a version number, the unsigned digestAlgorithms list, …).
   */
  async function checkMutant(mutant: Buffer): Promise<void> {
    let accepted: string | undefined;
    try {
      accepted = verifyMdmSignature(mutant.toString('base64'), IDLE, trust).certHash;
    } catch (err) {
      expect(err).toBeInstanceOf(MdmSignatureError);
      return;
    }
    expect(accepted).toBe(identityHash);
    const oracle = await pkijsVerifies(mutant, IDLE);
    expect(oracle.ok, `accepted a mutant PKI.js rejects: ${mutant.toString('hex')}`).toBe(true);
  }

  it('every single-bit flip, at every offset, is refused or harmless', async () => {
    for (let offset = 0; offset < signature.length; offset++) {
      for (const bit of [0x01, 0x80]) {
        const mutant = Buffer.from(signature);
        mutant[offset] = (mutant[offset] as number) ^ bit;
        await checkMutant(mutant);
      }
    }
  });

  it('refuses digestAlgorithms parameters other than an empty NULL (a fuzz finding: PKI.js refuses them too)', async () => {
    // The first AlgorithmIdentifier of the SignedData, SHA-256 with NULL parameters.
    const sha256WithNull = Buffer.from('300d06096086480165030402010500', 'hex');
    const at = signature.indexOf(sha256WithNull);
    expect(at).toBeGreaterThan(0);
    for (const replacement of ['2900', '0400']) {
      const mutant = Buffer.from(signature);
      Buffer.from(replacement, 'hex').copy(mutant, at + sha256WithNull.length - 2);
      expect(reasonOf(() => verifyMdmSignature(mutant.toString('base64'), IDLE, trust))).toBe('malformed');
      await checkMutant(mutant);
    }
  });

  it('every truncation is refused', () => {
    for (let length = 0; length < signature.length; length++) {
      expect(reasonOf(() => verifyMdmSignature(signature.subarray(0, length).toString('base64'), IDLE, trust))).toBe('malformed');
    }
  });

  it('random byte replacements, insertions and deletions are refused or harmless', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('replace', 'insert', 'delete'), async (position, value, kind) => {
        const offset = position % signature.length;
        const bytes = [...signature];
        if (kind === 'replace') bytes[offset] = value;
        else if (kind === 'insert') bytes.splice(offset, 0, value);
        else bytes.splice(offset, 1);
        await checkMutant(Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes, bare or behind a plausible header, only ever yield MdmSignatureError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.constantFrom('', '3080', '3082ffff', '308006092a864886f70d010702a080'), (bytes, prefix) => {
        const input = Buffer.concat([Buffer.from(prefix, 'hex'), bytes]);
        const reason = reasonOf(() => verifyMdmSignature(input.toString('base64'), IDLE, trust));
        expect(reason).not.toBe('no error');
        expect(reason).not.toBe('other error');
      }),
      { numRuns: 3000 },
    );
  });

  it('mutations of the Apple-style BER encoding are refused or harmless', async () => {
    const ber = toAppleBer(signature);
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 255 }), async (position, value) => {
        const mutant = Buffer.from(ber);
        mutant[position % ber.length] = value;
        await checkMutant(mutant);
      }),
      { numRuns: 1000 },
    );
  });
});

// SCEP message codec: envelopes and pkiMessages round-trip, and agree with OpenSSL both ways.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCa, generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import type { DeviceCa, DeviceIdentity } from '../../src/crypto/device-ca.ts';
import {
  buildCertificatesOnly,
  buildPkiMessage,
  FailInfo,
  MessageType,
  openEnvelope,
  PkiStatus,
  readCertificatesOnly,
  readPkiMessage,
  ScepMessageError,
  sealEnvelope,
} from '../../src/crypto/scep-message.ts';
import type { ContentCipher } from '../../src/crypto/scep-message.ts';

const dir = mkdtempSync(join(tmpdir(), 'lockwarden-scep-'));
const secret = randomBytes(32);
let ca: DeviceCa;
let caDer: Buffer;
let device: DeviceIdentity;
let deviceDer: Buffer;

function der(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

beforeAll(async () => {
  ca = await createDeviceCa();
  caDer = der(ca.certificatePem);
  device = await generateDeviceIdentity(ca, 'scep-test-device');
  deviceDer = der(device.certificatePem);
  writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
  writeFileSync(join(dir, 'ca.key'), ca.privateKeyPem);
  writeFileSync(join(dir, 'device.pem'), device.certificatePem);
  writeFileSync(join(dir, 'device.key'), device.privateKeyPem);
});

const caRecipient = () => ({ privateKey: createPrivateKey(ca.privateKeyPem), certificateDer: caDer });

describe('EnvelopedData', () => {
  const ciphers: ContentCipher[] = ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'des-ede3-cbc'];
  for (const cipher of ciphers) {
    it(`round-trips with ${cipher}`, () => {
      const content = randomBytes(1000);
      const opened = openEnvelope(sealEnvelope(content, caDer, cipher), caRecipient(), secret);
      expect(opened.cipher).toBe(cipher);
      expect(opened.content.equals(content)).toBe(true);
    });
  }

  for (const [flag, cipher] of [['-aes128', 'aes-128-cbc'], ['-aes256', 'aes-256-cbc'], ['-des3', 'des-ede3-cbc']] as const) {
    it(`opens what openssl cms -encrypt ${flag} makes (RSAES-PKCS1-v1_5 key transport)`, () => {
      const content = randomBytes(300);
      const enveloped = openssl(['cms', '-encrypt', '-binary', flag, '-outform', 'DER', join(dir, 'ca.pem')], content);
      const opened = openEnvelope(enveloped, caRecipient(), secret);
      expect(opened.cipher).toBe(cipher);
      expect(opened.content.equals(content)).toBe(true);
    });
  }

  it('opens RSAES-OAEP key transport (openssl -keyopt rsa_padding_mode:oaep)', () => {
    const content = randomBytes(64);
    const enveloped = openssl(['cms', '-encrypt', '-binary', '-aes256', '-outform', 'DER', '-recip', join(dir, 'ca.pem'), '-keyopt', 'rsa_padding_mode:oaep'], content);
    expect(openEnvelope(enveloped, caRecipient(), secret).content.equals(content)).toBe(true);
  });

  it('is opened by openssl cms -decrypt', () => {
    const content = randomBytes(200);
    const file = join(dir, 'sealed.der');
    writeFileSync(file, sealEnvelope(content, deviceDer, 'aes-128-cbc'));
    const out = openssl(['cms', '-decrypt', '-binary', '-inform', 'DER', '-in', file, '-recip', join(dir, 'device.pem'), '-inkey', join(dir, 'device.key')]);
    expect(out.equals(content)).toBe(true);
  });

  it('fails a tampered key the same way as a wrong recipient key: no padding oracle', () => {
    const content = Buffer.from('0123456789abcdef'.repeat(4));
    const sealed = sealEnvelope(content, caDer, 'aes-256-cbc');
    // The encrypted key is the only 256-byte OCTET STRING; flip a byte in its middle.
    const at = sealed.indexOf(Buffer.from([0x04, 0x82, 0x01, 0x00])) + 4 + 128;
    const tampered = Buffer.from(sealed);
    tampered[at] = (tampered[at] ?? 0) ^ 0xff;
    const outcomes = [tampered, tampered].map((bytes) => {
      try {
        return openEnvelope(bytes, caRecipient(), secret).content.toString('hex');
      } catch (err) {
        return (err as Error).message;
      }
    });
    // Deterministic per ciphertext (implicit rejection), never the real content.
    expect(outcomes[0]).toBe(outcomes[1]);
    expect(outcomes[0]).not.toBe(content.toString('hex'));
  });

  it('refuses an envelope addressed to someone else', () => {
    expect(() => openEnvelope(sealEnvelope(Buffer.from('x'), deviceDer), caRecipient(), secret)).toThrow(ScepMessageError);
  });
});

describe('pkiMessage', () => {
  const signer = () => ({ certificateDer: deviceDer, privateKey: createPrivateKey(device.privateKeyPem) });

  it('round-trips the SCEP attributes and verifies', () => {
    const nonce = randomBytes(16);
    const message = buildPkiMessage({ content: Buffer.from('payload'), signer: signer(), attributes: { messageType: MessageType.PKCSReq, transactionId: 'tx-1', senderNonce: nonce } });
    const read = readPkiMessage(message);
    expect(read).toMatchObject({ messageType: 19, transactionId: 'tx-1', digest: 'sha256', signatureValid: true });
    expect(read.senderNonce.equals(nonce)).toBe(true);
    expect(read.content?.toString()).toBe('payload');
    expect(read.signerCertificateDer.equals(deviceDer)).toBe(true);
  });

  it('reads a FAILURE CertRep with SHA-1, no content, failInfo and recipientNonce', () => {
    const nonce = randomBytes(16);
    const message = buildPkiMessage({
      signer: signer(),
      digest: 'sha1',
      attributes: { messageType: MessageType.CertRep, transactionId: 'tx-2', senderNonce: randomBytes(16), recipientNonce: nonce, pkiStatus: PkiStatus.FAILURE, failInfo: FailInfo.badRequest },
    });
    const read = readPkiMessage(message);
    expect(read).toMatchObject({ messageType: 3, pkiStatus: 2, failInfo: 2, digest: 'sha1', signatureValid: true });
    expect(read.content).toBeUndefined();
    expect(read.recipientNonce?.equals(nonce)).toBe(true);
  });

  it('reports a tampered content as an invalid signature', () => {
    const message = buildPkiMessage({ content: Buffer.from('payload-A'), signer: signer(), attributes: { messageType: 19, transactionId: 't', senderNonce: randomBytes(16) } });
    const at = message.indexOf(Buffer.from('payload-A'));
    message[at + 8] = 'B'.charCodeAt(0);
    expect(readPkiMessage(message).signatureValid).toBe(false);
  });

  it('is verified by openssl cms -verify, signed attributes included', () => {
    const file = join(dir, 'pki.der');
    writeFileSync(file, buildPkiMessage({ content: Buffer.from('hello scep'), signer: signer(), attributes: { messageType: 3, transactionId: 'tx-ossl', senderNonce: randomBytes(16), pkiStatus: 0 } }));
    const out = openssl(['cms', '-verify', '-noverify', '-binary', '-inform', 'DER', '-in', file]);
    expect(out.toString()).toBe('hello scep');
    const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file]).toString();
    expect(printed).toContain('2.16.840.1.113733.1.9.7');
    expect(printed).toContain('tx-ossl');
  });

  it('reads what openssl cms -sign makes (no SCEP attributes: refused, not crashed)', () => {
    const signed = openssl(['cms', '-sign', '-binary', '-nodetach', '-outform', 'DER', '-signer', join(dir, 'device.pem'), '-inkey', join(dir, 'device.key')], Buffer.from('x'));
    expect(() => readPkiMessage(signed)).toThrow(/messageType/);
  });

  it('refuses garbage with ScepMessageError', () => {
    for (const input of [Buffer.alloc(0), Buffer.from('not der'), Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]), randomBytes(500)]) {
      expect(() => readPkiMessage(input)).toThrow(ScepMessageError);
    }
  });
});

describe('certificates-only SignedData', () => {
  it('round-trips and openssl reads its certificates', () => {
    const degenerate = buildCertificatesOnly([deviceDer, caDer]);
    expect(readCertificatesOnly(degenerate).map((d) => d.toString('hex'))).toEqual([deviceDer.toString('hex'), caDer.toString('hex')]);
    const file = join(dir, 'certs.p7');
    writeFileSync(file, degenerate);
    const pem = openssl(['pkcs7', '-inform', 'DER', '-in', file, '-print_certs']).toString();
    expect(pem).toMatch(/subject=CN ?= ?scep-test-device/);
    expect(readFileSync(file).length).toBeGreaterThan(0);
  });
});

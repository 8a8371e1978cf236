// The enrollment profile: exact keys of each payload, Apple's rules, signing.
import { randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeviceCa, generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import type { DeviceIdentity } from '../../src/crypto/device-ca.ts';
import { buildPkcs12, readPkcs12 } from '../../src/crypto/pkcs12.ts';
import { readProfileBytes } from '../../src/plist/mobileconfig.ts';
import { decodePlist } from '../../src/plist/plist-codec.ts';
import {
  accessRightsProblems,
  buildEnrollmentProfile,
  EnrollmentProfileError,
  enrollmentProfilePlist,
} from '../../src/services/enrollment-profile.ts';
import type { EnrollmentProfileOptions } from '../../src/services/enrollment-profile.ts';
import { readEnrollmentProfile } from '../../src/sim/scep-client.ts';

const UUID = /^[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}$/;
const base: EnrollmentProfileOptions = {
  baseUrl: 'https://mdm.example.com',
  topic: 'com.apple.mgmt.External.1b2c3d4e',
  token: { id: 'tok-1', label: 'Fleet 2025' },
  identity: { kind: 'scep', challenge: 'abc.123.def', caFingerprint: randomBytes(20) },
};

type Dict = Record<string, unknown>;
const payloads = (profile: Dict) => profile.PayloadContent as Dict[];

describe('enrollment profile keys', () => {
  it('SCEP variant: exactly the documented keys, the MDM payload naming the SCEP payload', () => {
    const profile = enrollmentProfilePlist({ ...base, organization: 'Example Corp' });
    expect(Object.keys(profile).sort()).toEqual(['PayloadContent', 'PayloadDescription', 'PayloadDisplayName', 'PayloadIdentifier', 'PayloadOrganization', 'PayloadType', 'PayloadUUID', 'PayloadVersion']);
    expect(profile).toMatchObject({ PayloadType: 'Configuration', PayloadVersion: 1, PayloadIdentifier: 'lockwarden.enrollment.com.example.mdm', PayloadOrganization: 'Example Corp' });
    const [scep, mdm] = payloads(profile) as [Dict, Dict];
    expect(scep.PayloadType).toBe('com.apple.security.scep');
    const content = scep.PayloadContent as Dict;
    expect(Object.keys(content).sort()).toEqual(['CAFingerprint', 'Challenge', 'Key Type', 'Key Usage', 'Keysize', 'Name', 'Subject', 'URL']);
    expect(content).toMatchObject({ URL: 'https://mdm.example.com/scep', Challenge: 'abc.123.def', Keysize: 2048, 'Key Type': 'RSA', 'Key Usage': 5, Name: 'lockwarden' });
    expect(content.Subject).toEqual([[['CN', expect.stringMatching(/^lockwarden device [0-9a-f-]{36}$/)]]]);
    expect(Object.keys(mdm).sort()).toEqual([
      'AccessRights', 'CheckInURL', 'CheckOutWhenRemoved', 'IdentityCertificateUUID', 'PayloadDisplayName', 'PayloadIdentifier', 'PayloadType', 'PayloadUUID', 'PayloadVersion',
      'ServerCapabilities', 'ServerURL', 'SignMessage', 'Topic',
    ]);
    expect(mdm).toEqual(expect.objectContaining({
      PayloadType: 'com.apple.mdm',
      ServerURL: 'https://mdm.example.com/mdm/connect',
      CheckInURL: 'https://mdm.example.com/mdm/checkin',
      Topic: base.topic,
      IdentityCertificateUUID: scep.PayloadUUID,
      AccessRights: 8191,
      SignMessage: true,
      CheckOutWhenRemoved: true,
      ServerCapabilities: ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken'],
    }));
    for (const uuid of [profile.PayloadUUID, scep.PayloadUUID, mdm.PayloadUUID]) expect(uuid).toMatch(UUID);
    expect(new Set([profile.PayloadUUID, scep.PayloadUUID, mdm.PayloadUUID]).size).toBe(3);
  });

  it('gives each profile its own subject CN and UUIDs, keeps a path prefix and drops a trailing slash', () => {
    const a = enrollmentProfilePlist({ ...base, baseUrl: 'https://example.com:8443/lw/' });
    const b = enrollmentProfilePlist({ ...base, identity: { kind: 'scep', challenge: 'x' } });
    const [scepA, mdmA] = payloads(a) as [Dict, Dict];
    const [scepB] = payloads(b) as [Dict];
    expect((scepA.PayloadContent as Dict).URL).toBe('https://example.com:8443/lw/scep');
    expect(mdmA.ServerURL).toBe('https://example.com:8443/lw/mdm/connect');
    expect((scepA.PayloadContent as Dict).Subject).not.toEqual((scepB.PayloadContent as Dict).Subject);
    expect('CAFingerprint' in (scepB.PayloadContent as Dict)).toBe(false);
  });

  it('PKCS#12 variant: the identity as data with its password', async () => {
    const ca = await createDeviceCa();
    const identity: DeviceIdentity = await generateDeviceIdentity(ca, 'p12-device');
    const p12 = await buildPkcs12({ ...identity, password: 'pw-123' });
    const profile = enrollmentProfilePlist({ ...base, identity: { kind: 'pkcs12', p12, password: 'pw-123' }, accessRights: 1 | 4 | 16 | 1024 });
    const [pkcs12, mdm] = payloads(profile) as [Dict, Dict];
    expect(Object.keys(pkcs12).sort()).toEqual(['Password', 'PayloadContent', 'PayloadDisplayName', 'PayloadIdentifier', 'PayloadType', 'PayloadUUID', 'PayloadVersion']);
    expect(pkcs12).toMatchObject({ PayloadType: 'com.apple.security.pkcs12', Password: 'pw-123' });
    expect(mdm).toMatchObject({ IdentityCertificateUUID: pkcs12.PayloadUUID, AccessRights: 1045 });
    // Through the XML encoding, as a device reads it.
    const xml = await buildEnrollmentProfile({ ...base, identity: { kind: 'pkcs12', p12, password: 'pw-123' } });
    const decoded = decodePlist(xml) as Dict;
    const data = (payloads(decoded)[0] as Dict).PayloadContent as Uint8Array;
    expect(new X509Certificate(readPkcs12(Buffer.from(data), 'pw-123').certificatePem).fingerprint256).toBe(new X509Certificate(identity.certificatePem).fingerprint256);
  });
});

describe("Apple's rules", () => {
  it('AccessRights: never 0, 2 needs 1, 128 needs 64, within 1–8191', () => {
    expect(accessRightsProblems(8191)).toEqual([]);
    expect(accessRightsProblems(1)).toEqual([]);
    expect(accessRightsProblems(3)).toEqual([]);
    expect(accessRightsProblems(64 | 128)).toEqual([]);
    expect(accessRightsProblems(0)).toEqual(['AccessRights must not be 0']);
    expect(accessRightsProblems(2)[0]).toMatch(/bit 2 .* needs bit 1/);
    expect(accessRightsProblems(128)[0]).toMatch(/bit 128 .* needs bit 64/);
    expect(accessRightsProblems(2 | 128)).toHaveLength(2);
    expect(accessRightsProblems(8192)).toHaveLength(1);
    expect(accessRightsProblems(-1)).toHaveLength(1);
    expect(accessRightsProblems(1.5)).toHaveLength(1);
    expect(() => enrollmentProfilePlist({ ...base, accessRights: 0 })).toThrow(EnrollmentProfileError);
    expect(() => enrollmentProfilePlist({ ...base, accessRights: 2 })).toThrow(/needs bit 1/);
  });

  it('refuses a topic outside com.apple.mgmt., non-https URLs and fingerprints devices cannot check', () => {
    expect(() => enrollmentProfilePlist({ ...base, topic: 'com.example.push' })).toThrow(/com\.apple\.mgmt\./);
    expect(() => enrollmentProfilePlist({ ...base, topic: 'com.apple.mgmt.' })).toThrow(/com\.apple\.mgmt\./);
    expect(() => enrollmentProfilePlist({ ...base, baseUrl: 'http://127.0.0.1:8080' })).toThrow(/https/);
    expect(() => enrollmentProfilePlist({ ...base, baseUrl: 'https://x.example/?a=b' })).toThrow(/query/);
    expect(() => enrollmentProfilePlist({ ...base, baseUrl: 'not a url' })).toThrow(/not a URL/);
    expect(() => enrollmentProfilePlist({ ...base, identity: { kind: 'scep', challenge: 'c', caFingerprint: randomBytes(32) } })).toThrow(/MD5 .* or SHA-1/);
    expect(() => enrollmentProfilePlist({ ...base, identity: { kind: 'scep', challenge: '' } })).toThrow(/challenge/);
    // Every problem at once.
    expect(() => enrollmentProfilePlist({ ...base, topic: 'x', accessRights: 0, baseUrl: 'http://h' })).toThrow(/https.*com\.apple\.mgmt.*must not be 0/);
  });
});

describe('signed profile', () => {
  let signer: DeviceIdentity;
  beforeAll(async () => {
    signer = await generateDeviceIdentity(await createDeviceCa({ commonName: 'profile signer CA' }), 'mdm.example.com');
  });

  it('is CMS-signed when a signing identity is given, and reads back as a device reads it', async () => {
    const bytes = await buildEnrollmentProfile({ ...base, signWith: signer });
    expect(bytes[0]).toBe(0x30);
    const read = await readProfileBytes(bytes);
    expect(read.signature?.signatureValid).toBe(true);
    expect(read.signature?.signers[0]?.subject).toContain('mdm.example.com');
    const contents = await readEnrollmentProfile(bytes);
    expect(contents).toMatchObject({ signed: true, topic: base.topic, serverUrl: 'https://mdm.example.com/mdm/connect', signMessage: true, serverCapabilities: ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken'] });
    const dir = mkdtempSync(join(tmpdir(), 'lockwarden-profile-'));
    writeFileSync(join(dir, 'p.mobileconfig'), bytes);
    const out = execFileSync('openssl', ['smime', '-verify', '-noverify', '-inform', 'DER', '-in', join(dir, 'p.mobileconfig')], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
    expect(out).toContain('<string>com.apple.mdm</string>');
  });
});

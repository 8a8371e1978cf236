// decodePlist/encodePlist on a ~1 MB MDM response and on the small bodies of the check-in hot
// path, beside JSON.parse/JSON.stringify of the same data: the JSON figures are this machine's
// baseline, so the ratios travel between machines. The `plist.parse` rows are the previous decode
// path (the library, without the pre-pass it needed), kept to show what plist-reader.ts saves.

import { build, parse } from 'plist';
import type { PlistValue } from 'plist';
import { decodePlist, encodePlist } from '../src/plist/plist-codec.ts';
import { readPlist } from '../src/plist/plist-reader.ts';
import { measure, printTable } from './harness.ts';

const TARGET_BYTES = 1024 * 1024;

/** Deterministic pseudo-random numbers (mulberry32), so every run measures the same document. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['Mail', 'Notes', 'Slack', 'Zoom', 'Teams', 'Outlook', 'Keynote', 'Numbers', 'Pages', 'Safari', 'Xcode', 'Figma'];

/** One entry shaped like an InstalledApplicationList item (com.apple.mdm InstalledApplicationList). */
function application(next: () => number, index: number): Record<string, unknown> {
  const word = WORDS[Math.floor(next() * WORDS.length)] ?? 'App';
  const hash = new Uint8Array(32).map(() => Math.floor(next() * 256));
  return {
    Identifier: `com.example.${word.toLowerCase()}.${index}`,
    Name: `${word} ${index}`,
    ShortVersion: `${1 + Math.floor(next() * 20)}.${Math.floor(next() * 10)}.${Math.floor(next() * 10)}`,
    Version: String(Math.floor(next() * 100_000)),
    BundleSize: Math.floor(next() * 2_000_000_000),
    DynamicSize: Math.floor(next() * 500_000_000),
    ExternalVersionIdentifier: Math.floor(next() * 900_000_000),
    IsValidated: next() < 0.9,
    IsAppClip: false,
    IsUpgradeable: next() < 0.2,
    AdHocCodeSigned: false,
    BetaApp: next() < 0.05,
    DeviceBasedVPP: next() < 0.5,
    HasUpdateAvailable: next() < 0.3,
    Installing: false,
    AppStoreVendable: true,
    CodeDirectoryHash: hash,
  };
}

function commandResponse(count: number): Record<string, unknown> {
  const next = random(2024);
  return {
    CommandUUID: '0A1B2C3D-4E5F-6789-ABCD-EF0123456789',
    Status: 'Acknowledged',
    UDID: '00008030-001A2B3C4D5E6F70',
    InstalledApplicationList: Array.from({ length: count }, (_, i) => application(next, i)),
  };
}

/** The same data as a JSON API would carry it: bytes as base64 strings. */
function asJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(asJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asJson(v)]));
  return value;
}

const UDID = '00008110-001A2C3E0E91801E';
const TOPIC = 'com.apple.mgmt.External.7f3c1f6e-8a1b-4f39-9c55-3d2b0f0a4e21';

/** Check-in and report bodies shaped like test/fixtures/mdm, the messages a device sends most. */
function hotPathBodies(): { name: string; value: Record<string, unknown> }[] {
  const next = random(7);
  const bytes = (length: number): Uint8Array => new Uint8Array(length).map(() => Math.floor(next() * 256));
  return [
    { name: 'Idle', value: { Status: 'Idle', UDID } },
    {
      name: 'TokenUpdate',
      value: {
        AwaitingConfiguration: false,
        MessageType: 'TokenUpdate',
        PushMagic: '2C4E6A8B-0D1F-4A3C-9E5B-7D9F1B3D5F70',
        Token: bytes(32),
        Topic: TOPIC,
        UDID,
        UnlockToken: bytes(400),
      },
    },
    {
      name: 'SecurityInfo response',
      value: {
        CommandUUID: '4D5E6F7A-8B9C-4DAE-9F1A-3B4C5D6E7F8A',
        SecurityInfo: {
          AuthenticatedRootVolumeEnabled: true,
          BootstrapTokenAllowedForAuthentication: 'allowed',
          BootstrapTokenRequiredForKernelExtensionApproval: false,
          BootstrapTokenRequiredForSoftwareUpdate: false,
          FDE_Enabled: true,
          FDE_HasInstitutionalRecoveryKey: false,
          FDE_HasPersonalRecoveryKey: true,
          FirewallSettings: {
            Applications: [{ BundleID: 'com.example.zoom', Allowed: true, Name: 'Zoom' }],
            BlockAllIncoming: false,
            FirewallEnabled: true,
            LoggingEnabled: false,
            LoggingOption: 'throttled',
            StealthMode: false,
          },
          IsRecoveryLockEnabled: false,
          ManagementStatus: { EnrolledViaDEP: true, IsActivationLockManageable: true, IsUserEnrollment: false, UserApprovedEnrollment: true },
          PasscodeCompliant: true,
          PasscodeCompliantWithProfiles: true,
          PasscodePresent: true,
          RemoteDesktopEnabled: false,
          SecureBoot: { ExternalBootLevel: 'not supported', SecureBootLevel: 'full' },
          SystemIntegrityProtectionEnabled: true,
        },
        Status: 'Acknowledged',
        UDID,
      },
    },
  ];
}

export function runPlistBench(): void {
  for (const { name, value } of hotPathBodies()) {
    const body = Buffer.from(encodePlist(value));
    // A flat string, as a request body decodes to (encodePlist returns a rope).
    const xml = body.toString('utf8');
    const json = JSON.stringify(asJson(value));
    printTable(
      `plist decode: ${name} body, ${body.length} bytes XML / ${Buffer.byteLength(json)} bytes JSON`,
      [
        measure('JSON.parse', () => JSON.parse(json)),
        measure('readPlist (string)', () => readPlist(xml)),
        measure('decodePlist (Buffer)', () => decodePlist(body)),
        measure('plist.parse (previous path)', () => parse(xml)),
      ],
      'JSON.parse',
    );
  }

  const perApplication = encodePlist(commandResponse(50)).length / 50;
  const data = commandResponse(Math.ceil(TARGET_BYTES / perApplication));
  const xmlBytes = Buffer.from(encodePlist(data));
  const xml = xmlBytes.toString('utf8');
  const jsonData = asJson(data);
  const json = JSON.stringify(jsonData);
  const apps = (data.InstalledApplicationList as unknown[]).length;
  const kib = (s: string): string => `${(Buffer.byteLength(s) / 1024).toFixed(0)} KiB`;

  printTable(
    `plist decode: InstalledApplicationList response, ${apps} apps, ${kib(xml)} XML / ${kib(json)} JSON`,
    [
      measure('JSON.parse', () => JSON.parse(json)),
      measure('readPlist (string)', () => readPlist(xml)),
      measure('decodePlist (Buffer)', () => decodePlist(xmlBytes)),
      measure('plist.parse (previous path)', () => parse(xml)),
    ],
    'JSON.parse',
  );
  printTable(
    'plist encode: same data',
    [
      measure('JSON.stringify', () => JSON.stringify(jsonData)),
      measure('encodePlist', () => encodePlist(data)),
      measure('plist.build (no checks)', () => build(data as PlistValue)),
    ],
    'JSON.stringify',
  );
}

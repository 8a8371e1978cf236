// decodePlist/encodePlist on a ~1 MB MDM response, beside JSON.parse/JSON.stringify of the same
// data: the JSON figures are this machine's baseline, so the ratios travel between machines.
// The bare `plist` library rows show what the guards in plist-codec.ts cost on top of it.

import { build, parse } from 'plist';
import type { PlistValue } from 'plist';
import { decodePlist, encodePlist } from '../src/plist/plist-codec.ts';
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

export function runPlistBench(): void {
  const perApplication = encodePlist(commandResponse(50)).length / 50;
  const data = commandResponse(Math.ceil(TARGET_BYTES / perApplication));
  const xml = encodePlist(data);
  const jsonData = asJson(data);
  const json = JSON.stringify(jsonData);
  const apps = (data.InstalledApplicationList as unknown[]).length;
  const kib = (s: string): string => `${(Buffer.byteLength(s) / 1024).toFixed(0)} KiB`;

  printTable(
    `plist decode: InstalledApplicationList response, ${apps} apps, ${kib(xml)} XML / ${kib(json)} JSON`,
    [
      measure('JSON.parse', () => JSON.parse(json)),
      measure('decodePlist', () => decodePlist(xml)),
      measure('plist.parse (no guards)', () => parse(xml)),
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

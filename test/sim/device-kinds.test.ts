// The kinds as data: each preset reports what Apple documents for it, in shapes the server's own
// response parsers accept.
import { describe, expect, it } from 'vitest';
import { parseDeviceInformationResponse, platformOfProductName } from '../../src/mdm/device-information-response.ts';
import { parseSecurityInfoResponse } from '../../src/mdm/security-info-response.ts';
import { deviceInformationAnswer, securityInfoAnswer } from '../../src/sim/device-answers.ts';
import {
  appliesPasscodeDeclaration,
  defineKind,
  DEVICE_KIND_PRESETS,
  deviceKind,
  mayEscrowUnlockToken,
  PRESET_FOR_PLATFORM,
  PRESET_NAMES,
  reportsPasscodeStatus,
} from '../../src/sim/device-kinds.ts';
import { evaluatePasscode } from '../../src/sim/passcode-state.ts';

const FACTS = { udid: 'UDID-1', serialNumber: 'SERIAL1', deviceName: 'Test', imei: '35 000000 000000 0', wifiMac: '02:00:00:00:00:01', bluetoothMac: '02:00:00:00:00:02' };
const PASSCODE_KEYS = ['PasscodePresent', 'PasscodeCompliant', 'PasscodeCompliantWithProfiles'];

describe('device kind presets', () => {
  it.each(PRESET_NAMES)('%s: its ProductName maps back to its platform', (name) => {
    const kind = DEVICE_KIND_PRESETS[name];
    expect(platformOfProductName(kind.productName)).toBe(kind.platform);
  });

  it('covers every platform, both enrollments, Shared iPad, supervised and not', () => {
    const kinds = Object.values(DEVICE_KIND_PRESETS);
    expect(new Set(kinds.map((k) => k.platform))).toEqual(new Set(['ios', 'ipados', 'macos', 'watchos', 'visionos', 'tvos']));
    expect(new Set(kinds.map((k) => k.enrollment))).toEqual(new Set(['device', 'user', 'shared-ipad']));
    expect(new Set(kinds.map((k) => k.supervised))).toEqual(new Set([true, false]));
    for (const preset of Object.values(PRESET_FOR_PLATFORM)) expect(PRESET_NAMES).toContain(preset);
  });

  it('escrows an UnlockToken only on iOS, iPadOS, watchOS and visionOS, Device Enrollment, with AccessRights bit 4 (decision 9)', () => {
    const escrowing = PRESET_NAMES.filter((name) => mayEscrowUnlockToken(DEVICE_KIND_PRESETS[name], 8191));
    expect(escrowing.sort()).toEqual(['apple-watch', 'ipad', 'iphone', 'iphone-supervised', 'vision-pro']);
    expect(mayEscrowUnlockToken(DEVICE_KIND_PRESETS.iphone, 8191 & ~4)).toBe(false);
    expect(mayEscrowUnlockToken(DEVICE_KIND_PRESETS.iphone, 4)).toBe(true);
    expect(mayEscrowUnlockToken(DEVICE_KIND_PRESETS.iphone, undefined)).toBe(false);
    expect(mayEscrowUnlockToken(DEVICE_KIND_PRESETS['shared-ipad'], 8191)).toBe(false);
  });

  it('a Mac\'s SecurityInfo has no passcode keys; a user-enrolled iPhone only PasscodeCompliant; a Shared iPad its grace and auto-lock keys', () => {
    for (const mac of [DEVICE_KIND_PRESETS.mac, DEVICE_KIND_PRESETS['mac-user-enrollment']]) {
      for (const key of PASSCODE_KEYS) expect(mac.securityInfoKeys).not.toContain(key);
      expect(mac.securityInfoKeys).toContain('FDE_Enabled');
    }
    expect(DEVICE_KIND_PRESETS['mac-user-enrollment'].securityInfoKeys).not.toContain('FDE_HasPersonalRecoveryKey');
    expect(DEVICE_KIND_PRESETS['iphone-user-enrollment'].securityInfoKeys).toEqual(['HardwareEncryptionCaps', 'PasscodeCompliant', 'ManagementStatus']);
    expect(DEVICE_KIND_PRESETS['shared-ipad'].securityInfoKeys).toEqual(expect.arrayContaining(['PasscodeLockGracePeriod', 'PasscodeLockGracePeriodEnforced', 'AutoLockTime', ...PASSCODE_KEYS]));
    expect(DEVICE_KIND_PRESETS.ipad.securityInfoKeys).not.toContain('AutoLockTime');
    expect(DEVICE_KIND_PRESETS['apple-tv'].securityInfoKeys).toEqual(expect.arrayContaining(PASSCODE_KEYS));
  });

  it('under User Enrollment answers no UDID, serial number or MAC addresses', () => {
    for (const name of ['iphone-user-enrollment', 'mac-user-enrollment'] as const) {
      const queries = DEVICE_KIND_PRESETS[name].deviceInformationQueries;
      for (const q of ['UDID', 'SerialNumber', 'WiFiMAC', 'BluetoothMAC', 'IMEI']) expect(queries).not.toContain(q);
      expect(queries).toContain('OSVersion');
    }
    expect(DEVICE_KIND_PRESETS.iphone.deviceInformationQueries).toEqual(expect.arrayContaining(['UDID', 'SerialNumber', 'IMEI', 'IsMultiUser']));
    expect(DEVICE_KIND_PRESETS.mac.deviceInformationQueries).toEqual(expect.arrayContaining(['PINRequiredForDeviceLock', 'IsAppleSilicon']));
    expect(DEVICE_KIND_PRESETS['vision-pro'].deviceInformationQueries).not.toContain('Model');
  });

  it.each(PRESET_NAMES)('%s: SecurityInfo and DeviceInformation answers pass the server\'s parsers', (name) => {
    const kind = DEVICE_KIND_PRESETS[name];
    const status = evaluatePasscode({ passcode: '739164', changedAt: undefined, policies: [], now: 0 });
    const security = parseSecurityInfoResponse(securityInfoAnswer(kind, status)).SecurityInfo;
    const present = [...Object.keys(security).filter((k) => k !== 'raw'), ...Object.keys(security.raw)];
    expect(present.sort()).toEqual([...kind.securityInfoKeys].sort());

    const all = ['UDID', 'SerialNumber', 'OSVersion', 'ProductName', 'IsSupervised', 'IsMultiUser', 'PINRequiredForDeviceLock', 'WiFiMAC', 'NoSuchQuery'];
    const info = parseDeviceInformationResponse(deviceInformationAnswer({ kind, facts: FACTS, queries: all, accessRights: 8191 })).QueryResponses;
    expect(info).toMatchObject({ OSVersion: kind.osVersion, ProductName: kind.productName, IsSupervised: kind.supervised });
    expect(info.raw).not.toHaveProperty('NoSuchQuery');
    if (kind.enrollment === 'user') expect(info).not.toHaveProperty('UDID');
    else expect(info.UDID).toBe('UDID-1');
    expect(info.IsMultiUser).toBe(kind.platform === 'ios' || kind.platform === 'ipados' ? kind.enrollment === 'shared-ipad' : undefined);
  });

  it('leaves out queries whose AccessRights bit the enrollment lacks, except under User Enrollment', () => {
    const queries = ['UDID', 'OSVersion', 'WiFiMAC'];
    const noInfoRights = deviceInformationAnswer({ kind: DEVICE_KIND_PRESETS.iphone, facts: FACTS, queries, accessRights: 1 | 2 | 4 });
    expect(noInfoRights).toEqual({ QueryResponses: { UDID: 'UDID-1' } });
    const ue = deviceInformationAnswer({ kind: DEVICE_KIND_PRESETS['iphone-user-enrollment'], facts: FACTS, queries, accessRights: 1 });
    expect(ue).toEqual({ QueryResponses: { OSVersion: '18.1' } });
  });

  it('knows where passcode declarations apply and where passcode status items exist', () => {
    expect(appliesPasscodeDeclaration(DEVICE_KIND_PRESETS.iphone)).toBe(true);
    expect(appliesPasscodeDeclaration(DEVICE_KIND_PRESETS['shared-ipad'])).toBe(false);
    expect(appliesPasscodeDeclaration(DEVICE_KIND_PRESETS.mac)).toBe(false);
    expect(appliesPasscodeDeclaration({ ...DEVICE_KIND_PRESETS.mac, supervised: true })).toBe(true);
    expect(reportsPasscodeStatus(DEVICE_KIND_PRESETS.mac)).toBe(false);
    expect(reportsPasscodeStatus(DEVICE_KIND_PRESETS['apple-watch'])).toBe(false);
    expect(reportsPasscodeStatus({ ...DEVICE_KIND_PRESETS['apple-watch'], supervised: true })).toBe(true);
  });

  it('refuses kinds Apple has no such thing as, and unknown preset names', () => {
    expect(() => defineKind({ ...DEVICE_KIND_PRESETS.mac, enrollment: 'shared-ipad' })).toThrow(/iPadOS/);
    expect(() => defineKind({ ...DEVICE_KIND_PRESETS['apple-watch'], enrollment: 'user' })).toThrow(/no User Enrollment/);
    expect(() => deviceKind('iphone-x' as never)).toThrow(/known kinds/);
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ACCESS_RIGHTS, APPLE_OSES, BUILT_REQUEST_TYPES, COMMAND_RULES, commandRefusal, compareVersions } from '../../src/mdm/command-rules.ts';
import type { AppleOS, BuiltRequestType, CommandTarget } from '../../src/mdm/command-rules.ts';

// Apple's command YAML, copied unmodified into test/fixtures (MIT), so this comparison runs on
// every clone; if the copy is ever missing the test says so instead of passing silently.
const YAML_DIR = fileURLToPath(new URL('../fixtures/apple-device-management/mdm/commands/', import.meta.url));
const haveYaml = existsSync(YAML_DIR);
if (!haveYaml) console.warn(`SKIPPED: COMMAND_RULES vs Apple's YAML (no ${YAML_DIR})`);

const FILES: Record<BuiltRequestType, string> = {
  InstallProfile: 'profile.install.yaml',
  RemoveProfile: 'profile.remove.yaml',
  ProfileList: 'profile.list.yaml',
  SecurityInfo: 'information.security.yaml',
  DeviceInformation: 'information.device.yaml',
  ClearPasscode: 'passcode.clear.yaml',
  DeviceLock: 'device.lock.yaml',
  EraseDevice: 'device.erase.yaml',
  DeclarativeManagement: 'declarativemanagement.yaml',
};

interface YamlOs {
  introduced?: string;
  accessrights?: string;
  supervised?: boolean;
  devicechannel?: boolean;
  userchannel?: boolean;
  userenrollment?: { mode: string };
  sharedipad?: { mode: string; devicechannel?: boolean; userchannel?: boolean };
}

describe.skipIf(!haveYaml)("COMMAND_RULES matches Apple's YAML", () => {
  it.each(BUILT_REQUEST_TYPES)('%s', (requestType) => {
    const doc = parse(readFileSync(`${YAML_DIR}${FILES[requestType]}`, 'utf8')) as { payload: { requesttype: string; supportedOS: Record<string, YamlOs> } };
    expect(doc.payload.requesttype).toBe(requestType);
    const rule = COMMAND_RULES[requestType];
    for (const os of APPLE_OSES) {
      const yaml = doc.payload.supportedOS[os];
      const mine = rule.os[os];
      if (!yaml || yaml.introduced === 'n/a') {
        expect(mine, `${os} should be unsupported`).toBeUndefined();
        continue;
      }
      expect(mine, `${os} should be supported`).toBeDefined();
      if (!mine) continue;
      expect(mine.introduced).toBe(yaml.introduced);
      expect(mine.supervised).toBe(yaml.supervised ?? false);
      const right = yaml.accessrights === undefined ? null : yaml.accessrights === 'Special Case' ? 'per-query' : yaml.accessrights;
      expect(rule.accessRight).toBe(right);
      expect(mine.userEnrollment).toBe(yaml.userenrollment?.mode);
      if (os === 'iOS') {
        expect(mine.sharedIPad).toBe(yaml.sharedipad?.mode);
        // On iOS a user channel exists only on Shared iPad.
        expect(mine.deviceChannel).toBe(yaml.sharedipad?.devicechannel ?? true);
        expect(mine.userChannel).toBe(yaml.sharedipad?.userchannel ?? false);
      } else {
        expect(mine.deviceChannel).toBe(yaml.devicechannel ?? true);
        expect(mine.userChannel).toBe(yaml.userchannel ?? false);
      }
    }
  });
});

describe('COMMAND_RULES: passcode facts DESIGN relies on', () => {
  it('ClearPasscode: iOS, visionOS, watchOS only; bit 4; never Shared iPad or User Enrollment', () => {
    const rule = COMMAND_RULES.ClearPasscode;
    expect(Object.keys(rule.os).sort()).toEqual(['iOS', 'visionOS', 'watchOS']);
    expect(ACCESS_RIGHTS[rule.accessRight as keyof typeof ACCESS_RIGHTS]).toBe(4);
    expect(rule.os.iOS).toMatchObject({ sharedIPad: 'forbidden', userEnrollment: 'forbidden' });
    expect(rule.notNowWhenLocked).toBe(false);
  });

  it('a locked device may postpone InstallProfile and SecurityInfo, never DeviceLock, EraseDevice, ClearPasscode, ProfileList, DeviceInformation', () => {
    const postponed = BUILT_REQUEST_TYPES.filter((t) => COMMAND_RULES[t].notNowWhenLocked);
    expect(postponed.sort()).toEqual(['DeclarativeManagement', 'InstallProfile', 'RemoveProfile', 'SecurityInfo']);
  });
});

describe('commandRefusal', () => {
  const iphone: CommandTarget = { os: 'iOS', osVersion: '18.1', enrollmentType: 'Device', accessRights: 8191 };
  const cases: [string, string, CommandTarget, string | undefined][] = [
    ['ClearPasscode on an iPhone', 'ClearPasscode', iphone, undefined],
    ['ClearPasscode on a Mac', 'ClearPasscode', { os: 'macOS', enrollmentType: 'Device' }, 'ClearPasscode is not supported on macOS'],
    ['ClearPasscode on tvOS', 'ClearPasscode', { os: 'tvOS', enrollmentType: 'Device' }, 'ClearPasscode is not supported on tvOS'],
    ['ClearPasscode under User Enrollment', 'ClearPasscode', { os: 'iOS', enrollmentType: 'User Enrollment (Device)' }, 'ClearPasscode is not allowed under User Enrollment on iOS'],
    ['ClearPasscode on a Shared iPad device channel', 'ClearPasscode', { os: 'iOS', enrollmentType: 'Device', sharedIPad: true }, 'ClearPasscode is not allowed on a Shared iPad'],
    ['ClearPasscode without bit 4', 'ClearPasscode', { ...iphone, accessRights: 8191 - 4 }, 'ClearPasscode needs AccessRights bit 4 (AllowPasscodeRemovalAndLock), which this enrollment does not grant'],
    ['ClearPasscode on watchOS 9', 'ClearPasscode', { os: 'watchOS', osVersion: '9.6', enrollmentType: 'Device' }, 'ClearPasscode needs watchOS 10.0 or later (the device runs 9.6)'],
    ['DeviceLock on visionOS 1.2', 'DeviceLock', { os: 'visionOS', osVersion: '1.2', enrollmentType: 'Device' }, 'DeviceLock needs visionOS 2.0 or later (the device runs 1.2)'],
    ['DeviceLock on a Mac user channel', 'DeviceLock', { os: 'macOS', enrollmentType: 'User' }, 'DeviceLock is not available on the user channel on macOS'],
    ['DeviceLock under macOS User Enrollment', 'DeviceLock', { os: 'macOS', enrollmentType: 'User Enrollment (Device)' }, 'DeviceLock is not allowed under User Enrollment on macOS'],
    ['DeviceLock under iOS User Enrollment (AccessRights ignored there)', 'DeviceLock', { os: 'iOS', enrollmentType: 'User Enrollment (Device)', accessRights: 1 }, undefined],
    ['SecurityInfo on a Shared iPad user channel', 'SecurityInfo', { os: 'iOS', enrollmentType: 'Shared iPad' }, 'SecurityInfo is not available on the user channel on iOS'],
    ['SecurityInfo on a Mac user channel', 'SecurityInfo', { os: 'macOS', enrollmentType: 'User' }, undefined],
    ['InstallProfile on a Shared iPad user channel', 'InstallProfile', { os: 'iOS', enrollmentType: 'Shared iPad' }, undefined],
    ['EraseDevice under User Enrollment', 'EraseDevice', { os: 'visionOS', enrollmentType: 'User Enrollment (Device)' }, 'EraseDevice is not allowed under User Enrollment on visionOS'],
    ['DeclarativeManagement on iOS 14', 'DeclarativeManagement', { os: 'iOS', osVersion: '14.8', enrollmentType: 'Device' }, 'DeclarativeManagement needs iOS 15.0 or later (the device runs 14.8)'],
    ['DeviceInformation needs no single bit', 'DeviceInformation', { os: 'iOS', enrollmentType: 'Device', accessRights: 1 }, undefined],
    ['a RequestType lockwarden does not build', 'RestartDevice', { os: 'tvOS', enrollmentType: 'Device' }, undefined],
  ];

  it.each(cases)('%s', (_name, requestType, target, expected) => {
    expect(commandRefusal(requestType, target)).toBe(expected);
  });

  it('every OS in the table is an Apple OS name from the YAML', () => {
    for (const t of BUILT_REQUEST_TYPES) for (const os of Object.keys(COMMAND_RULES[t].os)) expect(APPLE_OSES).toContain(os as AppleOS);
  });
});

describe('compareVersions', () => {
  it.each([
    ['9.3.2', '10.0', -1],
    ['10.0', '9.3.2', 1],
    ['17', '17.0', 0],
    ['17.0.1', '17.0', 1],
    ['1.1', '1.10', -1],
  ])('%s vs %s', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });
});

import { describe, expect, it } from 'vitest';
import {
  clearPasscodeCommand,
  commandPlist,
  declarativeManagementCommand,
  deviceInformationCommand,
  deviceLockCommand,
  eraseDeviceCommand,
  installProfileCommand,
  newCommandUuid,
  parseRawCommand,
  profileListCommand,
  removeProfileCommand,
  securityInfoCommand,
} from '../../src/mdm/commands.ts';
import { decodePlist, encodePlist } from '../../src/plist/plist-codec.ts';
import { refusal } from './fixtures.ts';

const UUID = '5D2E0F3A-1B4C-4D6E-8F70-A1B2C3D4E5F6';
const bytes = (...b: number[]) => new Uint8Array(b);

describe('newCommandUuid', () => {
  it('is an upper-case random UUID, new every time', () => {
    const a = newCommandUuid();
    expect(a).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(newCommandUuid()).not.toBe(a);
  });
});

describe('command builders', () => {
  it('InstallProfile', () => {
    expect(installProfileCommand({ Payload: bytes(1, 2, 3) }, UUID)).toEqual({ CommandUUID: UUID, Command: { RequestType: 'InstallProfile', Payload: bytes(1, 2, 3) } });
  });

  it('RemoveProfile', () => {
    expect(removeProfileCommand({ Identifier: 'com.example.lockwarden.policy.corporate' }, UUID).Command).toEqual({ RequestType: 'RemoveProfile', Identifier: 'com.example.lockwarden.policy.corporate' });
  });

  it('ProfileList with and without ManagedOnly', () => {
    expect(profileListCommand({}, UUID).Command).toEqual({ RequestType: 'ProfileList' });
    expect(profileListCommand({ ManagedOnly: true }, UUID).Command).toEqual({ RequestType: 'ProfileList', ManagedOnly: true });
  });

  it('SecurityInfo has no request keys and gets a fresh UUID by default', () => {
    const command = securityInfoCommand();
    expect(command.Command).toEqual({ RequestType: 'SecurityInfo' });
    expect(command.CommandUUID).toMatch(/^[0-9A-F-]{36}$/);
  });

  it('DeviceInformation with Queries and an attestation nonce', () => {
    expect(deviceInformationCommand({ Queries: ['OSVersion', 'IsMultiUser', 'DevicePropertiesAttestation'], DeviceAttestationNonce: new Uint8Array(32) }, UUID).Command).toEqual({
      RequestType: 'DeviceInformation', Queries: ['OSVersion', 'IsMultiUser', 'DevicePropertiesAttestation'], DeviceAttestationNonce: new Uint8Array(32),
    });
  });

  it('ClearPasscode carries the UnlockToken bytes', () => {
    expect(clearPasscodeCommand({ UnlockToken: bytes(9, 8, 7) }, UUID).Command).toEqual({ RequestType: 'ClearPasscode', UnlockToken: bytes(9, 8, 7) });
  });

  it('DeviceLock: optional keys left out when not given', () => {
    expect(deviceLockCommand({}, UUID).Command).toEqual({ RequestType: 'DeviceLock' });
    expect(deviceLockCommand({ Message: 'Call IT', PhoneNumber: '+1 555 0100', PIN: undefined }, UUID).Command).toEqual({ RequestType: 'DeviceLock', Message: 'Call IT', PhoneNumber: '+1 555 0100' });
    expect(deviceLockCommand({ PIN: '123456' }, UUID).Command).toEqual({ RequestType: 'DeviceLock', PIN: '123456' });
  });

  it('EraseDevice with every option', () => {
    const command = eraseDeviceCommand({
      PreserveDataPlan: true,
      DisallowProximitySetup: false,
      ObliterationBehavior: 'DoNotObliterate',
      PIN: '000111',
      ReturnToService: { Enabled: true, MDMProfileData: bytes(1), WiFiProfileData: bytes(2) },
    }, UUID);
    expect(command.Command).toMatchObject({ RequestType: 'EraseDevice', ObliterationBehavior: 'DoNotObliterate', ReturnToService: { Enabled: true } });
  });

  it('DeclarativeManagement with and without Data', () => {
    expect(declarativeManagementCommand({}, UUID).Command).toEqual({ RequestType: 'DeclarativeManagement' });
    const data = new TextEncoder().encode('{"SyncTokens":{"DeclarationsToken":"t1","Timestamp":"2024-10-21T00:00:00Z"}}');
    expect(declarativeManagementCommand({ Data: data }, UUID).Command.Data).toBe(data);
  });

  it('the RequestType cannot be overridden by the request', () => {
    const sneaky = { Payload: bytes(1), RequestType: 'EraseDevice' } as unknown as { Payload: Uint8Array };
    expect(installProfileCommand(sneaky, UUID).Command.RequestType).toBe('InstallProfile');
  });

  it('survives an encode/decode round trip and reads back as a raw command', () => {
    const built = clearPasscodeCommand({ UnlockToken: bytes(0, 255, 16) }, UUID);
    const decoded = decodePlist(encodePlist(built));
    expect(decoded).toEqual(built);
    expect(parseRawCommand(decoded)).toMatchObject({ commandUuid: UUID, requestType: 'ClearPasscode' });
  });

  it.each([
    ['InstallProfile with an empty payload', () => installProfileCommand({ Payload: bytes() }, UUID), 'Command.Payload: is empty'],
    ['InstallProfile with a string payload', () => installProfileCommand({ Payload: 'x' as unknown as Uint8Array }, UUID), 'Command.Payload: expected data, got a string'],
    ['RemoveProfile with a blank identifier', () => removeProfileCommand({ Identifier: ' ' }, UUID), 'Command.Identifier: is empty'],
    ['ProfileList ManagedOnly as a string', () => profileListCommand({ ManagedOnly: 'yes' as unknown as boolean }, UUID), 'Command.ManagedOnly: expected a boolean, got a string'],
    ['DeviceInformation without queries', () => deviceInformationCommand({ Queries: [] }, UUID), 'Command.Queries: is empty; name at least one query'],
    ['DeviceInformation with a query that is not a name', () => deviceInformationCommand({ Queries: ['OS Version'] }, UUID), 'Command.Queries[0]: "OS Version" is not a name'],
    ['DeviceInformation with a 33-byte nonce', () => deviceInformationCommand({ Queries: ['DevicePropertiesAttestation'], DeviceAttestationNonce: new Uint8Array(33) }, UUID), 'Command.DeviceAttestationNonce: 33 bytes, at most 32 allowed'],
    ['ClearPasscode without a token', () => clearPasscodeCommand({ UnlockToken: bytes() }, UUID), 'Command.UnlockToken: is empty'],
    ['ClearPasscode with a token missing', () => clearPasscodeCommand({} as { UnlockToken: Uint8Array }, UUID), 'Command.UnlockToken is missing'],
    ['DeviceLock with a 4-digit PIN', () => deviceLockCommand({ PIN: '1234' }, UUID), 'Command.PIN: must be exactly six digits'],
    ['EraseDevice with letters in the PIN', () => eraseDeviceCommand({ PIN: '12345a' }, UUID), 'Command.PIN: must be exactly six digits'],
    ['EraseDevice with an unknown ObliterationBehavior', () => eraseDeviceCommand({ ObliterationBehavior: 'Never' as 'Always' }, UUID), 'Command.ObliterationBehavior: "Never" is not one of Default, DoNotObliterate, ObliterateWithWarning, Always'],
    ['EraseDevice ReturnToService without Enabled', () => eraseDeviceCommand({ ReturnToService: {} as { Enabled: boolean } }, UUID), 'Command.ReturnToService.Enabled is missing'],
    ['a CommandUUID with a space', () => securityInfoCommand({}, 'not a uuid'), 'CommandUUID: "not a uuid" is not an identifier'],
    ['a CommandUUID longer than 128', () => securityInfoCommand({}, 'A'.repeat(129)), 'CommandUUID: '],
  ])('refuses %s', (_name, build, reason) => {
    expect(refusal(build).reason.startsWith(reason)).toBe(true);
  });
});

describe('commandPlist', () => {
  it('passes other RequestTypes through untouched', () => {
    expect(commandPlist(UUID, { RequestType: 'RestartDevice', NotifyUser: true })).toEqual({ CommandUUID: UUID, Command: { RequestType: 'RestartDevice', NotifyUser: true } });
  });

  it('checks known RequestTypes but keeps keys it does not model', () => {
    expect(commandPlist(UUID, { RequestType: 'ProfileList', FutureKey: 1 }).Command).toEqual({ RequestType: 'ProfileList', FutureKey: 1 });
    expect(refusal(() => commandPlist(UUID, { RequestType: 'ClearPasscode' })).reason).toBe('Command.UnlockToken is missing');
  });
});

describe('parseRawCommand', () => {
  const raw = (command: unknown, uuid: unknown = UUID) => ({ CommandUUID: uuid, Command: command });

  it('accepts a NanoMDM-style command plist as posted', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Command</key>
	<dict>
		<key>Queries</key>
		<array>
			<string>OSVersion</string>
			<string>IsSupervised</string>
		</array>
		<key>RequestType</key>
		<string>DeviceInformation</string>
	</dict>
	<key>CommandUUID</key>
	<string>0001_DeviceInformation</string>
</dict>
</plist>
`;
    const parsed = parseRawCommand(decodePlist(xml));
    expect(parsed).toEqual({
      commandUuid: '0001_DeviceInformation',
      requestType: 'DeviceInformation',
      command: { CommandUUID: '0001_DeviceInformation', Command: { RequestType: 'DeviceInformation', Queries: ['OSVersion', 'IsSupervised'] } },
    });
  });

  it('accepts RequestTypes lockwarden does not build', () => {
    expect(parseRawCommand(raw({ RequestType: 'InstalledApplicationList', ManagedAppsOnly: true })).requestType).toBe('InstalledApplicationList');
  });

  it.each([
    ['not a dictionary', 'x', 'raw command: expected a dictionary, got a string'],
    ['no CommandUUID', { Command: { RequestType: 'SecurityInfo' } }, 'CommandUUID is missing'],
    ['CommandUUID not a string', raw({ RequestType: 'SecurityInfo' }, 42), 'CommandUUID: expected a string (identifier), got an integer'],
    ['CommandUUID empty', raw({ RequestType: 'SecurityInfo' }, ''), 'CommandUUID: "" is not an identifier'],
    ['CommandUUID with a control character', raw({ RequestType: 'SecurityInfo' }, 'A\tB'), 'CommandUUID: "A\\tB" is not an identifier'],
    ['CommandUUID of 129 characters', raw({ RequestType: 'SecurityInfo' }, 'U'.repeat(129)), 'CommandUUID: '],
    ['no Command', { CommandUUID: UUID }, 'Command is missing'],
    ['Command not a dictionary', raw(['SecurityInfo']), 'Command: expected a dictionary, got an array'],
    ['no RequestType', raw({ Queries: [] }), 'Command.RequestType is missing'],
    ['RequestType not a string', raw({ RequestType: 7 }), 'Command.RequestType: expected a string, got an integer'],
    ['RequestType empty', raw({ RequestType: '' }), 'Command.RequestType: "" is not a name'],
    ['a known RequestType with a malformed key', raw({ RequestType: 'ClearPasscode', UnlockToken: 'AAAA' }), 'Command.UnlockToken: expected data, got a string'],
    ['a known RequestType missing a required key', raw({ RequestType: 'InstallProfile' }), 'Command.Payload is missing'],
  ])('refuses %s', (_name, input, reason) => {
    expect(refusal(() => parseRawCommand(input)).reason.startsWith(reason)).toBe(true);
  });

  it('accepts a CommandUUID of exactly 128 characters', () => {
    expect(parseRawCommand(raw({ RequestType: 'SecurityInfo' }, 'U'.repeat(128))).commandUuid).toHaveLength(128);
  });
});

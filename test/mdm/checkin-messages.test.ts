import { describe, expect, it } from 'vitest';
import { parseCheckinMessage, parseDeclarativeEndpoint, MdmProtocolError } from '../../src/mdm/checkin-messages.ts';
import { fixture, fixtureNames, refusal, variant } from './fixtures.ts';

describe('parseCheckinMessage: every check-in fixture', () => {
  const names = fixtureNames('checkin-');

  it('has fixtures for all eight message types', () => {
    const types = new Set(names.map((n) => parseCheckinMessage(fixture(n)).MessageType));
    expect([...types].sort()).toEqual([
      'Authenticate', 'CheckOut', 'DeclarativeManagement', 'GetBootstrapToken', 'GetToken', 'SetBootstrapToken', 'TokenUpdate', 'UserAuthenticate',
    ]);
  });

  it.each(names)('%s parses and models every key it carries', (name) => {
    const message = parseCheckinMessage(fixture(name));
    expect(message.raw).toEqual({});
  });
});

describe('parseCheckinMessage: Authenticate', () => {
  it('reads an iOS Authenticate', () => {
    const m = parseCheckinMessage(fixture('checkin-authenticate-ios.plist'));
    expect(m).toMatchObject({
      MessageType: 'Authenticate',
      Topic: 'com.apple.mgmt.External.7f3c1f6e-8a1b-4f39-9c55-3d2b0f0a4e21',
      UDID: '00008110-001A2C3E0E91801E',
      OSVersion: '18.1',
      ProductName: 'iPhone15,2',
      SerialNumber: 'F2LXK1Q3N7',
      IMEI: '35 209900 176148 1',
    });
    expect(m).not.toHaveProperty('DeviceName');
  });

  it('reads the macOS-only keys', () => {
    const m = parseCheckinMessage(fixture('checkin-authenticate-macos.plist'));
    expect(m).toMatchObject({ DeviceName: 'Studio MacBook Air', Model: 'Mac14,2', ModelName: 'MacBook Air' });
  });

  it('reads a User Enrollment Authenticate: EnrollmentID, no UDID, no serial number', () => {
    const m = parseCheckinMessage(fixture('checkin-authenticate-ios-user-enrollment.plist'));
    expect(m).toMatchObject({ EnrollmentID: 'B5F0C2A7-3D91-4E68-A4C2-9E7F1D3B6A80' });
    expect(m).not.toHaveProperty('UDID');
    expect(m).not.toHaveProperty('SerialNumber');
  });

  it('keeps keys from newer OS versions in raw, not in the typed fields', () => {
    const m = parseCheckinMessage(variant('checkin-authenticate-ios.plist', { SupplementalBuildVersion: '22B83a', Future: { a: 1 } }));
    expect(m.raw).toEqual({ SupplementalBuildVersion: '22B83a', Future: { a: 1 } });
  });
});

describe('parseCheckinMessage: TokenUpdate', () => {
  it('reads Token and UnlockToken as bytes', () => {
    const m = parseCheckinMessage(fixture('checkin-tokenupdate-ios.plist'));
    if (m.MessageType !== 'TokenUpdate') throw new Error('wrong type');
    expect(m.Token).toBeInstanceOf(Uint8Array);
    expect(m.Token).toHaveLength(32);
    expect(m.UnlockToken).toHaveLength(600);
    expect(m.PushMagic).toBe('2C4E6A8B-0D1F-4A3C-9E5B-7D9F1B3D5F70');
    expect(m.AwaitingConfiguration).toBe(false);
  });

  it.each(['checkin-tokenupdate-watchos.plist', 'checkin-tokenupdate-visionos.plist'])('%s carries an UnlockToken', (name) => {
    const m = parseCheckinMessage(fixture(name));
    expect(m.MessageType === 'TokenUpdate' && m.UnlockToken instanceof Uint8Array).toBe(true);
  });

  it('reads the Shared iPad user channel keys', () => {
    const m = parseCheckinMessage(fixture('checkin-tokenupdate-ipados-shared-user.plist'));
    expect(m).toMatchObject({ UserID: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', UserShortName: 'ana.lima@students.example.edu' });
    expect(m).not.toHaveProperty('UnlockToken');
  });

  it('reads the macOS user channel keys', () => {
    const m = parseCheckinMessage(fixture('checkin-tokenupdate-macos-user.plist'));
    expect(m).toMatchObject({ UserShortName: 'jrivera', UserLongName: 'Jordan Rivera', NotOnConsole: false });
  });

  it('never copies a modelled secret into raw', () => {
    const m = parseCheckinMessage(variant('checkin-tokenupdate-ios.plist', { Extra: 'x' }));
    expect(Object.keys(m.raw)).toEqual(['Extra']);
  });
});

describe('parseCheckinMessage: the other messages', () => {
  it('CheckOut by UDID and by EnrollmentID', () => {
    expect(parseCheckinMessage(fixture('checkin-checkout-ios.plist'))).toMatchObject({ MessageType: 'CheckOut', UDID: '00008110-001A2C3E0E91801E' });
    expect(parseCheckinMessage(fixture('checkin-checkout-ios-user-enrollment.plist'))).toMatchObject({ EnrollmentID: 'B5F0C2A7-3D91-4E68-A4C2-9E7F1D3B6A80' });
  });

  it('SetBootstrapToken with a token and with an empty one (= remove)', () => {
    const set = parseCheckinMessage(fixture('checkin-setbootstraptoken-macos.plist'));
    const remove = parseCheckinMessage(fixture('checkin-setbootstraptoken-macos-remove.plist'));
    expect(set.MessageType === 'SetBootstrapToken' && set.BootstrapToken?.length).toBe(48);
    expect(remove.MessageType === 'SetBootstrapToken' && remove.BootstrapToken?.length).toBe(0);
  });

  it('bootstrap token messages may come without any identifying key (the YAML lists none)', () => {
    expect(parseCheckinMessage({ MessageType: 'GetBootstrapToken' })).toEqual({ MessageType: 'GetBootstrapToken', raw: {} });
    expect(parseCheckinMessage({ MessageType: 'SetBootstrapToken' })).toEqual({ MessageType: 'SetBootstrapToken', raw: {} });
  });

  it('UserAuthenticate: the first request has no DigestResponse, the second has one', () => {
    const first = parseCheckinMessage(fixture('checkin-userauthenticate-macos-first.plist'));
    const second = parseCheckinMessage(fixture('checkin-userauthenticate-macos-second.plist'));
    expect(first).not.toHaveProperty('DigestResponse');
    expect(second).toMatchObject({ DigestResponse: expect.stringContaining('username="jrivera"') });
  });

  it('DeclarativeManagement: status Data is the JSON report', () => {
    const m = parseCheckinMessage(fixture('checkin-declarativemanagement-ios-status.plist'));
    if (m.MessageType !== 'DeclarativeManagement') throw new Error('wrong type');
    expect(m.endpoint).toEqual({ kind: 'status' });
    expect(JSON.parse(new TextDecoder().decode(m.Data))).toMatchObject({ StatusItems: { passcode: { 'is-compliant': true } } });
  });

  it('DeclarativeManagement: a declaration endpoint is split into type and identifier', () => {
    const m = parseCheckinMessage(fixture('checkin-declarativemanagement-macos-user-declaration.plist'));
    expect(m).toMatchObject({ endpoint: { kind: 'declaration', type: 'configuration', identifier: 'com.example.lockwarden.passcode' } });
  });

  it('GetToken with TokenParameters', () => {
    const m = parseCheckinMessage(fixture('checkin-gettoken-ios-watch-pairing.plist'));
    expect(m).toMatchObject({
      TokenServiceType: 'com.apple.watch.pairing',
      TokenParameters: { PhoneUDID: '00008110-001A2C3E0E91801E', WatchUDID: '00008301-0012345A1E00802E', SecurityToken: 'q2r9XbT0c1Lk8vW3', raw: {} },
    });
  });
});

describe('parseCheckinMessage: refusals', () => {
  const cases: [string, unknown, string][] = [
    ['not a dictionary', ['MessageType'], 'check-in message: expected a dictionary, got an array'],
    ['a string body', 'Authenticate', 'check-in message: expected a dictionary, got a string'],
    ['raw bytes', new Uint8Array([1]), 'check-in message: expected a dictionary, got data'],
    ['no MessageType', { Topic: 'x', UDID: 'A' }, 'MessageType is missing'],
    ['MessageType not a string', { MessageType: 1 }, 'MessageType: expected a string, got an integer'],
    ['unknown MessageType', { MessageType: 'Hello' }, 'MessageType "Hello" is not a check-in message (expected one of Authenticate, TokenUpdate, CheckOut, SetBootstrapToken, GetBootstrapToken, UserAuthenticate, DeclarativeManagement, GetToken)'],
    ['an inherited name as MessageType', { MessageType: 'toString' }, 'MessageType "toString" is not a check-in message'],
    ['Topic missing', variant('checkin-authenticate-ios.plist', { Topic: undefined }), 'Authenticate.Topic is missing'],
    ['Token missing', variant('checkin-tokenupdate-ios.plist', { Token: undefined }), 'TokenUpdate.Token is missing'],
    ['Token as a string', variant('checkin-tokenupdate-ios.plist', { Token: 'abcd' }), 'TokenUpdate.Token: expected data, got a string'],
    ['Token empty', variant('checkin-tokenupdate-ios.plist', { Token: new Uint8Array(0) }), 'TokenUpdate.Token: is empty'],
    ['PushMagic missing', variant('checkin-tokenupdate-ios.plist', { PushMagic: undefined }), 'TokenUpdate.PushMagic is missing'],
    ['UnlockToken as a string', variant('checkin-tokenupdate-ios.plist', { UnlockToken: 'secret' }), 'TokenUpdate.UnlockToken: expected data, got a string'],
    ['UDID as data', variant('checkin-tokenupdate-ios.plist', { UDID: new Uint8Array([1]) }), 'TokenUpdate.UDID: expected a string (identifier), got data'],
    ['UDID with a newline', variant('checkin-authenticate-ios.plist', { UDID: 'ABC\nlevel=error' }), 'Authenticate.UDID: "ABC\\nlevel=error" is not an identifier'],
    ['UDID with a space', variant('checkin-authenticate-ios.plist', { UDID: 'ABC DEF' }), 'Authenticate.UDID: "ABC DEF" is not an identifier'],
    ['UDID empty', variant('checkin-authenticate-ios.plist', { UDID: '' }), 'Authenticate.UDID: "" is not an identifier'],
    ['UDID too long', variant('checkin-authenticate-ios.plist', { UDID: 'A'.repeat(129) }), `Authenticate.UDID: "${'A'.repeat(40)}…" is not an identifier`],
    ['UDID non-ASCII', variant('checkin-authenticate-ios.plist', { UDID: 'ÄBC' }), 'Authenticate.UDID: "ÄBC" is not an identifier'],
    ['EnrollmentID a number', variant('checkin-authenticate-ios-user-enrollment.plist', { EnrollmentID: 7 }), 'Authenticate.EnrollmentID: expected a string (identifier), got an integer'],
    ['UserID with control characters', variant('checkin-tokenupdate-macos-user.plist', { UserID: 'A\u0000B' }), 'TokenUpdate.UserID: "A\\u0000B" is not an identifier'],
    ['Topic with a space (it becomes an APNs header)', variant('checkin-authenticate-ios.plist', { Topic: 'com.apple.mgmt x' }), 'Authenticate.Topic: "com.apple.mgmt x" is not a name'],
    ['AwaitingConfiguration as a string', variant('checkin-tokenupdate-ios.plist', { AwaitingConfiguration: 'false' }), 'TokenUpdate.AwaitingConfiguration: expected a boolean, got a string'],
    ['DeviceName as an integer', variant('checkin-authenticate-macos.plist', { DeviceName: 3 }), 'Authenticate.DeviceName: expected a string, got an integer'],
    ['no UDID and no EnrollmentID', variant('checkin-tokenupdate-ios.plist', { UDID: undefined }), 'TokenUpdate: neither UDID nor EnrollmentID is present'],
    ['both UDID and EnrollmentID', variant('checkin-tokenupdate-ios.plist', { EnrollmentID: 'B5F0C2A7' }), 'TokenUpdate: both UDID and EnrollmentID are present'],
    ['Shared iPad UserID without UserShortName', variant('checkin-tokenupdate-ipados-shared-user.plist', { UserShortName: undefined }), 'TokenUpdate: UserID is the Shared iPad placeholder'],
    ['UserAuthenticate without UserID', variant('checkin-userauthenticate-macos-first.plist', { UserID: undefined }), 'UserAuthenticate.UserID is missing'],
    ['DeclarativeManagement without Endpoint', variant('checkin-declarativemanagement-ios-tokens.plist', { Endpoint: undefined }), 'DeclarativeManagement.Endpoint is missing'],
    ['DeclarativeManagement with an unknown Endpoint', variant('checkin-declarativemanagement-ios-tokens.plist', { Endpoint: 'assets' }), 'DeclarativeManagement.Endpoint: "assets" is not tokens, declaration-items, status or declaration/<type>/<identifier>'],
    ['DeclarativeManagement Data as a string', variant('checkin-declarativemanagement-ios-status.plist', { Data: '{}' }), 'DeclarativeManagement.Data: expected data, got a string'],
    ['GetToken without TokenServiceType', variant('checkin-gettoken-ios-maid.plist', { TokenServiceType: undefined }), 'GetToken.TokenServiceType is missing'],
    ['GetToken TokenParameters not a dictionary', variant('checkin-gettoken-ios-maid.plist', { TokenParameters: ['x'] }), 'GetToken.TokenParameters: expected a dictionary, got an array'],
    ['GetToken TokenParameters.WatchUDID wrong type', variant('checkin-gettoken-ios-maid.plist', { TokenParameters: { WatchUDID: 1 } }), 'GetToken.TokenParameters.WatchUDID: expected a string (identifier), got an integer'],
    ['SetBootstrapToken token as a string', variant('checkin-setbootstraptoken-macos.plist', { BootstrapToken: 'abc' }), 'SetBootstrapToken.BootstrapToken: expected data, got a string'],
  ];

  it.each(cases)('%s', (_name, input, reason) => {
    const err = refusal(() => parseCheckinMessage(input));
    expect(err.reason.startsWith(reason)).toBe(true);
    expect(err.message).toBe(err.reason);
  });

  it('reads own keys only: an inherited property does not satisfy a required key', () => {
    const proto = { Topic: 'com.apple.mgmt.x' };
    const body = Object.assign(Object.create(proto) as object, { MessageType: 'CheckOut', UDID: 'A1' });
    expect(refusal(() => parseCheckinMessage(body)).reason).toBe('check-in message: expected a dictionary, got an object that is not a plain dictionary');
    const plain = Object.assign({}, { MessageType: 'CheckOut', UDID: 'A1' });
    Object.setPrototypeOf(plain, null);
    expect(refusal(() => parseCheckinMessage(plain)).reason).toBe('CheckOut.Topic is missing');
  });

  it('MdmProtocolError is exported from checkin-messages.ts', () => {
    expect(new MdmProtocolError('x')).toMatchObject({ status: 400, reason: 'x', name: 'MdmProtocolError' });
  });
});

describe('parseDeclarativeEndpoint', () => {
  it('accepts the four endpoint forms', () => {
    expect(parseDeclarativeEndpoint('tokens')).toEqual({ kind: 'tokens' });
    expect(parseDeclarativeEndpoint('declaration-items')).toEqual({ kind: 'declaration-items' });
    expect(parseDeclarativeEndpoint('status')).toEqual({ kind: 'status' });
    expect(parseDeclarativeEndpoint('declaration/activation/com.example/a/b')).toEqual({ kind: 'declaration', type: 'activation', identifier: 'com.example/a/b' });
  });

  it.each([
    ['declaration/configuration/', 'is not tokens'],
    ['declaration//id', 'is not tokens'],
    ['declaration/Configuration!/id', '"Configuration!" is not a declaration type'],
    ['declaration/configuration/a\nb', 'has control characters'],
    ['Tokens', 'is not tokens'],
  ])('refuses %j', (endpoint, reason) => {
    expect(refusal(() => parseDeclarativeEndpoint(endpoint)).reason).toContain(reason);
  });
});

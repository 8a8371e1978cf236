// A simulated device without a server: a fake transport records what it sends and hands it
// commands, so what it says on the wire (checked with the server's own parsers) and how it
// answers each command can be pinned down kind by kind.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signCms } from '../../src/crypto/cms-signer.ts';
import { createDeviceCa, generateDeviceIdentity } from '../../src/crypto/device-ca.ts';
import { parseCheckinMessage } from '../../src/mdm/checkin-messages.ts';
import { parseCommandReport } from '../../src/mdm/command-report.ts';
import { enrollmentOf } from '../../src/mdm/enrollment-id.ts';
import { parseProfileListResponse } from '../../src/mdm/profile-list-response.ts';
import { parseSecurityInfoResponse } from '../../src/mdm/security-info-response.ts';
import { buildProfile } from '../../src/plist/mobileconfig.ts';
import { decodePlist, encodePlist } from '../../src/plist/plist-codec.ts';
import { MINUTE_MS, VirtualClock } from '../../src/sim/clock.ts';
import type { PresetName } from '../../src/sim/device-kinds.ts';
import type { MdmResponse } from '../../src/sim/mdm-client.ts';
import { SimulatedDevice } from '../../src/sim/simulated-device.ts';
import type { EnrollmentSettings, MdmTransport } from '../../src/sim/simulated-device.ts';

const TOPIC = 'com.apple.mgmt.External.sim-unit';
const PASSCODE_TYPE = 'com.apple.mobiledevice.passwordpolicy';

const ok = (): MdmResponse => ({ status: 200, body: Buffer.alloc(0) });
const json = (value: unknown): MdmResponse => ({ status: 200, body: Buffer.from(JSON.stringify(value)) });

/** Round-trips through the plist codec, as the wire does (Buffers become Uint8Array). */
const wire = (value: unknown) => decodePlist(Buffer.from(encodePlist(value)));

interface FakeServer {
  transport: MdmTransport;
  checkIns: Record<string, unknown>[];
  reports: Record<string, unknown>[];
  /** Commands handed out on the next connects, in order. */
  queue: Record<string, unknown>[];
}

function fakeServer(answer: (message: Record<string, unknown>) => MdmResponse | undefined = () => undefined, onConnect?: () => Promise<void>): FakeServer {
  const server: FakeServer = {
    checkIns: [],
    reports: [],
    queue: [],
    transport: {
      async checkIn(message) {
        // The server's own parser must accept every check-in a well-behaved device sends.
        server.checkIns.push(parseCheckinMessageFromWire(message));
        return answer(message) ?? ok();
      },
      async connect(report) {
        parseCommandReport(wire(report));
        server.reports.push(report);
        await onConnect?.();
        const next = server.queue.shift();
        if (!next) return ok();
        return { status: 200, body: Buffer.from(encodePlist(next)), plist: wire(next) as Record<string, unknown> };
      },
    },
  };
  return server;
}

function parseCheckinMessageFromWire(message: Record<string, unknown>): Record<string, unknown> {
  parseCheckinMessage(wire(message));
  return message;
}

function enrollmentProfile(): Record<string, unknown> {
  return buildProfile({
    identifier: 'lockwarden.enrollment.test',
    uuid: 'ENROLL-UUID',
    displayName: 'lockwarden device management',
    payloads: [{ PayloadType: 'com.apple.mdm', PayloadVersion: 1, PayloadIdentifier: 'lockwarden.enrollment.test.mdm', PayloadUUID: 'MDM-UUID', ServerURL: 'https://mdm.example/mdm/connect' }],
  });
}

function settings(overrides: Partial<EnrollmentSettings> = {}): EnrollmentSettings {
  return { topic: TOPIC, accessRights: 8191, checkOutWhenRemoved: true, serverCapabilities: [], profile: enrollmentProfile(), ...overrides };
}

async function enrolled(kind: PresetName, options: { settings?: Partial<EnrollmentSettings>; passcode?: string; clock?: VirtualClock; answer?: (m: Record<string, unknown>) => MdmResponse | undefined } = {}) {
  const server = fakeServer(options.answer);
  const device = new SimulatedDevice({ kind, clock: options.clock ?? new VirtualClock({ frozenAt: 1_800_000_000_000 }), ...(options.passcode !== undefined && { passcode: options.passcode }) });
  device.attach(server.transport, settings(options.settings));
  await device.checkIn();
  return { device, server };
}

let counter = 0;
const command = (RequestType: string, request: Record<string, unknown> = {}) => ({ CommandUUID: `CMD-${++counter}`, Command: { RequestType, ...request } });

function passcodeProfile(identifier: string, settingsKeys: Record<string, unknown>, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(encodePlist({
    ...buildProfile({
      identifier,
      uuid: `${identifier}-UUID`,
      displayName: 'Passcode',
      payloads: [{ PayloadType: PASSCODE_TYPE, PayloadVersion: 1, PayloadIdentifier: `${identifier}.passcode`, PayloadUUID: `${identifier}-${JSON.stringify(settingsKeys).length}`, ...settingsKeys }],
    }),
    ...extra,
  }));
}

describe('check-in messages per kind', () => {
  it('an iPhone sends its UDID, facts and an UnlockToken', async () => {
    const { device, server } = await enrolled('iphone');
    const [authenticate, tokenUpdate] = server.checkIns;
    expect(authenticate).toMatchObject({ MessageType: 'Authenticate', Topic: TOPIC, UDID: device.udid, ProductName: 'iPhone17,1', OSVersion: '18.1', SerialNumber: device.facts.serialNumber, IMEI: device.facts.imei });
    expect(authenticate).not.toHaveProperty('DeviceName');
    expect(tokenUpdate).toMatchObject({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: device.udid, PushMagic: device.pushMagic });
    expect(Buffer.from(tokenUpdate!.Token as Uint8Array).toString('hex')).toBe(device.pushToken);
    expect(Buffer.from(tokenUpdate!.UnlockToken as Uint8Array).equals(device.unlockToken!)).toBe(true);
    expect(device.pushToken).toMatch(/^[0-9a-f]{64}$/);
  });

  it('User Enrollment sends an EnrollmentID instead of the UDID, no serial number and no UnlockToken', async () => {
    const { device, server } = await enrolled('iphone-user-enrollment');
    for (const message of server.checkIns) {
      expect(message).toHaveProperty('EnrollmentID', device.id);
      expect(message).not.toHaveProperty('UDID');
      expect(message).not.toHaveProperty('SerialNumber');
      expect(message).not.toHaveProperty('UnlockToken');
      expect(message).not.toHaveProperty('IMEI');
    }
    expect(enrollmentOf(server.checkIns[1]!)).toMatchObject({ type: 'User Enrollment (Device)', deviceId: device.id });
    expect(device.unlockToken).toBeUndefined();
  });

  it('a Mac sends DeviceName, Model and ModelName, and never an UnlockToken', async () => {
    const { server } = await enrolled('mac');
    expect(server.checkIns[0]).toMatchObject({ DeviceName: expect.any(String), Model: 'Mac14,2', ModelName: 'MacBook Air', ProductName: 'Mac14,2' });
    expect(server.checkIns[1]).not.toHaveProperty('UnlockToken');
  });

  it.each(['shared-ipad', 'apple-tv', 'mac-user-enrollment'] as const)('%s sends no UnlockToken', async (kind) => {
    const { device, server } = await enrolled(kind);
    expect(server.checkIns[1]).not.toHaveProperty('UnlockToken');
    expect(device.unlockToken).toBeUndefined();
  });

  it('without AccessRights 4 no UnlockToken; without 16 none of the device facts', async () => {
    const { server } = await enrolled('apple-watch', { settings: { accessRights: 8191 & ~4 & ~16 } });
    expect(server.checkIns[1]).not.toHaveProperty('UnlockToken');
    expect(server.checkIns[0]).not.toHaveProperty('OSVersion');
    expect(server.checkIns[0]).not.toHaveProperty('SerialNumber');
  });

  it('opens the Shared iPad user channel only when the server offers per-user connections', async () => {
    expect((await enrolled('shared-ipad')).device.userPushToken).toBeUndefined();
    const { device, server } = await enrolled('shared-ipad', { settings: { serverCapabilities: ['com.apple.mdm.per-user-connections'] } });
    const user = server.checkIns[2]!;
    expect(user).toMatchObject({ MessageType: 'TokenUpdate', UDID: device.udid, UserID: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', UserShortName: expect.stringContaining('@') });
    expect(user).not.toHaveProperty('UnlockToken');
    expect(enrollmentOf(user)).toMatchObject({ type: 'Shared iPad', channel: 'user' });
    expect(device.userPushToken).not.toBe(device.pushToken);
    expect(device.channelOfToken(device.userPushToken!)).toBe('user');
  });

  it('a Mac asks UserAuthenticate first and opens no user channel when declined with 410', async () => {
    const declined = await enrolled('mac', {
      settings: { serverCapabilities: ['com.apple.mdm.per-user-connections'] },
      answer: (m) => (m.MessageType === 'UserAuthenticate' ? { status: 410, body: Buffer.alloc(0) } : undefined),
    });
    expect(declined.server.checkIns.map((m) => m.MessageType)).toEqual(['Authenticate', 'TokenUpdate', 'UserAuthenticate']);
    expect(declined.device.userPushToken).toBeUndefined();

    const accepted = await enrolled('mac', { settings: { serverCapabilities: ['com.apple.mdm.per-user-connections'] } });
    const user = accepted.server.checkIns[3]!;
    expect(user).toMatchObject({ MessageType: 'TokenUpdate', UDID: accepted.device.udid, UserShortName: 'alex', UserLongName: 'Alex Appleseed', NotOnConsole: false });
    expect(enrollmentOf(user)).toMatchObject({ type: 'User', channel: 'user' });
  });

  it('a Mac under User Enrollment names its user channel with EnrollmentUserID', async () => {
    const { device, server } = await enrolled('mac-user-enrollment', { settings: { serverCapabilities: ['com.apple.mdm.per-user-connections'] } });
    expect(server.checkIns.map((m) => m.MessageType)).toEqual(['Authenticate', 'TokenUpdate', 'TokenUpdate']);
    expect(server.checkIns[2]).toMatchObject({ EnrollmentID: device.id, EnrollmentUserID: expect.any(String) });
    expect(enrollmentOf(server.checkIns[2]!)).toMatchObject({ type: 'User Enrollment', channel: 'user' });
  });

  it('sends CheckOut with its identity when the profile asks for it, and forgets every managed profile', async () => {
    const { device, server } = await enrolled('iphone-user-enrollment');
    await device.execute(command('InstallProfile', { Payload: passcodeProfile('com.example.a', { minLength: 6 }) }));
    await device.checkOut();
    expect(server.checkIns.at(-1)).toEqual({ MessageType: 'CheckOut', Topic: TOPIC, EnrollmentID: device.id });
    expect(device.enrolled).toBe(false);
    expect(device.hasProfile('com.example.a')).toBe(false);

    const quiet = await enrolled('iphone', { settings: { checkOutWhenRemoved: false } });
    expect(await quiet.device.checkOut()).toBeUndefined();
    expect(quiet.server.checkIns.map((m) => m.MessageType)).toEqual(['Authenticate', 'TokenUpdate']);
  });
});

describe('commands', () => {
  it('installs a profile (unsigned or signed), keeps it by PayloadIdentifier and lists it truthfully', async () => {
    const { device } = await enrolled('iphone', { passcode: '1234' });
    const ca = await createDeviceCa({ commonName: 'profile signer CA' });
    const signer = await generateDeviceIdentity(ca, 'profile signer');
    const signed = await signCms(passcodeProfile('com.example.signed', { minLength: 6 }), signer);
    expect(await device.execute(command('InstallProfile', { Payload: passcodeProfile('com.example.plain', { allowSimple: false }) }))).toMatchObject({ Status: 'Acknowledged' });
    expect(await device.execute(command('InstallProfile', { Payload: signed }))).toMatchObject({ Status: 'Acknowledged' });

    const list = await device.execute(command('ProfileList'));
    const items = parseProfileListResponse(wire(list)).ProfileList;
    expect(items.map((i) => i.PayloadIdentifier).sort()).toEqual(['com.example.plain', 'com.example.signed', 'lockwarden.enrollment.test']);
    const plain = items.find((i) => i.PayloadIdentifier === 'com.example.plain')!;
    expect(plain).toMatchObject({ PayloadUUID: 'com.example.plain-UUID', IsManaged: true, PayloadRemovalDisallowed: false });
    expect(plain.PayloadContent).toEqual([expect.objectContaining({ PayloadType: PASSCODE_TYPE, PayloadIdentifier: 'com.example.plain.passcode' })]);
    expect(items.find((i) => i.PayloadIdentifier === 'lockwarden.enrollment.test')).toMatchObject({ IsManaged: false });
    const managedOnly = parseProfileListResponse(wire(await device.execute(command('ProfileList', { ManagedOnly: true })))).ProfileList;
    expect(managedOnly).toHaveLength(2);
    expect(device.passcodeStatus()).toMatchObject({ state: 'in-grace', failingSources: ['com.example.plain/com.example.plain.passcode', 'com.example.signed/com.example.signed.passcode'] });
  });

  it('replaces a profile in place; the same content again starts no new grace, a stricter one does', async () => {
    const clock = new VirtualClock({ frozenAt: 0 });
    const { device } = await enrolled('iphone', { passcode: '1234', clock });
    await device.execute(command('InstallProfile', { Payload: passcodeProfile('com.example.p', { minLength: 6 }) }));
    clock.advance(50 * MINUTE_MS);
    await device.execute(command('InstallProfile', { Payload: passcodeProfile('com.example.p', { minLength: 6 }) }));
    clock.advance(11 * MINUTE_MS);
    expect(device.passcodeStatus().state).toBe('non-compliant');
    await device.execute(command('InstallProfile', { Payload: passcodeProfile('com.example.p', { minLength: 6, allowSimple: false }) }));
    expect(device.passcodeStatus()).toMatchObject({ state: 'in-grace', graceEndsAt: 61 * MINUTE_MS + 60 * MINUTE_MS });
    expect(device.profileList().filter((p) => p.PayloadIdentifier === 'com.example.p')).toHaveLength(1);
  });

  it('refuses profiles it cannot take with an Error and an ErrorChain', async () => {
    const { device } = await enrolled('iphone');
    const refusals: [string, Uint8Array][] = [
      ['garbage', randomBytes(64)],
      ['not a Configuration', Buffer.from(encodePlist({ PayloadType: 'Other' }))],
      ['out of range', passcodeProfile('com.example.bad', { minLength: 99 })],
      ['encrypted', Buffer.from(encodePlist({ ...buildProfile({ identifier: 'e', uuid: 'E', displayName: 'e', payloads: [] }), EncryptedPayloadContent: randomBytes(16) }))],
      ['an MDM payload', Buffer.from(encodePlist(enrollmentProfile()))],
    ];
    for (const [what, payload] of refusals) {
      const report = await device.execute(command('InstallProfile', { Payload: payload }));
      expect(report, what).toMatchObject({ Status: 'Error', ErrorChain: [{ ErrorCode: expect.any(Number), ErrorDomain: expect.any(String), LocalizedDescription: expect.any(String) }] });
      parseCommandReport(wire({ UDID: device.udid, ...report }));
    }
    expect(device.profileList()).toHaveLength(1);
  });

  it.each(['shared-ipad', 'mac-user-enrollment', 'apple-tv'] as const)('%s refuses the Passcode payload', async (kind) => {
    const { device } = await enrolled(kind);
    const report = await device.execute(command('InstallProfile', { Payload: passcodeProfile('com.example.p', { minLength: 6 }) }));
    expect(report).toMatchObject({ Status: 'Error', ErrorChain: [expect.objectContaining({ LocalizedDescription: expect.stringContaining(PASSCODE_TYPE) })] });
  });

  it('removes profiles the MDM installed, and only those', async () => {
    const { device } = await enrolled('iphone');
    await device.execute(command('InstallProfile', { Payload: passcodeProfile('com.example.p', { minLength: 6 }) }));
    expect(await device.execute(command('RemoveProfile', { Identifier: 'com.example.p' }))).toMatchObject({ Status: 'Acknowledged' });
    expect(await device.execute(command('RemoveProfile', { Identifier: 'com.example.p' }))).toMatchObject({ Status: 'Error' });
    expect(await device.execute(command('RemoveProfile', { Identifier: 'lockwarden.enrollment.test' }))).toMatchObject({ Status: 'Error' });
    expect(device.hasProfile('lockwarden.enrollment.test')).toBe(true);
  });

  it('lets its user remove a profile unless the platform honours PayloadRemovalDisallowed', async () => {
    const removable = passcodeProfile('com.example.r', { minLength: 6 }, { PayloadRemovalDisallowed: true });
    for (const [kind, allowed] of [['iphone', true], ['iphone-supervised', false], ['mac', false], ['apple-watch', true]] as const) {
      const { device } = await enrolled(kind);
      expect(await device.execute(command('InstallProfile', { Payload: removable }))).toMatchObject({ Status: 'Acknowledged' });
      expect((await device.userRemovesProfile('com.example.r')).ok, kind).toBe(allowed);
    }
    const ue = await enrolled('iphone-user-enrollment');
    expect(await ue.device.execute(command('InstallProfile', { Payload: removable }))).toMatchObject({ Status: 'Error' });
  });

  it('answers SecurityInfo per platform', async () => {
    const phone = await enrolled('iphone', { passcode: '739164' });
    expect(parseSecurityInfoResponse(wire(await phone.device.execute(command('SecurityInfo')))).SecurityInfo)
      .toMatchObject({ PasscodePresent: true, PasscodeCompliant: true, PasscodeCompliantWithProfiles: true, HardwareEncryptionCaps: 3 });
    const mac = await enrolled('mac', { passcode: 'pw' });
    const info = parseSecurityInfoResponse(wire(await mac.device.execute(command('SecurityInfo')))).SecurityInfo;
    expect(info.PasscodePresent).toBeUndefined();
    expect(info.PasscodeCompliant).toBeUndefined();
    expect(info.ManagementStatus).toMatchObject({ IsUserEnrollment: false, UserApprovedEnrollment: true });
  });

  it('answers DeviceInformation with the queries it supports', async () => {
    const { device } = await enrolled('iphone-user-enrollment');
    const report = await device.execute(command('DeviceInformation', { Queries: ['UDID', 'OSVersion', 'ProductName', 'SerialNumber'] }));
    expect(report).toMatchObject({ Status: 'Acknowledged', QueryResponses: { OSVersion: '18.1', ProductName: 'iPhone17,1' } });
    expect(report!.QueryResponses).not.toHaveProperty('UDID');
  });

  it('accepts ClearPasscode only with the exact UnlockToken it sent', async () => {
    const { device } = await enrolled('iphone', { passcode: '739164' });
    const token = device.unlockToken!;
    expect(await device.execute(command('ClearPasscode', { UnlockToken: Buffer.concat([token, Buffer.from([0])]) }))).toMatchObject({ Status: 'Error' });
    expect(device.passcode).toBe('739164');
    expect(await device.execute(command('ClearPasscode', { UnlockToken: token }))).toMatchObject({ Status: 'Acknowledged' });
    expect(device.passcode).toBeUndefined();

    const noToken = await enrolled('iphone', { passcode: '739164', settings: { accessRights: 8191 & ~4 } });
    expect(await noToken.device.execute(command('ClearPasscode', { UnlockToken: randomBytes(8) }))).toMatchObject({ Status: 'Error' });
    const mac = await enrolled('mac');
    expect(await mac.device.execute(command('ClearPasscode', { UnlockToken: randomBytes(8) }))).toMatchObject({ Status: 'Error', ErrorChain: [expect.objectContaining({ LocalizedDescription: expect.stringMatching(/macOS/) })] });
  });

  it('answers unknown and malformed commands with CommandFormatError, and ignores one without a CommandUUID', async () => {
    const { device } = await enrolled('iphone');
    expect(await device.execute(command('MakeCoffee'))).toMatchObject({ Status: 'CommandFormatError' });
    expect(await device.execute(command('InstallProfile'))).toMatchObject({ Status: 'CommandFormatError' });
    expect(await device.execute(command('DeviceInformation', { Queries: 'OSVersion' }))).toMatchObject({ Status: 'CommandFormatError' });
    expect(await device.execute({ Command: { RequestType: 'ProfileList' } })).toBeUndefined();
    expect(await device.execute('nonsense')).toBeUndefined();
  });

  it('while locked answers NotNow for what Data Protection defers, runs the rest, and checks in again once unlocked', async () => {
    const { device, server } = await enrolled('iphone', { passcode: '739164' });
    device.lock();
    for (const type of ['InstallProfile', 'RemoveProfile', 'SecurityInfo', 'DeclarativeManagement'] as const) {
      const request = type === 'InstallProfile' ? { Payload: passcodeProfile('com.example.p', {}) } : type === 'RemoveProfile' ? { Identifier: 'x' } : {};
      expect(await device.execute(command(type, request)), type).toMatchObject({ Status: 'NotNow' });
    }
    for (const type of ['ProfileList', 'DeviceInformation'] as const) {
      const request = type === 'DeviceInformation' ? { Queries: ['OSVersion'] } : {};
      expect(await device.execute(command(type, request)), type).toMatchObject({ Status: 'Acknowledged' });
    }
    expect(server.reports).toEqual([]);
    await device.unlock();
    expect(server.reports).toEqual([{ UDID: device.udid, Status: 'Idle' }]);
    await device.unlock();
    expect(server.reports).toHaveLength(1);
  });

  it('cannot be locked without a passcode, and an Apple TV not at all', async () => {
    expect(() => new SimulatedDevice({ kind: 'iphone' }).lock()).toThrow(/passcode/);
    expect(() => new SimulatedDevice({ kind: 'apple-tv', passcode: '1234' }).lock()).toThrow(/lock screen/);
  });

  it('acknowledges EraseDevice, then is wiped and unenrolled', async () => {
    const { device, server } = await enrolled('ipad', { passcode: '739164' });
    server.queue.push(command('EraseDevice'));
    await device.wake();
    expect(server.reports.map((r) => r.Status)).toEqual(['Idle', 'Acknowledged']);
    expect(device.enrolled).toBe(false);
    expect(device.passcode).toBeUndefined();
  });
});

describe('waking', () => {
  it('drains the queue: Idle, one report per command with its identity, until nothing is left', async () => {
    const { device, server } = await enrolled('iphone-user-enrollment');
    server.queue.push(command('ProfileList'), command('SecurityInfo'));
    await device.wake();
    expect(server.reports.map((r) => [r.Status, r.EnrollmentID])).toEqual([['Idle', device.id], ['Acknowledged', device.id], ['Acknowledged', device.id]]);
    expect(device.received.commands.map((c) => c.requestType)).toEqual(['ProfileList', 'SecurityInfo']);
  });

  it('never runs two wakes at once: asked while busy, it wakes once more afterwards', async () => {
    let release: () => void = () => undefined;
    let inside = 0;
    let most = 0;
    const server = fakeServer(undefined, async () => {
      inside += 1;
      most = Math.max(most, inside);
      await new Promise<void>((resolve) => { release = resolve; setTimeout(resolve, 20); });
      inside -= 1;
    });
    const device = new SimulatedDevice({ kind: 'iphone', clock: new VirtualClock() });
    device.attach(server.transport, settings());
    await device.checkIn();
    const first = device.wake();
    const second = device.wake();
    const third = device.wake();
    release();
    await Promise.all([first, second, third]);
    expect(second).toBe(third);
    expect(server.reports.filter((r) => r.Status === 'Idle')).toHaveLength(2);
    expect(most).toBe(1);
  });

  it('ignores a push whose magic is not its own, and every push while offline', async () => {
    const { device, server } = await enrolled('iphone');
    await device.receivePush({ token: device.pushToken!, body: { mdm: 'someone-else' } });
    expect(server.reports).toEqual([]);
    device.dropOff();
    await device.receivePush({ token: device.pushToken!, body: { mdm: device.pushMagic! } });
    expect(server.reports).toEqual([]);
    device.comeBack();
    await device.receivePush({ token: device.pushToken!, body: { mdm: device.pushMagic! } });
    expect(server.reports).toHaveLength(1);
  });
});

describe('Declarative Device Management against a fake server', () => {
  const activation = { Type: 'com.apple.activation.simple', Identifier: 'act', ServerToken: 'a1', Payload: { StandardConfigurations: ['passcode', 'subscriptions'] } };
  const passcode = (token: string, payload: Record<string, unknown>) => ({ Type: 'com.apple.configuration.passcode.settings', Identifier: 'passcode', ServerToken: token, Payload: payload });
  const subscriptions = { Type: 'com.apple.configuration.management.status-subscriptions', Identifier: 'subscriptions', ServerToken: 's1', Payload: { StatusItems: [{ Name: 'passcode.is-compliant' }, { Name: 'passcode.is-present' }] } };

  function ddmServer(state: { token: string; declarations: Record<string, unknown>[] }) {
    const requests: string[] = [];
    const statuses: unknown[] = [];
    const answer = (m: Record<string, unknown>): MdmResponse | undefined => {
      if (m.MessageType !== 'DeclarativeManagement') return undefined;
      const endpoint = String(m.Endpoint);
      requests.push(endpoint);
      if (endpoint === 'tokens') return json({ SyncTokens: { DeclarationsToken: state.token, Timestamp: '2026-01-01T00:00:00Z' } });
      if (endpoint === 'declaration-items') {
        const items = (type: string) => state.declarations.filter((d) => String(d.Type).startsWith(type)).map((d) => ({ Identifier: d.Identifier, ServerToken: d.ServerToken }));
        return json({ Declarations: { Activations: items('com.apple.activation'), Configurations: items('com.apple.configuration'), Assets: [], Management: [] }, DeclarationsToken: state.token });
      }
      if (endpoint === 'status') {
        statuses.push(JSON.parse(Buffer.from(m.Data as Uint8Array).toString('utf8')));
        return ok();
      }
      const [, group, identifier] = endpoint.split('/');
      const found = state.declarations.find((d) => d.Identifier === identifier && (group === 'activation') === String(d.Type).startsWith('com.apple.activation'));
      return found ? json(found) : { status: 404, body: Buffer.alloc(0) };
    };
    return { requests, statuses, answer };
  }

  it('fetches what changed, applies the passcode declaration, and reports the subscribed passcode items', async () => {
    const clock = new VirtualClock({ frozenAt: 0 });
    const state = { token: 't1', declarations: [activation, passcode('p1', { MinimumLength: 8 }), subscriptions] };
    const fake = ddmServer(state);
    const { device } = await enrolled('iphone', { passcode: '739164', clock, answer: fake.answer });

    expect(await device.execute(command('DeclarativeManagement'))).toMatchObject({ Status: 'Acknowledged' });
    expect(fake.requests).toEqual(['tokens', 'declaration-items', 'declaration/activation/act', 'declaration/configuration/passcode', 'declaration/configuration/subscriptions', 'status']);
    expect(device.passcodeStatus()).toMatchObject({ state: 'in-grace', failingSources: ['ddm:passcode'] });
    expect(fake.statuses[0]).toMatchObject({
      StatusItems: {
        passcode: { 'is-compliant': true, 'is-present': true },
        management: { declarations: { configurations: expect.arrayContaining([expect.objectContaining({ identifier: 'passcode', active: true, valid: 'valid' })]) } },
      },
      Errors: [],
      FullReport: true,
    });

    // The grace runs out: the next wake reports the change, on its own.
    clock.advance(61 * MINUTE_MS);
    await device.wake();
    expect(fake.statuses[1]).toEqual({ StatusItems: { passcode: { 'is-compliant': false, 'is-present': true } }, Errors: [] });
    await device.setPasscode('73916482');
    expect(fake.statuses[2]).toEqual({ StatusItems: { passcode: { 'is-compliant': true, 'is-present': true } }, Errors: [] });

    // Same token: nothing fetched. New token without the passcode declaration: it is dropped.
    fake.requests.length = 0;
    await device.synchronizeDeclarations({ SyncTokens: { DeclarationsToken: 't1' } });
    expect(fake.requests).toEqual(['status']);
    state.token = 't2';
    state.declarations = [activation, subscriptions];
    await device.execute(command('DeclarativeManagement'));
    expect(device.declarations.all().map((d) => d.identifier).sort()).toEqual(['act', 'subscriptions']);
    expect(device.passcodeStatus().state).toBe('compliant');
  });

  it('a Mac keeps the declarations but has no passcode status items to report', async () => {
    const fake = ddmServer({ token: 't1', declarations: [activation, passcode('p1', { MinimumLength: 8 }), subscriptions] });
    const { device } = await enrolled('mac', { passcode: 'pw', answer: fake.answer });
    await device.execute(command('DeclarativeManagement'));
    const report = fake.statuses[0] as { StatusItems: Record<string, unknown> };
    expect(report.StatusItems).not.toHaveProperty('passcode');
    // An unsupervised Mac does not apply passcode settings (allowed-enrollments: supervised, local).
    expect(report.StatusItems).toMatchObject({ management: { declarations: { configurations: expect.arrayContaining([expect.objectContaining({ identifier: 'passcode', valid: 'invalid' })]) } } });
    expect(device.passcodeStatus().state).toBe('compliant');
  });

  it('rejects a configuration its enrollment cannot have as Error.ConfigurationNotSupported, and a rejected subscription subscribes nothing', async () => {
    const configurations = (report: unknown) =>
      (report as { StatusItems: { management: { declarations: { configurations: Record<string, unknown>[] } } } }).StatusItems.management.declarations.configurations;
    const notSupported = (identifier: string, serverToken: string, type: string) => ({
      identifier, 'server-token': serverToken, active: true, valid: 'invalid',
      reasons: [{ code: 'Error.ConfigurationNotSupported', description: `${type} does not apply to this enrollment`, details: { Identifier: identifier, ServerToken: serverToken } }],
    });
    // management.status-subscriptions.yaml: watchOS allows only supervised enrollments; the
    // passcode.settings and passcode.* status items likewise.
    const watchFake = ddmServer({ token: 't1', declarations: [activation, passcode('p1', { MinimumLength: 6 }), subscriptions] });
    const { device: watch } = await enrolled('apple-watch', { passcode: '739164', answer: watchFake.answer });
    await watch.execute(command('DeclarativeManagement'));
    expect(configurations(watchFake.statuses[0])).toEqual(expect.arrayContaining([
      notSupported('subscriptions', 's1', 'com.apple.configuration.management.status-subscriptions'),
      notSupported('passcode', 'p1', 'com.apple.configuration.passcode.settings'),
    ]));
    expect(watch.declarations.subscribedStatusItems()).toEqual(new Set(['passcode.is-compliant', 'passcode.is-present']));
    expect(watch.declarations.subscribedStatusItems(new Map([['subscriptions', 'rejected']]))).toEqual(new Set());

    // An unsupervised Mac rejects the subscriptions; under User Enrollment it takes them.
    const macFake = ddmServer({ token: 't1', declarations: [activation, subscriptions] });
    const { device: mac } = await enrolled('mac', { answer: macFake.answer });
    await mac.execute(command('DeclarativeManagement'));
    expect(configurations(macFake.statuses[0])).toEqual([notSupported('subscriptions', 's1', 'com.apple.configuration.management.status-subscriptions')]);
    const userFake = ddmServer({ token: 't1', declarations: [activation, subscriptions] });
    const { device: userMac } = await enrolled('mac-user-enrollment', { answer: userFake.answer });
    await userMac.execute(command('DeclarativeManagement'));
    expect(configurations(userFake.statuses[0])).toEqual([{ identifier: 'subscriptions', 'server-token': 's1', active: true, valid: 'valid' }]);

    // An iPhone takes them, and reports what they name.
    const phoneFake = ddmServer({ token: 't1', declarations: [activation, subscriptions] });
    const { device: phone } = await enrolled('iphone', { passcode: '739164', answer: phoneFake.answer });
    await phone.execute(command('DeclarativeManagement'));
    expect(phoneFake.statuses[0]).toMatchObject({ StatusItems: { passcode: { 'is-compliant': true, 'is-present': true } } });
    expect(configurations(phoneFake.statuses[0])).toEqual([{ identifier: 'subscriptions', 'server-token': 's1', active: true, valid: 'valid' }]);
  });
});

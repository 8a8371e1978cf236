import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseCheckinMessage } from '../../src/mdm/checkin-messages.ts';
import type { CheckinMessage } from '../../src/mdm/checkin-messages.ts';
import { parseCommandReport } from '../../src/mdm/command-report.ts';
import { declineUserAuthenticate, dispatchCheckin, dispatchCommandReport } from '../../src/mdm/handler.ts';
import type { CheckinHandler, CommandHandler, MdmLogger, RequestContext } from '../../src/mdm/handler.ts';
import { decodePlist, encodePlist } from '../../src/plist/plist-codec.ts';
import { fixture } from './fixtures.ts';

const silent: MdmLogger = pino({ level: 'silent' });
const ctx: RequestContext = { identity: { certHash: 'ab'.repeat(32), subject: 'CN=device' }, now: 1_700_000_000_000, log: silent };

/** A handler that records every call and answers with what the test gives it. */
function recorder(answers: Partial<{ [K in keyof CheckinHandler]: Awaited<ReturnType<CheckinHandler[K]>> }> = {}) {
  const calls: { method: string; ctx: RequestContext; message: CheckinMessage }[] = [];
  const method = <K extends keyof CheckinHandler>(name: K) =>
    (async (c: RequestContext, message: CheckinMessage) => {
      calls.push({ method: name, ctx: c, message });
      return answers[name];
    }) as unknown as CheckinHandler[K];
  const handler: CheckinHandler = {
    authenticate: method('authenticate'),
    tokenUpdate: method('tokenUpdate'),
    checkOut: method('checkOut'),
    setBootstrapToken: method('setBootstrapToken'),
    getBootstrapToken: method('getBootstrapToken'),
    userAuthenticate: method('userAuthenticate'),
    declarativeManagement: method('declarativeManagement'),
    getToken: method('getToken'),
  };
  return { handler, calls };
}

const message = (name: string) => parseCheckinMessage(fixture(name));

describe('dispatchCheckin', () => {
  it.each([
    ['checkin-authenticate-ios.plist', 'authenticate'],
    ['checkin-tokenupdate-ios.plist', 'tokenUpdate'],
    ['checkin-checkout-ios.plist', 'checkOut'],
    ['checkin-setbootstraptoken-macos.plist', 'setBootstrapToken'],
  ])('%s → %s, and an empty 200', async (name, method) => {
    const { handler, calls } = recorder();
    expect(await dispatchCheckin(handler, ctx, message(name))).toBeUndefined();
    expect(calls.map((c) => c.method)).toEqual([method]);
  });

  it('fills ctx.enrollment from the message', async () => {
    const { handler, calls } = recorder();
    await dispatchCheckin(handler, ctx, message('checkin-tokenupdate-ipados-shared-user.plist'));
    expect(calls[0]?.ctx.enrollment).toEqual({
      deviceId: '00008103-000D19A23C38801E',
      enrollmentId: '00008103-000D19A23C38801E:ana.lima@students.example.edu',
      channel: 'user',
      type: 'Shared iPad',
    });
    expect(calls[0]?.ctx.identity).toBe(ctx.identity);
  });

  it('keeps an enrollment the caller already resolved, and leaves it unset for a message without identity', async () => {
    const { handler, calls } = recorder({ getBootstrapToken: {} });
    const enrollment = { deviceId: 'D', enrollmentId: 'D', channel: 'device', type: 'Device' } as const;
    await dispatchCheckin(handler, { ...ctx, enrollment }, message('checkin-tokenupdate-ios.plist'));
    await dispatchCheckin(handler, ctx, parseCheckinMessage({ MessageType: 'GetBootstrapToken' }));
    expect(calls[0]?.ctx.enrollment).toBe(enrollment);
    expect(calls[1]?.ctx.enrollment).toBeUndefined();
  });

  it('GetBootstrapToken: the token in a plist, or an empty dictionary when none is escrowed', async () => {
    const token = new Uint8Array([1, 2, 3]);
    const withToken = recorder({ getBootstrapToken: { BootstrapToken: token } });
    const without = recorder({ getBootstrapToken: {} });
    const m = message('checkin-getbootstraptoken-macos.plist');
    expect(await dispatchCheckin(withToken.handler, ctx, m)).toEqual({ status: 200, kind: 'plist', plist: { BootstrapToken: token } });
    expect(await dispatchCheckin(without.handler, ctx, m)).toEqual({ status: 200, kind: 'plist', plist: {} });
  });

  it('GetToken: TokenData in a plist that encodes as <data>', async () => {
    const { handler } = recorder({ getToken: { TokenData: new TextEncoder().encode('token') } });
    const reply = await dispatchCheckin(handler, ctx, message('checkin-gettoken-ios-maid.plist'));
    if (reply?.kind !== 'plist') throw new Error('expected a plist reply');
    expect(encodePlist(reply.plist)).toContain('<key>TokenData</key>');
    expect(decodePlist(encodePlist(reply.plist))).toEqual({ TokenData: new TextEncoder().encode('token') });
  });

  it('DeclarativeManagement: bytes as they are, objects as JSON, nothing as an empty 200', async () => {
    const m = message('checkin-declarativemanagement-ios-tokens.plist');
    const bytes = new TextEncoder().encode('{"SyncTokens":{}}');
    expect(await dispatchCheckin(recorder({ declarativeManagement: bytes }).handler, ctx, m)).toEqual({ status: 200, kind: 'json', json: bytes });
    const reply = await dispatchCheckin(recorder({ declarativeManagement: { SyncTokens: { DeclarationsToken: 't' } } }).handler, ctx, m);
    if (reply?.kind !== 'json') throw new Error('expected a JSON reply');
    expect(JSON.parse(new TextDecoder().decode(reply.json))).toEqual({ SyncTokens: { DeclarationsToken: 't' } });
    expect(await dispatchCheckin(recorder({ declarativeManagement: undefined }).handler, ctx, message('checkin-declarativemanagement-ios-status.plist'))).toBeUndefined();
  });

  it('UserAuthenticate: challenge and AuthToken go back as plists', async () => {
    const first = message('checkin-userauthenticate-macos-first.plist');
    const second = message('checkin-userauthenticate-macos-second.plist');
    expect(await dispatchCheckin(recorder({ userAuthenticate: { kind: 'challenge', DigestChallenge: 'nonce' } }).handler, ctx, first))
      .toEqual({ status: 200, kind: 'plist', plist: { DigestChallenge: 'nonce' } });
    expect(await dispatchCheckin(recorder({ userAuthenticate: { kind: 'challenge', DigestChallenge: '' } }).handler, ctx, first))
      .toEqual({ status: 200, kind: 'plist', plist: { DigestChallenge: '' } });
    expect(await dispatchCheckin(recorder({ userAuthenticate: { kind: 'authenticated', AuthToken: 'tok' } }).handler, ctx, second))
      .toEqual({ status: 200, kind: 'plist', plist: { AuthToken: 'tok' } });
  });

  it('UserAuthenticate with the default: HTTP 410, not an empty DigestChallenge (which would accept the user)', async () => {
    const { handler } = recorder();
    const declining: CheckinHandler = { ...handler, userAuthenticate: declineUserAuthenticate };
    const reply = await dispatchCheckin(declining, ctx, message('checkin-userauthenticate-macos-first.plist'));
    expect(reply).toEqual({ status: 410, kind: 'gone' });
    expect(reply).not.toHaveProperty('plist');
  });

  it('a handler failure propagates (http/ turns it into the status)', async () => {
    const { handler } = recorder();
    const failing: CheckinHandler = { ...handler, tokenUpdate: async () => { throw new Error('store down'); } };
    await expect(dispatchCheckin(failing, ctx, message('checkin-tokenupdate-ios.plist'))).rejects.toThrow('store down');
  });
});

describe('dispatchCommandReport', () => {
  it('passes the report with its enrollment and returns the next command bytes', async () => {
    const next = new TextEncoder().encode('<plist/>');
    let seen: RequestContext | undefined;
    const handler: CommandHandler = {
      async reportAndNext(c, report) {
        seen = c;
        return report.status === 'Idle' ? next : undefined;
      },
    };
    expect(await dispatchCommandReport(handler, ctx, parseCommandReport(fixture('report-idle-macos-user.plist')))).toBe(next);
    expect(seen?.enrollment).toMatchObject({ channel: 'user', type: 'User', enrollmentId: '5B2C1D7E-3F4A-5B6C-8D9E-0A1B2C3D4E5F:A3C4E5F6-1B2D-4E8F-9A0B-C1D2E3F4A5B6' });
    expect(await dispatchCommandReport(handler, ctx, parseCommandReport(fixture('report-notnow-installprofile-ios.plist')))).toBeUndefined();
  });
});

// Whatever a device sends, the parsers answer with a value or an MdmProtocolError (a 400), never
// another exception (a 500) and never a reason that carries raw control characters into a log.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCheckinMessage } from '../../src/mdm/checkin-messages.ts';
import { parseCommandReport } from '../../src/mdm/command-report.ts';
import { parseRawCommand } from '../../src/mdm/commands.ts';
import { parseDeviceInformationResponse } from '../../src/mdm/device-information-response.ts';
import { parseProfileListResponse } from '../../src/mdm/profile-list-response.ts';
import { MdmProtocolError } from '../../src/mdm/protocol-error.ts';
import { parseSecurityInfoResponse } from '../../src/mdm/security-info-response.ts';
import { fixture, fixtureNames } from './fixtures.ts';

const KEYS = ['MessageType', 'Status', 'CommandUUID', 'UDID', 'EnrollmentID', 'UserID', 'UserShortName', 'EnrollmentUserID', 'Topic', 'Token', 'PushMagic',
  'UnlockToken', 'Endpoint', 'Data', 'ErrorChain', 'ErrorCode', 'SecurityInfo', 'PasscodePresent', 'ProfileList', 'PayloadContent', 'PayloadIdentifier',
  'QueryResponses', 'Command', 'RequestType', 'TokenParameters', '__proto__', 'constructor', 'toString'];

const { plist } = fc.letrec<{ plist: unknown }>((tie) => ({
  plist: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.constantFrom('Idle', 'Acknowledged', 'TokenUpdate', 'Authenticate', 'DeclarativeManagement', 'GetToken', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', 'status'),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.uint8Array({ maxLength: 8 }),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('plist'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string()), tie('plist'), { maxKeys: 6 }),
  ),
}));

const PARSERS: [string, (v: unknown) => unknown][] = [
  ['parseCheckinMessage', parseCheckinMessage],
  ['parseCommandReport', parseCommandReport],
  ['parseRawCommand', parseRawCommand],
  ['parseSecurityInfoResponse', parseSecurityInfoResponse],
  ['parseProfileListResponse', parseProfileListResponse],
  ['parseDeviceInformationResponse', parseDeviceInformationResponse],
];

function onlyProtocolErrors(parse: (v: unknown) => unknown, value: unknown): void {
  try {
    parse(value);
  } catch (err) {
    expect(err).toBeInstanceOf(MdmProtocolError);
    // eslint-disable-next-line no-control-regex
    expect((err as MdmProtocolError).reason).not.toMatch(/[\u0000-\u001f]/);
    expect((err as MdmProtocolError).reason.length).toBeLessThan(400);
  }
}

describe('hostile input', () => {
  it.each(PARSERS)('%s: any plist value gives a result or an MdmProtocolError', (_name, parse) => {
    fc.assert(fc.property(plist, (value) => onlyProtocolErrors(parse, value)), { numRuns: 500 });
  });

  const bodies = [...fixtureNames('checkin-'), ...fixtureNames('report-')];
  it('a fixture with one key replaced, added or removed gives a result or an MdmProtocolError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...bodies), fc.constantFrom(...KEYS), fc.option(plist), (name, key, value) => {
        const body: Record<string, unknown> = { ...fixture(name) };
        if (value === null) delete body[key];
        else Object.defineProperty(body, key, { value, enumerable: true, writable: true, configurable: true });
        for (const [, parse] of PARSERS) onlyProtocolErrors(parse, body);
      }),
      { numRuns: 300 },
    );
  });
});

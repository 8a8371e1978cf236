import { describe, expect, it } from 'vitest';
import { parseCommandReport } from '../../src/mdm/command-report.ts';
import { fixture, fixtureNames, refusal, variant } from './fixtures.ts';

describe('parseCommandReport: every connect fixture', () => {
  it.each(fixtureNames('report-'))('%s parses', (name) => {
    const report = parseCommandReport(fixture(name));
    expect(report.status === 'Idle' || typeof report.commandUuid === 'string').toBe(true);
  });
});

describe('parseCommandReport', () => {
  it('Idle from an iOS device: no command, empty response', () => {
    expect(parseCommandReport(fixture('report-idle-ios.plist'))).toEqual({ udid: '00008110-001A2C3E0E91801E', status: 'Idle', response: {} });
  });

  it('Idle from a Shared iPad user channel keeps the short name', () => {
    expect(parseCommandReport(fixture('report-idle-ipados-shared-user.plist'))).toEqual({
      udid: '00008103-000D19A23C38801E',
      userId: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
      userShortName: 'ana.lima@students.example.edu',
      status: 'Idle',
      response: {},
    });
  });

  it('Idle from the macOS user channel', () => {
    expect(parseCommandReport(fixture('report-idle-macos-user.plist'))).toMatchObject({
      userId: 'A3C4E5F6-1B2D-4E8F-9A0B-C1D2E3F4A5B6', userShortName: 'jrivera', userLongName: 'Jordan Rivera', notOnConsole: false, status: 'Idle',
    });
  });

  it('Idle under User Enrollment is identified by EnrollmentID', () => {
    expect(parseCommandReport(fixture('report-idle-ios-user-enrollment.plist'))).toEqual({ enrollmentId: 'B5F0C2A7-3D91-4E68-A4C2-9E7F1D3B6A80', status: 'Idle', response: {} });
  });

  it('an empty CommandUUID on Idle is treated as none', () => {
    expect(parseCommandReport(variant('report-idle-ios.plist', { CommandUUID: '' }))).not.toHaveProperty('commandUuid');
  });

  it('Acknowledged: the command-specific keys are the response', () => {
    const report = parseCommandReport(fixture('report-securityinfo-ios.plist'));
    expect(report.status).toBe('Acknowledged');
    expect(report.commandUuid).toBe('0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0');
    expect(Object.keys(report.response)).toEqual(['SecurityInfo']);
  });

  it('DeviceLock: MessageResult stays in the response', () => {
    expect(parseCommandReport(fixture('report-devicelock-ios.plist')).response).toEqual({ MessageResult: 'Success' });
  });

  it('NotNow carries the command it postpones', () => {
    expect(parseCommandReport(fixture('report-notnow-installprofile-ios.plist'))).toEqual({
      udid: '00008110-001A2C3E0E91801E', status: 'NotNow', commandUuid: '6B7C8D9E-0F1A-4304-B550-F5A6B7C8D9E0', response: {},
    });
  });

  it('Error with a two-item ErrorChain', () => {
    const report = parseCommandReport(fixture('report-error-installprofile-ios.plist'));
    expect(report.status).toBe('Error');
    expect(report.errorChain).toEqual([
      { ErrorCode: 4001, ErrorDomain: 'MCInstallationErrorDomain', LocalizedDescription: 'Profile Installation Failed', USEnglishDescription: 'Profile Installation Failed' },
      { ErrorCode: 2003, ErrorDomain: 'MCPayloadErrorDomain', LocalizedDescription: 'The “Passcode” payload could not be installed.', USEnglishDescription: 'The “Passcode” payload could not be installed.' },
    ]);
    expect(report.response).toEqual({});
  });

  it('Error without USEnglishDescription, and under User Enrollment', () => {
    expect(parseCommandReport(fixture('report-error-clearpasscode-ios.plist')).errorChain).toEqual([
      { ErrorCode: 12021, ErrorDomain: 'MCMDMErrorDomain', LocalizedDescription: 'The unlock token is not valid.' },
    ]);
    expect(parseCommandReport(fixture('report-error-devicelock-macos-user-enrollment.plist'))).toMatchObject({ enrollmentId: 'E2D4A6B8-1C3E-4F5A-9B7D-0C2E4F6A8B1D', status: 'Error' });
  });

  it('CommandFormatError', () => {
    expect(parseCommandReport(fixture('report-commandformaterror-ios.plist'))).toMatchObject({ status: 'CommandFormatError', errorChain: [{ ErrorCode: 12001 }] });
  });
});

describe('parseCommandReport: refusals', () => {
  const cases: [string, unknown, string][] = [
    ['not a dictionary', 'Idle', 'command report: expected a dictionary, got a string'],
    ['no Status', variant('report-idle-ios.plist', { Status: undefined }), 'report.Status is missing'],
    ['Status not a string', variant('report-idle-ios.plist', { Status: true }), 'report.Status: expected a string, got a boolean'],
    ['unknown Status', variant('report-idle-ios.plist', { Status: 'Done' }), 'report.Status: "Done" is not one of Idle, Acknowledged, Error, CommandFormatError, NotNow'],
    ['Acknowledged without CommandUUID', variant('report-securityinfo-ios.plist', { CommandUUID: undefined }), 'report.CommandUUID is missing (required when Status is Acknowledged)'],
    ['NotNow without CommandUUID', variant('report-notnow-installprofile-ios.plist', { CommandUUID: undefined }), 'report.CommandUUID is missing (required when Status is NotNow)'],
    ['Error with an empty CommandUUID', variant('report-error-installprofile-ios.plist', { CommandUUID: '' }), 'report.CommandUUID: "" is not an identifier'],
    ['CommandUUID as data', variant('report-securityinfo-ios.plist', { CommandUUID: new Uint8Array(16) }), 'report.CommandUUID: expected a string, got data'],
    ['CommandUUID with a newline', variant('report-securityinfo-ios.plist', { CommandUUID: 'A\nB' }), 'report.CommandUUID: "A\\nB" is not an identifier'],
    ['CommandUUID too long', variant('report-securityinfo-ios.plist', { CommandUUID: 'C'.repeat(129) }), 'report.CommandUUID: '],
    ['UDID not a string', variant('report-idle-ios.plist', { UDID: 12 }), 'report.UDID: expected a string (identifier), got an integer'],
    ['no identity', variant('report-idle-ios.plist', { UDID: undefined }), 'report: neither UDID nor EnrollmentID is present'],
    ['both identities', variant('report-idle-ios.plist', { EnrollmentID: 'B5F0' }), 'report: both UDID and EnrollmentID are present'],
    ['ErrorChain not an array', variant('report-error-installprofile-ios.plist', { ErrorChain: { ErrorCode: 1 } }), 'report.ErrorChain: expected an array, got a dictionary'],
    ['ErrorChain item not a dictionary', variant('report-error-installprofile-ios.plist', { ErrorChain: ['oops'] }), 'report.ErrorChain[0]: expected a dictionary, got a string'],
    ['ErrorCode missing', variant('report-error-installprofile-ios.plist', { ErrorChain: [{ ErrorDomain: 'D' }] }), 'report.ErrorChain[0].ErrorCode is missing'],
    ['ErrorCode a string', variant('report-error-installprofile-ios.plist', { ErrorChain: [{ ErrorCode: '4001', ErrorDomain: 'D' }] }), 'report.ErrorChain[0].ErrorCode: expected an integer, got a string'],
    ['ErrorCode a real', variant('report-error-installprofile-ios.plist', { ErrorChain: [{ ErrorCode: 1.5, ErrorDomain: 'D' }] }), 'report.ErrorChain[0].ErrorCode: expected an integer, got a real'],
    ['ErrorDomain missing', variant('report-error-installprofile-ios.plist', { ErrorChain: [{ ErrorCode: 1 }, { ErrorCode: 2 }] }), 'report.ErrorChain[0].ErrorDomain is missing'],
    ['LocalizedDescription as data', variant('report-error-installprofile-ios.plist', { ErrorChain: [{ ErrorCode: 1, ErrorDomain: 'D', LocalizedDescription: new Uint8Array(1) }] }), 'report.ErrorChain[0].LocalizedDescription: expected a string, got data'],
  ];

  it.each(cases)('%s', (_name, input, reason) => {
    expect(refusal(() => parseCommandReport(input)).reason.startsWith(reason)).toBe(true);
  });
});

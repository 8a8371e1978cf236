import { describe, expect, it } from 'vitest';
import { parseCheckinMessage } from '../../src/mdm/checkin-messages.ts';
import { parseCommandReport } from '../../src/mdm/command-report.ts';
import { enrollmentOf, SHARED_IPAD_USER_ID } from '../../src/mdm/enrollment-id.ts';
import type { EnrollmentKeys } from '../../src/mdm/enrollment-id.ts';
import { fixture, refusal } from './fixtures.ts';

const IPAD = '00008103-000D19A23C38801E';
const MAC = '5B2C1D7E-3F4A-5B6C-8D9E-0A1B2C3D4E5F';

describe('enrollmentOf: one case per enrollment type, from fixtures', () => {
  const cases: [string, ReturnType<typeof enrollmentOf>][] = [
    ['checkin-tokenupdate-ios.plist', { deviceId: '00008110-001A2C3E0E91801E', enrollmentId: '00008110-001A2C3E0E91801E', channel: 'device', type: 'Device' }],
    ['checkin-tokenupdate-watchos.plist', { deviceId: '00008301-0012345A1E00802E', enrollmentId: '00008301-0012345A1E00802E', channel: 'device', type: 'Device' }],
    ['checkin-tokenupdate-visionos.plist', { deviceId: '00008112-000C35D03C41A01E', enrollmentId: '00008112-000C35D03C41A01E', channel: 'device', type: 'Device' }],
    ['checkin-tokenupdate-macos-device.plist', { deviceId: MAC, enrollmentId: MAC, channel: 'device', type: 'Device' }],
    // The device channel of a Shared iPad is an ordinary device channel.
    ['checkin-tokenupdate-ipados-shared-device.plist', { deviceId: IPAD, enrollmentId: IPAD, channel: 'device', type: 'Device' }],
    ['checkin-tokenupdate-ipados-shared-user.plist', { deviceId: IPAD, enrollmentId: `${IPAD}:ana.lima@students.example.edu`, channel: 'user', type: 'Shared iPad' }],
    ['checkin-tokenupdate-macos-user.plist', { deviceId: MAC, enrollmentId: `${MAC}:A3C4E5F6-1B2D-4E8F-9A0B-C1D2E3F4A5B6`, channel: 'user', type: 'User' }],
    ['checkin-tokenupdate-ios-user-enrollment.plist', { deviceId: 'B5F0C2A7-3D91-4E68-A4C2-9E7F1D3B6A80', enrollmentId: 'B5F0C2A7-3D91-4E68-A4C2-9E7F1D3B6A80', channel: 'device', type: 'User Enrollment (Device)' }],
    ['checkin-tokenupdate-macos-user-enrollment-user.plist', {
      deviceId: 'E2D4A6B8-1C3E-4F5A-9B7D-0C2E4F6A8B1D',
      enrollmentId: 'E2D4A6B8-1C3E-4F5A-9B7D-0C2E4F6A8B1D:9F8E7D6C-5B4A-4392-8170-6F5E4D3C2B1A',
      channel: 'user',
      type: 'User Enrollment',
    }],
    ['checkin-declarativemanagement-visionos-user-enrollment.plist', { deviceId: 'C7E9A1B3-D5F7-4193-A5B7-C9D1E3F5A7B9', enrollmentId: 'C7E9A1B3-D5F7-4193-A5B7-C9D1E3F5A7B9', channel: 'device', type: 'User Enrollment (Device)' }],
  ];

  it.each(cases)('%s', (name, expected) => {
    const message = parseCheckinMessage(fixture(name));
    expect(enrollmentOf(message as EnrollmentKeys)).toEqual(expected);
  });

  it('maps a command report the same way as the check-in of the same channel', () => {
    const pairs: [string, string][] = [
      ['report-idle-ios.plist', 'checkin-tokenupdate-ios.plist'],
      ['report-idle-ipados-shared-user.plist', 'checkin-tokenupdate-ipados-shared-user.plist'],
      ['report-idle-macos-user.plist', 'checkin-tokenupdate-macos-user.plist'],
      ['report-idle-macos-device.plist', 'checkin-tokenupdate-macos-device.plist'],
      ['report-idle-ios-user-enrollment.plist', 'checkin-tokenupdate-ios-user-enrollment.plist'],
    ];
    for (const [report, checkin] of pairs) {
      expect(enrollmentOf(parseCommandReport(fixture(report)))).toEqual(enrollmentOf(parseCheckinMessage(fixture(checkin)) as EnrollmentKeys));
    }
  });

  it('tells two Shared iPad users apart by short name, though their UserID is the same', () => {
    const a = enrollmentOf({ UDID: IPAD, UserID: SHARED_IPAD_USER_ID, UserShortName: 'a@example.edu' });
    const b = enrollmentOf({ UDID: IPAD, UserID: SHARED_IPAD_USER_ID, UserShortName: 'b@example.edu' });
    expect(a.enrollmentId).not.toBe(b.enrollmentId);
    expect(a.deviceId).toBe(b.deviceId);
  });

  it('recognises the Shared iPad placeholder in lower case too', () => {
    expect(enrollmentOf({ UDID: IPAD, UserID: SHARED_IPAD_USER_ID.toLowerCase(), UserShortName: 'a@example.edu' }).type).toBe('Shared iPad');
  });

  it('ignores UserLongName for the id', () => {
    expect(enrollmentOf({ UDID: MAC, UserID: 'G', UserLongName: 'Jordan Rivera' }).enrollmentId).toBe(`${MAC}:G`);
  });

  it('a User Enrollment user channel may also carry the short name; the id still uses EnrollmentUserID', () => {
    expect(enrollmentOf({ EnrollmentID: 'E', EnrollmentUserID: 'U', UserShortName: 'sam', UserID: 'G' }).enrollmentId).toBe('E:U');
  });
});

describe('enrollmentOf: combinations no device sends', () => {
  it.each([
    [{}, 'neither UDID nor EnrollmentID is present, so the enrollment is unknown'],
    [{ UserID: 'G' }, 'neither UDID nor EnrollmentID is present, so the enrollment is unknown'],
    [{ UDID: 'A', EnrollmentID: 'B' }, 'both UDID and EnrollmentID are present; a User Enrollment never sends the UDID'],
    [{ UDID: 'A', EnrollmentUserID: 'U' }, 'EnrollmentUserID without EnrollmentID: it only exists under User Enrollment'],
    [{ UDID: 'A', UserShortName: 'jrivera' }, 'UserShortName without UserID: a user channel message carries both'],
    [{ UDID: 'A', UserID: SHARED_IPAD_USER_ID }, 'UserID is the Shared iPad placeholder FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF but UserShortName is missing, so the user is unknown'],
    [{ EnrollmentID: 'E', UserID: 'G' }, 'a User Enrollment user channel must carry EnrollmentUserID, not UserID/UserShortName'],
  ])('%j', (keys, reason) => {
    expect(refusal(() => enrollmentOf(keys)).reason).toBe(reason);
  });
});

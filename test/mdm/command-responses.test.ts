import { describe, expect, it } from 'vitest';
import { parseCommandReport } from '../../src/mdm/command-report.ts';
import { parseDeviceInformationResponse, platformOfProductName } from '../../src/mdm/device-information-response.ts';
import { parseProfileListResponse } from '../../src/mdm/profile-list-response.ts';
import { parseSecurityInfoResponse } from '../../src/mdm/security-info-response.ts';
import { fixture, refusal } from './fixtures.ts';

/** The path a real result takes: decode, parse the report envelope, parse its response. */
const responseOf = (name: string) => parseCommandReport(fixture(name)).response;

describe('parseSecurityInfoResponse', () => {
  it('iOS: the passcode evidence and the encryption capabilities', () => {
    const { SecurityInfo } = parseSecurityInfoResponse(responseOf('report-securityinfo-ios.plist'));
    expect(SecurityInfo).toEqual({
      PasscodePresent: true,
      PasscodeCompliant: true,
      PasscodeCompliantWithProfiles: true,
      HardwareEncryptionCaps: 3,
      ManagementStatus: { IsUserEnrollment: false, raw: {} },
      raw: {},
    });
  });

  it('iOS, not compliant', () => {
    const { SecurityInfo } = parseSecurityInfoResponse(responseOf('report-securityinfo-ios-noncompliant.plist'));
    expect(SecurityInfo).toMatchObject({ PasscodePresent: true, PasscodeCompliant: false, PasscodeCompliantWithProfiles: false });
  });

  it('Shared iPad: grace periods and auto-lock in seconds', () => {
    const { SecurityInfo } = parseSecurityInfoResponse(responseOf('report-securityinfo-ipados-shared.plist'));
    expect(SecurityInfo).toMatchObject({ PasscodeLockGracePeriod: 300, PasscodeLockGracePeriodEnforced: 60, AutoLockTime: 120 });
  });

  it('User Enrollment: only PasscodeCompliant, PasscodePresent is forbidden there', () => {
    const { SecurityInfo } = parseSecurityInfoResponse(responseOf('report-securityinfo-ios-user-enrollment.plist'));
    expect(SecurityInfo.PasscodeCompliant).toBe(true);
    expect(SecurityInfo).not.toHaveProperty('PasscodePresent');
    expect(SecurityInfo.ManagementStatus?.IsUserEnrollment).toBe(true);
  });

  it('watchOS and visionOS report the passcode keys like iOS', () => {
    expect(parseSecurityInfoResponse(responseOf('report-securityinfo-watchos.plist')).SecurityInfo).toMatchObject({ PasscodePresent: true, PasscodeCompliant: true });
    expect(parseSecurityInfoResponse(responseOf('report-securityinfo-visionos.plist')).SecurityInfo).toMatchObject({ PasscodePresent: false, PasscodeCompliant: false });
  });

  it('macOS: no passcode keys at all, the rest kept raw', () => {
    const { SecurityInfo } = parseSecurityInfoResponse(responseOf('report-securityinfo-macos.plist'));
    expect(SecurityInfo.PasscodePresent).toBeUndefined();
    expect(SecurityInfo.PasscodeCompliant).toBeUndefined();
    expect(SecurityInfo.ManagementStatus).toEqual({ EnrolledViaDEP: true, UserApprovedEnrollment: true, IsUserEnrollment: false, IsActivationLockManageable: true, raw: {} });
    expect(SecurityInfo.raw).toMatchObject({
      FDE_Enabled: true,
      SystemIntegrityProtectionEnabled: true,
      FirewallSettings: { FirewallEnabled: true, LoggingOption: 'throttled' },
      SecureBoot: { SecureBootLevel: 'full' },
      BootstrapTokenAllowedForAuthentication: 'allowed',
    });
  });

  it('accepts the whole decoded report as well as report.response', () => {
    expect(parseSecurityInfoResponse(fixture('report-securityinfo-ios.plist')).SecurityInfo.PasscodePresent).toBe(true);
  });

  it.each([
    ['not a dictionary', [], 'SecurityInfo response: expected a dictionary, got an array'],
    ['no SecurityInfo', {}, 'SecurityInfo is missing'],
    ['SecurityInfo not a dictionary', { SecurityInfo: 'x' }, 'SecurityInfo: expected a dictionary, got a string'],
    ['PasscodePresent as a string', { SecurityInfo: { PasscodePresent: 'true' } }, 'SecurityInfo.PasscodePresent: expected a boolean, got a string'],
    ['PasscodeCompliant as an integer', { SecurityInfo: { PasscodeCompliant: 1 } }, 'SecurityInfo.PasscodeCompliant: expected a boolean, got an integer'],
    ['PasscodeCompliantWithProfiles as data', { SecurityInfo: { PasscodeCompliantWithProfiles: new Uint8Array(1) } }, 'SecurityInfo.PasscodeCompliantWithProfiles: expected a boolean, got data'],
    ['PasscodeLockGracePeriod as a real', { SecurityInfo: { PasscodeLockGracePeriod: 1.5 } }, 'SecurityInfo.PasscodeLockGracePeriod: expected an integer, got a real'],
    ['PasscodeLockGracePeriodEnforced as a string', { SecurityInfo: { PasscodeLockGracePeriodEnforced: '60' } }, 'SecurityInfo.PasscodeLockGracePeriodEnforced: expected an integer, got a string'],
    ['HardwareEncryptionCaps as a string', { SecurityInfo: { HardwareEncryptionCaps: '3' } }, 'SecurityInfo.HardwareEncryptionCaps: expected an integer, got a string'],
    ['ManagementStatus not a dictionary', { SecurityInfo: { ManagementStatus: true } }, 'SecurityInfo.ManagementStatus: expected a dictionary, got a boolean'],
    ['IsUserEnrollment as a string', { SecurityInfo: { ManagementStatus: { IsUserEnrollment: 'no' } } }, 'SecurityInfo.ManagementStatus.IsUserEnrollment: expected a boolean, got a string'],
  ])('refuses %s', (_name, input, reason) => {
    expect(refusal(() => parseSecurityInfoResponse(input)).reason).toBe(reason);
  });
});

describe('parseProfileListResponse', () => {
  it('iOS: two managed profiles with their payloads', () => {
    const { ProfileList } = parseProfileListResponse(responseOf('report-profilelist-ios.plist'));
    expect(ProfileList.map((p) => [p.PayloadIdentifier, p.IsManaged, p.PayloadVersion])).toEqual([
      ['com.example.lockwarden.enroll', true, 1],
      ['com.example.lockwarden.policy.corporate', true, 1],
    ]);
    const passcode = ProfileList[1]?.PayloadContent?.[0];
    expect(passcode).toEqual({
      PayloadDisplayName: 'Passcode',
      PayloadIdentifier: 'com.example.lockwarden.policy.corporate.passcode',
      PayloadType: 'com.apple.mobiledevice.passwordpolicy',
      PayloadUUID: '1E2F3A4B-5C6D-4415-A671-0C1D2E3F4A5B',
      PayloadVersion: 1,
      raw: {},
    });
    expect(ProfileList[0]?.SignerCertificates).toHaveLength(2);
    expect(ProfileList[0]?.SignerCertificates?.[0]).toBeInstanceOf(Uint8Array);
    expect(ProfileList[0]).toMatchObject({ PayloadUUID: '0D1E2F3A-4B5C-4304-9560-9B0C1D2E3F4A', PayloadDisplayName: 'lockwarden Enrollment', PayloadRemovalDisallowed: false });
  });

  it('macOS: no IsManaged, a DDM-installed profile and an encrypted one without PayloadContent', () => {
    const { ProfileList } = parseProfileListResponse(responseOf('report-profilelist-macos.plist'));
    expect(ProfileList[0]).not.toHaveProperty('IsManaged');
    expect(ProfileList[0]?.Source).toBe('Declarative Device Management');
    expect(ProfileList[1]).toMatchObject({ IsEncrypted: true, PayloadIdentifier: 'com.example.wifi' });
    expect(ProfileList[1]).not.toHaveProperty('PayloadContent');
  });

  it('an empty list is a valid answer', () => {
    expect(parseProfileListResponse(responseOf('report-profilelist-ios-user-enrollment-empty.plist'))).toEqual({ ProfileList: [] });
  });

  it('tolerates payloads without PayloadUUID or PayloadVersion (before iOS 17) and keeps unknown keys', () => {
    const { ProfileList } = parseProfileListResponse({
      ProfileList: [{ PayloadIdentifier: 'p', PayloadUUID: 'U', Future: 1, PayloadContent: [{ PayloadType: 't', PayloadIdentifier: 'i', Extra: true }] }],
    });
    expect(ProfileList[0]).toEqual({ PayloadIdentifier: 'p', PayloadUUID: 'U', PayloadContent: [{ PayloadType: 't', PayloadIdentifier: 'i', raw: { Extra: true } }], raw: { Future: 1 } });
  });

  it.each([
    ['no ProfileList', {}, 'ProfileList is missing'],
    ['ProfileList not an array', { ProfileList: {} }, 'ProfileList: expected an array, got a dictionary'],
    ['an item not a dictionary', { ProfileList: ['x'] }, 'ProfileList[0]: expected a dictionary, got a string'],
    ['PayloadIdentifier missing', { ProfileList: [{ PayloadUUID: 'U' }] }, 'ProfileList[0].PayloadIdentifier is missing'],
    ['PayloadUUID missing', { ProfileList: [{ PayloadIdentifier: 'p' }] }, 'ProfileList[0].PayloadUUID is missing'],
    ['PayloadVersion as a string', { ProfileList: [{ PayloadIdentifier: 'p', PayloadUUID: 'U', PayloadVersion: '1' }] }, 'ProfileList[0].PayloadVersion: expected an integer, got a string'],
    ['IsManaged as a string', { ProfileList: [{ PayloadIdentifier: 'p', PayloadUUID: 'U', IsManaged: 'yes' }] }, 'ProfileList[0].IsManaged: expected a boolean, got a string'],
    ['SignerCertificates holding a string', { ProfileList: [{ PayloadIdentifier: 'p', PayloadUUID: 'U', SignerCertificates: ['MII…'] }] }, 'ProfileList[0].SignerCertificates[0]: expected data, got a string'],
    ['PayloadContent not an array', { ProfileList: [{ PayloadIdentifier: 'p', PayloadUUID: 'U', PayloadContent: {} }] }, 'ProfileList[0].PayloadContent: expected an array, got a dictionary'],
    ['PayloadType missing', { ProfileList: [{ PayloadIdentifier: 'p', PayloadUUID: 'U' }, { PayloadIdentifier: 'q', PayloadUUID: 'V', PayloadContent: [{ PayloadIdentifier: 'i' }] }] }, 'ProfileList[1].PayloadContent[0].PayloadType is missing'],
    ['PayloadContent PayloadUUID as data', { ProfileList: [{ PayloadIdentifier: 'p', PayloadUUID: 'U', PayloadContent: [{ PayloadType: 't', PayloadIdentifier: 'i', PayloadUUID: new Uint8Array(1) }] }] }, 'ProfileList[0].PayloadContent[0].PayloadUUID: expected a string, got data'],
  ])('refuses %s', (_name, input, reason) => {
    expect(refusal(() => parseProfileListResponse(input)).reason).toBe(reason);
  });
});

describe('parseDeviceInformationResponse', () => {
  it('iOS: typed keys, the rest raw', () => {
    const { QueryResponses } = parseDeviceInformationResponse(responseOf('report-deviceinformation-ios.plist'));
    expect(QueryResponses).toMatchObject({ OSVersion: '18.1', ProductName: 'iPhone15,2', IsSupervised: true, IsMultiUser: false, IsMDMLostModeEnabled: false, IsActivationLockEnabled: true, AwaitingConfiguration: false });
    expect(QueryResponses.raw).toEqual({ AvailableDeviceCapacity: 97.53, DeviceCapacity: 128 });
  });

  it('Shared iPad: IsMultiUser', () => {
    const { QueryResponses } = parseDeviceInformationResponse(responseOf('report-deviceinformation-ipados-shared.plist'));
    expect(QueryResponses.IsMultiUser).toBe(true);
    expect(QueryResponses.raw).toMatchObject({ MaximumResidentUsers: 8, ResidentUsers: 3 });
  });

  it('macOS: whether DeviceLock and EraseDevice need a PIN', () => {
    expect(parseDeviceInformationResponse(responseOf('report-deviceinformation-macos.plist')).QueryResponses).toMatchObject({ IsAppleSilicon: true, PINRequiredForDeviceLock: false, PINRequiredForEraseDevice: false });
    expect(parseDeviceInformationResponse(responseOf('report-deviceinformation-macos-intel.plist')).QueryResponses).toMatchObject({ IsAppleSilicon: false, PINRequiredForDeviceLock: true, PINRequiredForEraseDevice: true });
  });

  it('watchOS and visionOS answer only what they were asked', () => {
    expect(parseDeviceInformationResponse(responseOf('report-deviceinformation-watchos.plist')).QueryResponses).toEqual({ IsActivationLockEnabled: true, OSVersion: '11.1', ProductName: 'Watch7,1', SerialNumber: 'H4QXW2N9KJ', raw: {} });
    expect(parseDeviceInformationResponse(responseOf('report-deviceinformation-visionos.plist')).QueryResponses.ProductName).toBe('RealityDevice14,1');
  });

  it.each([
    ['no QueryResponses', {}, 'QueryResponses is missing'],
    ['QueryResponses an array', { QueryResponses: [] }, 'QueryResponses: expected a dictionary, got an array'],
    ['IsSupervised as a string', { QueryResponses: { IsSupervised: 'true' } }, 'QueryResponses.IsSupervised: expected a boolean, got a string'],
    ['IsMultiUser as an integer', { QueryResponses: { IsMultiUser: 0 } }, 'QueryResponses.IsMultiUser: expected a boolean, got an integer'],
    ['OSVersion as a real', { QueryResponses: { OSVersion: 18.1 } }, 'QueryResponses.OSVersion: expected a string, got a real'],
    ['PINRequiredForDeviceLock as data', { QueryResponses: { PINRequiredForDeviceLock: new Uint8Array(1) } }, 'QueryResponses.PINRequiredForDeviceLock: expected a boolean, got data'],
  ])('refuses %s', (_name, input, reason) => {
    expect(refusal(() => parseDeviceInformationResponse(input)).reason).toBe(reason);
  });
});

describe('platformOfProductName', () => {
  it.each([
    ['iPhone15,2', 'ios'],
    ['iPod9,1', 'ios'],
    ['iPad13,4', 'ipados'],
    ['Mac14,2', 'macos'],
    ['MacBookPro16,1', 'macos'],
    ['iMac21,1', 'macos'],
    ['Macmini9,1', 'macos'],
    ['VirtualMac2,1', 'macos'],
    ['Watch7,1', 'watchos'],
    ['RealityDevice14,1', 'visionos'],
    ['AppleTV11,1', 'tvos'],
  ])('%s → %s', (productName, platform) => {
    expect(platformOfProductName(productName)).toBe(platform);
  });

  it.each(['', 'iPhone', 'AudioAccessory5,1', 'ipad13,4'])('%j is unknown', (productName) => {
    expect(platformOfProductName(productName)).toBeUndefined();
  });
});

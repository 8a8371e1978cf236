// Which channel carries the passcode policy to a device: a configuration profile (InstallProfile)
// or a Declarative Device Management passcode settings declaration. DDM is preferred where it is
// at least as capable, because the device reports its declarations' state and its passcode
// compliance on its own; everywhere else the profile, which every passcode platform takes.
import { compilePolicy, PLATFORM_NAMES } from '../../policy/index.ts';
import { compareVersions } from '../../policy/platform-rules.ts';
import type { Platform } from '../../policy/index.ts';
import type { DeviceFacts } from './model.ts';

export interface ChannelChoice {
  /** 'none': no passcode policy can reach this device at all (tvOS, Shared iPad, macOS User Enrollment…). */
  channel: 'ddm' | 'profile' | 'none';
  reason: string;
}

interface DeclarationSupport {
  /**
   * The first version where the declaration is as capable as the profile. passcode.settings.yaml
   * introduces the declaration in iOS 15.0 and macOS 13.0, but RequireAlphanumericPasscode,
   * MinimumComplexCharacters and MaximumPasscodeAgeInDays only in iOS 16.2 / macOS 13.1 (with
   * FailedAttemptsResetInMinutes and ChangeAtNextAuth on macOS), and the passcode.is-compliant
   * status item only in iOS 16.0. Below these versions the declaration would silently drop keys
   * the profile enforces (decision 4: never silently weaker), so the profile is used.
   */
  since: string;
  introduced: string;
  /** allowed-enrollments: macOS and watchOS list only supervised (and local), not device or user. */
  supervisedOnly: boolean;
}

const SUPPORT: Record<Exclude<Platform, 'tvos'>, DeclarationSupport> = {
  ios: { since: '16.2', introduced: '15.0', supervisedOnly: false },
  ipados: { since: '16.2', introduced: '15.0', supervisedOnly: false },
  visionos: { since: '2.0', introduced: '2.0', supervisedOnly: false },
  macos: { since: '13.1', introduced: '13.0', supervisedOnly: true },
  watchos: { since: '10.0', introduced: '10.0', supervisedOnly: true },
};

/** Why no passcode policy can go to this device, from the policy engine's own refusal rules. */
export function passcodeRefusal(device: DeviceFacts): string | undefined {
  const outcome = compilePolicy({}, {
    platform: device.platform,
    enrollment: device.enrollment,
    ...(device.osVersion !== undefined && { osVersion: device.osVersion }),
  });
  return outcome.ok ? undefined : outcome.reason;
}

/**
 * The channel for this device and why, so the caller can say which was used. `ddmSupported` is
 * the caller's knowledge that DDM may be used with this device at all (the server has it on, and
 * the device has not refused it); the OS version, enrollment and supervision rules are applied here.
 */
export function chooseChannel(device: DeviceFacts, ddmSupported = true): ChannelChoice {
  const refused = passcodeRefusal(device);
  if (refused !== undefined || device.platform === 'tvos') return { channel: 'none', reason: refused ?? 'tvOS has no passcode policy' };
  const name = PLATFORM_NAMES[device.platform];
  const support = SUPPORT[device.platform];
  const profile = (why: string): ChannelChoice => ({ channel: 'profile', reason: `configuration profile: ${why}` });
  if (!ddmSupported) return profile('Declarative Device Management is not available for this device');
  if (support.supervisedOnly && !device.supervised) {
    return profile(`${name} applies passcode settings declarations only to supervised devices (passcode.settings.yaml allowed-enrollments: supervised, local)`);
  }
  if (device.osVersion === undefined) return profile(`the OS version is unknown, and passcode settings declarations need ${name} ${support.since}`);
  if (compareVersions(device.osVersion, support.since) < 0) {
    const detail = support.since === support.introduced
      ? `passcode settings declarations need ${name} ${support.since}`
      : `passcode settings declarations exist from ${name} ${support.introduced}, but match the profile's keys only from ${name} ${support.since}`;
    return profile(`${detail}; the device runs ${name} ${device.osVersion}`);
  }
  const enrollment = device.enrollment === 'user' ? 'User Enrollment' : device.supervised ? 'supervised' : 'device enrollment';
  return {
    channel: 'ddm',
    reason: `passcode settings declaration (com.apple.configuration.passcode.settings): ${name} ${device.osVersion}, ${enrollment}; the device reports the declaration's state and its passcode compliance itself`,
  };
}

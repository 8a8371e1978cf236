// Which enrollment (MDM channel) a message belongs to. The conventions are NanoMDM's, so ids
// look the same to tooling that already speaks NanoMDM's API (`PUT /v1/enqueue/{id}`):
//   device channel            UDID                      (EnrollmentID under User Enrollment)
//   user channel              <device id>:<UserID>      (<EnrollmentID>:<EnrollmentUserID> under UE)
//   Shared iPad user channel  <UDID>:<UserShortName>
// Every Shared iPad user reports the same UserID, FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF
// (mdm/checkin/tokenupdate.yaml, UserID), so there only the short name (the Managed Apple
// Account) tells users apart.

import { MdmProtocolError } from './protocol-error.ts';

export type EnrollmentType = 'Device' | 'User Enrollment (Device)' | 'User' | 'User Enrollment' | 'Shared iPad';

export interface EnrollmentRef {
  /** The device: its UDID, or its EnrollmentID under User Enrollment (the UDID is never sent there). */
  deviceId: string;
  /** The channel: equal to deviceId for the device channel. */
  enrollmentId: string;
  channel: 'device' | 'user';
  type: EnrollmentType;
}

/** The identifying keys every check-in message and command report may carry, as Apple names them. */
export interface EnrollmentKeys {
  UDID?: string | undefined;
  EnrollmentID?: string | undefined;
  UserID?: string | undefined;
  EnrollmentUserID?: string | undefined;
  UserShortName?: string | undefined;
  UserLongName?: string | undefined;
}

/** The same keys as CommandReport names them, so a parsed report can be passed as it is. */
export interface ReportEnrollmentKeys {
  udid?: string | undefined;
  enrollmentId?: string | undefined;
  userId?: string | undefined;
  enrollmentUserId?: string | undefined;
  userShortName?: string | undefined;
  userLongName?: string | undefined;
}

export const SHARED_IPAD_USER_ID = 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF';

/**
 * Maps a message's identifying keys to its enrollment. Throws MdmProtocolError for combinations no
 * device sends: no UDID and no EnrollmentID; both (UDID is `forbidden` under User Enrollment in
 * every check-in YAML); an EnrollmentUserID without EnrollmentID; a user key without the other
 * half (Shared iPad requires both UserID and UserShortName, `sharedipad.mode: required`).
 */
export function enrollmentOf(keys: EnrollmentKeys | ReportEnrollmentKeys): EnrollmentRef {
  const { UDID, EnrollmentID, UserID, EnrollmentUserID, UserShortName } = appleNamed(keys);
  if (UDID !== undefined && EnrollmentID !== undefined) {
    throw new MdmProtocolError('both UDID and EnrollmentID are present; a User Enrollment never sends the UDID');
  }
  if (UDID !== undefined) {
    if (EnrollmentUserID !== undefined) {
      throw new MdmProtocolError('EnrollmentUserID without EnrollmentID: it only exists under User Enrollment');
    }
    if (UserID === undefined) {
      if (UserShortName !== undefined) {
        throw new MdmProtocolError('UserShortName without UserID: a user channel message carries both');
      }
      return { deviceId: UDID, enrollmentId: UDID, channel: 'device', type: 'Device' };
    }
    if (UserID.toUpperCase() === SHARED_IPAD_USER_ID) {
      if (UserShortName === undefined) {
        throw new MdmProtocolError(
          `UserID is the Shared iPad placeholder ${SHARED_IPAD_USER_ID} but UserShortName is missing, so the user is unknown`,
        );
      }
      return { deviceId: UDID, enrollmentId: `${UDID}:${UserShortName}`, channel: 'user', type: 'Shared iPad' };
    }
    return { deviceId: UDID, enrollmentId: `${UDID}:${UserID}`, channel: 'user', type: 'User' };
  }
  if (EnrollmentID !== undefined) {
    if (EnrollmentUserID !== undefined) {
      return {
        deviceId: EnrollmentID,
        enrollmentId: `${EnrollmentID}:${EnrollmentUserID}`,
        channel: 'user',
        type: 'User Enrollment',
      };
    }
    // A User Enrollment names its user channel with EnrollmentUserID only
    // (mdm/checkin/tokenupdate.yaml: EnrollmentUserID, `userenrollment.mode: required`).
    if (UserID !== undefined || UserShortName !== undefined) {
      throw new MdmProtocolError('a User Enrollment user channel must carry EnrollmentUserID, not UserID/UserShortName');
    }
    return { deviceId: EnrollmentID, enrollmentId: EnrollmentID, channel: 'device', type: 'User Enrollment (Device)' };
  }
  throw new MdmProtocolError('neither UDID nor EnrollmentID is present, so the enrollment is unknown');
}

function appleNamed(keys: EnrollmentKeys | ReportEnrollmentKeys): EnrollmentKeys {
  const k = keys as EnrollmentKeys & ReportEnrollmentKeys;
  return {
    UDID: k.UDID ?? k.udid,
    EnrollmentID: k.EnrollmentID ?? k.enrollmentId,
    UserID: k.UserID ?? k.userId,
    EnrollmentUserID: k.EnrollmentUserID ?? k.enrollmentUserId,
    UserShortName: k.UserShortName ?? k.userShortName,
    UserLongName: k.UserLongName ?? k.userLongName,
  };
}

// Where an UnlockToken can exist at all (DESIGN decision 9; mdm/checkin/tokenupdate.yaml): a
// device channel's TokenUpdate on iOS, iPadOS, watchOS or visionOS, under Device Enrollment, not on
// Shared iPad, and only with AccessRights bit 4. The simulator sends by this rule; the server keeps
// nothing outside it, whatever a device sends.
import type { Platform } from '../policy/index.ts';

export const UNLOCK_TOKEN_PLATFORMS: readonly Platform[] = ['ios', 'ipados', 'watchos', 'visionos'];

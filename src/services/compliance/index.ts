// Passcode compliance, the pure core: what state a device is in and on what evidence
// (state.ts), when that is worth a history entry (transitions.ts), and what to send it
// (delivery-plan.ts). No I/O, no clock, no randomness: times and device reports come in as data.
export * from './model.ts';
export { assessCompliance } from './state.ts';
export type { AssessmentInput } from './state.ts';
export { transition, reasonClass } from './transitions.ts';
export type { HistoryEntry } from './transitions.ts';
export { planDelivery } from './delivery-plan.ts';
export type { DeliveryAction, DeliveryPlan, DeliveryPlanInput } from './delivery-plan.ts';
export { chooseChannel, passcodeRefusal } from './channel-choice.ts';
export type { ChannelChoice } from './channel-choice.ts';
export { DEFAULT_POLL_SCHEDULE, jitterUnit, jitteredInterval, nextRegularPoll } from './poll-schedule.ts';
export type { PollSchedule } from './poll-schedule.ts';
export { profileListEvidence, securityInfoEvidence, matchProfile, errorChainText } from './evidence.ts';
export type { ProfileMatch } from './evidence.ts';
export { foldStatusReport } from './ddm-status.ts';

// Prometheus metrics: check-ins by message type, command results by status, pushes by result.
// Counting wraps the protocol handlers instead of being sprinkled through them.
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { CheckinHandler, CommandHandler } from '../mdm/handler.ts';

export interface Metrics {
  registry: Registry;
  checkins: Counter<'message_type' | 'outcome'>;
  commandReports: Counter<'status'>;
  commandsDelivered: Counter;
  pushes: Counter<'result'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lockwarden_process_' });
  return {
    registry,
    checkins: new Counter({ name: 'lockwarden_checkins_total', help: 'Check-in messages by type and outcome', labelNames: ['message_type', 'outcome'], registers: [registry] }),
    commandReports: new Counter({ name: 'lockwarden_command_reports_total', help: 'Connect requests by reported status', labelNames: ['status'], registers: [registry] }),
    commandsDelivered: new Counter({ name: 'lockwarden_commands_delivered_total', help: 'Commands handed to devices', registers: [registry] }),
    pushes: new Counter({ name: 'lockwarden_pushes_total', help: 'APNs pushes by result', labelNames: ['result'], registers: [registry] }),
  };
}

type CheckinMethod = keyof CheckinHandler;
const MESSAGE_TYPES: Record<CheckinMethod, string> = {
  authenticate: 'Authenticate',
  tokenUpdate: 'TokenUpdate',
  checkOut: 'CheckOut',
  setBootstrapToken: 'SetBootstrapToken',
  getBootstrapToken: 'GetBootstrapToken',
  userAuthenticate: 'UserAuthenticate',
  declarativeManagement: 'DeclarativeManagement',
  getToken: 'GetToken',
};

export function countCheckins(metrics: Metrics, inner: CheckinHandler): CheckinHandler {
  const counted = {} as Record<CheckinMethod, unknown>;
  for (const method of Object.keys(MESSAGE_TYPES) as CheckinMethod[]) {
    counted[method] = async (...args: unknown[]) => {
      try {
        const result = await (inner[method] as (...a: unknown[]) => Promise<unknown>)(...args);
        metrics.checkins.inc({ message_type: MESSAGE_TYPES[method], outcome: 'ok' });
        return result;
      } catch (err) {
        metrics.checkins.inc({ message_type: MESSAGE_TYPES[method], outcome: 'refused' });
        throw err;
      }
    };
  }
  return counted as CheckinHandler;
}

export function countCommands(metrics: Metrics, inner: CommandHandler): CommandHandler {
  return {
    async reportAndNext(ctx, report) {
      metrics.commandReports.inc({ status: report.status });
      const next = await inner.reportAndNext(ctx, report);
      if (next !== undefined) metrics.commandsDelivered.inc();
      return next;
    },
  };
}

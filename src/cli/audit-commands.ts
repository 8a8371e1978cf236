// `lockwarden audit verify` and `audit list`. Verify reads the database directly, with the
// server's own configuration: the chain's key derives from the master key, which only the server's
// environment (or data directory) holds, and a check that went through the server would trust the
// very thing it checks. List is an admin API client like the other admin commands.
import { MasterKeyError } from '../crypto/master-key.ts';
import { createAuditLog } from '../services/audit-log.ts';
import { openStorage } from '../services/runtime.ts';
import { ConfigError, configFromEnv } from '../services/server-config.ts';
import { call } from './admin-commands.ts';
import type { ServerOptions } from './admin-commands.ts';
import { CliError, EXIT_INVALID, EXIT_USAGE, printJson } from './output.ts';

export async function verifyAuditCommand(options: { json?: boolean }): Promise<void> {
  let storage;
  try {
    storage = await openStorage(configFromEnv(process.env), { create: false });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof MasterKeyError) throw new CliError(err.message, EXIT_USAGE);
    throw err;
  }
  try {
    const result = await createAuditLog(storage.store, storage.masterKey).verify();
    if (!result.ok) process.exitCode = EXIT_INVALID;
    if (options.json) return printJson(result);
    if (result.ok) {
      process.stdout.write(`audit log intact: ${result.count} event${result.count === 1 ? '' : 's'}\n`);
      // Removing the newest events leaves a shorter valid chain: a head noted elsewhere exposes it.
      if (result.head) process.stdout.write(`head: seq ${result.head.seq}, mac ${result.head.mac}\n`);
    } else {
      process.stdout.write(`audit log broken at seq ${result.seq}: ${result.message}\n`);
      process.stdout.write(`${result.count} event${result.count === 1 ? '' : 's'} before it verified\n`);
    }
  } finally {
    await storage.store.close();
  }
}

interface AuditPage {
  events: Array<{ seq: number; at: string; actor: string; actorName: string; action: string; target: string | null; details: unknown }>;
  next?: string;
}

export async function listAuditCommand(options: ServerOptions & {
  limit?: string; action?: string; target?: string; since?: string; until?: string; order?: string; all?: boolean; json?: boolean;
}): Promise<void> {
  const limit = options.limit === undefined ? 100 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be a whole number from 1 to 1000', EXIT_USAGE);
  const query = new URLSearchParams({ limit: String(limit) });
  for (const name of ['action', 'target', 'since', 'until', 'order'] as const) {
    const value = options[name];
    if (value !== undefined) query.set(name, value);
  }
  const events: AuditPage['events'] = [];
  for (;;) {
    const page = await call(options, 'GET', `/api/v1/audit?${query}`) as AuditPage;
    events.push(...page.events);
    if (!options.all || page.next === undefined) break;
    query.set('after', page.next);
  }
  if (options.json) return printJson(events);
  for (const e of events) {
    process.stdout.write(`${e.seq}\t${e.at}\t${e.actorName} (${e.actor})\t${e.action}\t${e.target ?? '-'}\t${JSON.stringify(e.details)}\n`);
  }
}

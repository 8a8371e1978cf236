// `lockwarden api-token create|list|revoke`, over the admin API (an admin token is needed). A new
// token is printed once: the server keeps only its hash.
import { call } from './admin-commands.ts';
import type { ServerOptions } from './admin-commands.ts';
import { printJson } from './output.ts';

interface TokenView { id: string; name: string; role: string; createdAt: string; lastUsedAt: string | null; revokedAt: string | null }

export async function createApiTokenCommand(options: ServerOptions & { name: string; role: string; json?: boolean }): Promise<void> {
  const created = await call(options, 'POST', '/api/v1/api-tokens', { name: options.name, role: options.role }) as TokenView & { token: string };
  if (options.json) return printJson(created);
  process.stdout.write(`API token (shown once): ${created.token}\nid ${created.id}, role ${created.role}, name ${created.name}\n`);
}

export async function listApiTokensCommand(options: ServerOptions & { json?: boolean }): Promise<void> {
  const { tokens } = await call(options, 'GET', '/api/v1/api-tokens') as { tokens: TokenView[] };
  if (options.json) return printJson(tokens);
  for (const t of tokens) {
    const state = t.revokedAt ? `revoked ${t.revokedAt}` : 'live';
    process.stdout.write(`${t.id}\t${t.role}\t${state}\tlast used ${t.lastUsedAt ?? 'never'}\t${t.name}\n`);
  }
}

export async function revokeApiTokenCommand(id: string, options: ServerOptions): Promise<void> {
  const revoked = await call(options, 'DELETE', `/api/v1/api-tokens/${encodeURIComponent(id)}`) as TokenView;
  process.stdout.write(`revoked API token ${revoked.id} (${revoked.name}, ${revoked.role})\n`);
}

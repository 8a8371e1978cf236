// Admin commands over the REST API (`lockwarden enrollment-token create`, `devices …`,
// `push-certificate import`): the CLI is one more API client, with the same tokens and roles.
import { readFile } from 'node:fs/promises';
import { CliError, EXIT_INVALID, EXIT_USAGE, printJson } from './output.ts';

export interface ServerOptions { server: string; token?: string }

export async function call(options: ServerOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  if (!options.token) throw new CliError('an admin API token is needed: --token T or LOCKWARDEN_TOKEN', EXIT_USAGE);
  let response: Response;
  try {
    response = await fetch(new URL(path, options.server), {
      method,
      headers: { authorization: `Bearer ${options.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new CliError(`cannot reach ${options.server}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const problem = parsed as { title?: string; detail?: string; errors?: Array<{ path?: string; message?: string }> } | undefined;
    // A 422 lists every problem (policy errors: path and message); show them all, as validate does.
    const listed = Array.isArray(problem?.errors) ? problem.errors.map((e) => `\n  - ${e.path ? `${e.path}: ` : ''}${e.message ?? ''}`).join('') : '';
    throw new CliError(`${response.status} ${problem?.title ?? response.statusText}${problem?.detail ? `: ${problem.detail}` : ''}${listed}`, EXIT_INVALID);
  }
  return parsed;
}

export async function createEnrollmentTokenCommand(options: ServerOptions & { label?: string; maxUses?: string; expiresInHours?: string; identity?: string; json?: boolean }): Promise<void> {
  const number = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag} must be a positive number`, EXIT_USAGE);
    return n;
  };
  const created = await call(options, 'POST', '/api/v1/enrollment-tokens', {
    ...(options.label !== undefined && { label: options.label }),
    ...(options.maxUses !== undefined && { maxUses: number('--max-uses', options.maxUses) }),
    ...(options.expiresInHours !== undefined && { expiresInHours: number('--expires-in-hours', options.expiresInHours) }),
    ...(options.identity !== undefined && { identity: options.identity }),
  }) as { token: string; enrollUrl: string; expiresAt: string; maxUses: number | null };
  if (options.json) return printJson(created);
  process.stdout.write(`enrollment URL (shown once): ${created.enrollUrl}\nexpires ${created.expiresAt}; ${created.maxUses === null ? 'unlimited uses' : `${created.maxUses} use(s)`}\n`);
}

export async function listDevicesCommand(options: ServerOptions & { json?: boolean }): Promise<void> {
  const result = await call(options, 'GET', '/api/v1/devices?limit=1000') as { devices: Array<{ udid: string; platform: string | null; osVersion: string | null; escrow: { unlockToken: string } }> };
  if (options.json) return printJson(result);
  for (const d of result.devices) process.stdout.write(`${d.udid}\t${d.platform ?? '?'}\t${d.osVersion ?? '?'}\tUnlockToken ${d.escrow.unlockToken}\n`);
}

export async function showDeviceCommand(udid: string, options: ServerOptions): Promise<void> {
  printJson(await call(options, 'GET', `/api/v1/devices/${encodeURIComponent(udid)}`));
}

export async function importPushCertificateCommand(options: ServerOptions & { p12?: string; password?: string; cert?: string; key?: string; allowTopicChange?: boolean }): Promise<void> {
  const read = async (path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new CliError(`cannot read ${path}: ${(err as Error).message}`, EXIT_USAGE);
    }
  };
  let body: Record<string, unknown>;
  if (options.p12) body = { p12: (await read(options.p12)).toString('base64'), password: options.password ?? process.env.LOCKWARDEN_P12_PASSWORD ?? '' };
  else if (options.cert && options.key) body = { certificatePem: String(await read(options.cert)), privateKeyPem: String(await read(options.key)) };
  else throw new CliError('give --p12 FILE [--password P] or --cert PEM --key PEM', EXIT_USAGE);
  if (options.allowTopicChange) body.allowTopicChange = true;
  const result = await call(options, 'POST', '/api/v1/push-certificate', body) as { topic: string; notAfter: string; warnings: string[] };
  process.stdout.write(`push certificate imported: topic ${result.topic}, valid until ${result.notAfter}\n`);
  for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
}

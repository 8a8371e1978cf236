// The server's settings, read once from the environment (DESIGN.md "Contract"), with every
// problem reported at once rather than discovered at the first request.
import { resolve } from 'node:path';

export interface ServerConfig {
  port: number;
  host: string;
  /** Data directory: SQLite database, master key file. */
  dataDir: string;
  /** postgres://… switches storage to PostgreSQL; unset means SQLite in dataDir. */
  databaseUrl?: string;
  /** LOCKWARDEN_MASTER_KEY: 32 bytes, base64 or hex; unset means a 0600 key file in dataDir. */
  masterKey?: string;
  /** The https URL devices reach; unset means https:// + the request's Host (with a warning). */
  publicUrl?: string;
  /** A bootstrap admin API token to accept (LOCKWARDEN_ADMIN_TOKEN). */
  adminToken?: string;
  /** Header a TLS-terminating proxy puts the client certificate in (LOCKWARDEN_CERT_HEADER). */
  certHeader?: string;
  /** PEM bundle of an external device CA to trust instead of the built-in one (LOCKWARDEN_DEVICE_CA). */
  deviceCaPath?: string;
  /** Overrides Apple's APNs host, e.g. the simulator's local endpoint (LOCKWARDEN_APNS_URL). */
  apnsUrl?: string;
  apnsTopic?: string;
  /** MicroMDM-compatible webhook receiver, http(s):// (LOCKWARDEN_WEBHOOK_URL); unset means no webhooks. */
  webhookUrl?: string;
  /** HMAC-SHA256 key signing each webhook body, sent in X-Hmac-Signature (LOCKWARDEN_WEBHOOK_SECRET). */
  webhookSecret?: string;
  /** PEM file: the certificate that signs enrollment profiles, intermediates after it (LOCKWARDEN_SIGNING_CERT). */
  signingCertPath?: string;
  /** PEM file: its private key (LOCKWARDEN_SIGNING_KEY); unencrypted, readable by the server only. */
  signingKeyPath?: string;
  /** Largest request body accepted, in bytes (LOCKWARDEN_BODY_LIMIT, default 2 MiB). */
  bodyLimit: number;
  /** Days finished commands stay in the queue before they are pruned (LOCKWARDEN_COMMAND_RETENTION_DAYS, default 30). */
  commandRetentionDays: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * How passcode policies reach devices (LOCKWARDEN_PASSCODE_CHANNEL): 'auto' (default) lets each
   * device's OS decide between a passcode settings declaration and the profile; 'profile' never uses DDM.
   */
  passcodeChannel: 'auto' | 'profile';
  /** Seconds between compliance sweeps (LOCKWARDEN_COMPLIANCE_SWEEP_SECONDS, default 120; 0 = none). */
  complianceSweepSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;

export function configFromEnv(env: NodeJS.ProcessEnv, cwd = process.cwd()): ServerConfig {
  const problems: string[] = [];
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(text)} is not a whole number in ${min}–${max}`);
      return fallback;
    }
    return value;
  };
  const optional = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);

  const databaseUrl = optional('DATABASE_URL');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL (unset it to use the embedded SQLite database)');
  }
  const publicUrl = optional('LOCKWARDEN_PUBLIC_URL');
  if (publicUrl && !/^https:\/\/[^/]+/.test(publicUrl)) {
    problems.push('LOCKWARDEN_PUBLIC_URL must be an https:// URL: Apple devices only talk to MDM servers over HTTPS');
  }
  const apnsUrl = optional('LOCKWARDEN_APNS_URL');
  if (apnsUrl && !/^https?:\/\/[^/]+/.test(apnsUrl)) problems.push('LOCKWARDEN_APNS_URL must be an http(s):// URL');
  const apnsTopic = optional('LOCKWARDEN_APNS_TOPIC');
  if (apnsTopic && !apnsTopic.startsWith('com.apple.mgmt.')) problems.push('LOCKWARDEN_APNS_TOPIC must start with com.apple.mgmt. (Apple\'s rule for MDM topics)');
  const certHeader = optional('LOCKWARDEN_CERT_HEADER');
  if (certHeader && !/^[A-Za-z0-9-]+$/.test(certHeader)) problems.push('LOCKWARDEN_CERT_HEADER must be a header name');
  const adminToken = optional('LOCKWARDEN_ADMIN_TOKEN');
  if (adminToken && adminToken.length < 24) problems.push('LOCKWARDEN_ADMIN_TOKEN must be at least 24 characters');
  const webhookUrl = optional('LOCKWARDEN_WEBHOOK_URL');
  if (webhookUrl && !isHttpUrl(webhookUrl)) problems.push('LOCKWARDEN_WEBHOOK_URL must be an http:// or https:// URL');
  const webhookSecret = optional('LOCKWARDEN_WEBHOOK_SECRET');
  if (webhookSecret && !webhookUrl) problems.push('LOCKWARDEN_WEBHOOK_SECRET is set but LOCKWARDEN_WEBHOOK_URL is not: there is nothing to sign');
  if (webhookSecret && webhookSecret.length < 16) problems.push('LOCKWARDEN_WEBHOOK_SECRET must be at least 16 characters');
  const signingCert = optional('LOCKWARDEN_SIGNING_CERT');
  const signingKey = optional('LOCKWARDEN_SIGNING_KEY');
  if (Boolean(signingCert) !== Boolean(signingKey)) problems.push('LOCKWARDEN_SIGNING_CERT and LOCKWARDEN_SIGNING_KEY go together: set both to sign enrollment profiles, or neither');
  const passcodeChannel = (optional('LOCKWARDEN_PASSCODE_CHANNEL') ?? 'auto') as ServerConfig['passcodeChannel'];
  if (passcodeChannel !== 'auto' && passcodeChannel !== 'profile') problems.push('LOCKWARDEN_PASSCODE_CHANNEL must be auto or profile');
  const logLevel = (optional('LOG_LEVEL') ?? 'info') as ServerConfig['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const config: ServerConfig = {
    port: integer('PORT', 8080, 0, 65535),
    host: optional('HOST') ?? '0.0.0.0',
    dataDir: resolve(cwd, optional('LOCKWARDEN_DATA_DIR') ?? 'data'),
    bodyLimit: integer('LOCKWARDEN_BODY_LIMIT', DEFAULT_BODY_LIMIT, 1024, 64 * 1024 * 1024),
    commandRetentionDays: integer('LOCKWARDEN_COMMAND_RETENTION_DAYS', 30, 1, 3650),
    logLevel,
    passcodeChannel,
    complianceSweepSeconds: integer('LOCKWARDEN_COMPLIANCE_SWEEP_SECONDS', 120, 0, 86_400),
    ...(databaseUrl && { databaseUrl }),
    ...(optional('LOCKWARDEN_MASTER_KEY') && { masterKey: optional('LOCKWARDEN_MASTER_KEY') }),
    ...(publicUrl && { publicUrl: publicUrl.replace(/\/+$/, '') }),
    ...(adminToken && { adminToken }),
    ...(certHeader && { certHeader: certHeader.toLowerCase() }),
    ...(optional('LOCKWARDEN_DEVICE_CA') && { deviceCaPath: resolve(cwd, optional('LOCKWARDEN_DEVICE_CA')!) }),
    ...(apnsUrl && { apnsUrl }),
    ...(apnsTopic && { apnsTopic }),
    ...(webhookUrl && { webhookUrl }),
    ...(webhookSecret && { webhookSecret }),
    ...(signingCert && signingKey && { signingCertPath: resolve(cwd, signingCert), signingKeyPath: resolve(cwd, signingKey) }),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

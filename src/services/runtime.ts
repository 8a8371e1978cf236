// Everything a running server holds, opened once at start: master key, storage (migrated),
// the device CA and the trust it gives, the bootstrap admin token, the audit log, and the protocol
// handlers wrapped in their cross-cutting layers (certificate binding, metrics).
import { X509Certificate } from 'node:crypto';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadMasterKey } from '../crypto/master-key.ts';
import { signingIdentityFromPem } from '../crypto/cms-signer.ts';
import type { SigningIdentity } from '../crypto/cms-signer.ts';
import { openSecret, sealSecret } from '../crypto/envelope.ts';
import { createDeviceCa } from '../crypto/device-ca.ts';
import { DeviceTrust } from '../crypto/device-trust.ts';
import type { CheckinHandler, CommandHandler } from '../mdm/handler.ts';
import { openDatabase } from '../store/database.ts';
import type { Store } from '../store/database.ts';
import { DuplicateKeyError } from '../store/errors.ts';
import { createApiTokenService, hashApiToken } from './api-tokens.ts';
import type { ApiTokenService } from './api-tokens.ts';
import { createAuditLog, SYSTEM_ACTOR } from './audit-log.ts';
import type { AuditActor, AuditLog } from './audit-log.ts';
import { certificateBinding } from './certificate-binding.ts';
import { checkinService } from './checkin-service.ts';
import { commandService } from './command-service.ts';
import { createDeclarativeService } from './declarative-service.ts';
import type { DeclarationsProvider, DeclarativeService } from './declarative-service.ts';
import { countCheckins, countCommands, createMetrics } from './metrics.ts';
import type { Metrics } from './metrics.ts';
import { ConfigError } from './server-config.ts';
import type { ServerConfig } from './server-config.ts';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { APNS_PRODUCTION_URL, createApnsClient } from './push/apns-client.ts';
import { apnsCertificateOf, importPushCertificate, resolvePushSetup } from './push/push-certificate.ts';
import type { ImportResult, PushCertificateInput } from './push/push-certificate.ts';
import { startQueueMaintenance } from './queue-maintenance.ts';
import { complianceEvent, createWebhookSender, webhookCheckins, webhookCommands } from './webhooks.ts';
import { createPolicyService } from './policies.ts';
import type { ComplianceChange } from './compliance-assessment.ts';
import { createComplianceProcessor } from './compliance-processor.ts';
import { startComplianceService } from './compliance-service.ts';
import type { ComplianceService } from './compliance-service.ts';
import { withDeliveryTriggers } from './delivery-triggers.ts';
import { createPolicyDelivery, servedDeclarations } from './policy-delivery.ts';
import type { PolicyService } from './policies.ts';
import { createPushService } from './push/push-service.ts';

/** Log fields that must never reach a log line, whatever code logs them. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["mdm-signature"]',
  'req.headers.cookie',
  '*.UnlockToken',
  '*.unlockToken',
  '*.BootstrapToken',
  '*.token',
  '*.pushMagic',
  '*.webhookSecret',
];

/**
 * The identity that signs enrollment profiles (LOCKWARDEN_SIGNING_CERT / _KEY). A file that
 * cannot be read, or a key that is not the certificate's, stops the start with the reason.
 */
async function loadSigningIdentity(config: ServerConfig, now: number, warnings: string[]): Promise<SigningIdentity | undefined> {
  if (!config.signingCertPath || !config.signingKeyPath) {
    warnings.push('enrollment profiles are unsigned (and so are the passcode profiles lockwarden installs), so devices show them as "Not Verified": set LOCKWARDEN_SIGNING_CERT and LOCKWARDEN_SIGNING_KEY to sign them');
    return undefined;
  }
  let identity: SigningIdentity;
  try {
    const [certificates, key] = await Promise.all([readFile(config.signingCertPath, 'utf8'), readFile(config.signingKeyPath, 'utf8')]);
    identity = signingIdentityFromPem(certificates, key);
  } catch (err) {
    throw new ConfigError([`cannot sign enrollment profiles with LOCKWARDEN_SIGNING_CERT=${config.signingCertPath} and LOCKWARDEN_SIGNING_KEY=${config.signingKeyPath}: ${err instanceof Error ? err.message : String(err)}`]);
  }
  const notAfter = Date.parse(new X509Certificate(identity.certificatePem).validTo);
  if (notAfter <= now) warnings.push(`the profile signing certificate expired on ${new Date(notAfter).toISOString()}: devices will not verify signed profiles`);
  else if (notAfter - now < 30 * 86_400_000) warnings.push(`the profile signing certificate expires on ${new Date(notAfter).toISOString()}`);
  return identity;
}

export interface DeviceCa {
  certificatePem: string;
  privateKeyPem: string;
}

export interface Runtime {
  config: ServerConfig;
  store: Store;
  masterKey: Buffer;
  /** Signs enrollment profiles and the passcode profiles lockwarden installs; absent: unsigned. */
  signingIdentity?: SigningIdentity;
  /** The built-in CA that issues device identities; absent when an external CA is trusted instead. */
  deviceCa?: DeviceCa;
  trust: DeviceTrust;
  metrics: Metrics;
  checkin: CheckinHandler;
  commands: CommandHandler;
  /** Wakes enrollments over APNs (the imported push certificate, or the local mock in development). */
  push: (enrollmentIds: string[]) => Promise<unknown>;
  /** The APNs topic enrollment profiles carry: the push certificate's, or the development one. */
  topic: () => string;
  /** Validates, seals and stores the admin's MDM push certificate (audited), and starts pushing with it. */
  importPushCertificate(input: PushCertificateInput, options: { allowTopicChange?: boolean; actor: AuditActor }): Promise<ImportResult>;
  /** The tamper-evident log of sensitive admin actions. */
  audit: AuditLog;
  apiTokens: ApiTokenService;
  /** Stored policies, their assignments, and each device's effective policy. */
  policies: PolicyService;
  /** Declarative Device Management: what each enrollment is served, its reported status, sync requests. */
  declarative: DeclarativeService;
  /** Passcode policy delivery, the results and reports it takes in, and the poll sweep. */
  compliance: ComplianceService;
  /** The server's clock: every stored time, the grace deadline included, comes from it. */
  now: () => number;
  log: Logger;
  /** Set only on the start that created it: shown once, never stored in clear. */
  newAdminToken?: string;
  warnings: string[];
  close(): Promise<void>;
}

const DEVICE_CA_SECRET = 'device-ca';

// Re-exported: admin-auth.ts has always imported it from here.
export { hashApiToken };

/**
 * The master key and the migrated store, opened as the server opens them. With `create: false`
 * (tools that read what a server wrote, such as `lockwarden audit verify`) neither a key file nor
 * a SQLite database is created: a new key or an empty database would only give wrong answers.
 */
export async function openStorage(config: ServerConfig, options: { create?: boolean } = {}): Promise<{ store: Store; masterKey: Buffer }> {
  const create = options.create !== false;
  const sqlitePath = join(config.dataDir, 'lockwarden.db');
  if (create) {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  } else if (!config.databaseUrl) {
    await access(sqlitePath).catch(() => {
      throw new ConfigError([`there is no lockwarden database in ${config.dataDir}: set LOCKWARDEN_DATA_DIR to the server's data directory, or DATABASE_URL`]);
    });
  }
  const { key: masterKey } = await loadMasterKey({ ...(config.masterKey && { env: config.masterKey }), dataDir: config.dataDir, create });
  const store = await openDatabase(config.databaseUrl ? { url: config.databaseUrl } : { sqlitePath });
  return { store, masterKey };
}

/** The built-in device CA: created on first start, its key sealed with the master key. */
async function loadOrCreateDeviceCa(store: Store, masterKey: Buffer): Promise<DeviceCa> {
  let sealed = await store.secrets.get(DEVICE_CA_SECRET);
  if (!sealed) {
    const created = await createDeviceCa({ commonName: 'lockwarden device CA' });
    const candidate = sealSecret(masterKey, Buffer.from(JSON.stringify(created)), DEVICE_CA_SECRET);
    // Two replicas starting together agree on whichever CA was stored first.
    sealed = await store.secrets.putIfAbsent(DEVICE_CA_SECRET, candidate);
  }
  return JSON.parse(openSecret(masterKey, sealed, DEVICE_CA_SECRET).toString('utf8')) as DeviceCa;
}

/** The bootstrap admin token, created (and audited, by 'system') the first time it is needed. */
async function ensureAdminToken(store: Store, apiTokens: ApiTokenService, config: ServerConfig, warnings: string[]): Promise<string | undefined> {
  if (config.adminToken) {
    if (!(await store.tokens.findApiToken(hashApiToken(config.adminToken)))) {
      try {
        await apiTokens.issue(SYSTEM_ACTOR, { name: 'bootstrap (LOCKWARDEN_ADMIN_TOKEN)', role: 'admin', token: config.adminToken });
      } catch (err) {
        // Its hash is taken, yet no live token has it: an admin revoked it, and a restart must
        // not bring it back.
        if (!(err instanceof DuplicateKeyError)) throw err;
        warnings.push('LOCKWARDEN_ADMIN_TOKEN was revoked and is not accepted: unset it, or set a new one');
      }
    }
    return undefined;
  }
  if (await store.tokens.countApiTokens() > 0) return undefined;
  return (await apiTokens.issue(SYSTEM_ACTOR, { name: 'bootstrap (first start)', role: 'admin' })).token;
}

export interface RuntimeOptions {
  /** The declarations each enrollment gets over DDM; default: each device's passcode declaration, when DDM is its channel. */
  declarationsFor?: DeclarationsProvider;
}

export async function openRuntime(config: ServerConfig, now = Date.now, options: RuntimeOptions = {}): Promise<Runtime> {
  const warnings: string[] = [];
  const log = pino({ level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } });
  const { store, masterKey } = await openStorage(config);
  try {
    const audit = createAuditLog(store, masterKey, now);
    const apiTokens = createApiTokenService(store, audit, now);
    let deviceCa: DeviceCa | undefined;
    let trust: DeviceTrust;
    if (config.deviceCaPath) {
      trust = DeviceTrust.fromPem(await readFile(config.deviceCaPath, 'utf8'));
      warnings.push(`trusting the external device CA in ${config.deviceCaPath}; the built-in CA does not issue identities`);
    } else {
      deviceCa = await loadOrCreateDeviceCa(store, masterKey);
      trust = DeviceTrust.fromPem(deviceCa.certificatePem);
    }
    const signingIdentity = await loadSigningIdentity(config, now(), warnings);
    if (!config.publicUrl) warnings.push('LOCKWARDEN_PUBLIC_URL is not set: enrollment profiles will use https:// + the Host of each request');
    const newAdminToken = await ensureAdminToken(store, apiTokens, config, warnings);
    const metrics = createMetrics();
    const binding = certificateBinding(store);
    const pushSetup = await resolvePushSetup({
      store, masterKey, now: now(),
      ...(config.apnsTopic && { envTopic: config.apnsTopic }),
      ...(config.apnsUrl && { apnsUrl: config.apnsUrl }),
    });
    warnings.push(...pushSetup.warnings);
    const apns = createApnsClient({
      url: config.apnsUrl ?? APNS_PRODUCTION_URL,
      ...(pushSetup.certificate && { certificate: apnsCertificateOf(pushSetup.certificate) }),
      log,
    });
    let topic = pushSetup.topic;
    const pushService = createPushService({ store, client: apns, metrics, topic: () => topic, log });
    // Webhooks wrap outermost: what the certificate binding refuses never becomes an event.
    const webhooks = config.webhookUrl
      ? createWebhookSender({ url: config.webhookUrl, ...(config.webhookSecret && { secret: config.webhookSecret }), log, registry: metrics.registry })
      : undefined;
    const onChange = (change: ComplianceChange) => {
      log.info({ deviceId: change.deviceId, from: change.fromState, to: change.toState, reasonCode: change.reasonCode }, 'compliance state changed');
      webhooks?.send(complianceEvent(change));
    };
    // The processor and delivery feed each other (a result asks for a re-install; a delivery's
    // results come back to the processor): `delivery` is only called once both exist.
    const processor = createComplianceProcessor({ store, now, log, reconcile: (ids) => delivery.schedule(ids), onChange });
    const declarative = createDeclarativeService({
      store, audit, now,
      declarationsFor: options.declarationsFor ?? servedDeclarations(store),
      push: (ids) => pushService.push(ids),
      onStatus: (id) => processor.notifyStatus(id),
    });
    const plainPolicies = createPolicyService(store, audit, now);
    const delivery = createPolicyDelivery({
      store, audit, now, log,
      policies: plainPolicies,
      declarative,
      push: (ids) => pushService.push(ids),
      ...(signingIdentity && { signingIdentity }),
      channel: config.passcodeChannel,
      onChange,
    });
    const compliance = startComplianceService({ delivery, processor, log, sweepIntervalMs: config.complianceSweepSeconds * 1000 });
    const checkin = countCheckins(metrics, binding.checkins(checkinService({ store, masterKey, declarative, onEnrolled: (id) => delivery.schedule([id]) })));
    const commands = countCommands(metrics, binding.commands(commandService({ store, onResult: (id, uuid, status) => processor.notify(id, uuid, status) })));
    const maintenance = startQueueMaintenance({ store, retentionMs: config.commandRetentionDays * 86_400_000, log });
    return {
      log,
      topic: () => topic,
      async importPushCertificate(input, { actor, ...options }) {
        // Stored and audited in one transaction; APNs switches to it only once both committed.
        const result = await store.transaction(async (tx) => {
          const imported = await importPushCertificate(tx, masterKey, input, { now: now(), ...options });
          const { certificate } = imported;
          await audit.record(actor, 'push-certificate.import', certificate.topic, {
            topic: certificate.topic,
            serialNumber: certificate.serialNumber,
            notAfter: new Date(certificate.notAfter).toISOString(),
            replacedTopic: imported.replaced?.topic ?? null,
          }, tx);
          return imported;
        });
        apns.setCertificate(apnsCertificateOf(result.certificate));
        topic = result.certificate.topic;
        log.info({ topic, notAfter: new Date(result.certificate.notAfter).toISOString() }, 'push certificate imported');
        return result;
      },
      push: (ids) => pushService.push(ids),
      config,
      store,
      masterKey,
      audit,
      apiTokens,
      declarative,
      compliance,
      now,
      policies: withDeliveryTriggers(plainPolicies, store, (ids, actor) => delivery.schedule(ids, actor)),
      ...(deviceCa && { deviceCa }),
      ...(signingIdentity && { signingIdentity }),
      trust,
      metrics,
      checkin: webhooks ? webhookCheckins(webhooks, checkin) : checkin,
      commands: webhooks ? webhookCommands(webhooks, commands) : commands,
      ...(newAdminToken && { newAdminToken }),
      warnings,
      close: async () => {
        maintenance.stop();
        await compliance.close();
        await webhooks?.close();
        pushService.close();
        apns.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

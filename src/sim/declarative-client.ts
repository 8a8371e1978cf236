// The device side of Declarative Device Management, over the DeclarativeManagement check-in
// (mdm/checkin/declarativemanagement.yaml, declarative/protocol/*.yaml): compare the server's
// DeclarationsToken with the one held, fetch the manifest when it changed, fetch each declaration
// whose ServerToken changed, drop the ones no longer listed, work out which configurations an
// activation turns on, and build status reports. The device (simulated-device.ts) decides what
// an active configuration does to it; this module only keeps the declarations.

export type DeclarationGroup = 'activation' | 'configuration' | 'asset' | 'management';

const GROUPS: readonly [manifestKey: string, group: DeclarationGroup][] = [
  ['Activations', 'activation'],
  ['Configurations', 'configuration'],
  ['Assets', 'asset'],
  ['Management', 'management'],
];

export interface HeldDeclaration {
  group: DeclarationGroup;
  identifier: string;
  serverToken: string;
  type: string;
  payload: Record<string, unknown>;
  /** The whole declaration as fetched. */
  declaration: Record<string, unknown>;
}

/** Sends one DeclarativeManagement check-in and returns the decoded JSON answer (undefined for an empty 200). */
export type DeclarativeRequest = (endpoint: string, data?: Uint8Array) => Promise<unknown>;

export class DeclarativeSyncError extends Error {
  override readonly name = 'DeclarativeSyncError';
}

export const SIMPLE_ACTIVATION = 'com.apple.activation.simple';
export const STATUS_SUBSCRIPTIONS = 'com.apple.configuration.management.status-subscriptions';

/**
 * Why the device rejected a configuration, as a StatusReason (mdm/commands/declarativemanagement.yaml
 * reasons): Error.ConfigurationNotSupported for a platform, scope or enrollment that cannot have it,
 * with the declaration's Identifier and ServerToken as details; Error.ConfigurationCannotBeApplied
 * for settings the device cannot apply.
 */
export interface DeclarationRejection {
  code: 'Error.ConfigurationNotSupported' | 'Error.ConfigurationCannotBeApplied';
  description: string;
}

export interface SyncOutcome {
  /** The DeclarationsToken changed, so the manifest was fetched. */
  fetchedManifest: boolean;
  fetched: string[];
  removed: string[];
}

export class DeclarationStore {
  #token: string | undefined;
  readonly #held = new Map<string, HeldDeclaration>();

  get declarationsToken(): string | undefined {
    return this.#token;
  }

  /** Every declaration held. */
  all(): HeldDeclaration[] {
    return [...this.#held.values()];
  }

  /**
   * One synchronisation. `tokens` is the TokensResponse the DeclarativeManagement command carried
   * in `Data`; without it the device asks the `tokens` endpoint.
   */
  async sync(request: DeclarativeRequest, tokens?: unknown): Promise<SyncOutcome> {
    const tokensResponse = tokens ?? (await request('tokens'));
    const declarationsToken = readPath(tokensResponse, ['SyncTokens', 'DeclarationsToken']);
    if (typeof declarationsToken !== 'string') throw new DeclarativeSyncError('the tokens response has no SyncTokens.DeclarationsToken');
    if (declarationsToken === this.#token) return { fetchedManifest: false, fetched: [], removed: [] };
    const manifest = await request('declaration-items');
    const declarations = readPath(manifest, ['Declarations']);
    if (!isObject(declarations)) throw new DeclarativeSyncError('the declaration-items response has no Declarations');
    const listed = new Set<string>();
    const fetched: string[] = [];
    for (const [manifestKey, group] of GROUPS) {
      const items = declarations[manifestKey];
      if (!Array.isArray(items)) throw new DeclarativeSyncError(`Declarations.${manifestKey} is missing`);
      for (const item of items) {
        if (!isObject(item) || typeof item.Identifier !== 'string' || typeof item.ServerToken !== 'string') {
          throw new DeclarativeSyncError(`Declarations.${manifestKey} has an item without Identifier and ServerToken`);
        }
        const key = `${group}/${item.Identifier}`;
        listed.add(key);
        if (this.#held.get(key)?.serverToken === item.ServerToken) continue;
        const declaration = await request(`declaration/${group}/${item.Identifier}`);
        if (!isObject(declaration) || typeof declaration.Type !== 'string' || !isObject(declaration.Payload)) {
          throw new DeclarativeSyncError(`declaration/${group}/${item.Identifier} is not a declaration (Type and Payload are required)`);
        }
        this.#held.set(key, {
          group,
          identifier: item.Identifier,
          serverToken: typeof declaration.ServerToken === 'string' ? declaration.ServerToken : item.ServerToken,
          type: declaration.Type,
          payload: declaration.Payload,
          declaration,
        });
        fetched.push(key);
      }
    }
    const removed = [...this.#held.keys()].filter((key) => !listed.has(key));
    for (const key of removed) this.#held.delete(key);
    const newToken = readPath(manifest, ['DeclarationsToken']);
    this.#token = typeof newToken === 'string' ? newToken : declarationsToken;
    return { fetchedManifest: true, fetched, removed };
  }

  /** Configurations an activation names (predicates are not evaluated: every activation applies). */
  activeConfigurations(): HeldDeclaration[] {
    const named = new Set<string>();
    for (const held of this.#held.values()) {
      if (held.group !== 'activation' || held.type !== SIMPLE_ACTIVATION) continue;
      const list = held.payload.StandardConfigurations;
      if (Array.isArray(list)) for (const id of list) if (typeof id === 'string') named.add(id);
    }
    return [...this.#held.values()].filter((held) => held.group === 'configuration' && named.has(held.identifier));
  }

  /**
   * Status items named by active status-subscriptions configurations (combine: set union); one the
   * device rejected (`invalid`) subscribes nothing.
   */
  subscribedStatusItems(invalid: ReadonlyMap<string, unknown> = new Map()): Set<string> {
    const items = new Set<string>();
    for (const held of this.activeConfigurations()) {
      if (held.type !== STATUS_SUBSCRIPTIONS || invalid.has(held.identifier)) continue;
      const list = held.payload.StatusItems;
      if (!Array.isArray(list)) continue;
      for (const item of list) if (isObject(item) && typeof item.Name === 'string') items.add(item.Name);
    }
    return items;
  }

  /**
   * The management.declarations status item: every declaration with whether it is active and
   * valid. `invalid` names configurations the device rejected, with the reason.
   */
  declarationsStatus(invalid: ReadonlyMap<string, DeclarationRejection> = new Map()): Record<string, unknown> {
    const active = new Set(this.activeConfigurations().map((held) => held.identifier));
    const out: Record<string, unknown[]> = { activations: [], configurations: [], assets: [], management: [] };
    for (const held of this.#held.values()) {
      const rejection = held.group === 'configuration' ? invalid.get(held.identifier) : undefined;
      const entry = {
        identifier: held.identifier,
        'server-token': held.serverToken,
        active: held.group === 'activation' || active.has(held.identifier),
        valid: rejection === undefined ? 'valid' : 'invalid',
        ...(rejection !== undefined && { reasons: [{ ...rejection, details: { Identifier: held.identifier, ServerToken: held.serverToken } }] }),
      };
      const bucket = held.group === 'activation' ? 'activations' : held.group === 'configuration' ? 'configurations' : held.group === 'asset' ? 'assets' : 'management';
      out[bucket]!.push(entry);
    }
    return out;
  }
}

/**
 * A StatusReport (declarative/protocol/statusreport.yaml): status items are reported nested by
 * the dots in their names, `passcode.is-compliant` as `{"passcode": {"is-compliant": …}}`.
 */
export function statusReport(items: ReadonlyMap<string, unknown>, fullReport = false): Record<string, unknown> {
  const statusItems: Record<string, unknown> = {};
  for (const [name, value] of items) {
    const path = name.split('.');
    let node = statusItems;
    for (const part of path.slice(0, -1)) {
      const next = node[part];
      node = isObject(next) ? next : (node[part] = {}) as Record<string, unknown>;
    }
    node[path.at(-1)!] = value;
  }
  return { StatusItems: statusItems, Errors: [], ...(fullReport && { FullReport: true }) };
}

function readPath(value: unknown, path: readonly string[]): unknown {
  let node = value;
  for (const key of path) {
    if (!isObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

// Declarative Device Management over the DeclarativeManagement check-in
// (declarative/protocol/*.yaml). Until passcode declarations are assigned to devices (the
// compliance work), every device gets the truthful answer "no declarations", with a stable token,
// and its status reports are accepted.
import { createHash } from 'node:crypto';
import type { RequestContext } from '../mdm/handler.ts';
import { DeviceRefusedError } from './device-refusal.ts';

interface DeclarativeRequest {
  Endpoint: string;
}

const EMPTY_MANIFEST = { Activations: [], Configurations: [], Assets: [], Management: [] };
const EMPTY_TOKEN = createHash('sha256').update(JSON.stringify(EMPTY_MANIFEST)).digest('hex').slice(0, 32);
// Fixed, so the token never changes while the manifest does not.
const EMPTY_TIMESTAMP = '2026-01-01T00:00:00Z';

export async function declarativeManagementAnswer(_ctx: RequestContext, message: DeclarativeRequest): Promise<Uint8Array | undefined> {
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  switch (message.Endpoint) {
    case 'tokens':
      return json({ SyncTokens: { DeclarationsToken: EMPTY_TOKEN, Timestamp: EMPTY_TIMESTAMP } });
    case 'declaration-items':
      return json({ Declarations: EMPTY_MANIFEST, DeclarationsToken: EMPTY_TOKEN });
    case 'status':
      return undefined;
    default:
      throw new DeviceRefusedError(404, `no declaration at ${message.Endpoint}`);
  }
}

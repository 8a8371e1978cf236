// The device side of the MDM protocol, over HTTP only, as a real Apple device speaks it: plist
// bodies, each signed with the device identity in an Mdm-Signature header (detached CMS). The
// simulated devices build their behaviour on top of this.
import { signCms } from '../crypto/cms-signer.ts';
import type { SigningIdentity } from '../crypto/cms-signer.ts';
import { decodePlist, encodePlist } from '../plist/plist-codec.ts';

export interface MdmClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8080 */
  serverUrl: string;
  identity: SigningIdentity;
  checkInPath?: string;
  connectPath?: string;
}

export interface MdmResponse {
  status: number;
  body: Buffer;
  /** The decoded plist body, when the server answered with one. */
  plist?: Record<string, unknown>;
}

export class MdmClient {
  readonly #options: Required<Omit<MdmClientOptions, 'identity'>> & { identity: SigningIdentity };

  constructor(options: MdmClientOptions) {
    this.#options = { checkInPath: '/mdm/checkin', connectPath: '/mdm/connect', ...options };
  }

  /** A check-in message (Authenticate, TokenUpdate, …). */
  checkIn(message: Record<string, unknown>): Promise<MdmResponse> {
    return this.send(this.#options.checkInPath, Buffer.from(encodePlist(message)), 'application/x-apple-aspen-mdm-checkin');
  }

  /** A command report (Idle, Acknowledged, …); the answer may carry the next command. */
  connect(report: Record<string, unknown>): Promise<MdmResponse> {
    return this.send(this.#options.connectPath, Buffer.from(encodePlist(report)), 'application/x-apple-aspen-mdm');
  }

  async signatureFor(body: Buffer): Promise<string> {
    return (await signCms(body, this.#options.identity, { detached: true })).toString('base64');
  }

  /** Sends exact bytes, signed unless `headers` says otherwise: for tests of hostile input. */
  async send(path: string, body: Buffer, contentType: string, headers: Record<string, string> = {}): Promise<MdmResponse> {
    const signature: Record<string, string> = 'Mdm-Signature' in headers ? {} : { 'Mdm-Signature': await this.signatureFor(body) };
    const response = await fetch(new URL(path, this.#options.serverUrl), {
      method: 'PUT',
      headers: { 'Content-Type': contentType, ...signature, ...headers },
      body,
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const isPlist = bytes.length > 0 && (response.headers.get('content-type') ?? '').includes('xml');
    return { status: response.status, body: bytes, ...(isPlist && { plist: decodePlist(bytes) as Record<string, unknown> }) };
  }
}

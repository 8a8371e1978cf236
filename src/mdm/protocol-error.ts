/**
 * A device, or a tool posting raw commands, sent something the MDM protocol does not allow.
 * `reason` names the key and what was wrong with it; it is bounded and never echoes a value
 * unquoted, so it is safe for logs and for a 400 response body.
 */
export class MdmProtocolError extends Error {
  override readonly name = 'MdmProtocolError';
  readonly status = 400 as const;
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

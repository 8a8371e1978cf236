// One error type for "who is this device?" refusals, whether the identity came from an
// Mdm-Signature header, a TLS proxy's client-certificate header, or the trust check itself.
// The reason code is short and stable so logs can count it and http/ can map it: 'malformed'
// is the client's fault (400); the rest mean "not authenticated" (401/403).

export type MdmSignatureReason =
  /** No Mdm-Signature (or proxy certificate) header at all: the enrollment lacks SignMessage. */
  | 'missing'
  | 'malformed'
  | 'unsupported-algorithm'
  | 'no-signer-certificate'
  | 'digest-mismatch'
  | 'bad-signature'
  | 'untrusted'
  | 'expired'
  | 'not-yet-valid';

export class MdmSignatureError extends Error {
  override readonly name = 'MdmSignatureError';

  constructor(
    readonly reason: MdmSignatureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

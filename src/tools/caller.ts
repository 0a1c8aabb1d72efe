// Who is calling: the credential forwarded upstream, and a fingerprint that stands for it anywhere it
// must be recorded (gate digests, audit lines). The fingerprint is a hash; the credential never leaves.
import { fingerprint } from "../fingerprint.js";

export interface Caller {
  readonly credential: string;
  readonly fingerprint: string;
  /** A daily credit limit of this caller's own (an OAuth grant's), besides the operator's caps. */
  readonly maxCreditsPerDay?: number;
  /**
   * An OAuth spend grant on a server with passkeys: its spends get the confirmation page even with no
   * elicitation, bound to this caller's account (its fingerprint) and confirmed only with its passkey.
   */
  readonly passkeyPage?: true;
}

export function callerFor(credential: string, maxCreditsPerDay?: number, passkeyPage?: boolean): Caller {
  return Object.freeze({ credential, fingerprint: fingerprint(credential), ...(maxCreditsPerDay !== undefined ? { maxCreditsPerDay } : {}), ...(passkeyPage ? { passkeyPage: true as const } : {}) });
}

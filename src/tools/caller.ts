// Who is calling: the credential forwarded upstream, and a fingerprint that stands for it anywhere it
// must be recorded (gate digests, audit lines). The fingerprint is a hash; the credential never leaves.
import { fingerprint } from "../fingerprint.js";

export interface Caller {
  readonly credential: string;
  readonly fingerprint: string;
  /** A daily credit limit of this caller's own (an OAuth grant's), besides the operator's caps. */
  readonly maxCreditsPerDay?: number;
}

export function callerFor(credential: string, maxCreditsPerDay?: number): Caller {
  return Object.freeze({ credential, fingerprint: fingerprint(credential), ...(maxCreditsPerDay !== undefined ? { maxCreditsPerDay } : {}) });
}

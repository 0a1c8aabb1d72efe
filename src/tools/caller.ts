// Who is calling: the credential forwarded upstream, and a fingerprint that stands for it anywhere it
// must be recorded (gate digests, audit lines). The fingerprint is a hash; the credential never leaves.
import { fingerprint } from "../fingerprint.js";

export interface Caller {
  readonly credential: string;
  readonly fingerprint: string;
}

export function callerFor(credential: string): Caller {
  return Object.freeze({ credential, fingerprint: fingerprint(credential) });
}

// Who is calling: the credential forwarded upstream, and a fingerprint that stands for it anywhere it
// must be recorded (gate digests, audit lines). The fingerprint is a hash; the credential never leaves.
import { createHash } from "node:crypto";

export interface Caller {
  readonly credential: string;
  readonly fingerprint: string;
}

export function callerFor(credential: string): Caller {
  const fingerprint = "fp_" + createHash("sha256").update(credential).digest("hex").slice(0, 16);
  return Object.freeze({ credential, fingerprint });
}

// The passkey side of OAuth mode, in one object shared by the consent page (enrolment, the session
// cookie), the account page and the confirmation page (assertions): the relying party, the records in
// the gate's store, and the bundled browser script. Absent (undefined) when the public URL cannot be a
// relying party (an IP address): OAuth spend grants then keep the hosted rule (no elicitation: refused).
import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import type { OAuthRecords } from "../store/types.js";
import { relyingPartyOf, type RelyingParty } from "./rp.js";
import { createPasskeyRecords, type PasskeyRecords } from "./records.js";

export const SCRIPT_PATH = "/oauth/passkey.js";

export interface PasskeyService {
  rp: RelyingParty;
  records: PasskeyRecords;
  /** Serves the bundled browser script (GET SCRIPT_PATH). */
  serveScript(res: ServerResponse): void;
}

export function createPasskeyService(publicUrl: string, records: OAuthRecords): PasskeyService | { off: string } {
  const rp = relyingPartyOf(publicUrl);
  if ("off" in rp) return rp;
  let script: string;
  try {
    script = readFileSync(new URL("./browser.js", import.meta.url), "utf8");
  } catch {
    return { off: "dist/src/passkey/browser.js is missing (the build bundles it: run `npm run build` with dev dependencies installed)" };
  }
  return {
    rp,
    records: createPasskeyRecords(records),
    serveScript(res) {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache", "x-content-type-options": "nosniff" }).end(script);
    },
  };
}

/** JSON for a <script type="application/json"> block: "<" escaped, so nothing closes the element. */
export const jsonForScript = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");

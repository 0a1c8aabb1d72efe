// The confirmation page of a spend from an OAuth spend grant (bound by the gate to the grant's account,
// src/passkey/records.ts "PasskeyBound"). It confirms only when the request carries the browser session
// of that same account (the __Host- cookie set at consent) AND a WebAuthn assertion with user
// verification, over a challenge that covers this confirmation id and the charge's hash, verifies
// against one of that account's passkeys. The link, the page's form token, an MCP access token or a
// Geopera key never confirm. Without the session the page shows no charge form: the person signs in
// again with their key, as at consent (which sets the cookie), and comes back.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Confirmation } from "../store/types.js";
import { keyRefusal, type CredentialOwner } from "../upstream/verify.js";
import { fingerprint } from "../fingerprint.js";
import { escapeHtml as e, layout, renderConfirmPage } from "../gate/page.js";
import { sessionCookieHeader, sessionCookieOf } from "./cookie.js";
import { jsonForScript, SCRIPT_PATH, type PasskeyService } from "./service.js";
import { assertionOptions, chargeHash, verifyAssertion } from "./webauthn.js";

import { ACCOUNT_PATH } from "./account.js";
import { GEOPERA_KEY } from "../transport/bearer.js";

export type PasskeyDecision = { ok: true; detail: string } | { ok: false; status: number; title: string; message: string };

export interface PasskeyPageDeps {
  service: PasskeyService;
  checkKey(key: string, signal: AbortSignal): Promise<CredentialOwner>;
}

export function renderSignInAgain(c: Confirmation, problem?: string): string {
  return layout(
    "Sign in to confirm — Geopera billing",
    `<h1>Sign in to confirm this charge</h1><p class="sub">Geopera billing · nothing is charged unless you confirm</p>
${problem ? `<div class="what">${e(problem)}</div>` : ""}<p>This charge can only be confirmed in the browser you connected the app with. Sign in with the same Geopera API key you used then; then confirm with your passkey.</p>
<form method="post">
<p><label>Geopera API key (gpra_…)<br><input type="password" name="key" autocomplete="off" spellcheck="false" size="48" required></label></p>
<div class="buttons"><button class="yes" type="submit" name="decision" value="signin">Sign in</button></div></form>
<p class="note">Asked for ${e(c.view.summary)}; expires ${e(new Date(c.expiresAt).toISOString())}.</p>`,
  );
}

export function createPasskeyPage(d: PasskeyPageDeps) {
  const { service } = d;
  const sessionAccount = (req: IncomingMessage) => service.records.sessionAccount(sessionCookieOf(req));

  return {
    /** GET of a bound confirmation: the charge with the passkey button, or the sign-in form. */
    async show(req: IncomingMessage, c: Confirmation, account: string, now: number): Promise<{ status: number; html: string }> {
      if ((await sessionAccount(req)) !== account) return { status: 401, html: renderSignInAgain(c) };
      const none = (await service.records.passkeys(account)).length === 0;
      const options = await assertionOptions(service.rp, service.records, account, c.id, chargeHash(c));
      return { status: 200, html: renderConfirmPage(c, now, { optionsJson: jsonForScript(options), scriptPath: SCRIPT_PATH, accountPath: ACCOUNT_PATH, none }) };
    },

    /** The sign-in form's POST: the same key as the grant's sets the session cookie, then back to the page. */
    async signIn(res: ServerResponse, c: Confirmation, account: string, key: string): Promise<{ status: number; html: string } | undefined> {
      if (!GEOPERA_KEY.test(key) || fingerprint(key) !== account) return { status: 403, html: renderSignInAgain(c, "That is not the key this app was connected with.") };
      const owner = await d.checkKey(key, AbortSignal.timeout(10_000));
      if (owner.verdict !== "accepted") {
        const refused = keyRefusal(owner.verdict);
        return { status: refused.status, html: renderSignInAgain(c, refused.message) };
      }
      res.writeHead(303, { location: `/confirm/${c.id}`, "set-cookie": sessionCookieHeader(await service.records.newSession(account)), "cache-control": "no-store" }).end();
      return undefined;
    },

    /** A "confirm" POST: session of the account, then the assertion. On success, the audit's detail. */
    async check(req: IncomingMessage, c: Confirmation, account: string, assertion: unknown): Promise<PasskeyDecision> {
      const session = await sessionAccount(req);
      if (session === undefined) return { ok: false, status: 401, title: "Sign in first", message: "This charge can only be confirmed in the browser signed in for this app's account. Open the link again and sign in. Nothing was charged." };
      if (session !== account) return { ok: false, status: 403, title: "Refused", message: "This browser is signed in for another account. Nothing was charged." };
      if (!assertion || typeof assertion !== "object") return { ok: false, status: 400, title: "Refused", message: "Confirming needs your passkey. Nothing was charged." };
      const r = await verifyAssertion(service.rp, service.records, account, c.id, chargeHash(c), assertion);
      if (!r.ok) return { ok: false, status: 403, title: "Refused", message: `The passkey check failed (${r.reason}). Nothing was charged.` };
      return { ok: true, detail: `passkey account=${account} credential=${r.credentialId} uv=${r.userVerified}` };
    },
  };
}

export type PasskeyPage = ReturnType<typeof createPasskeyPage>;

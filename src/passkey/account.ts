// /oauth/account: the person's passkeys, behind the same sign-in as consent (the Geopera key, which sets
// the __Host- session cookie; or the cookie consent already set). It lists the account's passkeys (their
// credential ids and dates, never key material), adds one (WebAuthn registration with user verification,
// the same script as consent) and removes one. POSTs must come from the page's own origin (a browser
// always sends Origin on a form POST) and the cookie is SameSite=Lax, so another site cannot post here.
// The Geopera key is the account's root credential: whoever holds it can connect an app and enrol a
// passkey. What the passkey stops is the agent, which holds neither the key (sealed on this server for
// its grant) nor the person's browser session nor their authenticator.
import type { IncomingMessage, ServerResponse } from "node:http";
import { keyRefusal, type CredentialOwner } from "../upstream/verify.js";
import type { Logger } from "../log.js";
import { fingerprint } from "../fingerprint.js";
import { escapeHtml as e, layout } from "../gate/page.js";
import { sessionCookieHeader, sessionCookieOf } from "./cookie.js";
import { jsonForScript, SCRIPT_PATH, type PasskeyService } from "./service.js";
import { registrationOptions, verifyRegistration } from "./webauthn.js";
import { readForm } from "../transport/formBody.js";
import { htmlPageHeaders } from "../transport/pageHeaders.js";
import { GEOPERA_KEY } from "../transport/bearer.js";

export const ACCOUNT_PATH = "/oauth/account";
const MAX_FORM_BYTES = 32_768;

// The pages' headers (transport/pageHeaders.ts): forms post to this page only.
const HEADERS = htmlPageHeaders({ formAction: "'self'" });

function renderSignIn(problem?: string): string {
  return layout(
    "Your passkeys — Geopera billing",
    `<h1>Your passkeys</h1><p class="sub">Geopera billing · sign in with the Geopera API key you connect apps with</p>
${problem ? `<div class="what">${e(problem)}</div>` : ""}<form method="post">
<p><label>Geopera API key (gpra_…)<br><input type="password" name="key" autocomplete="off" spellcheck="false" size="48" required></label></p>
<div class="buttons"><button class="yes" type="submit" name="step" value="signin">Sign in</button></div></form>`,
  );
}

function renderAccount(account: string, list: { id: string; createdAt: number }[], options: unknown, problem?: string): string {
  const rows = list.length
    ? list.map((p) => `<tr><td>${e(p.id)}<br><small>added ${e(new Date(p.createdAt).toISOString())}</small></td><td><form method="post"><input type="hidden" name="id" value="${e(p.id)}"><button type="submit" name="step" value="remove">Remove</button></form></td></tr>`).join("")
    : `<tr><td colspan="2">No passkey yet: charges asked by apps cannot be confirmed until you add one.</td></tr>`;
  return layout(
    "Your passkeys — Geopera billing",
    `<h1>Your passkeys</h1><p class="sub">Geopera billing · key ${e(account)}</p>
${problem ? `<div class="what">${e(problem)}</div>` : ""}<p class="what" id="passkey-problem" hidden></p>
<p>Charges that connected apps ask for are confirmed with one of these passkeys, in a browser signed in here.</p>
<table><tr><th>Passkey (credential id)</th><th></th></tr>${rows}</table>
<form method="post" id="allow-form"><input type="hidden" name="passkey" value="">
<div class="buttons"><button class="yes" type="submit" name="step" value="allow">Add a passkey on this device</button></div></form>
<script type="application/json" id="passkey-registration">${jsonForScript(options)}</script><script src="${SCRIPT_PATH}" defer></script>`,
  );
}

export function createAccountRoutes(d: { service: PasskeyService; checkKey(key: string, signal: AbortSignal): Promise<CredentialOwner>; log: Logger }) {
  const { service } = d;
  const send = (res: ServerResponse, status: number, html: string) => void res.writeHead(status, HEADERS).end(html);
  const back = (res: ServerResponse, cookie?: string) => void res.writeHead(303, { location: ACCOUNT_PATH, "cache-control": "no-store", ...(cookie ? { "set-cookie": cookie } : {}) }).end();

  /** The page for a signed-in session: a fresh registration challenge kept for this session. */
  const page = async (res: ServerResponse, session: string, account: string, status = 200, problem?: string) => {
    const list = await service.records.passkeys(account);
    const options = await registrationOptions(service.rp, account, list);
    await service.records.saveRegistration(session, options.challenge);
    send(res, status, renderAccount(account, list, options, problem));
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const session = sessionCookieOf(req);
    const account = await service.records.sessionAccount(session);
    if (req.method === "GET") return account && session ? page(res, session, account) : send(res, 200, renderSignIn());
    if (req.method !== "POST") return void res.writeHead(405, { allow: "GET, POST" }).end();
    if (req.headers.origin !== service.rp.origin) return send(res, 403, renderSignIn("This form can only be submitted from its own page."));
    const form = await readForm(req, MAX_FORM_BYTES);
    if (!form) return send(res, 413, renderSignIn("Too large."));
    const step = form.get("step");
    if (step === "signin") {
      const key = (form.get("key") ?? "").trim();
      if (!GEOPERA_KEY.test(key)) return send(res, 400, renderSignIn("That is not a Geopera API key (they start with gpra_)."));
      const owner = await d.checkKey(key, AbortSignal.timeout(10_000));
      if (owner.verdict !== "accepted") {
        const refused = keyRefusal(owner.verdict);
        return send(res, refused.status, renderSignIn(refused.message));
      }
      return back(res, sessionCookieHeader(await service.records.newSession(fingerprint(key))));
    }
    if (!account || !session) return send(res, 401, renderSignIn("Sign in first."));
    if (step === "remove") {
      const id = form.get("id") ?? "";
      const list = await service.records.passkeys(account);
      await service.records.savePasskeys(account, list.filter((p) => p.id !== id));
      d.log.info("passkey removed", { caller: account, credential: id });
      return back(res);
    }
    if (step === "allow") {
      const challenge = await service.records.takeRegistration(session);
      let response: unknown;
      try {
        response = JSON.parse(form.get("passkey") ?? "");
      } catch {
        response = undefined;
      }
      const passkey = challenge && response ? await verifyRegistration(service.rp, response, challenge) : undefined;
      if (!passkey) return page(res, session, account, 400, "No passkey was added: it needs user verification (fingerprint, face or PIN). Try again.");
      const list = await service.records.passkeys(account);
      await service.records.savePasskeys(account, [...list.filter((p) => p.id !== passkey.id), passkey]);
      d.log.info("passkey enrolled", { caller: account, credential: passkey.id });
      return back(res);
    }
    return send(res, 400, renderSignIn("The form was incomplete."));
  };
}

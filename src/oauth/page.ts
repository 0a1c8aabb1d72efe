// The sign-in and consent page (same standards as the confirmation page, src/gate/page.ts: plain HTML,
// every value escaped, no script, POST-only forms with a CSRF token). Step one asks for the key and the
// access to grant; step two names the organization the key belongs to and asks once more. The key is a
// password field posted in the body: it is never in a URL and never written back into a page.
import { escapeHtml as e, layout } from "../gate/page.js";
import type { Tier } from "./provider.js";
import { SCRIPT_PATH, jsonForScript } from "../passkey/service.js";

export interface ClientView {
  name: string;
  /** How the client is known: the operator's, its own metadata document, or self-registered. */
  source: "operator" | "document" | "registered";
  clientId: string;
  redirectHost: string;
}

const TIER_TEXT: Record<Tier, string> = {
  read: "Read: balances, prices, usage and history. Nothing is computed or charged.",
  draft: "Draft: read, and compute quotes and drafts. Nothing is charged.",
  spend: "Spend: everything, including charges. Every charge still asks you to confirm it.",
};

function clientRows(c: ClientView): string {
  const source =
    c.source === "operator"
      ? "registered by this server's operator"
      : c.source === "document"
        ? `described by its own metadata document at ${c.clientId}`
        : "registered itself (unverified: the name is whatever the app said)";
  return `<table><tr><th>App</th><td>${e(c.name)}</td></tr><tr><th>How it is known</th><td>${e(source)}</td></tr><tr><th>Sends you back to</th><td>${e(c.redirectHost)}</td></tr></table>`;
}

export function renderSignInPage(c: ClientView, csrf: string, problem?: string): string {
  const tiers = (Object.keys(TIER_TEXT) as Tier[])
    .map((t, i) => `<p><label><input type="radio" name="tier" value="${t}"${i === 0 ? " checked" : ""}> ${e(TIER_TEXT[t])}</label></p>`)
    .join("");
  return layout(
    "Connect an app — Geopera billing",
    `<h1>Connect ${e(c.name)} to Geopera billing</h1><p class="sub">Sign in with a Geopera API key. The app never sees the key.</p>
${problem ? `<div class="what">${e(problem)}</div>` : ""}${clientRows(c)}
<form method="post">
<input type="hidden" name="csrf" value="${e(csrf)}">
<p><label>Geopera API key (gpra_…)<br><input type="password" name="key" autocomplete="off" spellcheck="false" size="48" required></label></p>
${tiers}
<p><label>With Spend, at most <input type="number" name="cap" min="1" step="1" size="8"> credits per day (UTC) through this app (empty: no limit of your own)</label></p>
<div class="buttons"><button class="yes" type="submit" name="step" value="check">Continue</button>
<button type="submit" name="step" value="deny" formnovalidate>Cancel</button></div></form>
<p class="note">The key is kept encrypted on this server and used only for this app's requests. You can disconnect the app at any time from the app's own settings.</p>`,
  );
}

export function renderConfirmGrantPage(c: ClientView, csrf: string, tier: Tier, organization: string | undefined, maxCreditsPerDay?: number, passkeyRegistration?: unknown): string {
  // Spend with passkeys: "Allow" first makes a passkey (the bundled script), then submits the form with it.
  const passkey = passkeyRegistration
    ? `<p>Allowing spending makes a <b>passkey</b> for this key on this device (your fingerprint, face or device PIN). Every charge the app asks for is confirmed on a page with that passkey, in this browser; the app itself can never confirm.</p>
<p class="what" id="passkey-problem" hidden></p><script type="application/json" id="passkey-registration">${jsonForScript(passkeyRegistration)}</script><script src="${SCRIPT_PATH}" defer></script>`
    : "";
  return layout(
    "Allow access — Geopera billing",
    `<h1>Allow ${e(c.name)}?</h1><p class="sub">Geopera billing</p>
<div class="what">This key belongs to organization ${e(organization ?? "(the API did not name it)")}.</div>${clientRows(c)}
<table><tr><th>Access</th><td>${e(TIER_TEXT[tier])}</td></tr>${maxCreditsPerDay !== undefined ? `<tr><th>Daily limit</th><td>${e(String(maxCreditsPerDay))} credits per day (UTC)</td></tr>` : ""}</table>${passkey}
<form method="post" id="allow-form">
<input type="hidden" name="csrf" value="${e(csrf)}">${passkeyRegistration ? '<input type="hidden" name="passkey" value="">' : ""}
<input type="hidden" name="tier" value="${e(tier)}">
<div class="buttons"><button class="yes" type="submit" name="step" value="allow">Allow</button>
<button type="submit" name="step" value="deny">Cancel</button></div></form>`,
  );
}

export function renderMessagePage(title: string, message: string): string {
  return layout(title, `<h1>${e(title)}</h1><p>${e(message)}</p>`);
}

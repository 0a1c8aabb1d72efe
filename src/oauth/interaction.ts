// /oauth/interaction/<uid>: the sign-in and consent page oidc-provider sends a person to. GET shows step
// one; POST (same origin only, with the page's CSRF token) takes a step: "check" reads the balance with
// the pasted key (the API says whether it accepts it and which organization it acts for) and keeps the
// key sealed for this interaction only; "allow" creates the grant, seals the key again for the grant
// (AES-256-GCM, the grant id as associated data) and hands the person back to the library, which sends
// them to the app with a code; "deny" tells the app access_denied. The key is never logged, never put in
// a URL and never written into a page.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { OAuthRecords } from "../store/types.js";
import type { Logger } from "../log.js";
import { keyRefusal, type CredentialOwner } from "../upstream/verify.js";
import { fingerprint } from "../fingerprint.js";
import { seal, open, type Kek } from "./kek.js";
import { GRANT_KEY_MODEL, grantKeyOf, hashId } from "./adapter.js";
import { GRANT_TTL_S, TIERS, type OAuthProvider, type Tier } from "./provider.js";
import type { PasskeyService } from "../passkey/service.js";
import { registrationOptions, verifyRegistration } from "../passkey/webauthn.js";
import { sessionCookieHeader } from "../passkey/cookie.js";
import { renderConfirmGrantPage, renderMessagePage, renderSignInPage, type ClientView } from "./page.js";
import { readForm } from "../transport/formBody.js";
import { htmlPageHeaders } from "../transport/pageHeaders.js";
import { GEOPERA_KEY } from "../transport/bearer.js";

// The pages' headers (transport/pageHeaders.ts). form-action also governs the redirect that follows the
// sign-in POST: back to the app's callback (https, or a loopback one).
const HEADERS = htmlPageHeaders({ formAction: "'self' https: http://localhost:* http://127.0.0.1:* http://[::1]:*" });
// A passkey registration response (attestation "none") is a few kilobytes.
const MAX_FORM_BYTES = 32_768;
const PENDING_TTL_MS = 10 * 60_000;

export interface InteractionDeps {
  provider: OAuthProvider;
  records: OAuthRecords;
  keks: readonly Kek[];
  resource: string;
  issuerOrigin: string;
  staticClientIds: ReadonlySet<string>;
  checkKey(key: string, signal: AbortSignal): Promise<CredentialOwner>;
  /** Passkeys (a host-name public URL): a spend grant enrols one at consent. */
  passkeys?: PasskeyService;
  log: Logger;
}

const send = (res: ServerResponse, status: number, html: string) => void res.writeHead(status, HEADERS).end(html);


const pendingKeyOf = (uid: string) => `PendingKey:${hashId(uid)}`;

export function createInteractionRoutes(d: InteractionDeps) {
  // The CSRF token is bound to the interaction (whose own cookie the library checks as well).
  const csrfOf = (uid: string) => createHmac("sha256", d.keks[0]!.key).update(`geopera oauth csrf ${uid}`).digest("base64url");
  const csrfOk = (uid: string, given: string | null) => {
    const want = Buffer.from(csrfOf(uid));
    const got = Buffer.from(given ?? "");
    return want.length === got.length && timingSafeEqual(want, got);
  };

  const clientView = async (details: { params: Record<string, unknown> }): Promise<ClientView> => {
    const clientId = String(details.params.client_id);
    const client = await d.provider.Client.find(clientId);
    const redirect = String(details.params.redirect_uri ?? client?.redirectUris?.[0] ?? "");
    let redirectHost = "(unknown)";
    try {
      redirectHost = new URL(redirect).host;
    } catch {
      // shown as unknown
    }
    const source = d.staticClientIds.has(clientId) ? "operator" : /^https:\/\//.test(clientId) ? "document" : "registered";
    return { name: String(client?.clientName ?? clientId), source, clientId, redirectHost };
  };

  const finish = async (req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>) => {
    await d.provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  };

  return async (req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> => {
    let details;
    try {
      details = await d.provider.interactionDetails(req, res);
    } catch {
      return send(res, 400, renderMessagePage("Sign-in expired", "This sign-in is no longer valid. Go back to the app and connect again."));
    }
    if (details.uid !== uid) return send(res, 400, renderMessagePage("Sign-in expired", "This sign-in is no longer valid. Go back to the app and connect again."));
    const client = await clientView(details);
    if (req.method === "GET") return send(res, 200, renderSignInPage(client, csrfOf(uid)));
    if (req.method !== "POST") return void res.writeHead(405, { allow: "GET, POST" }).end();
    if (req.headers.origin !== d.issuerOrigin) return send(res, 403, renderMessagePage("Refused", "This form can only be submitted from its own page."));
    const form = await readForm(req, MAX_FORM_BYTES);
    if (!form || !csrfOk(uid, form.get("csrf"))) return send(res, 403, renderMessagePage("Refused", "This form does not belong to this sign-in. Go back to the app and connect again."));
    const step = form.get("step");
    const tier = form.get("tier") as Tier | null;

    if (step === "deny") {
      await d.records.remove(pendingKeyOf(uid));
      return finish(req, res, { error: "access_denied", error_description: "the person did not allow access" });
    }
    if (!tier || !TIERS.includes(tier)) return send(res, 400, renderSignInPage(client, csrfOf(uid), "Choose what the app may do."));

    // Spend only: an optional daily credit limit of the grant's own (empty: the operator's caps alone).
    const capText = (form.get("cap") ?? "").trim();
    const cap = tier === "spend" && capText !== "" ? Number(capText) : undefined;
    if (cap !== undefined && !(Number.isInteger(cap) && cap > 0 && cap <= 1e9)) return send(res, 400, renderSignInPage(client, csrfOf(uid), "The daily credit limit must be a whole number of credits, or empty."));

    if (step === "check") {
      const key = (form.get("key") ?? "").trim();
      if (!GEOPERA_KEY.test(key)) return send(res, 400, renderSignInPage(client, csrfOf(uid), "That is not a Geopera API key (they start with gpra_)."));
      const owner = await d.checkKey(key, AbortSignal.timeout(10_000));
      if (owner.verdict !== "accepted") {
        const refused = keyRefusal(owner.verdict);
        return send(res, refused.status, renderSignInPage(client, csrfOf(uid), refused.message));
      }
      // A spend grant enrols a passkey with this step's "Allow" (its challenge kept with the pending key).
      const registration = tier === "spend" && d.passkeys ? await registrationOptions(d.passkeys.rp, fingerprint(key), await d.passkeys.records.passkeys(fingerprint(key))) : undefined;
      await d.records.put(pendingKeyOf(uid), {
        model: "PendingKey",
        payload: { sealed: seal(d.keks, key, `pending ${uid}`), tier, ...(registration ? { registrationChallenge: registration.challenge } : {}), ...(owner.organization ? { organization: owner.organization } : {}), ...(cap !== undefined ? { maxCreditsPerDay: cap } : {}) },
        expiresAt: Date.now() + PENDING_TTL_MS,
      });
      d.log.info("oauth sign-in key accepted", { client: client.clientId, organization: owner.organization, caller: fingerprint(key) });
      return send(res, 200, renderConfirmGrantPage(client, csrfOf(uid), tier, owner.organization, cap, registration));
    }

    if (step === "allow") {
      const pending = await d.records.get(pendingKeyOf(uid));
      const key = pending ? open(d.keks, String(pending.payload.sealed), `pending ${uid}`) : undefined;
      if (!pending || key === undefined || pending.payload.tier !== tier) return send(res, 400, renderSignInPage(client, csrfOf(uid), "Paste the key again."));
      const accountId = fingerprint(key);
      // Spend with passkeys: the passkey made on the confirmation step, verified against its challenge
      // (user verification required), or no grant.
      if (typeof pending.payload.registrationChallenge === "string" && d.passkeys) {
        let response: unknown;
        try {
          response = JSON.parse(form.get("passkey") ?? "");
        } catch {
          response = undefined;
        }
        const passkey = response ? await verifyRegistration(d.passkeys.rp, response, pending.payload.registrationChallenge) : undefined;
        if (!passkey) return send(res, 400, renderSignInPage(client, csrfOf(uid), "A spend grant needs a passkey with user verification (fingerprint, face or PIN) and none was made. Paste the key again."));
        const list = await d.passkeys.records.passkeys(accountId);
        await d.passkeys.records.savePasskeys(accountId, [...list.filter((p) => p.id !== passkey.id), passkey]);
        d.log.info("passkey enrolled", { caller: accountId, credential: passkey.id });
      }
      await d.records.remove(pendingKeyOf(uid));
      const grant = new d.provider.Grant({ accountId, clientId: client.clientId });
      const requested = String(details.params.scope ?? "").split(" ");
      const oidc = requested.filter((s) => s === "openid" || s === "offline_access");
      if (oidc.length) grant.addOIDCScope(oidc.join(" "));
      // Tier names are resource scopes: as OpenID scopes they are answered "no" (else the library asks again).
      const tierNames = requested.filter((s) => (TIERS as readonly string[]).includes(s));
      if (tierNames.length) grant.rejectOIDCScope(tierNames.join(" "));
      // What the person chose, and "no" to the rest, so the library does not ask again for them.
      const chosen = TIERS.indexOf(tier) + 1;
      grant.addResourceScope(d.resource, TIERS.slice(0, chosen).join(" "));
      if (chosen < TIERS.length) grant.rejectResourceScope(d.resource, TIERS.slice(chosen).join(" "));
      const grantId: string = await grant.save();
      const organization = pending.payload.organization;
      await d.records.put(grantKeyOf(grantId), {
        model: GRANT_KEY_MODEL,
        payload: {
          sealed: seal(d.keks, key, grantId),
          tier,
          clientId: client.clientId,
          ...(typeof organization === "string" ? { organization } : {}),
          // The limit shown on the confirmation step (kept with the key), not one re-sent by the form.
          ...(tier === "spend" && typeof pending.payload.maxCreditsPerDay === "number" ? { maxCreditsPerDay: pending.payload.maxCreditsPerDay } : {}),
        },
        expiresAt: Date.now() + GRANT_TTL_S * 1000,
        grantId: hashId(grantId),
      });
      d.log.info("oauth grant created", { client: client.clientId, tier, organization, caller: accountId });
      // The person's browser session, for the confirmation and account pages (src/passkey/cookie.ts).
      if (d.passkeys) res.appendHeader("set-cookie", sessionCookieHeader(await d.passkeys.records.newSession(accountId)));
      return finish(req, res, { login: { accountId }, consent: { grantId } });
    }
    return send(res, 400, renderSignInPage(client, csrfOf(uid), "The form was incomplete."));
  };
}

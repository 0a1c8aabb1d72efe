// HTTP handler for /confirm/<id>: GET shows the charge, POST records the person's decision.
// A POST must come from the page's own origin (a browser always sends Origin on a form POST, so a
// missing or foreign Origin is refused) and carry the confirmation's own token. Confirmations live in
// the store, so with a shared store any replica can show the page and take the decision.
// A confirmation the gate bound to an OAuth spend grant's account (passkeys) is confirmed only through
// src/passkey/confirmPage.ts: that account's browser session and a passkey assertion; declining needs
// the form token only, as on every page (a "no" moves no money).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { GateStore } from "../store/types.js";
import type { Clock } from "./clock.js";
import { renderConfirmPage, renderOutcomePage } from "./page.js";
import { readBodyText } from "../transport/formBody.js";
import type { PasskeyPage } from "../passkey/confirmPage.js";
import { htmlPageHeaders } from "../transport/pageHeaders.js";

// The pages' headers (transport/pageHeaders.ts): the passkey script posts its assertion to this page.
const HEADERS = htmlPageHeaders({ formAction: "'self'", connectSelf: true });

// A passkey assertion with its JSON wrapping is a few kilobytes.
const MAX_FORM_BYTES = 32_768;

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, HEADERS).end(html);
}

/** The POST body: a form, or (the passkey script's) JSON; as a map of fields, assertion kept as an object. */
async function readForm(req: IncomingMessage): Promise<{ get(name: string): string | null; assertion?: unknown } | undefined> {
  const body = await readBodyText(req, MAX_FORM_BYTES);
  if (body === undefined) return undefined;
  if (!(req.headers["content-type"] ?? "").startsWith("application/json")) return new URLSearchParams(body);
  try {
    const o = JSON.parse(body) as Record<string, unknown>;
    if (!o || typeof o !== "object") return undefined;
    return { get: (name: string) => (typeof o[name] === "string" ? (o[name] as string) : null), assertion: o.assertion };
  } catch {
    return undefined;
  }
}

/** Runs (audit) after a decision is stored and before the person sees the outcome; `detail`: the passkey's. */
export type PageEvent = (outcome: "confirmed" | "declined", confirmationId: string, detail?: string) => Promise<void>;

/** Passkey binding: which account a call's confirmation is bound to (by gate digest), and the page for it. */
export interface PasskeyBinding {
  boundAccount(digest: string): Promise<string | undefined>;
  /** Undefined when this server has no passkeys (then a bound confirmation is never confirmed here). */
  page(): PasskeyPage | undefined;
}

/** Returns a handler that answers /confirm/* requests and reports false for any other path. */
export function createConfirmRoutes(store: Pick<GateStore, "getConfirmation" | "decideConfirmation">, clock: Clock, pageOrigin: () => string, onDecision: PageEvent, passkeys?: PasskeyBinding) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = (req.url ?? "").split("?")[0]!;
    const match = /^\/confirm\/([A-Za-z0-9_-]{10,64})$/.exec(path);
    if (!path.startsWith("/confirm/")) return false;
    if (!match) {
      send(res, 404, renderOutcomePage("Not found", "There is no confirmation at this address."));
      return true;
    }
    const id = match[1]!;
    if (req.method === "GET") {
      const c = await store.getConfirmation(id);
      if (!c) send(res, 404, renderOutcomePage("Not found", "This confirmation does not exist or has lapsed. Nothing was charged."));
      else if (c.state === "expired") send(res, 410, renderOutcomePage("Expired", "This confirmation has expired. Nothing was charged; ask your assistant to try again."));
      else if (c.state !== "pending") send(res, 409, renderOutcomePage("Already decided", `This request was already ${c.state}.`));
      else {
        const account = await passkeys?.boundAccount(c.digest);
        const page = account === undefined ? undefined : passkeys!.page();
        if (account === undefined) send(res, 200, renderConfirmPage(c, clock()));
        else if (!page) send(res, 503, renderOutcomePage("Cannot confirm here", "This charge needs a passkey, and this server has none configured. Nothing was charged."));
        else {
          const shown = await page.show(req, c, account, clock());
          send(res, shown.status, shown.html);
        }
      }
      return true;
    }
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "GET, POST" }).end();
      return true;
    }
    if (req.headers.origin !== pageOrigin()) {
      send(res, 403, renderOutcomePage("Refused", "This confirmation can only be submitted from its own page. Nothing was charged."));
      return true;
    }
    const form = await readForm(req);
    const decision = form?.get("decision");
    if (!form || (decision !== "confirm" && decision !== "decline" && decision !== "signin")) {
      send(res, 400, renderOutcomePage("Not understood", "The form was incomplete. Nothing was charged."));
      return true;
    }
    // Bound to an account: signing in, and confirming, go through the passkey page's checks first.
    let detail: string | undefined;
    const c = await store.getConfirmation(id);
    const account = c ? await passkeys?.boundAccount(c.digest) : undefined;
    if (decision === "signin" || (account !== undefined && decision === "confirm")) {
      const page = account === undefined ? undefined : passkeys!.page();
      if (!c || account === undefined || !page || c.state !== "pending") {
        send(res, c && c.state !== "pending" ? 409 : 400, renderOutcomePage("Not understood", "There is nothing to sign in for here. Nothing was charged."));
        return true;
      }
      if (decision === "signin") {
        const failed = await page.signIn(res, c, account, (form.get("key") ?? "").trim());
        if (failed) send(res, failed.status, failed.html);
        return true;
      }
      const verdict = await page.check(req, c, account, form.assertion);
      if (!verdict.ok) {
        send(res, verdict.status, renderOutcomePage(verdict.title, verdict.message));
        return true;
      }
      detail = verdict.detail;
    }
    const outcome = await store.decideConfirmation(id, form.get("token") ?? "", decision === "confirm");
    switch (outcome) {
      case "confirmed":
        await onDecision("confirmed", id, detail);
        send(res, 200, renderOutcomePage("Confirmed", "Go back to your assistant: it will now complete this charge, once. You can close this page."));
        break;
      case "declined":
        await onDecision("declined", id);
        send(res, 200, renderOutcomePage("Declined", "Nothing will be charged. You can close this page."));
        break;
      case "bad-token":
        send(res, 403, renderOutcomePage("Refused", "This form does not belong to this confirmation. Nothing was charged."));
        break;
      case "expired":
        send(res, 410, renderOutcomePage("Expired", "This confirmation has expired. Nothing was charged."));
        break;
      case "already-decided":
        send(res, 409, renderOutcomePage("Already decided", "This request was already decided."));
        break;
      case "unknown":
        send(res, 404, renderOutcomePage("Not found", "This confirmation does not exist or has lapsed. Nothing was charged."));
        break;
    }
    return true;
  };
}

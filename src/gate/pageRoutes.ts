// HTTP handler for /confirm/<id>: GET shows the charge, POST records the person's decision.
// A POST must come from the page's own origin (a browser always sends Origin on a form POST, so a
// missing or foreign Origin is refused) and carry the confirmation's own token. Confirmations live in
// the store, so with a shared store any replica can show the page and take the decision.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { GateStore } from "../store/types.js";
import type { Clock } from "./clock.js";
import { renderConfirmPage, renderOutcomePage } from "./page.js";
import { readForm } from "../transport/formBody.js";

const HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  // Not "no-referrer": with it, browsers send "Origin: null" on the form POST, which our Origin check refuses.
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

const MAX_FORM_BYTES = 4096;

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, HEADERS).end(html);
}


/** Runs (audit) after a decision is stored and before the person sees the outcome. */
export type PageEvent = (outcome: "confirmed" | "declined", confirmationId: string) => Promise<void>;

/** Returns a handler that answers /confirm/* requests and reports false for any other path. */
export function createConfirmRoutes(store: Pick<GateStore, "getConfirmation" | "decideConfirmation">, clock: Clock, pageOrigin: () => string, onDecision: PageEvent) {
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
      else send(res, 200, renderConfirmPage(c, clock()));
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
    const form = await readForm(req, MAX_FORM_BYTES);
    const decision = form?.get("decision");
    if (!form || (decision !== "confirm" && decision !== "decline")) {
      send(res, 400, renderOutcomePage("Not understood", "The form was incomplete. Nothing was charged."));
      return true;
    }
    const outcome = await store.decideConfirmation(id, form.get("token") ?? "", decision === "confirm");
    switch (outcome) {
      case "confirmed":
        await onDecision("confirmed", id);
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

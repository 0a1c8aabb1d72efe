// The upstream half of "sessions are held only by credentials the API accepts" (src/transport/verify.ts):
// one balance read with the credential — the cheapest read every usable credential may make (the spend
// gate reads it too) — answered 2xx means accepted, 401/403 rejected, anything else unknown.
import type { UpstreamClient } from "./client.js";
import { usableOrganizationId } from "../gate/organization.js";

export type CredentialVerdict = "accepted" | "rejected" | "unknown";

export const VERIFY_OPERATION = "billing.credits.balance";

export function credentialVerifier(upstream: UpstreamClient): (token: string, signal: AbortSignal) => Promise<CredentialVerdict> {
  return async (token, signal) => {
    try {
      const response = await upstream.send({ operationId: VERIFY_OPERATION, body: "{}", credential: token, signal });
      await response.body.dump();
      const status = response.statusCode;
      if (status >= 200 && status < 300) return "accepted";
      // 403: the credential exists but may not read the balance — nor do anything this server offers.
      if (status === 401 || status === 403) return "rejected";
      return "unknown";
    } catch {
      return "unknown";
    }
  };
}

/** Who a credential acts for: the same balance read, with the organization it names (sign-in shows it). */
export type CredentialOwner = { verdict: "accepted"; organization?: string } | { verdict: "rejected" | "unknown" };

/** Why a key a person pasted on one of our pages cannot sign in: the status and the sentence to show. */
export function keyRefusal(verdict: "rejected" | "unknown"): { status: 403 | 503; message: string } {
  return verdict === "rejected"
    ? { status: 403, message: "The billing API does not accept this key." }
    : { status: 503, message: "The billing API could not check this key right now. Try again in a moment." };
}

export function credentialOwner(upstream: UpstreamClient): (token: string, signal: AbortSignal) => Promise<CredentialOwner> {
  return async (token, signal) => {
    try {
      const response = await upstream.send({ operationId: VERIFY_OPERATION, body: "{}", credential: token, signal });
      const status = response.statusCode;
      if (status < 200 || status >= 300) {
        await response.body.dump();
        return { verdict: status === 401 || status === 403 ? "rejected" : "unknown" };
      }
      const text = await response.body.text();
      let organization: string | undefined;
      try {
        const answer = JSON.parse(text) as Record<string, unknown>;
        organization = usableOrganizationId(answer.organization_id);
      } catch {
        // Accepted all the same: the page then says the organization is not known.
      }
      return { verdict: "accepted", ...(organization !== undefined ? { organization } : {}) };
    } catch {
      return { verdict: "unknown" };
    }
  };
}

// Confirmation on protocol 2026-07-28, where a server cannot push a question to the client: the first call
// of a spend ends with an input-required result (the same yes/no form as the 2025 path, or our page's URL)
// and the client calls again with the person's answer and the `requestState` we handed out.
//
// The state is ours and proves nothing on its own; it only ties the answer to the question. It is sealed
// with the SDK's HMAC codec under a secret the store keeps (every replica on one PostgreSQL store shares
// it), and carries: a nonce (used once, through the store), the digest of the exact call (tool, canonical
// arguments, caller), the channel and page confirmation it belongs to, a hash of the text the person was
// shown, and its expiry. The codec's own verify hook would answer every bad state with one fixed -32602, so
// the gate verifies here instead and says which it was (altered, expired, another call, already used);
// nothing is sent in any of those cases. Nothing is kept in memory between the two rounds: any replica can
// take the second.
import { createHash, randomUUID } from "node:crypto";
import { CLIENT_CAPABILITIES_META_KEY, createRequestStateCodec, inputRequired, type ClientCapabilities, type InputRequiredResult, type RequestStateCodec } from "@modelcontextprotocol/server";
import type { GateStore } from "../store/types.js";
import type { CallEnv } from "../tools/invoke.js";
import { CONFIRM_SCHEMA, type FormAnswer } from "./form.js";

/** What the sealed state says. Short keys: it travels on every retry. */
interface RoundState {
  /** Nonce, used once. */
  n: string;
  /** callDigest of the call asked about. */
  d: string;
  ch: "form" | "url";
  /** The page confirmation a URL round points at. */
  c?: string;
  /** SHA-256 of the text the person was shown. */
  t: string;
  /** Expiry, epoch ms (the codec checks its own copy; this one lets the store forget used nonces). */
  e: number;
}

/** What the second round brought, already checked against this call. */
export type Round =
  /** No state: the first call of this spend (or an agent's fresh repeat). */
  | { kind: "first" }
  /** A state that must not be honoured; `reason` is a fixed word for logs, `text` says it to the agent. */
  | { kind: "refused"; reason: "state_altered" | "state_expired" | "state_other_call" | "state_used"; text: string }
  | { kind: "answer"; channel: "form" | "url"; confirmation?: string; shownHash: string; form: FormAnswer; accepted: boolean };

export interface Rounds {
  /** Reads and checks the state and answer a retried call carries (modern requests only). */
  read(env: CallEnv, digest: string): Promise<Round>;
  /** Round one of the form channel: the same question as the 2025 form. */
  askForm(digest: string, text: string): Promise<InputRequiredResult>;
  /** Round one of the URL channel: the client opens our page; the person decides there. */
  askUrl(digest: string, text: string, link: string, confirmation: string): Promise<InputRequiredResult>;
}

/**
 * Exactly the spelling `mint` produces: "v1." body "." MAC, both unpadded base64url that decodes and
 * re-encodes to itself, the MAC 32 bytes. The codec decodes with atob, which skips spaces, takes "="
 * padding and ignores the unused low bits of the last character, so other spellings of an issued state
 * would verify too; only the issued string is honoured.
 */
function isCanonical(raw: string): boolean {
  const parts = raw.split(".");
  if (parts.length !== 3 || parts[0] !== "v1") return false;
  const [, body, mac] = parts as [string, string, string];
  const canonical = (part: string) => /^[A-Za-z0-9_-]+$/.test(part) && Buffer.from(part, "base64url").toString("base64url") === part;
  return canonical(body) && canonical(mac) && mac.length === 43;
}

/** The hash a state carries of the text shown, so a charge that changed between rounds is asked again. */
export const shownHash = (text: string) => createHash("sha256").update(text).digest("base64url").slice(0, 22);

/** True for a request of protocol 2026-07-28 (it carries the per-request envelope). */
export const isModernRequest = (env: CallEnv) => env.extra.mcpReq.envelope !== undefined;

/** The elicitation capabilities the client declared: per request on 2026-07-28, at initialize before. */
export function clientElicitation(env: CallEnv): { form?: object; url?: object } | undefined {
  const envelope = env.extra.mcpReq.envelope;
  // The envelope's keys are wire-only in the SDK's public types (typed `{}`), hence the cast.
  if (envelope) return (envelope as Record<string, ClientCapabilities | undefined>)[CLIENT_CAPABILITIES_META_KEY]?.elicitation;
  return env.server.getClientCapabilities()?.elicitation;
}

/**
 * `secret` is asked for on the first round, not at start: making the store's key (a file created and
 * fsync'd, or a database row) is work a process that never serves a 2026-07-28 spend should not pay.
 */
export function createRounds(secret: () => Promise<Uint8Array>, ttlMs: number, store: GateStore, clock: () => number): Rounds {
  let codecOnce: Promise<RequestStateCodec<RoundState>> | undefined;
  const codec = () =>
    (codecOnce ??= secret().then(
      (key) => createRequestStateCodec<RoundState>({ key, ttlSeconds: Math.max(1, Math.ceil(ttlMs / 1000)) }),
      (err: unknown) => {
        codecOnce = undefined; // a store that failed once may answer next time
        throw err;
      },
    ));
  const seal = async (s: Omit<RoundState, "n" | "e">) => (await codec()).mint({ ...s, n: randomUUID(), e: clock() + ttlMs });
  const NOTHING = "Nothing was charged.";
  const refused = (reason: Extract<Round, { kind: "refused" }>["reason"], text: string): Round => ({ kind: "refused", reason, text: `${text} ${NOTHING}` });

  return {
    async read(env, digest) {
      const raw: unknown = env.extra.mcpReq.requestState();
      if (raw === undefined) return { kind: "first" };
      // Outside the try: a store that cannot give the secret is a store failure (nothing sent), not a bad state.
      const verifier = await codec();
      let state: RoundState;
      try {
        if (typeof raw !== "string" || !isCanonical(raw)) throw new Error("malformed");
        state = await verifier.verify(raw, env.extra);
      } catch (err) {
        // The codec's reasons are fixed words: malformed, mac, expired, bind.
        if ((err as Error).message === "expired") return refused("state_expired", "This confirmation round has expired; call the tool again to ask the person again.");
        return refused("state_altered", "The confirmation state sent back was altered or is not one this server issued; call the tool again without it.");
      }
      if (state.d !== digest) {
        return refused("state_other_call", "The confirmation state sent back belongs to another call (another tool, other arguments or another caller); a person's answer counts only for the exact call they were asked about.");
      }
      if (!(await store.useRequestState(state.n, state.e))) {
        return refused("state_used", "This confirmation was already answered and used; call the tool again to ask the person again.");
      }
      const response = env.extra.mcpReq.inputResponses?.["confirm"] as { action?: unknown; content?: { confirm?: unknown } } | undefined;
      const action = response?.action;
      const form: FormAnswer =
        action === "decline" ? "declined" : action === "cancel" ? "cancelled" : action !== "accept" ? "failed" : response?.content?.confirm === true ? "yes" : "no";
      return { kind: "answer", channel: state.ch, confirmation: state.c, shownHash: state.t, form, accepted: action === "accept" };
    },

    async askForm(digest, text) {
      return inputRequired({
        inputRequests: { confirm: inputRequired.elicit({ message: text, requestedSchema: CONFIRM_SCHEMA }) },
        requestState: await seal({ d: digest, ch: "form", t: shownHash(text) }),
      });
    },

    async askUrl(digest, text, link, confirmation) {
      return inputRequired({
        inputRequests: { confirm: inputRequired.elicitUrl({ message: text, url: link }) },
        requestState: await seal({ d: digest, ch: "url", c: confirmation, t: shownHash(text) }),
      });
    },
  };
}

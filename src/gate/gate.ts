// The spend gate. Its rules, in order, for every call of a spend-class tool:
//  1. An identical spend (same tool, canonical arguments, caller) that is in flight is never sent again;
//     one that was sent in this run and never answered is re-sent with ITS key and bytes (no new key).
//  2. A person's confirmation of exactly this call, made on the page, is used once and then gone.
//  3. Otherwise the person is shown the charge (with what the API says about it) and asked once,
//     through a channel the model cannot answer: a form, or a page on our own origin.
//  4. Operator caps are checked before asking and again just before sending; over a cap, nothing is asked.
//  5. Anything short of a clear yes — no channel, decline, cancel, timeout, error, expiry — sends nothing.
// A confirmed spend gets a fresh Idempotency-Key, journaled before the request leaves.
// All state (confirmations, journal, daily totals, audit) lives in the store (src/store): files for one
// process, PostgreSQL for several replicas. Each check-and-mark is one atomic step of the store, so the
// rules hold across replicas: "this run" means this process; a row another process left is re-confirmed.
import { randomUUID } from "node:crypto";
import type { CallToolResult, InputRequiredResult } from "@modelcontextprotocol/server";
import type { Config } from "../config.js";
import type { CallEnv, InvokeDeps, SpendGate } from "../tools/invoke.js";
import { forward } from "../tools/invoke.js";
import type { ToolRecord } from "../tools/record.js";
import { recordByOperation } from "../tools/catalog.js";
import { shapeAnswer, toolError, MalformedAnswer, META_STATUS } from "../tools/results.js";
import { notSent, capReason, refusalSentence, type GateOutcome } from "./outcome.js";
import { acceptedUnreadable, isSuccessStatus, FILE_TOO_LARGE } from "../tools/accepted.js";
import { sendWithRetry, SPEND_RETRY_STATUS } from "../upstream/retry.js";
import { describeNetworkError } from "../upstream/errors.js";
import { redact, redactValue, redactedJson } from "../redact.js";
import type { AuditEvent, Confirmation, ConfirmationState, GateStore, SpendEntry } from "../store/types.js";
import { callDigest } from "./digest.js";
import { capViolation, needsCallerTotal, needsDailyTotal, unknownCredits } from "./caps.js";
import { spendFacts, factsAsText, previewObject, withServerFact, type SpendFactsResult } from "./facts.js";
import { chargedOrganization } from "./organization.js";
import { chooseChannel, type Channel } from "./channel.js";
import { askByForm, type FormAnswer } from "./form.js";
import { createConfirmRoutes } from "./pageRoutes.js";
import { createPasskeyRecords } from "../passkey/records.js";
import type { PasskeyPage } from "../passkey/confirmPage.js";
import { createPageServer } from "./pageServer.js";
import { systemClock, type Clock } from "./clock.js";
import { pendingMeta, META_IDEMPOTENCY_KEY } from "../card/meta.js";
import { confirmationView } from "../resources/confirmations.js";
import { createRounds, clientElicitation, isModernRequest, shownHash, type Round } from "./rounds.js";

export interface PageHost {
  /** Base URL the person opens, e.g. http://127.0.0.1:43121 or the hosted --public-url. */
  base(): Promise<string>;
  /** The origin a page POST must come from. */
  origin(): string;
}

export interface Gate extends SpendGate {
  /** Serves /confirm/* (mounted by the HTTP transport in hosted mode). */
  confirmRoutes: ReturnType<typeof createConfirmRoutes>;
  /** Hosted mode: the page lives on the HTTP listener; and a client without elicitation gets no link. */
  useHostedPage(host: PageHost): void;
  /** OAuth with passkeys: the page of a bound confirmation (src/passkey/confirmPage.ts). */
  usePasskeyPage(page: PasskeyPage): void;
  /** Stops the loopback page. The store is closed by its owner (the app). */
  close(): Promise<void>;
}

const NOTHING_CHARGED = "Nothing was charged.";
type Base = Pick<AuditEvent, "tool" | "digest" | "caller" | "args">;

export async function createSpendGate(config: Readonly<Config>, deps: Omit<InvokeDeps, "gate">, store: GateStore, clock: Clock = systemClock): Promise<Gate> {
  const operatorCaps = { maxCreditsPerCall: config.maxCreditsPerCall, maxCreditsPerDay: config.maxCreditsPerDay };
  /** The operator's caps, and the caller's own daily limit (an OAuth grant's) when it has one. */
  const capsOf = (caller: CallEnv["caller"]) => (caller.maxCreditsPerDay === undefined ? operatorCaps : { ...operatorCaps, callerMaxCreditsPerDay: caller.maxCreditsPerDay });
  const audit = (e: AuditEvent) => store.appendAudit(e);
  const reportInDoubt = (e: SpendEntry) =>
    deps.log.warn("spend in doubt from an earlier run or another replica: sent, never answered; it will be re-sent only with its own key after a person confirms again", {
      tool: e.tool,
      key: e.key,
      sent_at: new Date(e.sentAt).toISOString(),
    });
  for (const e of await store.spendsInDoubt()) reportInDoubt(e);
  // 2026-07-28 confirmation rounds: sealed with the operator's secret, or the one the store keeps (shared by
  // every replica on the store). Each state lives as long as a page confirmation.
  const rounds = createRounds(async () => config.requestStateSecret ?? (await store.requestStateSecret()), config.confirmTtlMs, store, clock);

  let pageHost: PageHost;
  let hosted = false;
  let passkeyPage: PasskeyPage | undefined;
  const passkeyRecords = createPasskeyRecords(store.oauth);
  const confirmRoutes = createConfirmRoutes(
    store,
    clock,
    () => pageHost.origin(),
    async (outcome, id, detail) => {
      const c = await store.getConfirmation(id);
      // A passkey confirmation's detail: the account, the passkey's credential id and the UV flag.
      if (c) await audit({ event: outcome, tool: c.tool, digest: c.digest, caller: c.caller, args: { ...c.args }, channel: "page", ...(detail ? { detail } : {}) });
    },
    { boundAccount: (digest) => passkeyRecords.boundAccount(digest), page: () => passkeyPage },
  );
  const loopbackPage = createPageServer(config.confirmPort, confirmRoutes);
  pageHost = { base: () => loopbackPage.origin(), origin: () => loopbackPage.currentOrigin() };

  const minutes = Math.round(config.confirmTtlMs / 60_000) || 1;
  const busy = (tool: string, key: string) =>
    notSent(`An identical ${tool} call is being sent right now or is still unsettled (key ${key}). Nothing more was sent.`, "busy", "in_flight");

  /** With a daily cap, a spend whose organization is unknown is refused: its budget cannot be counted. */
  const unknownOrganization = (tool: string, why: string) =>
    `${tool} refused: this server's limit of ${operatorCaps.maxCreditsPerDay} credits per day (UTC) counts per organization, and the organization this credential acts for could not be learned (${why})`;

  /**
   * Sends a confirmed spend: journal first (with the last cap check), then the same key and bytes on every
   * retry. `organization` is the one the gate learned before asking; a page confirmation used by a later
   * call learns it afresh here.
   */
  async function send(record: ToolRecord, args: Record<string, unknown>, env: CallEnv, digest: string, credits: number | undefined, channel: Channel, resume?: SpendEntry, organization?: string): Promise<CallToolResult> {
    const caller = env.caller;
    const caps = capsOf(caller);
    const base: Base = { tool: record.name, digest, caller: caller.fingerprint, args };
    let entry: SpendEntry;
    if (resume) {
      const claimed = await store.claimResend(resume.key);
      if (!claimed) return busy(record.name, resume.key);
      entry = claimed;
    } else {
      if (organization === undefined) {
        const daily = needsDailyTotal(caps, credits);
        const org = await chargedOrganization(deps, record, args, caller, { read: daily, signal: env.extra.mcpReq.signal });
        if ("id" in org) organization = org.id;
        else if (daily) {
          await audit({ ...base, event: "refused", channel, detail: `cap: organization unknown: ${org.unknown}` });
          return notSent(`${unknownOrganization(record.name, org.unknown)}. ${NOTHING_CHARGED} Ask the person to confirm again once the balance can be read.`, "refused", "organization_unknown");
        }
      }
      // The body is the redacted arguments' JSON: what is journaled is what is sent, on every retry.
      const body = redactedJson(args, [caller.credential]);
      const r = await store.reserveSpend({ key: randomUUID(), digest, tool: record.name, operationId: record.operationId, body, credits, caller: caller.fingerprint, organization }, caps);
      if ("busy" in r) return busy(record.name, r.busy.key);
      if ("over" in r) {
        await audit({ ...base, event: "refused", channel, detail: `cap: ${r.over}` });
        return notSent(`${record.name} refused: ${r.over}. ${NOTHING_CHARGED}`, "refused", capReason(r.over));
      }
      entry = r.entry;
    }
    try {
      await audit({ ...base, event: "sent", key: entry.key, channel });
    } catch (err) {
      await store.recordUnknown(entry.key).catch(() => {}); // not sent after all: no longer "in flight"
      throw err;
    }
    const resent = resume ? ` This re-sent the earlier unanswered request with its own Idempotency-Key, so the API charges it at most once.` : "";
    let response;
    try {
      // No client signal here: a client that goes away must not cut a spend between sent and journaled.
      ({ response } = await sendWithRetry(
        deps.upstream,
        { operationId: record.operationId, body: entry.body, credential: caller.credential, idempotencyKey: entry.key },
        { ...deps.retry, retryStatus: SPEND_RETRY_STATUS },
      ));
    } catch (err) {
      await settle(entry.key, undefined, { ...base, event: "unknown", key: entry.key, detail: describeNetworkError(err, deps.upstream.baseUrl) });
      return toolError(
        `${record.name}: ${describeNetworkError(err, deps.upstream.baseUrl)} The charge may or may not have gone through (Idempotency-Key ${entry.key}). ` +
          `Check billing_credits_transactions. Calling ${record.name} again with the same arguments re-sends this same request with the same key, so it cannot be charged twice.`,
      );
    }
    const status = response.statusCode;
    // A server error may have happened after the charge: keep the key for a retry, never mint a new one.
    if (status >= 500) await settle(entry.key, undefined, { ...base, event: "unknown", key: entry.key, status });
    else await settle(entry.key, status, { ...base, event: "answered", key: entry.key, status });
    const chargedOnce = `Charged once (Idempotency-Key ${entry.key}).${resent}`;
    let result: CallToolResult;
    try {
      result = await shapeAnswer(record, args, response, { ...deps.limits, secrets: [caller.credential] });
    } catch (err) {
      if (isSuccessStatus(status)) {
        const why = err instanceof MalformedAnswer ? err.message : `its answer broke off: ${describeNetworkError(err, deps.upstream.baseUrl)}`;
        return chargedUnreadable(record, status, redact(why, [caller.credential]), err instanceof MalformedAnswer ? err.kind : "stream_cut", entry.key, chargedOnce);
      }
      const why = err instanceof MalformedAnswer ? err.message : String(err);
      return toolError(`${record.name}: the API answered HTTP ${status} but ${why}. It may have charged (Idempotency-Key ${entry.key}); check billing_credits_transactions before doing anything else.`);
    }
    if (result.isError && isSuccessStatus(status)) {
      // A 2xx answer shaped as an error (a file too big to pass on): the charge still went through.
      return chargedUnreadable(record, status, FILE_TOO_LARGE, "file_too_large", entry.key, chargedOnce);
    }
    const note = result.isError
      ? status >= 500
        ? ` The charge may or may not have gone through (Idempotency-Key ${entry.key}); calling again with the same arguments re-sends it with the same key.`
        : ` ${NOTHING_CHARGED}`
      : ` ${chargedOnce}`;
    // The key goes in _meta too, for a view (the confirmation card) that shows what was charged.
    return { ...result, content: [...result.content, { type: "text", text: note.trim() }], _meta: { ...result._meta, [META_IDEMPOTENCY_KEY]: entry.key } };
  }

  /** A spend the API accepted (2xx) whose answer could not be read: charged, and said so (see tools/accepted.ts). */
  function chargedUnreadable(record: ToolRecord, status: number, why: string, kind: string, key: string, chargedOnce: string): CallToolResult {
    return acceptedUnreadable({
      lines: [
        `${record.name}: the API accepted the charge (HTTP ${status}), but its answer could not be read: ${why.replace(/\.$/, "")}. ` +
          `Do not call ${record.name} again for this; see the charge in billing_credits_transactions.`,
        chargedOnce,
      ],
      status,
      why,
      kind,
      fields: { charged_once: true, idempotency_key: key },
    });
  }

  /** Journal and audit after the request left. A store failure here is logged, never hides the answer. */
  async function settle(key: string, status: number | undefined, event: AuditEvent): Promise<void> {
    try {
      await (status === undefined ? store.recordUnknown(key) : store.recordAnswer(key, status));
      await audit(event);
    } catch (err) {
      deps.log.error("gate store failed after a spend left; its journal row stays unsettled (in doubt)", { key, error: (err as Error).message });
    }
  }

  /** Reads what the API says about the charge, so the person sees it. A failed read asks nothing. */
  async function gatherFacts(record: ToolRecord, args: Record<string, unknown>, env: CallEnv): Promise<(SpendFactsResult & { preview?: Record<string, unknown> }) | CallToolResult> {
    const preview = record.spend?.preview;
    if (!preview) return spendFacts(record, args, undefined, [env.caller.credential]);
    const previewRecord = recordByOperation(preview.operationId)!;
    const result = await forward(deps, previewRecord, preview.body(args), env.caller, env.extra.mcpReq.signal);
    const obj = previewObject(result);
    if (!obj) {
      const why = result.content.map((c) => (c.type === "text" ? c.text : "")).join(" ");
      // The read's HTTP status goes along: a 401/403 there (a revoked or under-privileged credential) is
      // logged at warn, and in hosted mode a 401 gives the session back, as on any other call.
      const status = result._meta?.[META_STATUS];
      return notSent(`${record.name} was not sent: the charge could not be shown to a person because ${previewRecord.name} failed. ${why} ${NOTHING_CHARGED}`, "refused", "preview_failed", typeof status === "number" ? { [META_STATUS]: status } : {});
    }
    return { ...spendFacts(record, args, obj, [env.caller.credential]), preview: obj };
  }

  async function spend(record: ToolRecord, agentArgs: Record<string, unknown>, env: CallEnv): Promise<CallToolResult | InputRequiredResult> {
    const caller = env.caller;
    const digest = callDigest(record.name, agentArgs, caller.fingerprint);
    // From here on the arguments are redacted values (the same object when nothing needed it): what the
    // person is shown, what is stored (confirmation, journal, audit) and what is sent are one and the
    // same, and a credential-shaped string an agent wrote is none of them. The digest stays on the
    // agent's own arguments, so a repeat of exactly this call is still recognised.
    const args = redactValue(agentArgs, [caller.credential]);
    const base: Base = { tool: record.name, digest, caller: caller.fingerprint, args };

    // 2026-07-28: a retried call carries the answer to our question and the state we sealed with it. A state
    // that is altered, expired, used or another call's ends the call here: nothing is sent.
    const modern = isModernRequest(env);
    const round: Round = modern ? await rounds.read(env, digest) : { kind: "first" };
    if (round.kind === "refused") {
      await audit({ ...base, event: "refused", channel: "none", detail: `request state: ${round.reason}` });
      return notSent(`${record.name} was not sent. ${round.text}`, "refused", round.reason);
    }

    // Rule 1.
    const open = await store.unsettledSpend(digest);
    if (open?.state === "sending") return busy(record.name, open.key);
    if (open?.mine && clock() - open.sentAt < config.confirmTtlMs) return send(record, args, env, digest, open.credits, "none", open);
    if (open && !open.mine) reportInDoubt(open);

    // Rule 2.
    const confirmed = await store.consumeConfirmation(digest);
    // A spend of this call left in doubt (an earlier run, another replica) is re-sent with ITS key: the page
    // told the person so ("Earlier attempt"), and a fresh key could charge twice.
    if (confirmed) return send(record, args, env, digest, confirmed.credits, "page", open);

    // Rule 3 and 4: facts, then caps, then ask.
    const facts = await gatherFacts(record, args, env);
    if ("content" in facts) {
      await audit({ ...base, event: "refused", channel: "none", detail: "preview failed" });
      return facts;
    }
    // The organization the spend is charged to: counted by the daily cap together with the caller.
    const caps = capsOf(caller);
    const daily = needsDailyTotal(caps, facts.credits);
    const org = await chargedOrganization(deps, record, args, caller, { preview: facts.preview, read: daily, signal: env.extra.mcpReq.signal });
    if (daily && "unknown" in org) {
      await audit({ ...base, event: "refused", channel: "none", detail: `cap: organization unknown: ${org.unknown}` });
      return notSent(`${unknownOrganization(record.name, org.unknown)}. ${NOTHING_CHARGED} No one was asked.`, "refused", "organization_unknown");
    }
    const organization = "id" in org ? org.id : undefined;
    const orgToday = daily && organization !== undefined ? { id: organization, today: await store.organizationCreditsToday(organization) } : undefined;
    const movesCredits = record.spend?.credits !== undefined || record.spend?.previewCredits !== undefined;
    const over = unknownCredits(caps, movesCredits, facts.credits) ?? capViolation(caps, facts.credits, needsCallerTotal(caps, facts.credits) ? await store.creditsToday(caller.fingerprint) : 0, orgToday);
    if (over) {
      await audit({ ...base, event: "refused", channel: "none", detail: `cap: ${over}` });
      return notSent(`${record.name} refused: ${over}. ${NOTHING_CHARGED} No one was asked.`, "refused", capReason(over));
    }
    if (open) {
      facts.view = withServerFact(facts.view, ["Earlier attempt", `An identical charge was sent at ${new Date(open.sentAt).toISOString()} and never answered; confirming re-sends that same request (Idempotency-Key ${open.key}), so the API charges it at most once.`]);
    }

    // An OAuth spend grant with passkeys gets the page like a stdio client: only its person can pass it.
    const channel = chooseChannel(config.confirmVia, clientElicitation(env), hosted && !caller.passkeyPage);
    if (channel === "none") {
      await audit({ ...base, event: "refused", channel: "none", detail: "no confirmation channel" });
      return notSent(
        `${record.name} needs a person's confirmation, and this client cannot show one (${config.confirmVia === "form" ? "the server requires form elicitation, which this client does not support" : "no elicitation support"}). ${NOTHING_CHARGED} ` +
          `Use billing_approvals_request to draft this purchase for a person to approve in Geopera.`,
        "refused",
        "no_channel",
      );
    }

    if (channel === "form") {
      const text = factsAsText(facts.view);
      let answer: FormAnswer;
      if (modern) {
        // Round one, or an answer to a question whose text is no longer what the charge looks like (the
        // API's figures moved between rounds): ask (again), with the text as it is now.
        if (round.kind !== "answer" || round.channel !== "form" || round.shownHash !== shownHash(text)) {
          await audit({ ...base, event: "asked", channel });
          return rounds.askForm(digest, text);
        }
        answer = round.form;
      } else {
        await audit({ ...base, event: "asked", channel });
        answer = await askByForm(env, text, config.confirmWaitMs);
      }
      if (answer !== "yes") {
        // A person's "no" is final: a page confirmation of this exact call (another session's, on a shared store) is closed too.
        if (answer === "no" || answer === "declined" || answer === "cancelled") await store.closeConfirmation({ digest });
        await audit({ ...base, event: answer === "timeout" ? "expired" : "declined", channel, detail: answer });
        const outcome: GateOutcome = answer === "timeout" ? "expired" : answer === "cancelled" ? "cancelled" : answer === "failed" ? "refused" : "declined";
        return notSent(`${record.name} was not sent. ${refusalSentence(answer, config.confirmWaitMs)} Ask the person before trying again.`, outcome, answer === "failed" ? "client_failed" : answer);
      }
      await audit({ ...base, event: "confirmed", channel });
      return send(record, args, env, digest, facts.credits, channel, open, organization);
    }

    // 2026-07-28, the answer to a URL round: the page it pointed at may already be decided (a "no" there
    // closed it, or it expired). That decision is the answer; a new page is not opened for it.
    if (channel === "url" && round.kind === "answer" && round.channel === "url" && round.confirmation) {
      const asked = await store.getConfirmation(round.confirmation);
      if (asked && asked.digest === digest && asked.state !== "pending" && asked.state !== "confirmed") {
        await audit({ ...base, event: asked.state === "expired" ? "expired" : "declined", channel, detail: asked.state });
        return notSent(`${record.name} was not sent. ${refusalSentence(asked.state, config.confirmWaitMs)}`, asked.state === "used" ? "refused" : asked.state, asked.state);
      }
    }

    // Page channels: one pending question per call, reused by repeat calls (on any replica). Bound to the
    // grant's account first, so the page never exists without its passkey rule.
    if (caller.passkeyPage) await passkeyRecords.bind(digest, caller.fingerprint, config.confirmTtlMs);
    const { confirmation: c, created } = await store.openConfirmation({ digest, tool: record.name, args, caller: caller.fingerprint, view: facts.view, credits: facts.credits });
    if (created) await audit({ ...base, event: "asked", channel });
    const link = `${await pageHost.base()}/confirm/${c.id}`;
    const expires = new Date(c.expiresAt).toISOString();

    if (channel === "url") {
      const text = factsAsText(facts.view);
      let state: ConfirmationState | "cancelled";
      if (modern) {
        // Round one (or a round about another page confirmation, or other figures): hand out the link.
        if (round.kind !== "answer" || round.channel !== "url" || round.confirmation !== c.id || round.shownHash !== shownHash(text)) {
          return rounds.askUrl(digest, text, link, c.id);
        }
        // The client opened the page; the person decides there (a confirmed page was already used by rule 2).
        state = round.accepted ? await store.waitForDecision(c.id, config.confirmWaitMs, env.extra.mcpReq.signal) : round.form === "declined" ? "declined" : "cancelled";
      } else {
        state = await askByUrl(env, c, link, text, config.confirmWaitMs, store);
      }
      if (state === "confirmed") {
        const mine = await store.consumeConfirmation(digest);
        if (mine) return send(record, args, env, digest, facts.credits, "url", open, organization);
        return notSent(`This confirmation was already used by another call. Nothing was charged by this call.`, "refused", "already_used");
      }
      if (state === "pending") {
        return notSent(`${record.name} is waiting for a person to confirm at ${link} (until ${expires}). ${NOTHING_CHARGED} After they confirm, call ${record.name} again with exactly the same arguments.`, "pending", "awaiting_page", pendingMeta(c.id, link, c.expiresAt, confirmationView(c)));
      }
      // A "no" is final: the page of a declined or cancelled elicitation confirms nothing afterwards.
      if (state === "declined" || state === "cancelled") await store.closeConfirmation({ id: c.id });
      await audit({ ...base, event: state === "expired" ? "expired" : "declined", channel, detail: state });
      return notSent(`${record.name} was not sent. ${refusalSentence(state, config.confirmWaitMs)}`, state === "used" ? "refused" : state, state);
    }

    return notSent(
      `Not charged yet: a person must confirm this charge. Show them this link and ask them to open it: ${link}\n` +
        `After they press "Confirm and charge", call ${record.name} again with exactly the same arguments; it then goes through once. ` +
        `The link works once and expires at ${expires} (${minutes} min). ${NOTHING_CHARGED}`,
      "pending",
      "awaiting_page",
      // For the confirmation card (MCP Apps): which confirmation this is, so it can read the server's record.
      pendingMeta(c.id, link, c.expiresAt, confirmationView(c)),
    );
  }

  return {
    confirmRoutes,
    useHostedPage(host) {
      pageHost = host;
      hosted = true;
    },
    usePasskeyPage(page) {
      passkeyPage = page;
    },
    async spend(record, args, env) {
      try {
        return await spend(record, args, env);
      } catch (err) {
        // Only the store can throw here, and never after a request left (see settle): nothing was sent.
        deps.log.error("gate store failed; nothing was sent", { tool: record.name, error: (err as Error).message });
        return notSent(`${record.name} was not sent: the server could not record it safely (${(err as Error).message}). ${NOTHING_CHARGED}`, "refused", "store_failed");
      }
    },
    async close() {
      await loopbackPage.close();
    },
  };
}

/** URL elicitation: the client opens our page; we wait (bounded) for the person's decision there. */
async function askByUrl(env: CallEnv, c: Confirmation, link: string, message: string, waitMs: number, store: GateStore) {
  try {
    const r = await env.extra.mcpReq.elicitInput(
      { mode: "url", elicitationId: c.id, url: link, message },
      { timeout: waitMs, signal: env.extra.mcpReq.signal },
    );
    if (r.action !== "accept") return r.action === "decline" ? "declined" : "cancelled";
  } catch {
    return "cancelled";
  }
  const state = await store.waitForDecision(c.id, waitMs, env.extra.mcpReq.signal);
  try {
    await env.server.createElicitationCompletionNotifier(c.id, { relatedRequestId: env.extra.mcpReq.id })();
  } catch {
    // The client may be gone; the decision stands either way.
  }
  return state;
}

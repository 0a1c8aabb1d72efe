import type { Scope } from "./auth.js";
import { PLANS } from "./catalog.js";
import { jsonReply, ndjsonBuffered, ndjsonStream, type BufferedReply, type Reply } from "./http.js";
import { LEDGER_REASONS, queryLedger } from "./ledger.js";
import { APPROVAL_STATUSES, type SandboxState } from "./state.js";
import {
  optionalEnum,
  optionalInt,
  optionalPositiveNumber,
  optionalString,
  requiredBoolean,
  requiredInt,
  requiredString,
  type Input,
} from "./validate.js";

interface BaseOperation {
  id: string;
  scope: Scope;
}

/** Spends must answer with a buffered reply so it can be stored and replayed byte for byte. */
export interface SpendOperation extends BaseOperation {
  spend: true;
  run(state: SandboxState, input: Input): BufferedReply;
}

export interface PlainOperation extends BaseOperation {
  spend: false;
  run(state: SandboxState, input: Input): Reply;
}

export type Operation = SpendOperation | PlainOperation;

const MAX_CREDITS = 100_000_000;

function read(id: string, run: PlainOperation["run"]): Operation {
  return { id, scope: "billing:read", spend: false, run };
}

function write(id: string, run: PlainOperation["run"]): Operation {
  return { id, scope: "billing:write", spend: false, run };
}

function spend(id: string, run: SpendOperation["run"]): Operation {
  return { id, scope: "billing:write", spend: true, run };
}

function limitOf(input: Input): number | undefined {
  return optionalInt(input, "limit", { min: 1 });
}

const LIST: Operation[] = [
  read("billing.credits.balance", (state) => ndjsonStream([state.balanceRow()])),

  read("billing.credits.transactions", (state, input) => {
    const limit = limitOf(input);
    const offset = optionalInt(input, "offset", { min: 0 }) ?? 0;
    const reason = optionalEnum(input, "reason", LEDGER_REASONS);
    return ndjsonStream(
      queryLedger(state.ledger, state.synthetic, {
        offset,
        ...(limit !== undefined ? { limit } : {}),
        ...(reason !== undefined ? { reason } : {}),
      }),
    );
  }),

  read("billing.plans.list", () => ndjsonStream(PLANS)),

  read("billing.invoices.list", (state, input) => ndjsonStream(state.invoices.slice(0, limitOf(input)))),

  read("billing.stripe_invoices.list", (state, input) =>
    ndjsonStream(state.stripeInvoices.slice(0, limitOf(input))),
  ),

  read("billing.status.get", (state, input) => {
    state.assertOrg(requiredString(input, "organization_id"));
    return ndjsonStream([state.status()]);
  }),

  read("billing.auto_topup.get", (state) => ndjsonStream([state.autoTopup])),

  write("billing.set_auto_topup", (state, input) => {
    const enabled = requiredBoolean(input, "enabled");
    const threshold = requiredInt(input, "threshold_credits", { min: 0, max: MAX_CREDITS });
    const amount = requiredInt(input, "topup_amount_credits", { min: 1, max: MAX_CREDITS });
    const cap = optionalPositiveNumber(input, "daily_charge_cap_aud");
    return jsonReply(
      state.setAutoTopup({
        enabled,
        threshold_credits: threshold,
        topup_amount_credits: amount,
        daily_charge_cap_aud: cap ?? null,
      }),
    );
  }),

  write("billing.approvals.request", (state, input) => {
    const credits = requiredInt(input, "credits", { min: 1, max: MAX_CREDITS });
    const expiryHours = optionalInt(input, "expiry_hours", { min: 1, max: 720 });
    return jsonReply(state.requestApproval(credits, expiryHours));
  }),

  read("billing.approvals.get", (state, input) =>
    ndjsonStream([state.getApproval(requiredString(input, "approval_id"))]),
  ),

  read("billing.approvals.list", (state, input) =>
    ndjsonStream(state.listApprovals(optionalEnum(input, "status", APPROVAL_STATUSES))),
  ),

  write("billing.approvals.reject", (state, input) => {
    const id = requiredString(input, "approval_id");
    return jsonReply(state.reject(id, optionalString(input, "reason")));
  }),

  spend("billing.approvals.approve", (state, input) =>
    jsonReply(state.approve(requiredString(input, "approval_id"))),
  ),

  spend("billing.topup", (state, input) => {
    const credits = requiredInt(input, "credits", { min: 1, max: MAX_CREDITS });
    return jsonReply(state.topup(credits, optionalString(input, "description")));
  }),

  spend("billing.run_monthly_for_org", (state, input) => {
    state.assertOrg(requiredString(input, "organization_id"));
    return ndjsonBuffered(state.runMonthly());
  }),
];

export const OPERATIONS: ReadonlyMap<string, Operation> = new Map(LIST.map((op) => [op.id, op]));

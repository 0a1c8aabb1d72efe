// The 15 billing operations of shared/spec/billing-operations.md, as data. Field names, required-ness
// and types follow the reference exactly; bounds and descriptions are ours, written for the model.
import { z } from "zod";
import type { ToolRecord } from "./record.js";
// What the agent chose goes into the sentence the person reads as data: one line, ids quoted (src/gate/quote.ts).
import { oneLine, quoted } from "../gate/quote.js";

const approvalId = z.string().min(1).max(128).describe("Approval id (apr_…)");
const organizationId = z.string().min(1).max(128).describe("Organization id (org_…)");
// No upper bound here: how much is too much is the operator's call (--max-credits-per-call).
const credits = z.number().int().positive();
const listLimit = z.number().int().min(1).max(100).describe("Most items, 1-100");

// ApprovalOutput and SetAutoTopupOutput: the reference names them but defines no fields, so nothing is
// required and nothing is typed — an answer of any shape must pass (the SDK validates a successful result
// against this, and a mismatch would turn a call the API applied into a protocol error). The properties
// only tell the agent what to look for.
const maybe = (what: string) => z.unknown().optional().describe(what);
const approvalOutput = z.looseObject({ id: maybe("Approval id (apr_…)"), status: maybe("Approval status") });
const setAutoTopupOutput = z.looseObject({ enabled: maybe("On or off") });


export const CATALOG: readonly ToolRecord[] = [
  {
    name: "billing_credits_balance",
    operationId: "billing.credits.balance",
    sideEffect: "read",
    title: "Credit balance",
    description: "Credit balance and organization id. Read-only.",
    input: z.strictObject({}),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_credits_transactions",
    operationId: "billing.credits.transactions",
    sideEffect: "read",
    title: "Credit ledger",
    description: "Credit ledger, newest first, paged. Read-only.",
    input: z.strictObject({
      limit: z.number().int().min(1).max(1000).optional().describe("Rows, 1-1000"),
      offset: z.number().int().min(0).optional().describe("Rows to skip"),
      reason: z.string().max(64).optional().describe("topup, approval, usage or monthly"),
    }),
    payload: "ndjson",
    pagesByOffset: true,
  },
  {
    name: "billing_invoices_list",
    operationId: "billing.invoices.list",
    sideEffect: "read",
    title: "Enterprise invoices",
    description: "Enterprise invoices from settled orders. Read-only.",
    input: z.strictObject({ limit: listLimit.optional() }),
    payload: "ndjson",
  },
  {
    name: "billing_stripe_invoices_list",
    operationId: "billing.stripe_invoices.list",
    sideEffect: "read",
    title: "Stripe invoices",
    description: "Stripe card invoices (empty if Stripe is down). Read-only.",
    input: z.strictObject({ limit: listLimit.optional() }),
    payload: "ndjson",
  },
  {
    name: "billing_plans_list",
    operationId: "billing.plans.list",
    sideEffect: "read",
    title: "Plans",
    description: "All plans with quota and feature limits. Read-only.",
    input: z.strictObject({}),
    payload: "ndjson",
  },
  {
    name: "billing_status_get",
    operationId: "billing.status.get",
    sideEffect: "read",
    title: "Billing status",
    description: "An org's billing status, plan and usage. Read-only.",
    input: z.strictObject({ organization_id: organizationId }),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_auto_topup_get",
    operationId: "billing.auto_topup.get",
    sideEffect: "read",
    title: "Auto top-up",
    description: "Auto top-up settings (enabled=false if unset). Read-only.",
    input: z.strictObject({}),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_approvals_list",
    operationId: "billing.approvals.list",
    sideEffect: "read",
    title: "Approvals",
    description: "Credit-purchase approvals. Read-only.",
    input: z.strictObject({
      status: z.string().max(32).optional().describe("pending, approved, rejected or expired"),
    }),
    payload: "ndjson",
  },
  {
    name: "billing_approvals_get",
    operationId: "billing.approvals.get",
    sideEffect: "read",
    title: "Approval",
    description: "One credit-purchase approval. Read-only.",
    input: z.strictObject({ approval_id: approvalId }),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_approvals_request",
    operationId: "billing.approvals.request",
    sideEffect: "compute",
    title: "Request approval",
    description:
      "Draft a credit purchase for a person to approve later. Charges nothing; use it when no one can confirm billing_topup now.",
    input: z.strictObject({
      credits: credits.describe("Credits to buy"),
      expiry_hours: z.number().int().min(1).max(720).optional().describe("Hours until it lapses"),
    }),
    output: approvalOutput,
    payload: "json",
  },
  {
    name: "billing_approvals_reject",
    operationId: "billing.approvals.reject",
    sideEffect: "compute",
    title: "Reject approval",
    description: "Reject a pending credit-purchase approval. Charges nothing; cannot be undone.",
    input: z.strictObject({
      approval_id: approvalId,
      reason: z.string().max(500).optional().describe("Why"),
    }),
    output: approvalOutput,
    payload: "json",
    destructive: true,
  },
  {
    name: "billing_set_auto_topup",
    operationId: "billing.set_auto_topup",
    sideEffect: "compute",
    title: "Set auto top-up",
    description:
      "Replace auto top-up settings. Charges nothing now; enabling lets future top-ups charge the default card.",
    input: z.strictObject({
      enabled: z.boolean().describe("On or off"),
      threshold_credits: credits.describe("Top up below this balance"),
      topup_amount_credits: credits.describe("Credits per top-up"),
      daily_charge_cap_aud: z.number().positive().optional().describe("Most AUD charged per day"),
    }),
    output: setAutoTopupOutput,
    payload: "json",
    destructive: true,
    idempotent: true,
  },
  {
    name: "billing_topup",
    operationId: "billing.topup",
    sideEffect: "spend",
    title: "Buy credits now",
    description:
      "Buy credits now on the saved card. Spends money: a person must confirm. Else use billing_approvals_request.",
    input: z.strictObject({
      credits: credits.describe("Credits to buy"),
      description: z.string().max(200).optional().describe("Note for the ledger"),
    }),
    payload: "json",
    spend: {
      summarize: (a) => `Buy ${oneLine(a.credits)} credits now and charge the organization's saved card`,
      credits: (a) => Number(a.credits),
      preview: { operationId: "billing.credits.balance", body: () => ({}) },
    },
  },
  {
    name: "billing_approvals_approve",
    operationId: "billing.approvals.approve",
    sideEffect: "spend",
    title: "Approve purchase",
    description: "Approve a pending credit purchase on the saved card. Spends money: a person must confirm.",
    input: z.strictObject({ approval_id: approvalId }),
    output: approvalOutput,
    payload: "json",
    spend: {
      summarize: (a) => `Approve credit purchase ${quoted(a.approval_id)} and charge the organization's saved card`,
      preview: { operationId: "billing.approvals.get", body: (a) => ({ approval_id: a.approval_id }) },
      previewCredits: (p) => (typeof p.credits === "number" ? p.credits : undefined),
    },
  },
  {
    name: "billing_run_monthly_for_org",
    operationId: "billing.run_monthly_for_org",
    sideEffect: "spend",
    title: "Run monthly billing",
    description: "Run this month's billing for an org now (org admin). Spends money: a person must confirm.",
    input: z.strictObject({ organization_id: organizationId }),
    payload: "ndjson",
    spend: {
      summarize: (a) => `Run monthly billing for organization ${quoted(a.organization_id)} now and charge it`,
      preview: { operationId: "billing.status.get", body: (a) => ({ organization_id: a.organization_id }) },
      chargedOrganization: (a) => a.organization_id,
    },
  },
];

export const TOOL_NAMES: readonly string[] = CATALOG.map((r) => r.name);

export function recordByOperation(operationId: string): ToolRecord | undefined {
  return CATALOG.find((r) => r.operationId === operationId);
}

// The 15 billing operations of shared/spec/billing-operations.md, as data. Field names, required-ness
// and types follow the reference exactly; bounds and descriptions are ours, written for the model.
import { z } from "zod";
import type { ToolRecord } from "./record.js";

const approvalId = z.string().min(1).max(128).describe("Approval id, e.g. apr_123 (from billing_approvals_list)");
const organizationId = z.string().min(1).max(128).describe("Organization id, e.g. org_123 (shown by billing_credits_balance)");
const credits = z.number().int().positive().max(10_000_000);
const listLimit = z.number().int().min(1).max(100).describe("Most items to return, 1-100");

// ApprovalOutput and SetAutoTopupOutput: the fields we rely on, open to any the API adds.
const approvalOutput = z.looseObject({
  id: z.string(),
  status: z.string(),
  credits: z.number().optional(),
  amount_aud: z.number().optional(),
});
const setAutoTopupOutput = z.looseObject({
  enabled: z.boolean(),
  threshold_credits: z.number().nullable().optional(),
  topup_amount_credits: z.number().nullable().optional(),
  daily_charge_cap_aud: z.number().nullable().optional(),
});

const str = (v: unknown) => String(v);

export const CATALOG: readonly ToolRecord[] = [
  {
    name: "billing_credits_balance",
    operationId: "billing.credits.balance",
    sideEffect: "read",
    title: "Credit balance",
    description: "The org's current credit balance and organization id. Read-only.",
    input: z.strictObject({}),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_credits_transactions",
    operationId: "billing.credits.transactions",
    sideEffect: "read",
    title: "Credit ledger",
    description: "The org's credit ledger, newest first, paged with limit/offset, optionally one reason. Read-only.",
    input: z.strictObject({
      limit: z.number().int().min(1).max(1000).optional().describe("Rows to return, 1-1000"),
      offset: z.number().int().min(0).optional().describe("Rows to skip (for paging)"),
      reason: z.string().min(1).max(64).optional().describe("Only this reason, e.g. topup, approval, usage, monthly"),
    }),
    payload: "ndjson",
    pagesByOffset: true,
  },
  {
    name: "billing_invoices_list",
    operationId: "billing.invoices.list",
    sideEffect: "read",
    title: "Enterprise invoices",
    description: "The org's enterprise invoices (grouped from settled orders). Read-only. For card invoices use billing_stripe_invoices_list.",
    input: z.strictObject({ limit: listLimit.optional() }),
    payload: "ndjson",
  },
  {
    name: "billing_stripe_invoices_list",
    operationId: "billing.stripe_invoices.list",
    sideEffect: "read",
    title: "Stripe invoices",
    description: "The org's Stripe (card) invoices; empty if Stripe is unreachable. Read-only.",
    input: z.strictObject({ limit: listLimit.optional() }),
    payload: "ndjson",
  },
  {
    name: "billing_plans_list",
    operationId: "billing.plans.list",
    sideEffect: "read",
    title: "Plans",
    description: "All plans with their quota and feature limits (public catalog). Read-only.",
    input: z.strictObject({}),
    payload: "ndjson",
  },
  {
    name: "billing_status_get",
    operationId: "billing.status.get",
    sideEffect: "read",
    title: "Billing status",
    description: "An org's billing status, plan and current-period usage. Read-only.",
    input: z.strictObject({ organization_id: organizationId }),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_auto_topup_get",
    operationId: "billing.auto_topup.get",
    sideEffect: "read",
    title: "Auto top-up settings",
    description: "The org's auto top-up settings (enabled=false if never set). Read-only.",
    input: z.strictObject({}),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_approvals_list",
    operationId: "billing.approvals.list",
    sideEffect: "read",
    title: "Purchase approvals",
    description: "The org's credit-purchase approvals, optionally by status. Read-only.",
    input: z.strictObject({
      status: z.string().min(1).max(32).optional().describe("pending, approved, rejected or expired"),
    }),
    payload: "ndjson",
  },
  {
    name: "billing_approvals_get",
    operationId: "billing.approvals.get",
    sideEffect: "read",
    title: "Purchase approval",
    description: "One credit-purchase approval: credits, amount, status. Read-only.",
    input: z.strictObject({ approval_id: approvalId }),
    payload: "ndjson",
    singleRecord: true,
  },
  {
    name: "billing_approvals_request",
    operationId: "billing.approvals.request",
    sideEffect: "compute",
    title: "Request purchase approval",
    description:
      "Draft a credit purchase for a person to approve later; charges nothing. Prefer this to billing_topup when no person is at hand to confirm now.",
    input: z.strictObject({
      credits: credits.describe("Credits to buy"),
      expiry_hours: z.number().int().min(1).max(720).optional().describe("Hours until the request lapses, 1-720"),
    }),
    output: approvalOutput,
    payload: "json",
  },
  {
    name: "billing_approvals_reject",
    operationId: "billing.approvals.reject",
    sideEffect: "compute",
    title: "Reject purchase approval",
    description: "Reject a pending credit-purchase approval; charges nothing, cannot be undone.",
    input: z.strictObject({
      approval_id: approvalId,
      reason: z.string().min(1).max(500).optional().describe("Why, shown to the requester"),
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
      "Replace the auto top-up settings: when the balance drops below threshold_credits, buy topup_amount_credits on the default card. Charges nothing now, but enabling allows future automatic charges.",
    input: z.strictObject({
      enabled: z.boolean().describe("Turn auto top-up on or off"),
      threshold_credits: credits.describe("Top up when the balance falls below this"),
      topup_amount_credits: credits.describe("Credits bought per top-up"),
      daily_charge_cap_aud: z.number().positive().max(1_000_000).optional().describe("Most AUD charged per day"),
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
      "Buy credits now, charging the saved card. Spends money: a person must confirm first. To leave the decision to someone later, use billing_approvals_request.",
    input: z.strictObject({
      credits: credits.describe("Credits to buy"),
      description: z.string().min(1).max(200).optional().describe("Note for the ledger"),
    }),
    payload: "json",
    spend: {
      summarize: (a) => `Buy ${str(a.credits)} credits now and charge the organization's saved card`,
      credits: (a) => Number(a.credits),
    },
  },
  {
    name: "billing_approvals_approve",
    operationId: "billing.approvals.approve",
    sideEffect: "spend",
    title: "Approve purchase",
    description: "Approve a pending credit purchase and charge the saved card. Spends money: a person must confirm first.",
    input: z.strictObject({ approval_id: approvalId }),
    output: approvalOutput,
    payload: "json",
    spend: {
      summarize: (a) => `Approve credit purchase ${str(a.approval_id)} and charge the organization's saved card`,
      preview: { operationId: "billing.approvals.get", body: (a) => ({ approval_id: a.approval_id }) },
      previewCredits: (p) => (typeof p.credits === "number" ? p.credits : undefined),
    },
  },
  {
    name: "billing_run_monthly_for_org",
    operationId: "billing.run_monthly_for_org",
    sideEffect: "spend",
    title: "Run monthly billing",
    description: "Run this month's billing for one org now, charging it (org admin). Spends money: a person must confirm first.",
    input: z.strictObject({ organization_id: organizationId }),
    payload: "ndjson",
    spend: {
      summarize: (a) => `Run monthly billing for organization ${str(a.organization_id)} now and charge it`,
      preview: { operationId: "billing.status.get", body: (a) => ({ organization_id: a.organization_id }) },
    },
  },
];

export const TOOL_NAMES: readonly string[] = CATALOG.map((r) => r.name);

export function recordByName(name: string): ToolRecord | undefined {
  return CATALOG.find((r) => r.name === name);
}

export function recordByOperation(operationId: string): ToolRecord | undefined {
  return CATALOG.find((r) => r.operationId === operationId);
}

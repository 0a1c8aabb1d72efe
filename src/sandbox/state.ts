import { randomBytes } from "node:crypto";
import {
  ORG,
  centsToAud,
  creditsToAud,
  orgPlan,
  periodBounds,
  periodLabel,
  seedInvoices,
  CENTS_PER_CREDIT,
  type Invoice,
} from "./catalog.js";
import { HttpError } from "./http.js";
import { IdempotencyStore } from "./idempotency.js";
import { SyntheticLedger, type LedgerReason, type LedgerRow } from "./ledger.js";

const HOUR = 3_600_000;
const DEFAULT_EXPIRY_HOURS = 72;
/** Usage already metered in the open period when the sandbox starts. */
const SEED_PERIOD_USAGE = 3_420;

export const APPROVAL_STATUSES = ["pending", "approved", "rejected", "expired"] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

interface ApprovalRecord {
  id: string;
  credits: number;
  requestedAt: number;
  expiresAt: number;
  // "expired" is never stored: it is derived from the clock so a fake `now` can age approvals.
  status: "pending" | "approved" | "rejected";
  decidedAt: number | null;
  reason: string | null;
}

export interface ApprovalOutput {
  id: string;
  status: ApprovalStatus;
  credits: number;
  amount_aud: number;
  currency: "AUD";
  requested_at: string;
  expires_at: string;
  decided_at: string | null;
  reason: string | null;
}

export interface AutoTopupSettings {
  enabled: boolean;
  threshold_credits: number | null;
  topup_amount_credits: number | null;
  daily_charge_cap_aud: number | null;
  updated_at: string | null;
}

export interface TopupOutput {
  id: string;
  credits: number;
  amount_aud: number;
  currency: "AUD";
  balance_after: number;
  status: "succeeded";
  created_at: string;
}

interface Data {
  synthetic: SyntheticLedger;
  /** Rows added during this session, oldest first. */
  ledger: LedgerRow[];
  balance: number;
  approvals: Map<string, ApprovalRecord>;
  autoTopup: AutoTopupSettings;
  periodUsageCredits: number;
  invoices: Invoice[];
  stripeInvoices: Invoice[];
}

function newId(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

function notMember(organizationId: string): HttpError {
  return new HttpError(403, "forbidden", `You are not a member of organization ${organizationId}`);
}

/** The one organization's billing state; every token sees the same org. */
export class SandboxState {
  readonly idempotency = new IdempotencyStore();
  private data: Data;

  constructor(
    private readonly now: () => number,
    private readonly ledgerRows: number,
  ) {
    this.data = this.seed();
  }

  reset(): void {
    this.data = this.seed();
    this.idempotency.clear();
  }

  private seed(): Data {
    const at = this.now();
    const synthetic = new SyntheticLedger(this.ledgerRows, at);
    const invoices = seedInvoices(at);
    const approvals = new Map<string, ApprovalRecord>();
    approvals.set("apr_seed_1", {
      id: "apr_seed_1",
      credits: 500,
      requestedAt: at - HOUR,
      expiresAt: at - HOUR + DEFAULT_EXPIRY_HOURS * HOUR,
      status: "pending",
      decidedAt: null,
      reason: null,
    });
    return {
      synthetic,
      ledger: [],
      balance: synthetic.finalBalance,
      approvals,
      autoTopup: {
        enabled: false,
        threshold_credits: null,
        topup_amount_credits: null,
        daily_charge_cap_aud: null,
        updated_at: null,
      },
      periodUsageCredits: SEED_PERIOD_USAGE,
      invoices: invoices.enterprise,
      stripeInvoices: invoices.stripe,
    };
  }

  private iso(at = this.now()): string {
    return new Date(at).toISOString();
  }

  assertOrg(organizationId: string): void {
    if (organizationId !== ORG.id) throw notMember(organizationId);
  }

  get balance(): number {
    return this.data.balance;
  }

  get synthetic(): SyntheticLedger {
    return this.data.synthetic;
  }

  get ledger(): readonly LedgerRow[] {
    return this.data.ledger;
  }

  get invoices(): readonly Invoice[] {
    return this.data.invoices;
  }

  get stripeInvoices(): readonly Invoice[] {
    return this.data.stripeInvoices;
  }

  get autoTopup(): AutoTopupSettings {
    return { ...this.data.autoTopup };
  }

  balanceRow(): Record<string, unknown> {
    return {
      organization_id: ORG.id,
      balance_credits: this.data.balance,
      currency: ORG.currency,
      as_of: this.iso(),
    };
  }

  private appendLedger(reason: LedgerReason, credits: number, description: string): LedgerRow {
    this.data.balance += credits;
    const row: LedgerRow = {
      id: newId("txn"),
      at: this.iso(),
      reason,
      credits,
      balance_after: this.data.balance,
      description,
    };
    this.data.ledger.push(row);
    return row;
  }

  // ---- approvals ----

  private approvalStatus(rec: ApprovalRecord): ApprovalStatus {
    return rec.status === "pending" && this.now() >= rec.expiresAt ? "expired" : rec.status;
  }

  private approvalOutput(rec: ApprovalRecord): ApprovalOutput {
    return {
      id: rec.id,
      status: this.approvalStatus(rec),
      credits: rec.credits,
      amount_aud: creditsToAud(rec.credits),
      currency: "AUD",
      requested_at: this.iso(rec.requestedAt),
      expires_at: this.iso(rec.expiresAt),
      decided_at: rec.decidedAt === null ? null : this.iso(rec.decidedAt),
      reason: rec.reason,
    };
  }

  private findApproval(id: string): ApprovalRecord {
    const rec = this.data.approvals.get(id);
    if (rec === undefined) throw new HttpError(404, "not_found", `Approval ${id} was not found`);
    return rec;
  }

  /** Only pending approvals can be decided; anything else is a conflict the caller must look at. */
  private pendingApproval(id: string): ApprovalRecord {
    const rec = this.findApproval(id);
    const status = this.approvalStatus(rec);
    if (status !== "pending") {
      throw new HttpError(409, "approval_not_pending", `Approval ${id} is ${status}, not pending`);
    }
    return rec;
  }

  requestApproval(credits: number, expiryHours = DEFAULT_EXPIRY_HOURS): ApprovalOutput {
    const at = this.now();
    const rec: ApprovalRecord = {
      id: newId("apr"),
      credits,
      requestedAt: at,
      expiresAt: at + expiryHours * HOUR,
      status: "pending",
      decidedAt: null,
      reason: null,
    };
    this.data.approvals.set(rec.id, rec);
    return this.approvalOutput(rec);
  }

  getApproval(id: string): ApprovalOutput {
    return this.approvalOutput(this.findApproval(id));
  }

  /** Newest first. */
  listApprovals(status?: ApprovalStatus): ApprovalOutput[] {
    return [...this.data.approvals.values()]
      .reverse()
      .map((rec) => this.approvalOutput(rec))
      .filter((out) => status === undefined || out.status === status);
  }

  approve(id: string): ApprovalOutput {
    const rec = this.pendingApproval(id);
    rec.status = "approved";
    rec.decidedAt = this.now();
    this.appendLedger("approval", rec.credits, `Approved credit purchase ${rec.id}`);
    return this.approvalOutput(rec);
  }

  reject(id: string, reason?: string): ApprovalOutput {
    const rec = this.pendingApproval(id);
    rec.status = "rejected";
    rec.decidedAt = this.now();
    rec.reason = reason ?? null;
    return this.approvalOutput(rec);
  }

  // ---- spends and settings ----

  topup(credits: number, description?: string): TopupOutput {
    const row = this.appendLedger("topup", credits, description ?? "Top-up charged to saved card");
    return {
      id: newId("top"),
      credits,
      amount_aud: creditsToAud(credits),
      currency: "AUD",
      balance_after: row.balance_after,
      status: "succeeded",
      created_at: row.at,
    };
  }

  setAutoTopup(settings: {
    enabled: boolean;
    threshold_credits: number;
    topup_amount_credits: number;
    daily_charge_cap_aud: number | null;
  }): AutoTopupSettings {
    this.data.autoTopup = { ...settings, updated_at: this.iso() };
    return this.autoTopup;
  }

  /** What the monthly run would charge right now: the plan fee plus metered usage. */
  private estimatedChargeCents(): number {
    return orgPlan().monthly_price_aud * 100 + this.data.periodUsageCredits * CENTS_PER_CREDIT;
  }

  status(): Record<string, unknown> {
    const plan = orgPlan();
    const at = this.now();
    return {
      organization_id: ORG.id,
      organization_name: ORG.name,
      plan: {
        id: plan.id,
        name: plan.name,
        monthly_price_aud: plan.monthly_price_aud,
        included_credits: plan.included_credits,
      },
      status: "active",
      currency: ORG.currency,
      balance_credits: this.data.balance,
      current_period: {
        period: periodLabel(at),
        ...periodBounds(at),
        credits_used: this.data.periodUsageCredits,
        estimated_charge_aud: centsToAud(this.estimatedChargeCents()),
      },
    };
  }

  /** Bills the open period: returns the invoice as NDJSON rows (line items, then the total). */
  runMonthly(): Record<string, unknown>[] {
    const plan = orgPlan();
    const at = this.now();
    const usage = this.data.periodUsageCredits;
    const totalAud = centsToAud(this.estimatedChargeCents());
    const period = periodLabel(at);
    const invoiceId = newId("in");
    const number = `GEO-${2007 + this.data.stripeInvoices.length - 6}`;
    this.data.stripeInvoices.unshift({
      id: invoiceId,
      number,
      period,
      total_aud: totalAud,
      status: "paid",
      currency: "AUD",
      issued_at: this.iso(at),
    });
    this.appendLedger("monthly", plan.included_credits, `${plan.name} plan monthly credit allowance (${period})`);
    this.data.periodUsageCredits = 0;
    return [
      {
        type: "line_item",
        description: `${plan.name} plan monthly fee`,
        quantity: 1,
        unit_price_aud: plan.monthly_price_aud,
        amount_aud: plan.monthly_price_aud,
      },
      {
        type: "line_item",
        description: "Metered usage (credits)",
        quantity: usage,
        unit_price_aud: CENTS_PER_CREDIT / 100,
        amount_aud: creditsToAud(usage),
      },
      {
        type: "total",
        invoice_id: invoiceId,
        number,
        organization_id: ORG.id,
        period,
        total_aud: totalAud,
        currency: "AUD",
        status: "paid",
        charged_at: this.iso(at),
      },
    ];
  }
}

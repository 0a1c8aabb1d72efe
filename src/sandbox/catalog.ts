// Fixed reference data: the one demo organization, its price, and the public plan catalog.

export const ORG = { id: "org_demo", name: "Demo Pty Ltd", currency: "AUD" } as const;

/** 0.05 AUD per credit, kept in cents so totals never pick up float noise. */
export const CENTS_PER_CREDIT = 5;

export function creditsToAud(credits: number): number {
  return centsToAud(credits * CENTS_PER_CREDIT);
}

export function centsToAud(cents: number): number {
  return Math.round(cents) / 100;
}

export interface Plan {
  id: string;
  name: string;
  monthly_price_aud: number;
  included_credits: number;
  limits: {
    api_keys: number;
    seats: number;
    concurrent_orders: number;
    max_aoi_km2: number;
    support: string;
  };
}

export const PLANS: readonly Plan[] = [
  {
    id: "plan_free",
    name: "Free",
    monthly_price_aud: 0,
    included_credits: 500,
    limits: { api_keys: 1, seats: 1, concurrent_orders: 1, max_aoi_km2: 25, support: "community" },
  },
  {
    id: "plan_starter",
    name: "Starter",
    monthly_price_aud: 49,
    included_credits: 2_000,
    limits: { api_keys: 3, seats: 3, concurrent_orders: 5, max_aoi_km2: 500, support: "email" },
  },
  {
    id: "plan_team",
    name: "Team",
    monthly_price_aud: 199,
    included_credits: 10_000,
    limits: { api_keys: 10, seats: 15, concurrent_orders: 25, max_aoi_km2: 5_000, support: "priority email" },
  },
  {
    id: "plan_enterprise",
    name: "Enterprise",
    monthly_price_aud: 999,
    included_credits: 60_000,
    limits: { api_keys: 100, seats: 200, concurrent_orders: 250, max_aoi_km2: 100_000, support: "dedicated" },
  },
];

export const ORG_PLAN_ID = "plan_team";

export function orgPlan(): Plan {
  const plan = PLANS.find((p) => p.id === ORG_PLAN_ID);
  if (plan === undefined) throw new Error("catalog is missing the org's plan");
  return plan;
}

export interface Invoice {
  id: string;
  number: string;
  period: string;
  total_aud: number;
  status: "paid" | "open" | "void";
  currency: "AUD";
  issued_at: string;
}

/** "YYYY-MM" of the month `monthsBack` months before the given instant (UTC). */
export function periodLabel(at: number, monthsBack = 0): string {
  const d = new Date(at);
  const shifted = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - monthsBack, 1));
  return shifted.toISOString().slice(0, 7);
}

export function periodBounds(at: number): { start: string; end: string } {
  const d = new Date(at);
  const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
}

function firstOfMonthIso(at: number, monthsBack: number): string {
  const d = new Date(at);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - monthsBack + 1, 1)).toISOString();
}

/** Past invoices, newest first; the most recent enterprise one is still open to make status filtering visible. */
export function seedInvoices(at: number): { enterprise: Invoice[]; stripe: Invoice[] } {
  const enterpriseTotals = [1_842.5, 2_310, 975.25, 1_402.75, 3_120, 1_188.4];
  const stripeTotals = [370, 352.15, 401.8, 288.45, 199, 245.6];
  const enterprise = enterpriseTotals.map((total, i): Invoice => ({
    id: `inv_demo_${String(6 - i).padStart(4, "0")}`,
    number: `GEO-ENT-${String(1006 - i)}`,
    period: periodLabel(at, i + 1),
    total_aud: total,
    status: i === 0 ? "open" : "paid",
    currency: "AUD",
    issued_at: firstOfMonthIso(at, i + 1),
  }));
  const stripe = stripeTotals.map((total, i): Invoice => ({
    id: `in_demo_${String(6 - i).padStart(4, "0")}`,
    number: `GEO-${String(2006 - i)}`,
    period: periodLabel(at, i + 1),
    total_aud: total,
    status: "paid",
    currency: "AUD",
    issued_at: firstOfMonthIso(at, i + 1),
  }));
  return { enterprise, stripe };
}

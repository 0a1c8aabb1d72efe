// The credit ledger: a synthetic history computed on demand plus the real rows
// that top-ups, approvals and monthly runs append during a session.

export const LEDGER_REASONS = ["topup", "approval", "usage", "monthly"] as const;
export type LedgerReason = (typeof LEDGER_REASONS)[number];

export interface LedgerRow {
  id: string;
  at: string;
  reason: LedgerReason;
  credits: number;
  balance_after: number;
  description: string;
}

const BASE_BALANCE = 12_500;
const CYCLE_CREDITS = 1_800;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Cheap 32-bit integer hash: gives each cycle varied but reproducible amounts. */
function mix(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Rows come in cycles of four: one credit purchase of 1,800 followed by three
 * usage debits that add up to 1,800. Every cycle nets to zero, which makes the
 * balance after any row a closed-form function of its index, so a million rows
 * need no memory and no running total.
 */
export class SyntheticLedger {
  private readonly spacing: number;

  constructor(
    readonly count: number,
    private readonly endAt: number,
  ) {
    // Spread the history over ~6 months, but never denser than a row a minute or sparser than a day.
    this.spacing = Math.min(DAY, Math.max(MINUTE, Math.floor((180 * DAY) / Math.max(count, 1))));
  }

  get finalBalance(): number {
    return this.count === 0 ? BASE_BALANCE : this.balanceAfter(this.count - 1);
  }

  reasonAt(index: number): LedgerReason {
    if (index % 4 !== 0) return "usage";
    const cycle = Math.floor(index / 4);
    if (cycle % 7 === 6) return "monthly";
    if (cycle % 5 === 4) return "approval";
    return "topup";
  }

  private usageSplit(cycle: number): [number, number, number] {
    const h = mix(cycle + 1);
    const a = 300 + (h % 600);
    const b = 300 + ((h >>> 10) % 600);
    return [a, b, CYCLE_CREDITS - a - b];
  }

  private creditsAt(index: number): number {
    const pos = index % 4;
    if (pos === 0) return CYCLE_CREDITS;
    const split = this.usageSplit(Math.floor(index / 4));
    return -split[pos - 1]!;
  }

  private balanceAfter(index: number): number {
    const pos = index % 4;
    if (pos === 0) return BASE_BALANCE + CYCLE_CREDITS;
    const [a, b] = this.usageSplit(Math.floor(index / 4));
    if (pos === 1) return BASE_BALANCE + CYCLE_CREDITS - a;
    if (pos === 2) return BASE_BALANCE + CYCLE_CREDITS - a - b;
    return BASE_BALANCE;
  }

  rowAt(index: number): LedgerRow {
    const reason = this.reasonAt(index);
    return {
      id: `txn_s${index.toString(36).padStart(6, "0")}`,
      at: new Date(this.endAt - (this.count - index) * this.spacing).toISOString(),
      reason,
      credits: this.creditsAt(index),
      balance_after: this.balanceAfter(index),
      description: describe(reason, index),
    };
  }
}

function describe(reason: LedgerReason, index: number): string {
  switch (reason) {
    case "topup":
      return "Top-up charged to saved card";
    case "approval":
      return "Approved credit purchase";
    case "monthly":
      return "Monthly plan credit allowance";
    case "usage":
      return `Imagery order ord_${(mix(index) % 1_000_000).toString().padStart(6, "0")}`;
  }
}

export interface LedgerQuery {
  reason?: LedgerReason;
  offset: number;
  limit?: number;
}

/** Newest first: session rows (stored oldest first) and then the synthetic history backwards. */
export function* queryLedger(
  real: readonly LedgerRow[],
  synthetic: SyntheticLedger,
  query: LedgerQuery,
): Generator<LedgerRow> {
  let skip = query.offset;
  let left = query.limit ?? Number.POSITIVE_INFINITY;
  if (left <= 0) return;
  for (let i = real.length - 1; i >= 0; i--) {
    const row = real[i]!;
    if (query.reason !== undefined && row.reason !== query.reason) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    yield row;
    if (--left <= 0) return;
  }
  for (let i = synthetic.count - 1; i >= 0; i--) {
    // Filter and skip on the reason alone so offsets deep into the history stay cheap.
    if (query.reason !== undefined && synthetic.reasonAt(i) !== query.reason) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    yield synthetic.rowAt(i);
    if (--left <= 0) return;
  }
}

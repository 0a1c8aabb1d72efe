// Operator caps on credits, off unless set. Checked before a person is asked and again, atomically with
// the spend's journal row, just before it is sent (inside the store). The daily total is what this caller
// sent since midnight UTC, in flight included, wherever it was sent from.
import type { Caps } from "../store/types.js";

export type { Caps };

/** Why this spend is over a cap, or undefined when it is within them (or moves no counted credits). */
export function capViolation(caps: Caps, credits: number | undefined, creditsToday: number): string | undefined {
  if (credits === undefined) return undefined;
  if (caps.maxCreditsPerCall !== undefined && credits > caps.maxCreditsPerCall) {
    return `${credits} credits is over this server's limit of ${caps.maxCreditsPerCall} credits per call`;
  }
  if (caps.maxCreditsPerDay !== undefined && creditsToday + credits > caps.maxCreditsPerDay) {
    return `${credits} more credits would bring today's spending to ${creditsToday + credits}, over this server's limit of ${caps.maxCreditsPerDay} credits per day (UTC)`;
  }
  return undefined;
}

/** Whether the daily total is needed at all (spares a query when no daily cap is set). */
export const needsDailyTotal = (caps: Caps, credits: number | undefined) => credits !== undefined && caps.maxCreditsPerDay !== undefined;

// Operator caps on credits, off unless set. Checked before a person is asked and again, atomically with
// the spend's journal row, just before it is sent (inside the store).
//  - The per-call cap: the credits of this one call.
//  - The daily cap: what was sent since midnight UTC (in flight and in doubt included, spends the API
//    refused not), counted twice, and both must stay within it: for this caller (credential fingerprint)
//    and for the organization the spend is charged to (the one the API says the credential acts for; for
//    a monthly run, its target). A second key or a rotated session token of the same organization is a
//    new caller but the same organization, so it gets no fresh budget.
import type { Caps } from "../store/types.js";

export type { Caps };

/** Today's total of the organization a spend is charged to. */
export interface OrganizationToday {
  id: string;
  today: number;
}

/** Why this spend is over a cap, or undefined when it is within them (or moves no counted credits). */
export function capViolation(caps: Caps, credits: number | undefined, creditsToday: number, organization?: OrganizationToday): string | undefined {
  if (credits === undefined) return undefined;
  if (caps.maxCreditsPerCall !== undefined && credits > caps.maxCreditsPerCall) {
    return `${credits} credits is over this server's limit of ${caps.maxCreditsPerCall} credits per call`;
  }
  const own = caps.callerMaxCreditsPerDay;
  if (own !== undefined && creditsToday + credits > own) {
    return `${credits} more credits would bring today's spending with this key to ${creditsToday + credits}, over the limit of ${own} credits per day (UTC) the person set when they connected this app`;
  }
  const perDay = caps.maxCreditsPerDay;
  if (perDay === undefined) return undefined;
  if (organization && organization.today + credits > perDay) {
    return (
      `${credits} more credits would bring today's spending by organization ${organization.id} to ${organization.today + credits}, ` +
      `over this server's limit of ${perDay} credits per day (UTC), which counts every credential of the organization together`
    );
  }
  if (creditsToday + credits > perDay) {
    return `${credits} more credits would bring today's spending to ${creditsToday + credits}, over this server's limit of ${perDay} credits per day (UTC)`;
  }
  return undefined;
}

/**
 * A spend that buys credits (its record says where the credits are) but whose count could not be learned
 * — an approval whose answer names none — cannot be checked against a cap that is set: refused.
 */
export function unknownCredits(caps: Caps, movesCredits: boolean, credits: number | undefined): string | undefined {
  if (!movesCredits || credits !== undefined) return undefined;
  if (caps.maxCreditsPerCall === undefined && caps.maxCreditsPerDay === undefined && caps.callerMaxCreditsPerDay === undefined) return undefined;
  return "the API did not say how many credits this spend buys, so this server's credit limits cannot be checked";
}

/** Whether the daily totals (and so the organization) are needed at all: a daily cap is set and the spend moves counted credits. */
export const needsDailyTotal = (caps: Caps, credits: number | undefined) => credits !== undefined && caps.maxCreditsPerDay !== undefined;

/** Whether the caller's own daily total is needed: either daily cap applies. */
export const needsCallerTotal = (caps: Caps, credits: number | undefined) => credits !== undefined && (caps.maxCreditsPerDay !== undefined || caps.callerMaxCreditsPerDay !== undefined);

// Operator caps on credits, off unless set. Checked before a person is asked and again just before a
// spend is sent; the daily total counts what this caller sent since midnight UTC, in flight included.
import type { SpendJournal } from "./journal.js";
import type { Clock } from "./clock.js";

export interface Caps {
  maxCreditsPerCall?: number;
  maxCreditsPerDay?: number;
}

const startOfUtcDay = (ms: number) => {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
};

/** Why this spend is over a cap, or undefined when it is within them (or moves no counted credits). */
export function capViolation(caps: Caps, credits: number | undefined, caller: string, journal: SpendJournal, clock: Clock): string | undefined {
  if (credits === undefined) return undefined;
  if (caps.maxCreditsPerCall !== undefined && credits > caps.maxCreditsPerCall) {
    return `${credits} credits is over this server's limit of ${caps.maxCreditsPerCall} credits per call`;
  }
  if (caps.maxCreditsPerDay !== undefined) {
    const today = journal.creditsSince(caller, startOfUtcDay(clock()));
    if (today + credits > caps.maxCreditsPerDay) {
      return `${credits} more credits would bring today's spending to ${today + credits}, over this server's limit of ${caps.maxCreditsPerDay} credits per day (UTC)`;
    }
  }
  return undefined;
}

// What reached the sandbox API as a spend — the outcome every gate test asserts on. The spend operations
// are written out here rather than read from the catalog, so a tool mislabelled there cannot hide a
// charge from the tests.
import type { RecordedRequest, SandboxApi } from "../../src/sandbox/index.js";

export const SPEND_OPERATIONS: ReadonlySet<string> = new Set(["billing.topup", "billing.approvals.approve", "billing.run_monthly_for_org"]);

/** Spend requests the API received after the first `mark` requests, charged or not. */
export function spendsAfter(api: SandboxApi, mark: number): RecordedRequest[] {
  return api.requests.slice(mark).filter((r) => SPEND_OPERATIONS.has(r.operationId));
}

/** Spend requests after `mark` that the API charged (a replayed Idempotency-Key is not charged again). */
export function chargesAfter(api: SandboxApi, mark: number): RecordedRequest[] {
  return spendsAfter(api, mark).filter((r) => r.charged);
}

// `geopera-billing-mcp audit verify [file]` and `audit verify --store <url>`: checks the audit chain of
// either store — a JSONL file, a file: store's directory, or the gate_audit table of a postgres:// store
// (read in one read-only snapshot, nothing changed; line N is the Nth row in seq order). Exit 0 when whole, 1 at the first break, 2 when
// there is nothing to check.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { verifyAuditFile, type VerifyResult } from "./gate/audit.js";
import { fileStoreDir, isFileUrl, isPostgresUrl } from "./store/index.js";

/** `target`: a file path, a file: or postgres:// store URL, or undefined for the state directory's file. */
export async function auditVerify(target: string | undefined, stateDir: string, out: (line: string) => void): Promise<number> {
  let where: string;
  let result: VerifyResult | undefined;
  if (target !== undefined && isPostgresUrl(target)) {
    const { describePostgresUrl, verifyPostgresAudit } = await import("./store/postgres.js");
    where = `${describePostgresUrl(target)} (table gate_audit)`;
    try {
      result = await verifyPostgresAudit(target);
    } catch (err) {
      out(`audit verify: cannot read ${where}: ${(err as Error).message}`);
      return 2;
    }
    if (!result) {
      out(`audit verify: no audit table in ${where}`);
      return 2;
    }
  } else {
    where = target === undefined ? join(stateDir, "audit.jsonl") : isFileUrl(target) ? join(fileStoreDir(target), "audit.jsonl") : target;
    if (!existsSync(where)) {
      out(`audit verify: no audit file at ${where}`);
      return 2;
    }
    result = verifyAuditFile(where);
  }
  if (result.ok) {
    out(`audit verify: OK, ${result.lines} line(s) in ${where}, chain intact`);
    return 0;
  }
  out(`audit verify: BROKEN at line ${result.line} of ${where}: ${result.reason}`);
  return 1;
}

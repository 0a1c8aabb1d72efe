// `geopera-billing-mcp audit verify [file]` and `audit verify --store <url>`: checks the audit chain of
// either store — a JSONL file, a file: store's directory, or the gate_audit table of a postgres:// store
// (read in one read-only snapshot, nothing changed; line N is the Nth row in seq order) — every break,
// not only the first; that every spend of the idempotency journal (journal.jsonl beside the file, or
// gate_journal) is in it with its outcome; every mac when keys are given; and --expect-head. Prints the
// head to pin. Exit 0 when whole and complete, 1 at any finding, 2 when there is nothing to check.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { verifyAuditFile, type VerifyResult } from "./gate/audit.js";
import { parseHead } from "./gate/auditCheck.js";
import { fileStoreDir, isFileUrl, isPostgresUrl } from "./store/index.js";

export interface AuditVerifyOptions {
  /** GEOPERA_AUDIT_KEY's keys, newest first. */
  keys?: readonly string[];
  /** --expect-head <count>:<hash>. */
  expectHead?: string;
}

/** `target`: a file path, a file: or postgres:// store URL, or undefined for the state directory's file. */
export async function auditVerify(target: string | undefined, stateDir: string, out: (line: string) => void, opts: AuditVerifyOptions = {}): Promise<number> {
  const expectHead = opts.expectHead === undefined ? undefined : parseHead(opts.expectHead);
  if (opts.expectHead !== undefined && !expectHead) {
    out(`audit verify: --expect-head must be <line count>:<64 hex digits>`);
    return 2;
  }
  const check = { keys: opts.keys ?? [], ...(expectHead ? { expectHead } : {}) };
  let where: string;
  let result: VerifyResult | undefined;
  if (target !== undefined && isPostgresUrl(target)) {
    const { describePostgresUrl } = await import("./store/postgres.js");
    const { verifyPostgresAudit } = await import("./store/postgresAudit.js");
    where = `${describePostgresUrl(target)} (table gate_audit)`;
    try {
      result = await verifyPostgresAudit(target, check);
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
    // A missing audit file is something to check when its journal records spends (the file was removed).
    if (!existsSync(where) && !existsSync(join(dirname(where), "journal.jsonl"))) {
      // The usual slip: the server ran with --sandbox (state in sandbox/), verify without it.
      const sandboxed = target === undefined ? join(stateDir, "sandbox", "audit.jsonl") : undefined;
      const hint = sandboxed && existsSync(sandboxed) ? `; the sandbox's audit is at ${sandboxed} (add --sandbox, as the server ran)` : "";
      out(`audit verify: no audit file at ${where}${hint}`);
      return 2;
    }
    if (!existsSync(where)) out(`audit verify: no audit file at ${where}; checking it as empty against the journal beside it`);
    result = verifyAuditFile(where, check);
  }
  report(result, where, opts.keys?.length ?? 0, out);
  return result.ok ? 0 : 1;
}

function report(result: VerifyResult, where: string, keys: number, out: (line: string) => void): void {
  const keyed = keys > 0 ? ", macs checked" : "";
  if (result.ok) {
    out(`audit verify: OK, ${result.lines} line(s) in ${where}, chain intact${keyed}, every journaled spend audited`);
  } else {
    const first = result.findings[0]!;
    out(`audit verify: BROKEN ${first.line !== undefined ? `at line ${first.line} of` : "(incomplete):"} ${where}: ${first.reason}`);
    for (const f of result.findings.slice(1)) out(`audit verify:   also ${f.line !== undefined ? `line ${f.line}: ` : ""}${f.reason}`);
  }
  for (const n of result.notes) out(`audit verify: note: ${n}`);
  out(`audit verify: head ${result.head} (pin it: audit verify --expect-head ${result.head})`);
}

// The audit chain: one JSON line per gate event, each carrying the SHA-256 of the line before it, so an
// edited, removed or reordered line breaks the chain at a point `audit verify` names. Callers are
// recorded by fingerprint only; every line is redacted before it is stored. The line format and the
// check are shared by both stores (the file below, and the gate_audit table of the PostgreSQL store).
import { writeSync, fsyncSync, closeSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Clock } from "./clock.js";
import type { Logger } from "../log.js";
import { redactedJson } from "../redact.js";
import type { AuditEvent, AuditEventName, VerifyResult } from "../store/types.js";
import { ChainCheck, GENESIS, sha256, type CheckOptions } from "./auditCheck.js";
import { sealLine } from "./auditKey.js";
import { crossCheck, readJournalFile } from "./completeness.js";
import { openForAppend, readStateFile } from "./stateFile.js";

export type { AuditEvent, AuditEventName, VerifyResult };
export { GENESIS, sha256 };

/** The stored text of line `seq`, chained to the line whose hash is `prev`: redacted as a value, then serialised. */
export function auditLine(seq: number, at: Date, e: AuditEvent, prev: string): string {
  return redactedJson({ seq, at: at.toISOString(), ...e, prev });
}

// The chain check lives in auditCheck.ts (shared with the PostgreSQL store's verify).
export { ChainCheck };

/** The audit file of the file store: one process appends, synchronously. */
export class AuditLog {
  private fd: number;
  private prev: string;
  private seq: number;

  /**
   * A damaged or half-written last line (a crash mid-write, a full disk) does not stop start-up: it is
   * named in the log, kept byte for byte, and the next line starts on a line of its own, chained to the
   * damaged line's text and numbered after it, so `audit verify` names that line and checks every line
   * after it. `key`: GEOPERA_AUDIT_KEY's current key; each line then carries its mac.
   */
  constructor(
    file: string,
    private readonly clock: Clock,
    log: Logger,
    private readonly key?: string,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const state = readStateFile(file);
    const last = state.lines.at(-1);
    this.prev = last ? sha256(last.raw) : GENESIS;
    this.seq = (last?.line ?? 0) + 1;
    const seq = last ? seqOf(last.raw) : undefined;
    if (last && seq === undefined) {
      log.error("audit file: its last line is damaged (a write cut short by a crash or a full disk, or garbage); it is kept as it is, the next line follows it, and `audit verify` reports it", {
        file,
        line: last.line,
        offset: last.offset,
        bytes: Buffer.byteLength(last.raw),
        problem: last.raw.trim() === "" ? "blank line" : "not a complete JSON audit line",
      });
    } else if (seq !== undefined) {
      this.seq = seq + 1; // numbered as the chain says (an earlier break is verify's to report)
    }
    const { fd, newlineAt } = openForAppend(file, state);
    this.fd = fd;
    if (newlineAt !== undefined) log.warn("audit file: it did not end with a newline (a write cut short); one was added so the next line starts on its own", { file, offset: newlineAt });
  }

  /** Synchronous and fsync'd: an audit line exists before the step it records goes further. */
  append(e: AuditEvent): void {
    const plain = auditLine(this.seq, new Date(this.clock()), e, this.prev);
    const line = this.key ? sealLine(plain, this.key) : plain;
    writeSync(this.fd, line + "\n");
    fsyncSync(this.fd);
    this.prev = sha256(line);
    this.seq++;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The seq of an intact audit line, or undefined for a damaged one. */
function seqOf(raw: string): number | undefined {
  try {
    const v = JSON.parse(raw) as { seq?: unknown } | null;
    return v !== null && typeof v === "object" && Number.isSafeInteger(v.seq) ? (v.seq as number) : undefined;
  } catch {
    return undefined;
  }
}

export interface VerifyFileOptions extends CheckOptions {
  /** The journal to cross-check against (default: journal.jsonl beside the audit file). */
  journalFile?: string;
}

/** Checks the chain of an audit file and that every spend of the journal beside it is in it. */
export function verifyAuditFile(file: string, opts: VerifyFileOptions = {}): VerifyResult {
  const journalFile = opts.journalFile ?? join(dirname(file), "journal.jsonl");
  const hasJournal = existsSync(journalFile);
  const damaged: number[] = [];
  const before = hasJournal ? readJournalFile(journalFile, damaged) : new Map();
  const check = new ChainCheck(opts);
  for (const { raw } of readStateFile(file).lines) check.push(raw);
  const notes: string[] = [];
  let extra;
  if (hasJournal) {
    extra = crossCheck(before, check.spends, new Set(readJournalFile(journalFile).keys()));
    notes.push(`${before.size} spend(s) in ${journalFile} cross-checked against the audit`);
    if (damaged.length) notes.push(`${journalFile}: damaged line(s) ${damaged.slice(0, 10).join(", ")}${damaged.length > 10 ? ", …" : ""} skipped (a torn send line is a spend that was never sent)`);
  } else {
    const sent = [...check.spends.values()].filter((s) => s.sentAt !== undefined).length;
    extra = sent > 0 ? [{ reason: `the audit records ${sent} sent spend(s) but there is no journal at ${journalFile} to match them (removed?)` }] : [];
    if (sent === 0) notes.push(`no journal at ${journalFile}: nothing to cross-check`);
  }
  return check.result(extra, notes);
}

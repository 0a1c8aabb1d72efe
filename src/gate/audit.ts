// The audit chain: one JSON line per gate event, each carrying the SHA-256 of the line before it, so an
// edited, removed or reordered line breaks the chain at a point `audit verify` names. Callers are
// recorded by fingerprint only; every line is redacted before it is stored. The line format and the
// check are shared by both stores (the file below, and the gate_audit table of the PostgreSQL store).
import { createHash } from "node:crypto";
import { openSync, writeSync, fsyncSync, closeSync, readFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "./clock.js";
import { redactedJson } from "../redact.js";
import type { AuditEvent, AuditEventName, VerifyResult } from "../store/types.js";

export type { AuditEvent, AuditEventName, VerifyResult };

export const GENESIS = "0".repeat(64);
export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** The stored text of line `seq`, chained to the line whose hash is `prev`: redacted as a value, then serialised. */
export function auditLine(seq: number, at: Date, e: AuditEvent, prev: string): string {
  return redactedJson({ seq, at: at.toISOString(), ...e, prev });
}

/** Checks lines one at a time, in order (so a table can be streamed); the first break is kept. */
export class ChainCheck {
  private prev = GENESIS;
  private count = 0;
  private broken: VerifyResult | undefined;

  /** Feeds the next line; false once the chain is broken. */
  push(raw: string): boolean {
    if (this.broken) return false;
    const n = ++this.count;
    let parsed: { prev?: unknown; seq?: unknown };
    try {
      parsed = JSON.parse(raw) as { prev?: unknown; seq?: unknown };
    } catch {
      this.broken = { ok: false, line: n, reason: "not valid JSON" };
      return false;
    }
    if (parsed.prev !== this.prev) this.broken = { ok: false, line: n, reason: "its prev hash does not match the line before (edited, removed or reordered)" };
    else if (parsed.seq !== n) this.broken = { ok: false, line: n, reason: `sequence number ${String(parsed.seq)} where ${n} was expected` };
    this.prev = sha256(raw);
    return !this.broken;
  }

  result(): VerifyResult {
    return this.broken ?? { ok: true, lines: this.count };
  }
}

function lastLine(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
  return lines.at(-1);
}

/** The audit file of the file store: one process appends, synchronously. */
export class AuditLog {
  private fd: number;
  private prev: string;
  private seq: number;

  constructor(
    file: string,
    private readonly clock: Clock,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const last = lastLine(file);
    this.prev = last ? sha256(last) : GENESIS;
    this.seq = last ? ((JSON.parse(last) as { seq?: number }).seq ?? 0) + 1 : 1;
    this.fd = openSync(file, "a", 0o600);
  }

  /** Synchronous and fsync'd: an audit line exists before the step it records goes further. */
  append(e: AuditEvent): void {
    const line = auditLine(this.seq, new Date(this.clock()), e, this.prev);
    writeSync(this.fd, line + "\n");
    fsyncSync(this.fd);
    this.prev = sha256(line);
    this.seq++;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Checks the whole chain; names the first line (1-based) that does not follow from the one before. */
export function verifyAuditText(text: string): VerifyResult {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const check = new ChainCheck();
  for (const raw of lines) if (!check.push(raw)) break;
  return check.result();
}

export function verifyAuditFile(file: string): VerifyResult {
  return verifyAuditText(readFileSync(file, "utf8"));
}

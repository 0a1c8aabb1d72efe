// The append-only audit file: one JSON line per gate event, each carrying the SHA-256 of the line
// before it, so an edited, removed or reordered line breaks the chain at a point `audit verify` names.
// Callers are recorded by fingerprint only; every line is redacted before it is written.
import { createHash } from "node:crypto";
import { openSync, writeSync, fsyncSync, closeSync, readFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "./clock.js";
import { redact } from "../redact.js";

export type AuditEventName = "asked" | "confirmed" | "declined" | "expired" | "refused" | "sent" | "answered" | "unknown";

export interface AuditEvent {
  event: AuditEventName;
  tool: string;
  digest: string;
  caller: string;
  args?: Record<string, unknown>;
  key?: string;
  channel?: "form" | "page" | "url" | "none";
  status?: number;
  detail?: string;
}

export const GENESIS = "0".repeat(64);
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

function lastLine(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
  return lines.at(-1);
}

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
    const line = redact(JSON.stringify({ seq: this.seq, at: new Date(this.clock()).toISOString(), ...e, prev: this.prev }));
    writeSync(this.fd, line + "\n");
    fsyncSync(this.fd);
    this.prev = sha256(line);
    this.seq++;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export type VerifyResult = { ok: true; lines: number } | { ok: false; line: number; reason: string };

/** Checks the whole chain; names the first line (1-based) that does not follow from the one before. */
export function verifyAuditText(text: string): VerifyResult {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  let prev = GENESIS;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    let parsed: { prev?: unknown; seq?: unknown };
    try {
      parsed = JSON.parse(raw) as { prev?: unknown; seq?: unknown };
    } catch {
      return { ok: false, line: i + 1, reason: "not valid JSON" };
    }
    if (parsed.prev !== prev) return { ok: false, line: i + 1, reason: "its prev hash does not match the line before (edited, removed or reordered)" };
    if (parsed.seq !== i + 1) return { ok: false, line: i + 1, reason: `sequence number ${String(parsed.seq)} where ${i + 1} was expected` };
    prev = sha256(raw);
  }
  return { ok: true, lines: lines.length };
}

export function verifyAuditFile(file: string): VerifyResult {
  return verifyAuditText(readFileSync(file, "utf8"));
}

// `audit verify`'s check of the chain, one line at a time in order (so a table can be streamed). It does
// not stop at the first break: a damaged line (a crash mid-write) or an edited one is named, and the
// lines after it are still checked against it, so later tampering cannot hide behind an earlier break.
// Alongside it collects what the completeness cross-check needs (the spends each line records), the head
// (line count and the last line's hash, for an operator to pin), and with keys, checks every line's mac.
import { createHash } from "node:crypto";
import { checkMac } from "./auditKey.js";
import type { AuditFinding, VerifyResult } from "../store/types.js";

export const GENESIS = "0".repeat(64);
export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** A pinned head: the chain must have line `count` and that line's SHA-256 must be `hash` (count 0: GENESIS). */
export interface Head {
  count: number;
  hash: string;
}

export const formatHead = (h: Head) => `${h.count}:${h.hash}`;

/** `<count>:<sha256 hex>`, as `audit verify` prints it; undefined if malformed. */
export function parseHead(text: string): Head | undefined {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim().toLowerCase());
  return m ? { count: Number(m[1]), hash: m[2]! } : undefined;
}

export interface CheckOptions {
  /** GEOPERA_AUDIT_KEY's keys, newest first; empty: macs are not checked. */
  keys?: readonly string[];
  expectHead?: Head;
}

/** What the audit says about one Idempotency-Key. */
export interface AuditedSpend {
  /** Line of the first "sent". */
  sentAt?: number;
  /** Statuses of its "answered" lines. */
  answered: number[];
  unknown: boolean;
}

const MAX_FINDINGS = 50;
const SPEND_EVENTS = new Set(["sent", "answered", "unknown"]);

export class ChainCheck {
  private prev = GENESIS;
  private count = 0;
  private readonly findings: AuditFinding[] = [];
  private more = 0;
  private readonly keys: readonly string[];
  /** Lines before the first line with a mac (written before a key was set). */
  private unsealed = 0;
  private sealed = 0;
  /** Index (in keys) of the newest key seen so far; keys are listed newest first. */
  private newestKey = Infinity;
  private lastSealed = false;
  readonly spends = new Map<string, AuditedSpend>();

  constructor(private readonly opts: CheckOptions = {}) {
    this.keys = opts.keys ?? [];
  }

  private find(line: number | undefined, reason: string): void {
    if (this.findings.length < MAX_FINDINGS) this.findings.push(line === undefined ? { reason } : { line, reason });
    else this.more++;
  }

  /** Feeds the next line. */
  push(raw: string): void {
    const n = ++this.count;
    const hash = sha256(raw);
    const pinned = this.opts.expectHead;
    if (pinned && pinned.count === n && pinned.hash !== hash) this.find(n, `it is not the pinned head ${formatHead(pinned)} (the audit was rewritten up to here)`);
    let parsed: Record<string, unknown> | undefined;
    try {
      const v = JSON.parse(raw) as unknown;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) parsed = v as Record<string, unknown>;
    } catch {
      // reported below
    }
    const prev = this.prev;
    this.prev = hash; // the next line chains to this one's text, damaged or not
    if (!parsed) {
      this.find(n, `${raw === "" ? "it is empty" : "it is not a JSON object"} (damaged: a write cut short by a crash or a full disk, or edited)`);
      this.lastSealed = false;
      return;
    }
    if (parsed.prev !== prev) this.find(n, "its prev hash does not match the line before (edited, removed or reordered)");
    else if (parsed.seq !== n) this.find(n, `sequence number ${String(parsed.seq)} where ${n} was expected`);
    this.checkSeal(n, raw, parsed);
    this.collect(n, parsed);
  }

  private checkSeal(n: number, raw: string, parsed: Record<string, unknown>): void {
    if (this.keys.length === 0) {
      if (Object.hasOwn(parsed, "mac")) this.sealed++;
      return;
    }
    const mac = checkMac(raw, parsed, this.keys);
    this.lastSealed = mac.kind === "ok";
    if (mac.kind === "none") {
      if (this.sealed > 0) this.find(n, "it has no mac, but lines before it do (its mac was removed, or it was written without the key)");
      else this.unsealed++;
      return;
    }
    this.sealed++;
    if (mac.kind === "bad") return this.find(n, mac.reason);
    if (mac.index > this.newestKey) this.find(n, `its mac is under an older key (#${mac.index + 1} in the list) after lines under a newer one`);
    this.newestKey = Math.min(this.newestKey, mac.index);
  }

  private collect(n: number, parsed: Record<string, unknown>): void {
    const { event, key, status } = parsed;
    if (typeof key !== "string" || typeof event !== "string" || !SPEND_EVENTS.has(event)) return;
    let s = this.spends.get(key);
    if (!s) this.spends.set(key, (s = { answered: [], unknown: false }));
    if (event === "sent") s.sentAt ??= n;
    else if (event === "answered" && typeof status === "number") s.answered.push(status);
    else if (event === "unknown") s.unknown = true;
  }

  get head(): Head {
    return { count: this.count, hash: this.count === 0 ? GENESIS : this.prev };
  }

  /** The verdict, with findings from outside the chain (the completeness cross-check) and notes. */
  result(extra: AuditFinding[] = [], extraNotes: string[] = []): VerifyResult {
    const pinned = this.opts.expectHead;
    if (pinned && pinned.count > this.count) this.find(undefined, `the pinned head ${formatHead(pinned)} is line ${pinned.count}, but the audit has only ${this.count} line(s) (lines removed)`);
    if (pinned && pinned.count === 0 && pinned.hash !== GENESIS) this.find(undefined, `the pinned head ${formatHead(pinned)} is not a valid head for 0 lines`);
    const notes: string[] = [];
    if (this.keys.length > 0) {
      if (this.count > 0 && !this.lastSealed) {
        this.find(this.count, "the last line carries no valid mac, so the key vouches for nothing after the last sealed line (if the key was only just set and nothing has been written since, verify without it)");
      }
      if (this.unsealed > 0 && this.sealed > 0) notes.push(`lines 1-${this.unsealed} carry no mac (written before the key was set); the mac of line ${this.unsealed + 1} covers them through the chain`);
      if (this.sealed > 0 && this.findings.length === 0 && extra.length === 0) notes.push(`every line from ${this.unsealed + 1} to ${this.count} carries a valid mac`);
    } else if (this.sealed > 0) {
      notes.push(`${this.sealed} line(s) carry a mac that was not checked: set GEOPERA_AUDIT_KEY to check them`);
    }
    const findings = [...this.findings, ...extra];
    if (this.more > 0) findings.push({ reason: `…and ${this.more} more finding(s) in the chain` });
    const head = formatHead(this.head);
    notes.push(...extraNotes);
    if (findings.length === 0) return { ok: true, lines: this.count, head, notes };
    const first = findings[0]!;
    return { ok: false, ...(first.line !== undefined ? { line: first.line } : {}), reason: first.reason, lines: this.count, head, findings, notes };
  }
}

// The idempotency journal (the file store's part): the proxy's record of every spend it sends. A spend's
// key and exact body are written (and fsync'd) before the request leaves, so a retry — even after a
// crash — reuses the same key and bytes, and a spend that was sent but never answered is reported
// instead of re-sent anew. Check-and-mark methods run with no await inside.
import { openSync, writeSync, fsyncSync, closeSync, readFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "./clock.js";
import type { SpendEntry, SpendState, NewSpend } from "../store/types.js";

export type { SpendEntry, SpendState };

type Line =
  | ({ event: "send" } & Omit<SpendEntry, "state" | "mine" | "status">)
  | { event: "answer"; key: string; status: number; at: number }
  | { event: "unknown"; key: string; at: number };

export class SpendJournal {
  private readonly entries = new Map<string, SpendEntry>();
  private fd: number;

  constructor(
    private readonly file: string,
    private readonly clock: Clock,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (existsSync(file)) this.load();
    this.fd = openSync(file, "a", 0o600);
  }

  private load(): void {
    for (const raw of readFileSync(this.file, "utf8").split("\n")) {
      if (!raw.trim()) continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // a torn last line from a crash mid-write: the spend it began was never sent
      }
      if (line.event === "send") {
        const { event: _e, ...rest } = line;
        this.entries.set(line.key, { ...rest, state: "sending", mine: false });
      } else {
        const e = this.entries.get(line.key);
        if (e) {
          e.state = line.event === "answer" ? "answered" : "unknown";
          if (line.event === "answer") e.status = line.status;
        }
      }
    }
    // A spend still "sending" when its process died never got an answer: it is in doubt.
    for (const e of this.entries.values()) if (e.state === "sending") e.state = "unknown";
  }

  private write(line: Line): void {
    writeSync(this.fd, JSON.stringify(line) + "\n");
    fsyncSync(this.fd);
  }

  /** Records a spend about to be sent. Synchronous: durable before the request leaves. */
  recordSend(e: NewSpend): SpendEntry {
    const entry: SpendEntry = { ...e, sentAt: this.clock(), state: "sending", mine: true };
    this.write({
      event: "send",
      key: entry.key,
      digest: entry.digest,
      tool: entry.tool,
      operationId: entry.operationId,
      body: entry.body,
      credits: entry.credits,
      caller: entry.caller,
      ...(entry.organization !== undefined ? { organization: entry.organization } : {}),
      sentAt: entry.sentAt,
    });
    this.entries.set(entry.key, entry);
    return entry;
  }

  /** Takes an in-doubt spend for a resend by this process (same key, same body); undefined if it is in flight or settled. */
  claimResend(key: string): SpendEntry | undefined {
    const e = this.entries.get(key);
    if (e?.state !== "unknown") return undefined;
    e.state = "sending";
    e.mine = true;
    return e;
  }

  recordAnswer(key: string, status: number): void {
    this.write({ event: "answer", key, status, at: this.clock() });
    const e = this.entries.get(key);
    if (e) {
      e.state = "answered";
      e.status = status;
    }
  }

  recordUnknown(key: string): void {
    this.write({ event: "unknown", key, at: this.clock() });
    const e = this.entries.get(key);
    if (e) e.state = "unknown";
  }

  /** The spend of this exact call that is in flight or never got an answer, if any. */
  unsettled(digest: string): SpendEntry | undefined {
    for (const e of this.entries.values()) if (e.digest === digest && e.state !== "answered") return e;
    return undefined;
  }

  /** Every spend in doubt (for the start-up report). */
  inDoubt(): SpendEntry[] {
    return [...this.entries.values()].filter((e) => e.state === "unknown");
  }

  /** Credits this caller sent since `since` (ms), counting in-flight and in-doubt spends, but not refused ones. */
  creditsSince(caller: string, since: number): number {
    return this.sumSince(since, (e) => e.caller === caller);
  }

  /** Credits charged to this organization since `since` (ms), by any caller, counted as creditsSince counts. */
  organizationCreditsSince(organization: string, since: number): number {
    return this.sumSince(since, (e) => e.organization === organization);
  }

  private sumSince(since: number, counts: (e: SpendEntry) => boolean): number {
    let sum = 0;
    for (const e of this.entries.values()) {
      if (e.sentAt < since || !e.credits || !counts(e)) continue;
      if (e.state === "answered" && (e.status ?? 0) >= 400) continue;
      sum += e.credits;
    }
    return sum;
  }

  close(): void {
    closeSync(this.fd);
  }
}

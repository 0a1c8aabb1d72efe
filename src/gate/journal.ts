// The idempotency journal (the file store's part): the proxy's record of every spend it sends. A spend's
// key and exact body are written (and fsync'd) before the request leaves, so a retry — even after a
// crash — reuses the same key and bytes, and a spend that was sent but never answered is reported
// instead of re-sent anew. Check-and-mark methods run with no await inside.
import { writeSync, fsyncSync, closeSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "./clock.js";
import type { Logger } from "../log.js";
import { jsonObjectOf, openForAppend, readStateFile } from "./stateFile.js";
import type { SpendEntry, SpendState, NewSpend } from "../store/types.js";

export type { SpendEntry, SpendState };

type Line =
  | ({ event: "send" } & Omit<SpendEntry, "state" | "mine" | "status">)
  | { event: "answer"; key: string; status: number; at: number }
  | { event: "unknown"; key: string; at: number };

export class SpendJournal {
  private readonly entries = new Map<string, SpendEntry>();
  private fd: number;

  /**
   * A damaged line (a crash mid-write, a full disk, garbage) does not stop start-up: it is skipped, named
   * in the log (line, byte offset, what is wrong), kept byte for byte, and the next record starts on a
   * line of its own.
   */
  constructor(
    private readonly file: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const state = readStateFile(file);
    this.load(state.lines);
    const { fd, newlineAt } = openForAppend(file, state);
    this.fd = fd;
    if (newlineAt !== undefined) log.warn("journal: it did not end with a newline (a write cut short); one was added so the next record starts on its own", { file, offset: newlineAt });
  }

  private load(lines: ReturnType<typeof readStateFile>["lines"]): void {
    for (const { raw, line: n, offset } of lines) {
      const line = journalLine(raw); // an empty or blank line too: the journal never writes one
      if (!line) {
        // A torn send line is a spend that was never sent: its request leaves only after the whole line is
        // written and fsync'd. A torn answer or unknown line leaves its spend in doubt (re-sent, if ever,
        // only with its own key after a person confirms again).
        const last = n === lines.length;
        this.log.error(
          last
            ? "journal: its last line is damaged (a write cut short by a crash or a full disk, or garbage) and is skipped, its bytes kept as they are; if it was a spend's send line, that spend was never sent (a request leaves only after its whole line is on disk); if it was an answer, that spend stays in doubt"
            : "journal: a line in the middle is damaged (edited or corrupted) and is skipped; the bytes are kept as they are",
          { file: this.file, line: n, offset, bytes: Buffer.byteLength(raw), problem: raw.trim() === "" ? "blank line" : "not a complete JSON journal line" },
        );
        continue;
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

/** A parsed journal line, or undefined when the text is not one (damaged). */
function journalLine(raw: string): Line | undefined {
  const l = jsonObjectOf(raw);
  return l && typeof l.key === "string" && (l.event === "send" || l.event === "answer" || l.event === "unknown") ? (l as unknown as Line) : undefined;
}

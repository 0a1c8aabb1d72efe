// The completeness cross-check of `audit verify`: the hash chain proves order, but deleting the last
// lines, emptying the file, or rewriting it with recomputed hashes leaves a chain that checks. The
// idempotency journal is a second, independent record of every spend, so:
//  - every spend in the journal must appear in the audit with its key: a "sent" line, and once the
//    journal has its outcome, the matching "answered" (same status) or "unknown" line;
//  - every key the audit records as sent must be in the journal (its rows were not removed either).
//
// The gate writes, per spend: journal row → audit "sent" → request → journal outcome → audit outcome.
// A request leaves only after its "sent" line is durable, so a spend the API may have seen always has
// one. A journal row with no "sent" line is reported: either audit lines were removed, or the process
// stopped (or the audit write failed, which the server logged) in the instant between the two writes —
// then that spend was never sent. Verify cannot tell these apart, so it fails and says both. Likewise a
// journaled outcome with no audit outcome line. Run against a live store, the journal is read before
// the audit for the first rule and after it for the second, so a spend in progress is not reported.
import type { AuditFinding } from "../store/types.js";
import type { AuditedSpend } from "./auditCheck.js";
import { readStateFile } from "./stateFile.js";

/** One spend as the journal has it now. */
export interface JournaledSpend {
  key: string;
  tool: string;
  /** "sending": in flight, or its process stopped before an outcome was written. */
  state: "sending" | "answered" | "unknown";
  status?: number;
}

const MAX_LISTED = 20;

export function crossCheck(
  journalBefore: ReadonlyMap<string, JournaledSpend>,
  audited: ReadonlyMap<string, AuditedSpend>,
  journalAfter: ReadonlySet<string>,
): AuditFinding[] {
  const out: AuditFinding[] = [];
  let more = 0;
  const add = (reason: string) => (out.length < MAX_LISTED ? out.push({ reason }) : more++);
  for (const j of journalBefore.values()) {
    const a = audited.get(j.key);
    const spend = `the journal's ${j.tool} spend ${j.key}`;
    if (!a?.sentAt) {
      add(
        `${spend} has no "sent" line in the audit: audit lines were removed, or the process stopped (or its audit write failed) ` +
          `between journaling it and auditing it — then it was never sent, since a request leaves only after its "sent" line`,
      );
    } else if (j.state === "answered" && !a.answered.includes(j.status!)) {
      add(`${spend} was answered HTTP ${j.status} but the audit has no "answered" line with that status for it (removed or rewritten, or the process stopped before writing it)`);
    } else if (j.state === "unknown" && !a.unknown && a.answered.length === 0) {
      add(`${spend} is in doubt in the journal but the audit has no outcome line ("unknown") for it (removed, or the process stopped before writing it)`);
    }
  }
  for (const [key, a] of audited) {
    if (a.sentAt !== undefined && !journalAfter.has(key)) add(`line ${a.sentAt} records spend ${key} as sent, but the journal has no such spend (journal rows removed)`);
  }
  if (more > 0) out.push({ reason: `…and ${more} more spend(s) not matched between journal and audit` });
  return out;
}

/**
 * The file store's journal.jsonl as a map of spends. Damaged lines are skipped (the server names them at
 * start-up too); their numbers are put in `damaged` when given.
 */
export function readJournalFile(file: string, damaged: number[] = []): Map<string, JournaledSpend> {
  const spends = new Map<string, JournaledSpend>();
  for (const { raw, line: n } of readStateFile(file).lines) {
    let line: { event?: unknown; key?: unknown; tool?: unknown; status?: unknown };
    try {
      line = JSON.parse(raw) as typeof line;
    } catch {
      damaged.push(n);
      continue;
    }
    if (line === null || typeof line !== "object" || typeof line.key !== "string") {
      damaged.push(n);
      continue;
    }
    if (line.event === "send") spends.set(line.key, { key: line.key, tool: String(line.tool), state: "sending" });
    const s = spends.get(line.key);
    if (!s) continue;
    if (line.event === "answer" && typeof line.status === "number") {
      s.state = "answered";
      s.status = line.status;
    } else if (line.event === "unknown") s.state = "unknown";
  }
  return spends;
}

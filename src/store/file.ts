// The single-process store (the default, nothing to install): confirmations in memory, the journal and
// the audit chain as JSONL files in the state directory. Each method's check-and-mark runs inside one
// synchronous span of the classes below (an async method runs synchronously up to its first await, and
// these have none), so concurrent calls in this process cannot interleave. Not for several processes
// on one directory: use PostgreSQL for replicas. Request states: fileRequestState.ts.
import { join } from "node:path";
import { ConfirmationStore } from "../gate/confirmations.js";
import { SpendJournal } from "../gate/journal.js";
import { AuditLog, verifyAuditFile } from "../gate/audit.js";
import { createLogger, type Logger } from "../log.js";
import { capViolation } from "../gate/caps.js";
import { FileRequestStates } from "./fileRequestState.js";
import { FileOAuthRecords } from "./oauthFile.js";
import type { Clock } from "../gate/clock.js";
import { startOfUtcDay, type AuditEvent, type Caps, type GateStore, type NewConfirmation, type NewSpend, type Reservation, type VerifyResult } from "./types.js";

export interface FileStoreOptions {
  /** Where damaged state files are reported (default: warnings and errors to stderr). */
  log?: Logger;
  /** GEOPERA_AUDIT_KEY's keys, newest first: audit lines carry a mac under the first; verify checks them all. */
  auditKeys?: readonly string[];
}

/** A copy for the caller: the in-memory records stay the store's own. */
const copyOf = <T extends object>(x: T | undefined): T | undefined => (x ? { ...x } : undefined);

export class FileStore implements GateStore {
  readonly where: string;
  private readonly confirmations: ConfirmationStore;
  private readonly journal: SpendJournal;
  private readonly audit: AuditLog;
  private readonly auditFile: string;
  private readonly journalFile: string;
  private readonly auditKeys: readonly string[];
  private readonly requestStates: FileRequestStates;
  readonly oauth: FileOAuthRecords;

  constructor(
    dir: string,
    private readonly clock: Clock,
    confirmTtlMs: number,
    opts: FileStoreOptions = {},
  ) {
    this.where = `file:${dir}`;
    this.auditFile = join(dir, "audit.jsonl");
    this.journalFile = join(dir, "journal.jsonl");
    this.auditKeys = opts.auditKeys ?? [];
    const log = opts.log ?? createLogger("warn");
    this.journal = new SpendJournal(this.journalFile, clock, log);
    this.audit = new AuditLog(this.auditFile, clock, log, this.auditKeys[0]);
    this.confirmations = new ConfirmationStore(clock, confirmTtlMs);
    this.requestStates = new FileRequestStates(dir, clock, log);
    this.oauth = new FileOAuthRecords(dir, clock, log);
  }

  async openConfirmation(n: NewConfirmation) {
    const found = this.confirmations.findPending(n.digest);
    if (found) return { confirmation: { ...found }, created: false };
    return { confirmation: { ...this.confirmations.create(n.digest, n.tool, { ...n.args }, n.caller, n.view, n.credits) }, created: true };
  }

  async getConfirmation(id: string) {
    return copyOf(this.confirmations.get(id));
  }

  async decideConfirmation(id: string, token: string, yes: boolean) {
    return this.confirmations.decide(id, token, yes);
  }

  async consumeConfirmation(digest: string) {
    return copyOf(this.confirmations.consume(digest));
  }

  waitForDecision(id: string, waitMs: number, signal?: AbortSignal) {
    return this.confirmations.waitForDecision(id, waitMs, signal);
  }

  async closeConfirmation(which: { id: string } | { digest: string }) {
    return this.confirmations.close(which);
  }

  async unsettledSpend(digest: string) {
    return copyOf(this.journal.unsettled(digest));
  }

  async reserveSpend(spend: NewSpend, caps: Caps): Promise<Reservation> {
    // One synchronous span: two concurrent spends cannot both slip under the daily cap.
    const open = this.journal.unsettled(spend.digest);
    if (open) return { busy: { ...open } };
    const since = startOfUtcDay(this.clock());
    const organization = spend.organization !== undefined ? { id: spend.organization, today: this.journal.organizationCreditsSince(spend.organization, since) } : undefined;
    const over = capViolation(caps, spend.credits, this.journal.creditsSince(spend.caller, since), organization);
    if (over) return { over };
    return { entry: { ...this.journal.recordSend(spend) } };
  }

  async claimResend(key: string) {
    return copyOf(this.journal.claimResend(key));
  }

  async recordAnswer(key: string, status: number) {
    this.journal.recordAnswer(key, status);
  }

  async recordUnknown(key: string) {
    this.journal.recordUnknown(key);
  }

  async spendsInDoubt() {
    return this.journal.inDoubt().map((e) => ({ ...e }));
  }

  async creditsToday(caller: string) {
    return this.journal.creditsSince(caller, startOfUtcDay(this.clock()));
  }

  async organizationCreditsToday(organization: string) {
    return this.journal.organizationCreditsSince(organization, startOfUtcDay(this.clock()));
  }

  async appendAudit(e: AuditEvent) {
    this.audit.append(e);
  }

  async verifyAudit(): Promise<VerifyResult> {
    return verifyAuditFile(this.auditFile, { journalFile: this.journalFile, keys: this.auditKeys });
  }

  requestStateSecret() {
    return this.requestStates.secretBytes();
  }

  async useRequestState(id: string, expiresAt: number) {
    return this.requestStates.use(id, expiresAt);
  }

  async close() {
    this.journal.close();
    this.audit.close();
    this.requestStates.close();
  }
}

// Everything the spend gate keeps, behind one asynchronous interface with two implementations:
// FileStore (one process: confirmations in memory, JSONL journal and audit in the state directory) and
// PostgresStore (several replicas on one database). The gate holds no state of its own.
//
// Each method that checks and then changes something does both as ONE step of the store: the file store
// with no await between check and mark (Node runs that span alone), PostgreSQL in one statement or one
// transaction. The gate never does a read-then-write across two calls where it matters.

export type ConfirmationState = "pending" | "confirmed" | "declined" | "used" | "expired";

export interface ConfirmationView {
  /** One sentence: what will happen. */
  summary: string;
  /** Label → value pairs the person sees (credits, amount, organization, every argument). */
  facts: ReadonlyArray<readonly [string, string]>;
}

/** A snapshot: a later change in the store is not reflected in an object already returned. */
export interface Confirmation {
  readonly id: string;
  /** Per-confirmation form token: a page POST must carry it. */
  readonly token: string;
  readonly digest: string;
  readonly tool: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly caller: string;
  readonly view: ConfirmationView;
  /** Credits the spend moves, when known (for caps when the confirmation is used). */
  readonly credits: number | undefined;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly state: ConfirmationState;
}

export type NewConfirmation = Pick<Confirmation, "digest" | "tool" | "args" | "caller" | "view" | "credits">;

export type DecideOutcome = "confirmed" | "declined" | "bad-token" | "expired" | "already-decided" | "unknown";

export type SpendState = "sending" | "answered" | "unknown";

/** One row of the idempotency journal (a snapshot). */
export interface SpendEntry {
  key: string;
  digest: string;
  tool: string;
  operationId: string;
  /** The exact body bytes sent, so a retry is byte-identical. */
  body: string;
  credits: number | undefined;
  caller: string;
  /** The organization it is charged to (for the daily cap), when known. */
  organization?: string;
  sentAt: number;
  /** "sending" of a process that is gone reads as "unknown": it was sent and never answered. */
  state: SpendState;
  status?: number;
  /** Sent by this very process. A row of an earlier run or another replica needs a new confirmation. */
  mine: boolean;
}

export type NewSpend = Pick<SpendEntry, "key" | "digest" | "tool" | "operationId" | "body" | "credits" | "caller" | "organization">;

/** The cap check and the journal row, decided together. */
export type Reservation =
  | { entry: SpendEntry }
  /** Over a cap: nothing journaled. */
  | { over: string }
  /** An identical spend is already in flight or unsettled: nothing journaled. */
  | { busy: SpendEntry };

export interface Caps {
  maxCreditsPerCall?: number;
  maxCreditsPerDay?: number;
  /** This caller's own daily limit (an OAuth grant's, chosen by the person), counted for the caller only. */
  callerMaxCreditsPerDay?: number;
}

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

/** One thing `audit verify` found wrong: at a line of the chain, or (no line) about the audit as a whole. */
export interface AuditFinding {
  line?: number;
  reason: string;
}

/**
 * `audit verify`'s verdict. `head` is "<line count>:<SHA-256 of the last line>" (GENESIS for none), for an
 * operator to pin; `line`/`reason` are the first finding's; `notes` say what was checked and what was not.
 */
export type VerifyResult =
  | { ok: true; lines: number; head: string; notes: string[] }
  | { ok: false; line?: number; reason: string; lines: number; head: string; findings: AuditFinding[]; notes: string[] };

export interface GateStore {
  /** Where the state lives, for logs and messages (never a password). */
  readonly where: string;

  // Confirmations of the page channel.
  /** The still-pending question for this exact call, or a new one: one question per call, also across replicas. */
  openConfirmation(c: NewConfirmation): Promise<{ confirmation: Confirmation; created: boolean }>;
  /** The confirmation with its current state ("expired" once past its time and not used or declined). */
  getConfirmation(id: string): Promise<Confirmation | undefined>;
  /** A person's decision. Only a pending, unexpired confirmation with the right token moves. */
  decideConfirmation(id: string, token: string, yes: boolean): Promise<DecideOutcome>;
  /** Takes the confirmed, unexpired confirmation of this exact call and marks it used: of any number of concurrent callers, exactly one gets it. */
  consumeConfirmation(digest: string): Promise<Confirmation | undefined>;
  /** Resolves when the person decides or the confirmation lapses, or with "pending" after `waitMs` or on abort. */
  waitForDecision(id: string, waitMs: number, signal?: AbortSignal): Promise<ConfirmationState>;
  /**
   * A "no" given through the client (a declined or cancelled elicitation): the open (pending or
   * confirmed, unexpired) confirmation — this one, or every one of this exact call — becomes "declined",
   * so its page refuses it and nothing is released by it. Returns how many were closed.
   */
  closeConfirmation(which: { id: string } | { digest: string }): Promise<number>;

  // The idempotency journal.
  /** The spend of this exact call that is in flight or never got an answer, if any. */
  unsettledSpend(digest: string): Promise<SpendEntry | undefined>;
  /**
   * The last cap check and the journal row, atomically; the row is durable when this resolves. The daily
   * cap counts the caller's spends and, when the spend names one, its organization's (any caller).
   */
  reserveSpend(spend: NewSpend, caps: Caps): Promise<Reservation>;
  /** Marks an unsettled, not-in-flight spend as being re-sent by this process; undefined if someone else is sending it. */
  claimResend(key: string): Promise<SpendEntry | undefined>;
  recordAnswer(key: string, status: number): Promise<void>;
  recordUnknown(key: string): Promise<void>;
  /** Every spend in doubt: sent, never answered, not in flight. */
  spendsInDoubt(): Promise<SpendEntry[]>;
  /** Credits this caller sent today (UTC), in flight and in doubt included, refused (4xx) ones not. */
  creditsToday(caller: string): Promise<number>;
  /** Credits charged to this organization today (UTC), by any caller, counted as creditsToday counts. */
  organizationCreditsToday(organization: string): Promise<number>;

  // The audit chain.
  /** Durable before it resolves; one unbroken chain however many processes append. */
  appendAudit(e: AuditEvent): Promise<void>;
  /** Checks the whole chain as stored (every break, 1-based lines), and that every journaled spend is audited. */
  verifyAudit(): Promise<VerifyResult>;

  // The confirmation flow's request state (round one hands the client an HMAC'd state; round two returns it).
  /**
   * The HMAC secret of request states: 32 random bytes made once per store (the first call, on any
   * replica or process, wins a race) and the same ever after, so every replica checks every state with
   * no configuration. Never logged.
   */
  requestStateSecret(): Promise<Buffer>;
  /**
   * Marks a request state id used, atomically: true the first time for an id, false every later time, on
   * any replica and after a restart, for as long as the state can be valid. `expiresAt` (epoch ms) is the
   * state's own expiry; an entry is forgotten only REQUEST_STATE_GRACE_MS after it, and a state already
   * that old is refused (false) without being recorded, so no id ever gets a second true. Durable before
   * it resolves true; throws when it cannot record the use.
   */
  useRequestState(id: string, expiresAt: number): Promise<boolean>;

  /** The OAuth authorization server's records (--auth oauth|both), in the same place as the gate's. */
  readonly oauth: OAuthRecords;

  close(): Promise<void>;
}

/**
 * One record of the OAuth authorization server (src/oauth/adapter.ts decides what goes in): keys, grant
 * ids and uids arrive already hashed, so the store never holds a token's value.
 */
export interface OAuthRecord {
  model: string;
  payload: Record<string, unknown>;
  /** Epoch ms; absent: kept until removed. */
  expiresAt?: number;
  grantId?: string;
  uid?: string;
  /** Epoch seconds it was consumed at (codes, rotated refresh tokens). */
  consumed?: number;
}

export interface OAuthRecords {
  put(key: string, record: OAuthRecord): Promise<void>;
  /** Stores it unless a live record has that key; returns the record now kept (one winner across replicas). */
  putIfAbsent(key: string, record: OAuthRecord): Promise<OAuthRecord>;
  /** A live (unexpired) record. */
  get(key: string): Promise<OAuthRecord | undefined>;
  getByUid(uid: string): Promise<OAuthRecord | undefined>;
  /** Marks it consumed, atomically: true for the one call that did, false if it was already consumed or is gone. */
  consume(key: string): Promise<boolean>;
  remove(key: string): Promise<void>;
  /** Removes that model's records of that (hashed) grant id. */
  removeByGrant(grantId: string, model: string): Promise<void>;
}

/** Bytes of the request-state HMAC secret. */
export const REQUEST_STATE_SECRET_BYTES = 32;

/**
 * How long past its expiry a used request state is still remembered. The state's HMAC expiry is checked
 * by the gate's clock, pruning by the store's (PostgreSQL: the database's): the margin covers skew
 * between them, so an entry is never forgotten while the gate could still accept its state.
 */
export const REQUEST_STATE_GRACE_MS = 5 * 60_000;

/** Midnight UTC of the day `ms` falls in: the daily cap's window. */
export function startOfUtcDay(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}

// The real side of the gate's model test (test/gate.model.test.ts): the sandbox API, one spawned stdio
// server per caller (its own gpra_ credential and state directory; with PostgreSQL all on one database),
// the person behind each caller (answers queued per call, every yes written down with the moment it was
// given), restarts on the same state, and the oracles read from what the API saw and what was stored.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import type { ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import type { RecordedRequest, SandboxApi } from "../../src/sandbox/index.js";
import { startStdio, tempDir, CLI, type StdioHarness } from "./stdio.js";
import { SPEND_OPERATIONS } from "./spends.js";
import type { PgCluster } from "./postgres.js";
import { auditVerify } from "../../src/auditCommand.js";

/** What the person does when a form asks them. "late" says yes after the server stopped waiting. */
export type Answer = "yes" | "no" | "decline" | "cancel" | "late";

export interface CallerSpec {
  name: string;
  credential: string;
  /** form: the client shows forms; page: no elicitation, the agent gets a /confirm link. */
  kind: "form" | "page";
}

/** A person's yes for one exact call (tool, arguments, credential), and how many API requests had arrived then. */
export interface Yes {
  call: string;
  at: number;
}

/** Canonical JSON (sorted keys): the identity of a call's arguments, independent of key order. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const o = value as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(",")}}`;
}

/** The identity of one exact call as the API sees it: credential, operation, canonical body. */
export const callIdentity = (credential: string, operationId: string, args: unknown) => `${credential}\n${operationId}\n${canonical(args)}`;

export interface Caller {
  spec: CallerSpec;
  stateDir: string;
  harness: StdioHarness;
  /** Bumped by every restart: the server process that owns this caller's unanswered spends. */
  generation: number;
  /** Answers for the next form questions, first first; an unexpected question is cancelled. */
  answers: Answer[];
  /** The call the next questions are about (set by the command before it calls). */
  current?: string;
  asked: number;
  /** Late answers still to arrive; awaited before the sequence ends. */
  late: Promise<unknown>[];
}

export interface WorldOptions {
  api: SandboxApi;
  callers: CallerSpec[];
  /** Server flags for every caller (short waits). */
  args: string[];
  /** PostgreSQL: the database every caller shares (the replicas' store). */
  pg?: { cluster: PgCluster; db: string };
  /** How long a late answer waits (past --confirm-wait). */
  lateMs: number;
}

/** The system under test, shared by every sequence of one run (sequences are kept apart by a salt in their arguments). */
export class GateWorld {
  readonly callers = new Map<string, Caller>();
  readonly yeses: Yes[] = [];

  private constructor(readonly opts: WorldOptions) {}

  static async start(opts: WorldOptions): Promise<GateWorld> {
    const w = new GateWorld(opts);
    for (const spec of opts.callers) {
      const c: Caller = { spec, stateDir: tempDir("gbm-model-"), harness: undefined as never, generation: 0, answers: [], asked: 0, late: [] };
      w.callers.set(spec.name, c);
    }
    await Promise.all([...w.callers.values()].map((c) => w.spawn(c)));
    return w;
  }

  get api(): SandboxApi {
    return this.opts.api;
  }

  private async spawn(c: Caller): Promise<void> {
    const store = this.opts.pg ? ["--store", this.opts.pg.db] : [];
    c.harness = await startStdio({
      apiUrl: this.opts.api.url,
      apiKey: c.spec.credential,
      stateDir: c.stateDir,
      args: [...store, ...this.opts.args],
      capabilities: c.spec.kind === "form" ? { elicitation: { form: {} } } : {},
      onElicit: c.spec.kind === "form" ? () => this.answer(c) : undefined,
    });
  }

  /** The person behind caller `c` answers the question in front of them. */
  private answer(c: Caller): Promise<ElicitResult> | ElicitResult {
    c.asked++;
    const a = c.answers.shift() ?? "cancel";
    switch (a) {
      case "yes":
        // Written down before the answer leaves: anything the yes releases reaches the API after this.
        this.yeses.push({ call: c.current!, at: this.opts.api.requests.length });
        return { action: "accept", content: { confirm: true } };
      case "no":
        return { action: "accept", content: { confirm: false } };
      case "decline":
        return { action: "decline" };
      case "cancel":
        return { action: "cancel" };
      case "late": {
        // A yes the server no longer waits for: it must release nothing, so it is not written down as one.
        const late = new Promise<ElicitResult>((r) => setTimeout(() => r({ action: "accept", content: { confirm: true } }), this.opts.lateMs));
        c.late.push(late);
        return late;
      }
    }
  }

  /** A page confirmation: the yes is written down before the POST leaves. */
  recordPageYes(call: string): void {
    this.yeses.push({ call, at: this.opts.api.requests.length });
  }

  /** Stops caller `c`'s server (SIGKILL, or closing stdin as a client does) and starts it again on the same state. */
  async restart(c: Caller, hard: boolean): Promise<void> {
    const pid = c.harness.pid();
    if (hard && pid) process.kill(pid, "SIGKILL");
    await c.harness.close().catch(() => {});
    // Never two servers on one state directory: the SDK's close may give up waiting before the process is gone.
    for (let i = 0; pid && i < 500 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
    c.generation++;
    await this.spawn(c);
  }

  async settleLate(): Promise<void> {
    for (const c of this.callers.values()) {
      await Promise.all(c.late.splice(0));
      c.answers.length = 0;
    }
  }

  async close(): Promise<void> {
    await this.settleLate();
    await Promise.all([...this.callers.values()].map((c) => c.harness.close().catch(() => {})));
  }

  /** PostgreSQL: waits until the database sees the process that journaled `key` as gone (its row then reads as in doubt). */
  async untilOwnerGone(key: string): Promise<void> {
    const pg = this.opts.pg!;
    for (let i = 0; i < 400; i++) {
      const [row] = await pg.cluster.query<{ alive: boolean }>(pg.db, "SELECT gate_owner_alive(owner) AS alive FROM gate_journal WHERE key = $1", [key]);
      if (row && !row.alive) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the journal row of ${key} still belongs to a live process`);
  }

  // ── Oracles ────────────────────────────────────────────────────────────────────────────────────

  /** Spend requests (charged or not) since request number `mark`. */
  spendsSince(mark: number): Array<RecordedRequest & { index: number }> {
    return this.opts.api.requests
      .map((r, index) => ({ ...r, index }))
      .slice(mark)
      .filter((r) => SPEND_OPERATIONS.has(r.operationId));
  }

  /** Every Idempotency-Key in the journal, with the body and operation it was journaled with. */
  async journal(): Promise<Map<string, { body: string; operationId: string }>> {
    const out = new Map<string, { body: string; operationId: string }>();
    if (this.opts.pg) {
      const rows = await this.opts.pg.cluster.query<{ key: string; body: string; operation_id: string }>(this.opts.pg.db, "SELECT key, body, operation_id FROM gate_journal");
      for (const r of rows) out.set(r.key, { body: r.body, operationId: r.operation_id });
      return out;
    }
    for (const c of this.callers.values()) {
      for (const line of readLines(join(c.stateDir, "journal.jsonl"))) {
        const e = parseOr(line) as { event?: string; key?: string; body?: string; operationId?: string } | undefined;
        if (e?.event === "send" && e.key) out.set(e.key, { body: e.body ?? "", operationId: e.operationId ?? "" });
      }
    }
    return out;
  }

  /** Every audit event as stored (all state directories, or the shared table). */
  async audit(): Promise<Array<{ event?: string; key?: string; tool?: string }>> {
    const lines = this.opts.pg
      ? (await this.opts.pg.cluster.query<{ line: string }>(this.opts.pg.db, "SELECT line FROM gate_audit ORDER BY seq")).map((r) => r.line)
      : [...this.callers.values()].flatMap((c) => readLines(join(c.stateDir, "audit.jsonl")));
    return lines.map((l) => (parseOr(l) ?? {}) as { event?: string; key?: string });
  }

  /** What `audit verify` checks: every state directory's audit file, or the database. */
  private verifyTargets(): string[][] {
    return this.opts.pg ? [["--store", this.opts.pg.db]] : [...this.callers.values()].filter((c) => existsSync(join(c.stateDir, "audit.jsonl"))).map((c) => [join(c.stateDir, "audit.jsonl")]);
  }

  /** The `audit verify` command's own code, in this process (cheap enough for every sequence). */
  async auditVerifyInProcess(): Promise<Array<{ target: string; status: number | null; output: string }>> {
    return Promise.all(
      this.verifyTargets().map(async (t) => {
        let output = "";
        const status = await auditVerify(t.at(-1), "/nonexistent", (line) => (output += line + "\n"));
        return { target: t.at(-1)!, status, output };
      }),
    );
  }

  /** `audit verify` as an operator runs it (a spawned CLI), for every state directory (or the database). */
  async auditVerify(): Promise<Array<{ target: string; status: number | null; output: string }>> {
    const targets = this.verifyTargets();
    return Promise.all(
      targets.map(
        (t) =>
          new Promise<{ target: string; status: number | null; output: string }>((resolve) => {
            const p = spawn(process.execPath, [CLI, "audit", "verify", ...t], { stdio: ["ignore", "pipe", "pipe"] });
            let output = "";
            p.stdout.on("data", (d: Buffer) => (output += d.toString()));
            p.stderr.on("data", (d: Buffer) => (output += d.toString()));
            p.on("close", (status) => resolve({ target: t.at(-1)!, status, output }));
          }),
      ),
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readLines(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
}

function parseOr(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/**
 * The gate's promise, checked on what reached the API since `mark`: every spend request is an exact call
 * some person was asked about, carries an Idempotency-Key, and one key never carries two calls or two
 * bodies; and every key of a call is released by its own yes for exactly that call, given before the
 * key first reached the API (a retry or re-send of the same key needs no second yes; a second key for
 * one yes is a violation). Returns the violations, empty when the promise held.
 */
export function releaseViolations(spends: Array<RecordedRequest & { index: number }>, yeses: readonly Yes[], identityOf: (r: RecordedRequest) => string | undefined): string[] {
  const bad: string[] = [];
  const keys = new Map<string, { call: string; body: string; first: number }>();
  for (const r of spends) {
    const call = identityOf(r);
    if (!call) {
      bad.push(`request #${r.index} (${r.operationId} ${r.rawBody}) is no call any person was asked about`);
      continue;
    }
    if (!r.idempotencyKey) {
      bad.push(`request #${r.index} (${r.operationId}) carries no Idempotency-Key`);
      continue;
    }
    const k = keys.get(r.idempotencyKey);
    if (!k) keys.set(r.idempotencyKey, { call, body: r.rawBody, first: r.index });
    else if (k.call !== call || k.body !== r.rawBody) bad.push(`Idempotency-Key ${r.idempotencyKey} carried two different requests (#${k.first} and #${r.index})`);
  }
  const byCall = new Map<string, Array<{ key: string; first: number }>>();
  for (const [key, k] of keys) byCall.set(k.call, [...(byCall.get(k.call) ?? []), { key, first: k.first }]);
  for (const [call, ks] of byCall) {
    const free = yeses.filter((y) => y.call === call).map((y) => y.at).sort((a, b) => a - b);
    for (const k of ks.sort((a, b) => a.first - b.first)) {
      const i = free.findIndex((at) => at <= k.first);
      if (i < 0) bad.push(`Idempotency-Key ${k.key} (first at request #${k.first}) went out with no person's yes of its own for ${JSON.stringify(call)}`);
      else free.splice(i, 1);
    }
  }
  return bad;
}

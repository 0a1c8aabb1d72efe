// A damaged or half-written last line of a state file (a crash mid-write, a full disk, garbage) must not
// stop the server: it starts, says on stderr what it found and where (file, line, byte offset), keeps the
// damaged bytes exactly, starts the next record on a line of its own, and `audit verify` names the
// damaged line — and only it: every line written after it still chains to it and is checked.
// Through the real process (spawned stdio server, the sandbox API, the CLI), with generated cut points
// and garbage; and, cheaply and many times, the same property on the file store in process.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import fc from "fast-check";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { startSandboxApi, type SandboxApi } from "../src/sandbox/index.js";
import { FileStore } from "../src/store/file.js";
import { verifyAuditFile } from "../src/gate/audit.js";
import { splitStateLines } from "../src/gate/stateFile.js";
import { createLogger } from "../src/log.js";
import { systemClock } from "../src/gate/clock.js";
import { startStdio, textOf, tempDir, CLI, type StdioHarness } from "./helpers/stdio.js";
import { until } from "./helpers/http.js";
import { chargesAfter } from "./helpers/spends.js";

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

// ---- damage, as bytes ------------------------------------------------------------------------------

type Damage =
  /** The last line cut after `at` of its bytes (1 ≤ at < its length): the write stopped midway. */
  | { kind: "cut"; at: number }
  /** Bytes appended with no final newline (any bytes: invalid UTF-8, NUL, inner newlines when allowed). */
  | { kind: "garbage"; bytes: Uint8Array }
  /** A prefix of a real line appended with no newline: the disk filled up during the next write. */
  | { kind: "half"; at: number }
  /** A run of NUL bytes: blocks a crash left zero-filled. */
  | { kind: "zeros"; n: number };

const noNewline = (b: Uint8Array) => Uint8Array.from(b, (x) => (x === 0x0a ? 0x20 : x));

/** Where in a line to cut, as a fraction of it. */
const fraction = fc.integer({ min: 0, max: 10_000 }).map((n) => n / 10_000);

function damageArb(innerNewlines: boolean): fc.Arbitrary<Damage> {
  const garbage = fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => {
    const bytes = innerNewlines ? Uint8Array.from(b) : noNewline(b);
    if (bytes[bytes.length - 1] === 0x0a) bytes[bytes.length - 1] = 0x7b; // "{": still no final newline
    return bytes;
  });
  return fc.oneof(
    fraction.map((f) => ({ kind: "cut" as const, at: f })),
    garbage.map((bytes) => ({ kind: "garbage" as const, bytes })),
    fraction.map((f) => ({ kind: "half" as const, at: f })),
    fc.integer({ min: 1, max: 5000 }).map((n) => ({ kind: "zeros" as const, n })),
  );
}

/** Applies the damage to a file that ends with "\n"; returns the damaged bytes and the damaged line's number. */
function damage(file: string, d: Damage): { bytes: Buffer; line: number; offset: number } {
  const before = readFileSync(file);
  const { lines } = splitStateLines(before);
  const last = lines.at(-1)!;
  const lastBytes = Buffer.byteLength(last.raw);
  const cutAt = (f: number) => 1 + Math.floor(f * (lastBytes - 2)); // 1 … length-1
  let bytes: Buffer;
  let line = lines.length + 1;
  let offset = before.length;
  if (d.kind === "cut") {
    bytes = before.subarray(0, last.offset + cutAt(d.at));
    line = last.line;
    offset = last.offset;
  } else if (d.kind === "half") {
    bytes = Buffer.concat([before, Buffer.from(last.raw).subarray(0, cutAt(d.at))]);
  } else if (d.kind === "zeros") {
    bytes = Buffer.concat([before, Buffer.alloc(d.n)]);
  } else {
    bytes = Buffer.concat([before, d.bytes]);
  }
  writeFileSync(file, bytes);
  return { bytes, line, offset };
}

const describeDamage = (d: Damage) => (d.kind === "garbage" ? `garbage ${d.bytes.length} bytes` : d.kind === "zeros" ? `${d.n} NUL bytes` : `${d.kind} at ${d.at.toFixed(3)}`);

/** The JSON log lines on stderr. */
function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

// ---- through the real process ----------------------------------------------------------------------

let api: SandboxApi;
let pristine: string;
const yes = () => ({ action: "accept" as const, content: { confirm: true } });
const serve = (stateDir: string): Promise<StdioHarness> => startStdio({ apiUrl: api.url, stateDir, capabilities: { elicitation: { form: {} } }, onElicit: yes });

async function spendOnce(h: StdioHarness, credits: number): Promise<string> {
  const mark = api.requests.length;
  const r = await h.client.callTool({ name: "billing_topup", arguments: { credits } });
  const key = /Charged once \(Idempotency-Key ([0-9a-f-]{36})\)/.exec(textOf(r))?.[1];
  expect(key, textOf(r)).toBeDefined();
  expect(chargesAfter(api, mark)).toHaveLength(1);
  return key!;
}

const verify = (stateDir: string) => spawnSync(process.execPath, [CLI, "audit", "verify", join(stateDir, "audit.jsonl")], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });

beforeAll(async () => {
  api = await startSandboxApi();
  pristine = tempDir();
  const h = await serve(pristine);
  await spendOnce(h, 11);
  await h.close();
}, 30_000);
afterAll(async () => {
  await api?.close();
});

describe("a damaged last line of audit.jsonl and journal.jsonl, through the spawned server", () => {
  // Two generated cases per run, each kind of damage once across the two files (the seed is printed on
  // failure: FUZZ_SEED reproduces it).
  const samples = fc.sample(fc.tuple(damageArb(false), damageArb(false)), { numRuns: 200, seed: SEED });
  const pick = (a: Damage["kind"], j: Damage["kind"]) => samples.find(([x, y]) => x.kind === a && y.kind === j) ?? samples[0]!;
  const cases = SEED % 2 ? [pick("cut", "garbage"), pick("half", "zeros")] : [pick("garbage", "cut"), pick("zeros", "half")];

  it.each(cases.map((c) => [describeDamage(c[0]), describeDamage(c[1]), c] as const))(
    "audit: %s, journal: %s → starts, says where, keeps the bytes, spends on a line of its own, verify names the line",
    async (_a, _j, [auditDamage, journalDamage]) => {
      const stateDir = tempDir();
      cpSync(pristine, stateDir, { recursive: true });
      const auditFile = join(stateDir, "audit.jsonl");
      const journalFile = join(stateDir, "journal.jsonl");
      const a = damage(auditFile, auditDamage);
      const j = damage(journalFile, journalDamage);

      const h = await serve(stateDir);
      try {
        const { tools } = await h.client.listTools();
        expect(tools.length).toBeGreaterThan(0);
        await until(() => /journal: its last line is damaged/.test(h.stderr()) && /audit file: its last line is damaged/.test(h.stderr()));
        const logs = logLines(h.stderr());
        const auditLog = logs.find((l) => String(l.msg).startsWith("audit file: its last line is damaged"))!;
        expect(auditLog).toMatchObject({ level: "error", file: auditFile, line: a.line, offset: a.offset });
        const journalLog = logs.find((l) => String(l.msg).startsWith("journal: its last line is damaged"))!;
        expect(journalLog).toMatchObject({ level: "error", file: journalFile, line: j.line, offset: j.offset });
        expect(journalLog.msg).toMatch(/never sent/);
        await spendOnce(h, 12);
      } finally {
        await h.close();
      }

      for (const [file, d] of [
        [auditFile, a],
        [journalFile, j],
      ] as const) {
        const now = readFileSync(file);
        // The damaged bytes are still there, exactly; the next record starts after a newline of its own.
        expect(now.subarray(0, d.bytes.length).equals(d.bytes)).toBe(true);
        expect(now[d.bytes.length]).toBe(0x0a);
        const after = now.subarray(d.bytes.length + 1).toString("utf8").split("\n").filter(Boolean);
        expect(after.length).toBeGreaterThan(0);
        for (const l of after) expect(() => JSON.parse(l) as unknown).not.toThrow();
      }
      const journalAfter = readFileSync(journalFile).subarray(j.bytes.length + 1).toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string });
      expect(journalAfter.map((l) => l.event)).toEqual(["send", "answer"]);

      const v = verify(stateDir);
      expect(v.status, v.stderr).toBe(1);
      expect(v.stderr).toContain(`BROKEN at line ${a.line} of ${auditFile}`);
      // Only the damaged line is named in the chain: every line after it chains to it.
      const named = [...v.stderr.matchAll(/also line (\d+):/g)].map((m) => Number(m[1]));
      expect(named, v.stderr).toEqual([]);
      expect(v.stderr).toMatch(/head \d+:[0-9a-f]{64}/);
      expect(v.stderr).toContain(`${journalFile}: damaged line(s) ${j.line} skipped`);
    },
  );

  it("once a line follows the damage, the next restart has nothing to say about the audit, and the chain goes on", async () => {
    const stateDir = tempDir();
    cpSync(pristine, stateDir, { recursive: true });
    const a = damage(join(stateDir, "audit.jsonl"), { kind: "cut", at: 0.5 });
    const first = await serve(stateDir);
    try {
      await spendOnce(first, 13);
    } finally {
      await first.close();
    }
    expect(first.stderr()).toMatch(/audit file: its last line is damaged/);
    const second = await serve(stateDir);
    try {
      await spendOnce(second, 14);
    } finally {
      await second.close();
    }
    expect(second.stderr()).not.toMatch(/audit file: its last line is damaged/);
    const v = verify(stateDir);
    expect(v.stderr).toContain(`BROKEN at line ${a.line} of`);
    expect([...v.stderr.matchAll(/also line (\d+):/g)]).toEqual([]);
  });
});

// ---- the same property in process, many generated inputs -------------------------------------------

describe("file store on damaged files (in process)", () => {
  it("reopens on any damaged tail (60 generated damages of both files), logs where, keeps the bytes, and verify names exactly the damaged lines", () => {
    let runs = 0;
    fc.assert(
      fc.property(damageArb(true), damageArb(true), (auditDamage, journalDamage) => {
        runs++;
        const dir = tempDir();
        const spend = (s: FileStore, n: number): string => {
          const key = randomUUID();
          const base = { tool: "billing_topup", digest: `d${n}-${key}`, caller: "fp_x" };
          void s.reserveSpend({ key, digest: base.digest, tool: base.tool, operationId: "billing.topup", body: `{"credits":${n}}`, credits: n, caller: "fp_x" }, {});
          void s.appendAudit({ ...base, event: "sent", key, channel: "form" });
          void s.recordAnswer(key, 200);
          void s.appendAudit({ ...base, event: "answered", key, status: 200 });
          return key;
        };
        const first = new FileStore(dir, systemClock, 60_000, { log: createLogger("silent") });
        spend(first, 1);
        spend(first, 2);
        void first.close();
        const a = damage(join(dir, "audit.jsonl"), auditDamage);
        const j = damage(join(dir, "journal.jsonl"), journalDamage);

        const logged: string[] = [];
        const second = new FileStore(dir, systemClock, 60_000, { log: createLogger("warn", (l) => logged.push(l)) });
        const third = spend(second, 3);
        void second.close();
        const logs = logLines(logged.join(""));
        expect(logs.some((l) => l.file === join(dir, "audit.jsonl") && typeof l.line === "number" && typeof l.offset === "number")).toBe(true);
        expect(logs.some((l) => l.file === join(dir, "journal.jsonl") && typeof l.line === "number")).toBe(true);
        for (const [f, d] of [
          ["audit.jsonl", a],
          ["journal.jsonl", j],
        ] as const) {
          const now = readFileSync(join(dir, f));
          expect(now.subarray(0, d.bytes.length).equals(d.bytes)).toBe(true);
          expect(now[d.bytes.length]).toBe(0x0a);
        }
        // The damaged lines: those of the audit that are not JSON objects (garbage may hold several).
        const damaged = splitStateLines(a.bytes)
          .lines.filter((l) => {
            try {
              const v = JSON.parse(l.raw) as unknown;
              return !(v && typeof v === "object" && !Array.isArray(v)) || l.line >= a.line;
            } catch {
              return true;
            }
          })
          .map((l) => l.line);
        const r = verifyAuditFile(join(dir, "audit.jsonl"));
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect(r.line).toBe(a.line);
        const named = r.findings.filter((f) => f.line !== undefined).map((f) => f.line!);
        for (const n of named) expect(damaged).toContain(n);
        // The spend made after the restart is audited on lines of its own, after the damage, and checks.
        expect(r.findings.filter((f) => f.reason.includes(third))).toEqual([]);
      }),
      { numRuns: 60, seed: SEED },
    );
    expect(runs).toBe(60);
  });
});

describe("journal: a damaged line in the middle", () => {
  it("is named (line, offset) and skipped; the spends before and after it load as they were", async () => {
    const dir = tempDir();
    const first = new FileStore(dir, systemClock, 60_000, { log: createLogger("silent") });
    const spend = (n: number) => ({ key: randomUUID(), digest: `d${n}`, tool: "billing_topup", operationId: "billing.topup", body: "{}", credits: n, caller: "fp_x" });
    const [a, b] = [spend(1), spend(2)];
    await first.reserveSpend(a, {});
    await first.recordAnswer(a.key, 200);
    await first.close();
    const file = join(dir, "journal.jsonl");
    const garbage = '{"event":"answer","key":'; // an edit or corruption in the middle
    const offset = readFileSync(file).length;
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from(garbage + "\n")]));
    const mid = new FileStore(dir, systemClock, 60_000, { log: createLogger("silent") });
    await mid.reserveSpend(b, {}); // sent, never answered: in doubt after a restart
    await mid.close();

    const logged: string[] = [];
    const again = new FileStore(dir, systemClock, 60_000, { log: createLogger("warn", (l) => logged.push(l)) });
    try {
      const logs = logLines(logged.join(""));
      expect(logs).toEqual([expect.objectContaining({ level: "error", file, line: 3, offset, msg: expect.stringMatching(/a line in the middle is damaged/) })]);
      expect(await again.unsettledSpend(a.digest)).toBeUndefined(); // answered, as before
      expect((await again.spendsInDoubt()).map((e) => e.key)).toEqual([b.key]);
    } finally {
      await again.close();
    }
    expect(readFileSync(file, "utf8")).toContain(garbage + "\n");
  });
});

// The file store's part of the confirmation flow's request state, in the state directory:
//  - request-state.key: the HMAC secret, 64 lowercase hex digits (32 bytes) and a newline, mode 0600. Hex
//    so the file survives editors, copies and `cat` without mangling; made once by an exclusive create
//    ("wx"), so of two processes racing on one directory one writes it and the other reads that key.
//  - request-states.jsonl: the used state ids, one {"id":…,"expiresAt":…} line each, appended and fsync'd
//    before a use is granted, read back at open (damage tolerated as the journal tolerates it), so a
//    restart does not accept a state again. The in-memory map decides: check and mark run with no await
//    between them (a synchronous span), so concurrent uses in this process cannot both win. Like the rest
//    of the file store this is for ONE process per directory: two processes would each grant a state once.
import { openSync, writeSync, fsyncSync, closeSync, readFileSync, unlinkSync, renameSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { Clock } from "../gate/clock.js";
import type { Logger } from "../log.js";
import { secretOnce } from "./secretOnce.js";
import { jsonObjectOf, openForAppend, readStateFile } from "../gate/stateFile.js";
import { REQUEST_STATE_GRACE_MS, REQUEST_STATE_SECRET_BYTES } from "./types.js";

export const REQUEST_STATE_KEY_FILE = "request-state.key";
export const REQUEST_STATES_FILE = "request-states.jsonl";

const HEX_CHARS = REQUEST_STATE_SECRET_BYTES * 2;
/** How long a process that lost the create race waits for the winner's write (a few syscalls away). */
const KEY_WAIT_MS = 1_000;
/** Forgotten lines at open from which the file is rewritten with only the live ones (and ≥ as many as live). */
const COMPACT_FROM = 1_000;
/** How often (clock ms) the in-memory map drops states past their grace. */
const PRUNE_EVERY_MS = 60_000;

/** Writes all of `text` (writeSync may write less than asked). */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text, "utf8");
  for (let at = 0; at < buf.length; ) at += writeSync(fd, buf, at, buf.length - at);
}

/** Makes a created or renamed name in `dir` durable; not every platform can open a directory (then skipped). */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Windows and some filesystems: the file's own fsync is what there is.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A used-state line, or undefined when the text is not one (damaged). */
function usedLine(raw: string): { id: string; expiresAt: number } | undefined {
  const l = jsonObjectOf(raw);
  return l && typeof l.id === "string" && typeof l.expiresAt === "number" && Number.isFinite(l.expiresAt) ? { id: l.id, expiresAt: l.expiresAt } : undefined;
}

export class FileRequestStates {
  private readonly keyFile: string;
  private readonly usedFile: string;
  /** id → expiresAt of every used state not yet past its grace. */
  private readonly used = new Map<string, number>();
  private fd: number;
  private lastPrune: number;
  /** The last append failed part-way, maybe leaving part of a line. */
  private torn = false;

  constructor(
    private readonly dir: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    // The directory exists: the journal, opened first, made it.
    this.keyFile = join(dir, REQUEST_STATE_KEY_FILE);
    this.usedFile = join(dir, REQUEST_STATES_FILE);
    this.lastPrune = clock();
    const state = readStateFile(this.usedFile);
    let forgotten = 0;
    for (const { raw, line: n, offset } of state.lines) {
      const line = usedLine(raw);
      if (!line) {
        // A torn last line is a use whose append did not finish: it was never granted (true is returned
        // only after the whole line is fsync'd). A damaged line in the middle is an edit or corruption.
        const where = { file: this.usedFile, line: n, offset, bytes: Buffer.byteLength(raw) };
        if (n === state.lines.length) log.warn("request states: the last line is damaged (a write cut short) and is skipped; that use was never granted", where);
        else log.error("request states: a line in the middle is damaged (edited or corrupted) and is skipped", where);
        continue;
      }
      if (line.expiresAt + REQUEST_STATE_GRACE_MS <= this.lastPrune) {
        forgotten++;
        continue;
      }
      this.used.set(line.id, Math.max(line.expiresAt, this.used.get(line.id) ?? -Infinity));
    }
    // Append-only, so it only grows; at open, when most of it is states past their grace, it is rewritten
    // with the live ones (a new file renamed over it: a crash leaves the old or the new, both valid).
    if (forgotten >= COMPACT_FROM && forgotten >= this.used.size) {
      this.compact();
      this.fd = openSync(this.usedFile, "a", 0o600);
    } else {
      const { fd, newlineAt } = openForAppend(this.usedFile, state);
      this.fd = fd;
      if (newlineAt !== undefined) log.warn("request states: the file did not end with a newline (a write cut short); one was added", { file: this.usedFile, offset: newlineAt });
    }
  }

  private compact(): void {
    const tmp = `${this.usedFile}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeAll(fd, [...this.used].map(([id, expiresAt]) => JSON.stringify({ id, expiresAt }) + "\n").join(""));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.usedFile);
    fsyncDir(this.dir);
  }

  /** The secret, read or made on the first call and then kept (secretOnce). */
  readonly secretBytes = secretOnce(() => this.readOrCreateKey());

  private async readOrCreateKey(): Promise<Buffer> {
    const started = Date.now();
    for (;;) {
      const made = this.tryCreateKey();
      if (made) return made;
      // It exists: another process (or an earlier run) made it. Its creator writes right after creating,
      // so an empty or short file is read again for a moment before it counts as damaged.
      let text: string;
      try {
        text = readFileSync(this.keyFile, "latin1");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // its creator failed and removed it
        throw new Error(`cannot read the request-state key file ${this.keyFile}: ${(err as Error).message}`);
      }
      const hex = text.replace(/\r?\n$/, "");
      if (hex.length === HEX_CHARS && /^[0-9a-f]+$/i.test(hex)) return Buffer.from(hex, "hex");
      const partial = hex.length < HEX_CHARS && /^[0-9a-f]*$/i.test(hex) && !text.endsWith("\n");
      if (partial && Date.now() - started < KEY_WAIT_MS) {
        await delay(10);
        continue;
      }
      // Never the content: it may be most of a key.
      throw new Error(
        `the request-state key file ${this.keyFile} is damaged: it must hold ${HEX_CHARS} hex digits (${REQUEST_STATE_SECRET_BYTES} bytes) and holds ${Buffer.byteLength(text, "latin1")} bytes of something else. ` +
          "Stop every process using this state directory, delete the file, and start again (a new key is made; request states handed out under the old one are refused)",
      );
    }
  }

  /** Creates the key file with a new key; undefined if it already exists. */
  private tryCreateKey(): Buffer | undefined {
    let fd: number;
    try {
      fd = openSync(this.keyFile, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return undefined;
      throw new Error(`cannot create the request-state key file ${this.keyFile}: ${(err as Error).message}`);
    }
    const key = randomBytes(REQUEST_STATE_SECRET_BYTES);
    try {
      writeAll(fd, key.toString("hex") + "\n");
      fsyncSync(fd);
    } catch (err) {
      // Removed, so no one keeps reading a half-written key: the next attempt (here or elsewhere) makes a new one.
      closeSync(fd);
      try {
        unlinkSync(this.keyFile);
      } catch {
        // Left as it is: a later reader names it as damaged.
      }
      throw new Error(`cannot write the request-state key file ${this.keyFile}: ${(err as Error).message}`);
    }
    closeSync(fd);
    fsyncDir(this.dir);
    return key;
  }

  /** Check and mark in one synchronous span; the line is on disk before true is returned. */
  use(id: string, expiresAt: number): boolean {
    if (typeof id !== "string" || id === "") throw new TypeError("a request state id is a non-empty string");
    if (!Number.isFinite(expiresAt)) throw new TypeError("a request state's expiresAt is epoch milliseconds");
    const now = this.clock();
    // So old it may already have been forgotten: refused, so an id never gets a second true.
    if (expiresAt + REQUEST_STATE_GRACE_MS <= now) return false;
    this.prune(now);
    if (this.used.has(id)) return false;
    const line = JSON.stringify({ id, expiresAt }) + "\n";
    try {
      // After a failed append the file may end in part of a line: a newline first, so this one is whole.
      writeAll(this.fd, this.torn ? "\n" + line : line);
      fsyncSync(this.fd);
    } catch (err) {
      this.torn = true;
      throw new Error(`cannot record a used request state in ${this.usedFile}: ${(err as Error).message}`);
    }
    this.torn = false;
    this.used.set(id, expiresAt);
    return true;
  }

  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    for (const [id, expiresAt] of this.used) if (expiresAt + REQUEST_STATE_GRACE_MS <= now) this.used.delete(id);
  }

  close(): void {
    closeSync(this.fd);
  }
}

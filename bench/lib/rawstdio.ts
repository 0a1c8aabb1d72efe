// A minimal JSON-RPC client over a child's stdio: no SDK, no schema validation on our side, so the time it
// measures is the server's (and the pipe's). Answers are matched by id; a line over BIG_LINE bytes is only
// counted, never joined or parsed (a peer may answer a 1M-row ledger with one ~200 MB line).
import { spawn, type ChildProcess } from "node:child_process";
import { closeFd, stderrFile, track } from "./children.js";

const BIG_LINE = 1024 * 1024;

export interface Answer {
  /** Bytes of the answer's line on stdout, without the newline. */
  bytes: number;
  /** The parsed message, when the line was small enough to parse. */
  message?: { id?: number; result?: Record<string, unknown>; error?: { code: number; message: string } };
}

export interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export class RawStdio {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, (a: Answer) => void>();
  private parts: Buffer[] = [];
  private partBytes = 0;
  private readonly log: ReturnType<typeof stderrFile>;
  private exited: string | undefined;

  constructor(launch: Launch) {
    this.log = stderrFile("stdio");
    this.child = track(spawn(launch.command, launch.args, { env: launch.env, stdio: ["pipe", "pipe", this.log.fd] }));
    closeFd(this.log.fd);
    this.child.stdout!.on("data", (chunk: Buffer) => this.onData(chunk));
    this.child.on("exit", (code, signal) => {
      this.exited = `exited (${code ?? signal})`;
      for (const [, resolve] of this.waiting) resolve({ bytes: 0, message: { error: { code: -1, message: this.exited + "\n" + this.log.tail() } } });
      this.waiting.clear();
    });
    this.child.stdin!.on("error", () => {});
  }

  get pid(): number {
    return this.child.pid!;
  }

  stderr(): string {
    return this.log.tail();
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.push(chunk.subarray(start, nl));
      this.finishLine();
      start = nl + 1;
    }
    if (start < chunk.length) this.push(chunk.subarray(start));
  }

  private push(part: Buffer): void {
    this.partBytes += part.length;
    // Past BIG_LINE, keep only the count.
    if (this.partBytes <= BIG_LINE) this.parts.push(part);
    else this.parts = [];
  }

  private finishLine(): void {
    const bytes = this.partBytes;
    const parts = this.parts;
    this.parts = [];
    this.partBytes = 0;
    if (bytes === 0) return;
    if (bytes > BIG_LINE) {
      // Only one request is outstanding when a huge answer is expected: give it to the oldest waiter.
      const [id, resolve] = this.waiting.entries().next().value ?? [];
      if (id !== undefined) {
        this.waiting.delete(id);
        resolve!({ bytes });
      }
      return;
    }
    let message: Answer["message"] & { method?: string };
    try {
      message = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch {
      return;
    }
    if (message.method !== undefined || typeof message.id !== "number") return; // server→client traffic: not ours to time
    const resolve = this.waiting.get(message.id);
    if (!resolve) return;
    this.waiting.delete(message.id);
    resolve({ bytes, message });
  }

  request(method: string, params: Record<string, unknown> = {}): Promise<Answer> {
    if (this.exited) return Promise.reject(new Error(`server ${this.exited}:\n${this.log.tail()}`));
    const id = this.nextId++;
    const answer = new Promise<Answer>((resolve) => this.waiting.set(id, resolve));
    this.child.stdin!.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
    return answer;
  }

  notify(method: string, params: Record<string, unknown> = {}): void {
    this.child.stdin!.write(JSON.stringify({ jsonrpc: "2.0", method, params }) + "\n");
  }

  /** initialize + notifications/initialized. */
  async handshake(): Promise<Answer> {
    const init = await this.request("initialize", {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "geopera-bench", version: "1.0.0" },
    });
    if (!init.message?.result) throw new Error(`initialize failed: ${JSON.stringify(init.message?.error)}\n${this.log.tail()}`);
    this.notify("notifications/initialized");
    return init;
  }

  async call(name: string, args: Record<string, unknown> = {}): Promise<Answer> {
    return this.request("tools/call", { name, arguments: args });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGTERM"), 2_000);
    const hard = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(timer);
    clearTimeout(hard);
  }
}

/** A tool answer that is a success: a result without isError. */
export function ok(a: Answer): boolean {
  if (a.message === undefined) return a.bytes > 0; // a huge line: a result (errors are short)
  return a.message.result !== undefined && a.message.result.isError !== true;
}

// Structured logs: one JSON object per line on stderr (stdout is the MCP protocol in stdio mode).
// Every line is redacted (as a value, before it is serialised) when it is written.
//
// The server's logger is deferred: a line is formatted and written at most FLUSH_AFTER_MS (10 ms) later,
// together with the lines logged meanwhile, not inside the call that logged it. A tool call's line is
// logged when its result is ready, just before the SDK writes the answer; formatted and written then (a
// synchronous stderr write is ~10 µs, the largest single cost of the line), it sat between the result and
// the answer on every call (bench/profile.ts), and one write per line cost a syscall per call. Order is
// kept. Lines still queued when the process exits (process.exit, a crash) are written by an 'exit' handler:
// stderr is synchronous for pipes and files on Linux, so they are not lost. Fields are read when the line
// is written, so pass values, not objects that change afterwards.
import type { LogLevel } from "./config.js";
import { redactedJson } from "./redact.js";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Whether a line at this level would be written: callers skip building fields for a line that is not. */
  enabled(level: LogLevel): boolean;
  /** A logger that also hides these exact strings (e.g. a key read from config). */
  withSecrets(secrets: readonly string[]): Logger;
}

type Write = (text: string) => void;

/** How long a deferred line may wait for others to share its write. */
const FLUSH_AFTER_MS = 10;

interface Entry {
  time: number;
  level: LogLevel;
  msg: string;
  fields: Record<string, unknown> | undefined;
  secrets: readonly string[];
}

function format(e: Entry): string {
  // Redacted as a value, then serialised: a line is always one JSON object, whatever the fields hold.
  return redactedJson({ time: new Date(e.time).toISOString(), level: e.level, msg: e.msg, ...e.fields }, e.secrets) + "\n";
}

/** One queue per root logger (shared with its withSecrets children, so their lines keep their order). */
function deferredQueue(write: Write): (e: Entry) => void {
  let queue: Entry[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (queue.length === 0) return;
    const entries = queue;
    queue = [];
    write(entries.length === 1 ? format(entries[0]!) : entries.map(format).join(""));
  };
  process.on("exit", flush);
  return (e) => {
    queue.push(e);
    if (!scheduled) {
      scheduled = true;
      setTimeout(flush, FLUSH_AFTER_MS).unref();
    }
  };
}

export interface LoggerOptions {
  /** Write lines in batches, within FLUSH_AFTER_MS (the server's logger; see the top of this file). */
  deferred?: boolean;
}

export function createLogger(level: LogLevel, write: Write = (line) => process.stderr.write(line), secrets: readonly string[] = [], opts: LoggerOptions = {}): Logger {
  const put: (e: Entry) => void = opts.deferred ? deferredQueue(write) : (e) => write(format(e));
  return loggerOver(level, put, secrets);
}

function loggerOver(level: LogLevel, put: (e: Entry) => void, secrets: readonly string[]): Logger {
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < ORDER[level]) return;
    put({ time: Date.now(), level: lvl, msg, fields, secrets });
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    enabled: (lvl) => ORDER[lvl] >= ORDER[level],
    withSecrets: (more) => loggerOver(level, put, [...secrets, ...more]),
  };
}

// The JSONL state files (audit.jsonl, journal.jsonl) as a crash or a full disk may leave them: the last
// line half-written, garbage after it, no final newline. Both readers number lines the same way (1-based,
// split on "\n", an empty line counts) and give each line's byte offset, so a message can say exactly
// where the damage is; neither ever rewrites or truncates what it found. Before the next append the
// writer only adds the missing "\n", so a new record never glues onto damaged bytes.
import { openSync, readFileSync, writeSync, fsyncSync, fstatSync, existsSync } from "node:fs";

export interface StateLine {
  /** The line's text (UTF-8 decoded; bytes that are not UTF-8 read as U+FFFD, the same for every reader). */
  raw: string;
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line's first byte in the file. */
  offset: number;
}

export interface StateFile {
  lines: StateLine[];
  /** False when the file has bytes and its last byte is not "\n" (a torn write, or garbage). */
  endsWithNewline: boolean;
}

/** Splits file contents into numbered lines; a final "\n" ends the last line, it does not open a new one. */
export function splitStateLines(buf: Buffer): StateFile {
  const lines: StateLine[] = [];
  let start = 0;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl < 0 ? buf.length : nl;
    lines.push({ raw: buf.toString("utf8", start, end), line: lines.length + 1, offset: start });
    if (nl < 0) break;
    start = nl + 1;
  }
  return { lines, endsWithNewline: buf.length === 0 || buf[buf.length - 1] === 0x0a };
}

export function readStateFile(file: string): StateFile {
  return existsSync(file) ? splitStateLines(readFileSync(file)) : { lines: [], endsWithNewline: true };
}

/**
 * Opens the file for appending; if it does not end with "\n", writes (and fsyncs) just that byte first,
 * so the next record starts on a line of its own. Returns the descriptor, and where a "\n" was added
 * (the file's size before it), if one was.
 */
export function openForAppend(file: string, state: StateFile): { fd: number; newlineAt?: number } {
  const fd = openSync(file, "a", 0o600);
  if (state.endsWithNewline) return { fd };
  const newlineAt = fstatSync(fd).size;
  writeSync(fd, "\n");
  fsyncSync(fd);
  return { fd, newlineAt };
}


/** A line's JSON object, or undefined when the text is not one (a damaged line). */
export function jsonObjectOf(raw: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

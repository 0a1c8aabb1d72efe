// Every child the bench starts is registered here and killed if the bench exits early (error, Ctrl-C,
// time budget), so no server or upstream outlives the run.
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const live = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/**
 * Children the SDK's client transport spawned (it exposes only their pid): killed by pid if the bench exits
 * while they are still open. The returned function drops the pid once its client has closed it.
 */
const livePids = new Set<number>();
export function trackPid(pid: number): () => void {
  livePids.add(pid);
  return () => void livePids.delete(pid);
}

export function killAll(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
  for (const pid of livePids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  livePids.clear();
}

/**
 * Children write their stderr (logs) to a file, not to a pipe the bench must drain: a busy bench would let
 * the pipe fill, and Node's synchronous stderr writes would then stall the server being measured.
 */
let logDir: string | undefined;
let logCount = 0;
export function stderrFile(name: string): { fd: number; path: string; tail(): string } {
  logDir ??= mkdtempSync(join(tmpdir(), "gbm-bench-logs-"));
  const path = join(logDir, `${String(++logCount).padStart(3, "0")}-${name}.log`);
  const fd = openSync(path, "w");
  return {
    fd,
    path,
    tail: () => {
      try {
        return readFileSync(path, "utf8").slice(-4000);
      } catch {
        return "";
      }
    },
  };
}
/** The parent's copy of the fd can go once the child has it. */
export function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

process.on("exit", () => {
  killAll();
  if (logDir && !process.env.GBM_BENCH_KEEP_LOGS) rmSync(logDir, { recursive: true, force: true });
});

// Picks the gate's store from --store / GEOPERA_STORE_URL: `file:<dir>` (default: the state directory,
// its `sandbox/` subdirectory in sandbox mode) or `postgres://…` / `postgresql://…`.
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { Clock } from "../gate/clock.js";
import { systemClock } from "../gate/clock.js";
import { FileStore } from "./file.js";
import type { GateStore } from "./types.js";

export type { GateStore } from "./types.js";

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//i.test(url);
export const isFileUrl = (url: string) => /^file:/i.test(url);

/** The directory of a `file:` store URL: file:///abs, file:/abs, file:relative (to the working directory). */
export function fileStoreDir(url: string): string {
  if (/^file:\/\//i.test(url)) return fileURLToPath(url);
  const path = url.slice("file:".length);
  return isAbsolute(path) ? path : resolve(path);
}

/**
 * The directory of the file store: --store file:<dir>, else the state directory (its `sandbox/`
 * subdirectory with --sandbox, so trying the sandbox never mixes with real spends). `audit verify`
 * uses the same rule, so with the server's flags it checks the audit the server wrote.
 */
export function fileStateDir(config: Pick<Config, "store" | "sandbox" | "stateDir">): string {
  if (config.store && isFileUrl(config.store)) return fileStoreDir(config.store);
  return config.sandbox ? join(config.stateDir, "sandbox") : config.stateDir;
}

export async function openStore(config: Readonly<Config>, log: Logger, clock: Clock = systemClock): Promise<GateStore> {
  const url = config.store;
  if (url && isPostgresUrl(url)) {
    // Loaded only when asked for: a single-process server never loads the driver.
    const { PostgresStore, describePostgresUrl } = await import("./postgres.js");
    let store;
    try {
      store = await PostgresStore.open({ url, confirmTtlMs: config.confirmTtlMs, log, auditKeys: config.auditKeys });
    } catch (err) {
      throw new Error(`cannot open the gate's store at ${describePostgresUrl(url)}: ${(err as Error).message}`);
    }
    log.info("gate store: postgres", { store: store.where, audit: "table gate_audit" });
    return store;
  }
  const dir = fileStateDir(config);
  // Said at start so a person knows what `audit verify` (with the same flags) will read.
  log.info("gate store: files", { state_dir: dir, audit: join(dir, "audit.jsonl") });
  return new FileStore(dir, clock, config.confirmTtlMs, { log, auditKeys: config.auditKeys });
}

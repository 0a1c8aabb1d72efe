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
    log.info("gate store: postgres", { store: store.where });
    return store;
  }
  const dir = url ? fileStoreDir(url) : config.sandbox ? join(config.stateDir, "sandbox") : config.stateDir;
  return new FileStore(dir, clock, config.confirmTtlMs, { log, auditKeys: config.auditKeys });
}

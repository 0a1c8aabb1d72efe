// What resources, prompts and completions need from the core: the same single upstream path the tools
// use (src/tools/invoke.ts `forward`: redaction, retries, timeouts, logging), the gate's store (for the
// confirmation records) and who the caller of a request is. Nothing here is cached across requests.
import type { InvokeDeps, Extra } from "../tools/invoke.js";
import type { Caller } from "../tools/caller.js";
import type { GateStore } from "../store/types.js";

export interface ContextDeps {
  /** The upstream client, limits, retry settings, log and exposure decision the tools use. */
  forward: Omit<InvokeDeps, "gate">;
  store: GateStore;
  callerOf(extra: Extra): Caller;
  /** Told the API's HTTP status of every read made here (a hosted session closes on a 401, as for tools). */
  answered?(status: number): void;
}

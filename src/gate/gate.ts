// Placeholder until the spend gate lands: spends are listed but never forwarded.
import type { Config } from "../config.js";
import type { InvokeDeps, SpendGate } from "../tools/invoke.js";
import { toolError } from "../tools/results.js";

export async function createSpendGate(_config: Readonly<Config>, _deps: Omit<InvokeDeps, "gate">): Promise<SpendGate & { close?(): Promise<void> }> {
  return {
    async spend(record) {
      return toolError(`${record.name} spends money and needs a person's confirmation, which this server cannot collect yet. Nothing was charged.`);
    },
  };
}

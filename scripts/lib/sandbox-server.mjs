// The embedded sandbox billing API as a process of its own (the client scripts block their own event loop
// in spawnSync while a client runs, so the API cannot live inside them). Prints {"url": …} when listening;
// runs until killed.
//
//   node scripts/lib/sandbox-server.mjs      (after npm run build)
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const { startSandboxApi } = await import(pathToFileURL(join(import.meta.dirname, "..", "..", "dist", "src", "sandbox", "index.js")).href);
// No synthetic history: every ledger row a script reads was made by the run itself.
const sandbox = await startSandboxApi({ ledgerRows: 0 });
process.stdout.write(JSON.stringify({ url: sandbox.url }) + "\n");
process.on("SIGTERM", () => sandbox.close().then(() => process.exit(0)));

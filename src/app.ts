// Composition root: turns a Config into the running core shared by every transport — upstream client,
// exposed tools, spend gate, the single invoke path — and knows how to close it all.
import type { Config } from "./config.js";
import type { Logger } from "./log.js";
import { CATALOG } from "./tools/catalog.js";
import { selectTools } from "./tools/select.js";
import { createUpstreamClient } from "./upstream/client.js";
import { createInvoke, type Invoke, type InvokeDeps } from "./tools/invoke.js";
import type { ToolRecord } from "./tools/record.js";
import { startSandboxApi, type SandboxApi } from "./sandbox/index.js";
import { SERVER_NAME, SERVER_VERSION } from "./server.js";
import { createSpendGate, type Gate } from "./gate/gate.js";
import { openStore, type GateStore } from "./store/index.js";
import { credentialOwner, credentialVerifier, type CredentialOwner, type CredentialVerdict } from "./upstream/verify.js";
import type { ContextDeps } from "./resources/deps.js";

/** The key the server uses against its own embedded sandbox; it is not a real credential. */
export const SANDBOX_KEY = "gpra_sandbox_demo_key";

export interface App {
  tools: readonly ToolRecord[];
  invoke: Invoke;
  gate: Gate;
  /** Where the gate keeps its state (files, or PostgreSQL shared by replicas). */
  store: GateStore;
  apiUrl: string;
  /** The credential for stdio mode (the server's own key, or the sandbox key). */
  ownKey?: string;
  /** Asks the API whether it accepts a credential (hosted mode checks one before opening a session). */
  verifyCredential(token: string, signal: AbortSignal): Promise<CredentialVerdict>;
  /** The same check, with the organization the credential acts for (the OAuth sign-in page shows it). */
  credentialOwner(token: string, signal: AbortSignal): Promise<CredentialOwner>;
  /** What resources, prompts and completions read through: the tools' own upstream path, and the store. */
  context: Omit<ContextDeps, "callerOf">;
  close(): Promise<void>;
}

export async function startApp(config: Readonly<Config>, log: Logger): Promise<App> {
  let sandbox: SandboxApi | undefined;
  let apiUrl = config.apiUrl;
  let ownKey = config.apiKey;
  if (config.sandbox) {
    sandbox = await startSandboxApi();
    apiUrl = sandbox.url;
    ownKey = SANDBOX_KEY;
    log.info(`sandbox mode: using the embedded sandbox billing API at ${sandbox.url} (no real money moves)`);
  }
  if (!apiUrl) throw new Error("no API URL");
  const tools = selectTools(CATALOG, config);
  const exposed = new Set(tools.map((t) => t.name));
  const upstream = createUpstreamClient(apiUrl, config.timeouts, `${SERVER_NAME}/${SERVER_VERSION}`);
  const base: Omit<InvokeDeps, "gate"> = {
    upstream,
    log,
    limits: { maxRows: config.maxRows, maxJsonBytes: config.maxJsonBytes, maxFileBytes: config.maxFileBytes },
    retry: { maxRetries: config.maxRetries, maxRetryAfterMs: config.maxRetryAfterMs, baseDelayMs: 200 },
    isExposed: (name) => exposed.has(name),
  };
  const store = await openStore(config, log);
  const gate = await createSpendGate(config, base, store);
  const invoke = createInvoke({ ...base, gate });
  return {
    tools,
    invoke,
    gate,
    store,
    apiUrl,
    ownKey,
    verifyCredential: credentialVerifier(upstream),
    credentialOwner: credentialOwner(upstream),
    context: { forward: base, store },
    async close() {
      await gate.close();
      await store.close();
      await upstream.close();
      await sandbox?.close();
    },
  };
}

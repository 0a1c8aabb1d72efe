#!/usr/bin/env node
// Entry point: parse configuration once, then run the chosen command. Nothing below reads process.env.
import { parseConfig, ConfigError, HELP } from "./config.js";
import { createLogger } from "./log.js";
import { auditVerify } from "./auditCommand.js";
import { fileStateDir } from "./store/index.js";
import { startApp } from "./app.js";
import { createServer, SERVER_VERSION } from "./server.js";
import { callerFor } from "./tools/caller.js";
import { serveStdio } from "./transport/stdio.js";
import { isLoopbackHost } from "./transport/origin.js";
import type { Config } from "./config.js";
import type { App } from "./app.js";
import type { Logger } from "./log.js";
import type { Invoke } from "./tools/invoke.js";
import { META_STATUS } from "./tools/results.js";

async function main(): Promise<number | undefined> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`geopera-billing-mcp: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // Asked-for output goes to stdout (`--help | less` works); only diagnostics go to stderr.
  if (config.command === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (config.command === "audit-verify") {
    // The same directory the server writes to with the same flags (--sandbox, --state-dir, --store).
    return auditVerify(config.auditFile, fileStateDir(config), (line) => process.stderr.write(line + "\n"), { keys: config.auditKeys, expectHead: config.expectHead });
  }
  if (config.command === "version") {
    process.stdout.write(`${SERVER_VERSION}\n`);
    return 0;
  }
  // oidc-provider 9 supports Node 22 and later; the rest of the server keeps running on 20.
  const nodeMajor = Number(process.versions.node.split(".")[0]);
  if (config.auth !== "key" && nodeMajor < 22) {
    process.stderr.write(`geopera-billing-mcp: --auth ${config.auth} needs Node 22 or later (this is Node ${process.versions.node}); upgrade Node, or use --auth key (clients send their own Geopera key), which works on Node 20\n`);
    return 2;
  }
  const log = createLogger(config.logLevel, undefined, [], { deferred: true }).withSecrets([...(config.apiKey ? [config.apiKey] : []), ...config.auditKeys, ...(config.requestStateSecret ? [config.requestStateSecret.toString("utf8")] : []), ...(config.oauth?.clients.flatMap((c) => (c.client_secret ? [c.client_secret] : [])) ?? [])]);
  const app = await startApp(config, log);
  if (config.transport === "http") return serveOverHttp(config, app, log);
  const shutdown = async (code: number) => {
    await app.close().catch(() => {});
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown(0));
  process.on("SIGINT", () => void shutdown(0));
  const caller = callerFor(app.ownKey!);
  // One server per connection (and one for a `server/discover` probe): both eras, from one factory.
  const server = () => createServer({ tools: app.tools, invoke: app.invoke, callerOf: () => caller, progressIntervalMs: config.progressIntervalMs, context: app.context, card: config.confirmVia !== "form" });
  await serveStdio(server, () => shutdown(0), { maxRequestBytes: config.maxRequestBytes, log, only2025: config.protocolEras === "2025" });
  log.info("serving over stdio", { tools: app.tools.length, api: new URL(app.apiUrl).origin });
  // Started by hand (`npm start` in a terminal) rather than by a client, which pipes stdin: say what it
  // is waiting for, or the silence looks like a hang. Stderr, one line.
  if (process.stdin.isTTY) log.info("waiting for an MCP client on stdio (this is a server for an MCP client, not an interactive program); press Ctrl+C to stop");
  return undefined;
}

/** HTTP: each session brings its own credential, which becomes the upstream bearer for its calls only. */
async function serveOverHttp(config: Readonly<Config>, app: App, log: Logger): Promise<undefined> {
  // Loaded only in HTTP mode: stdio never needs the HTTP and SSE transports (they cost cold start).
  const { serveHttp } = await import("./transport/http.js");
  // OAuth (--auth oauth|both) is loaded only when asked for: key mode never loads oidc-provider.
  // Passkeys for OAuth spend grants: the public URL must name a host (WebAuthn refuses IP addresses).
  const passkeys = config.oauth ? (await import("./passkey/service.js")).createPasskeyService(config.publicUrl!, app.store.oauth) : undefined;
  if (passkeys && "off" in passkeys) log.warn(`passkeys are off: ${passkeys.off}. OAuth spend grants then confirm only through elicitation (clients without it are refused, as with keys)`);
  const passkeyService = passkeys && !("off" in passkeys) ? passkeys : undefined;
  if (passkeyService) app.gate.usePasskeyPage((await import("./passkey/confirmPage.js")).createPasskeyPage({ service: passkeyService, checkKey: app.credentialOwner }));
  const oauth = config.oauth
    ? {
        front: await (await import("./oauth/front.js")).createOAuthFront({
          issuer: config.publicUrl!,
          config: config.oauth,
          records: app.store.oauth,
          trustProxy: config.trustProxy,
          checkKey: app.credentialOwner,
          ...(passkeyService ? { passkeys: passkeyService } : {}),
          log,
        }),
        acceptKeys: config.auth === "both",
      }
    : undefined;
  if (config.oauth?.loopbackClientDocuments) log.warn("GEOPERA_OAUTH_TEST_LOOPBACK_CIMD is set: client metadata documents are fetched from loopback with any certificate; for tests only");
  const http = await serveHttp({
    about: {
      name: "geopera-billing-mcp",
      version: SERVER_VERSION,
      endpoints: { streamable_http: "/mcp", sse: "/sse" },
      auth:
        config.auth === "key"
          ? "Authorization: Bearer <gpra_ API key or gpst_ session token>"
          : config.auth === "oauth"
            ? "OAuth 2.1: see /.well-known/oauth-protected-resource/mcp"
            : "OAuth 2.1 (see /.well-known/oauth-protected-resource/mcp), or Authorization: Bearer <gpra_ API key or gpst_ session token>",
      docs: "Point an MCP client at /mcp (or /sse for older clients); see the README's hosted section.",
    },
    host: config.host,
    port: config.port,
    allowedOrigins: config.allowedOrigins,
    publicUrl: config.publicUrl,
    maxRequestBytes: config.maxRequestBytes,
    serveModern: config.protocolEras === "both",
    maxConcurrentCallsPerSession: config.maxConcurrentCallsPerSession,
    callQueue: config.callQueue,
    callQueueWaitMs: config.callQueueWaitMs,
    // Sessions are held only by credentials the API accepts (one balance read, cached).
    verifyCredential: app.verifyCredential,
    maxSessions: config.maxSessions,
    maxSessionsPerAddress: config.maxSessionsPerAddress,
    trustProxy: config.trustProxy,
    sessionIdleMs: config.sessionIdleMs,
    shutdownGraceMs: config.shutdownGraceMs,
    oauth,
    createSessionServer: (credential, session, scope, grant) => {
      // An OAuth grant's own daily limit (the person's choice) joins the operator's caps in the gate.
      const caller = callerFor(credential, grant?.maxCreditsPerDay, grant?.tier === "spend" && passkeyService !== undefined);
      // An OAuth grant sees only the tools of the access the person granted (read < draft < spend).
      const tools = grant ? app.tools.filter((t) => (TIER_EFFECTS[grant.tier] as readonly string[]).includes(t.sideEffect)) : app.tools;
      // A call the API answers 401 (the credential was revoked or expired since the session opened): the
      // session gives its slot back once its calls are answered. 403 is not it — a read-only key asking
      // for a spend gets 403 and stays a perfectly good session.
      const invoke: Invoke = async (record, args, env) => {
        const result = await app.invoke(record, args, env);
        if (result._meta?.[META_STATUS] === 401) session.credentialRejected();
        return result;
      };
      // Resource reads and completions tell of a 401 too: the session gives its slot back just the same.
      const context = { ...app.context, answered: (status: number) => status === 401 && session.credentialRejected() };
      return createServer({ tools, invoke, callerOf: () => caller, progressIntervalMs: config.progressIntervalMs, context, card: config.confirmVia !== "form" }, scope);
    },
    // The confirmation page lives on this listener in hosted mode; no bearer (a browser has none).
    extraRoutes: (req, res) => app.gate.confirmRoutes(req, res),
    log,
  });
  const pageBase = config.publicUrl ?? http.url;
  app.gate.useHostedPage({ base: async () => pageBase, origin: () => new URL(pageBase).origin });
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      log.info("shutting down", { signal });
      await http.close().catch((err: Error) => log.error("http close failed", { error: err.message }));
      await app.close().catch(() => {});
      process.exit(0);
    })());
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  const endpointBase = config.publicUrl ?? http.url;
  log.info("listening", { url: http.url, mcp: `${endpointBase}/mcp`, sse: `${endpointBase}/sse`, tools: app.tools.length, api: new URL(app.apiUrl).origin });
  if (config.publicUrl && isLoopbackHost(config.host) && !config.trustProxy) {
    // Behind a reverse proxy on the same machine every client arrives from the proxy's address.
    log.warn("--public-url with a loopback bind and no --trust-proxy: if a reverse proxy forwards to this server, every client shares the proxy's address, so the per-address session cap becomes one global cap; pass --trust-proxy when the proxy sets X-Forwarded-For", {
      max_sessions_per_address: config.maxSessionsPerAddress,
    });
  }
  return undefined;
}

/** What each OAuth grant may do: the side effects of the tools it sees. */
const TIER_EFFECTS = { read: ["read"], draft: ["read", "compute"], spend: ["read", "compute", "spend"] } as const satisfies Record<string, readonly string[]>;

main().then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`geopera-billing-mcp: ${(err as Error).message}\n`);
    process.exit(1);
  },
);

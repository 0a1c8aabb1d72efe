#!/usr/bin/env node
// Entry point: parse configuration once, then run the chosen command. Nothing below reads process.env.
import { parseConfig, ConfigError, HELP } from "./config.js";
import { createLogger } from "./log.js";
import { startApp } from "./app.js";
import { createServer, SERVER_VERSION } from "./server.js";
import { callerFor } from "./tools/caller.js";
import { serveStdio } from "./transport/stdio.js";

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
  if (config.command === "help") {
    process.stderr.write(HELP);
    return 0;
  }
  if (config.command === "version") {
    process.stderr.write(`${SERVER_VERSION}\n`);
    return 0;
  }
  const log = createLogger(config.logLevel).withSecrets(config.apiKey ? [config.apiKey] : []);
  const app = await startApp(config, log);
  const shutdown = async (code: number) => {
    await app.close().catch(() => {});
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown(0));
  process.on("SIGINT", () => void shutdown(0));
  const caller = callerFor(app.ownKey!);
  const server = createServer({ tools: app.tools, invoke: app.invoke, callerOf: () => caller });
  await serveStdio(server, () => shutdown(0));
  log.info("serving over stdio", { tools: app.tools.length, api: new URL(app.apiUrl).origin });
  return undefined;
}

main().then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`geopera-billing-mcp: ${(err as Error).message}\n`);
    process.exit(1);
  },
);

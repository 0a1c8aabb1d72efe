// Runs the server scenarios of @modelcontextprotocol/conformance against ours in HTTP mode on loopback.
//
//   npm run conformance [-- --version latest] [--scenario name] [--sandbox] [--strict]
//
// It fetches the suite with npx (the npm registry), so it is not part of `npm test`. Many scenarios call
// the suite's own fixture server's tools, resources and prompts (test_simple_text, test://static-text,
// test_simple_prompt …) or capabilities this server does not declare: NOT_APPLICABLE below says which and
// why. The exit code is 0 when every other scenario passed; `--strict` exits with the suite's own code.
//
// Our HTTP mode refuses any MCP request without `Authorization: Bearer <gpra_ key>`, and the conformance
// CLI (checked: 0.1.16) has no option to send a header. So it talks to a loopback proxy that adds
// `Authorization: Bearer gpra_conformance_key_0001` when a request has none and passes everything else
// through unchanged (Origin, and any Host other than the proxy's own loopback address, so the DNS-rebinding
// scenario still reaches the server with its foreign Host). Upstream: the sandbox API in this process.
// The CLI needs Node ≥ 22 for one import it never uses here; on Node 20 it is loaded with bench/node20.
import { spawn } from "node:child_process";
import { createServer, request, type IncomingHttpHeaders } from "node:http";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startSandboxApi } from "../src/sandbox/index.js";
import { OURS_CLI, REPO } from "./lib/targets.js";
import { closeFd, killAll, stderrFile, track } from "./lib/children.js";

const { values: o } = parseArgs({
  options: {
    version: { type: "string", default: "latest" },
    scenario: { type: "string" },
    "spec-version": { type: "string" },
    sandbox: { type: "boolean", default: false },
    strict: { type: "boolean", default: false },
  },
});

const FIXTURE = "calls a tool, resource or prompt of the suite's fixture server, which this server does not have";
/** Scenarios that cannot apply to this server, and why (checked against @modelcontextprotocol/conformance 0.1.16). */
const NOT_APPLICABLE: Readonly<Record<string, string>> = {
  "logging-set-level": "no logging capability declared (logs are JSON lines on stderr)",
  "tools-call-image": `${FIXTURE} (test_image_content)`,
  "tools-call-audio": `${FIXTURE} (test_audio_content)`,
  "tools-call-embedded-resource": `${FIXTURE} (test_embedded_resource)`,
  "tools-call-mixed-content": `${FIXTURE} (test_multiple_content_types)`,
  "tools-call-with-logging": `${FIXTURE} (test_tool_with_logging); no logging capability`,
  "tools-call-with-progress": `${FIXTURE} (test_tool_with_progress); ours sends progress while a spend waits for a person (test/hosted.test.ts)`,
  "tools-call-sampling": `${FIXTURE} (test_sampling); this server never samples`,
  "tools-call-elicitation": `${FIXTURE} (test_elicitation); ours elicits only to confirm a spend (test/gate.test.ts)`,
  "elicitation-sep1034-defaults": `${FIXTURE} (an elicitation tool with defaults)`,
  "elicitation-sep1330-enums": `${FIXTURE} (an elicitation tool with enums)`,
  "resources-read-text": `${FIXTURE} (test://static-text)`,
  "resources-read-binary": `${FIXTURE} (test://static-binary)`,
  "resources-templates-read": `${FIXTURE} (test://template/{id}/data)`,
  "resources-subscribe": "no resources.subscribe capability declared (every read is fresh; nothing to watch)",
  "resources-unsubscribe": "no resources.subscribe capability declared",
  "prompts-get-simple": `${FIXTURE} (test_simple_prompt)`,
  "prompts-get-with-args": `${FIXTURE} (test_prompt_with_arguments)`,
  "prompts-get-embedded-resource": `${FIXTURE} (test_prompt_with_embedded_resource)`,
  "prompts-get-with-image": `${FIXTURE} (test_prompt_with_image)`,
};
const KEY = "gpra_conformance_key_0001";

async function startOurs(apiUrl: string | undefined): Promise<{ port: number; stop(): void }> {
  const log = stderrFile("ours-conformance");
  const args = [OURS_CLI, "--transport", "http", "--host", "127.0.0.1", "--port", "0", "--state-dir", mkdtempSync(join(tmpdir(), "gbm-conf-"))];
  if (!apiUrl) args.push("--sandbox");
  const child = track(spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? "", ...(apiUrl ? { GEOPERA_API_URL: apiUrl } : {}) }, stdio: ["ignore", "ignore", log.fd] }));
  closeFd(log.fd);
  const port = await new Promise<number>((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const m = /"msg":"listening"[^\n]*"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(log.tail());
      if (m) {
        clearInterval(poll);
        resolve(Number(m[1]));
      } else if (Date.now() - started > 15_000 || child.exitCode !== null) {
        clearInterval(poll);
        reject(new Error(`ours did not start:\n${log.tail()}`));
      }
    }, 20);
  });
  return { port, stop: () => child.kill("SIGTERM") };
}

/** The header-adding loopback proxy in front of ours. */
async function startProxy(target: number): Promise<{ port: number; close(): void }> {
  let own = 0;
  const proxy = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers };
    headers.authorization ??= `Bearer ${KEY}`;
    // Only our own loopback name is re-pointed at the server's port; foreign Hosts go through as sent.
    const host = /^(127\.0\.0\.1|localhost|\[::1\]):(\d+)$/i.exec(req.headers.host ?? "");
    if (host && Number(host[2]) === own) headers.host = `${host[1]}:${target}`;
    const up = request({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
    res.on("close", () => up.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  own = (proxy.address() as { port: number }).port;
  return { port: own, close: () => proxy.close() };
}

async function main(): Promise<number> {
  const api = o.sandbox ? undefined : await startSandboxApi();
  const ours = await startOurs(api?.url);
  const proxy = await startProxy(ours.port);
  const outDir = mkdtempSync(join(tmpdir(), "gbm-conformance-"));
  const url = `http://127.0.0.1:${proxy.port}/mcp`;
  const args = ["-y", `@modelcontextprotocol/conformance@${o.version}`, "server", "--url", url, "-o", outDir];
  if (o.scenario) args.push("--scenario", o.scenario);
  if (o["spec-version"]) args.push("--spec-version", o["spec-version"]);
  const major = Number(process.versions.node.split(".")[0]);
  const nodeOptions = [process.env.NODE_OPTIONS ?? "", major < 22 ? `--import=${join(REPO, "bench", "node20", "register.mjs")}` : ""].join(" ").trim();
  console.log(`conformance ${o.version} → ${url} (proxy adding Authorization) → ours on :${ours.port} → ${api ? `sandbox API ${api.url}` : "ours' embedded --sandbox"}`);
  const code = await new Promise<number>((resolve) => {
    const child = track(spawn("npx", args, { stdio: "inherit", env: { ...process.env, NODE_OPTIONS: nodeOptions, NO_COLOR: "1" } }));
    child.on("exit", (c) => resolve(c ?? 1));
  });
  // Per-scenario checks.json files under outDir: print a compact summary.
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f === "checks.json") files.push(p);
    }
  };
  walk(outDir);
  let applicableFailed = 0;
  if (files.length) {
    console.log(`\nresults in ${outDir}:`);
    for (const f of files.sort()) {
      const checks = JSON.parse(readFileSync(f, "utf8")) as { id: string; status: string; errorMessage?: string }[];
      const bad = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING");
      // Folder: server-<scenario>-<timestamp>.
      const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(f.slice(outDir.length + 1).split("/")[0]!)?.[1] ?? "?";
      const na = NOT_APPLICABLE[scenario];
      const failed = checks.some((c) => c.status === "FAILURE");
      if (failed && !na) applicableFailed++;
      const verdict = !failed ? "pass" : na ? `does not apply: ${na}` : "FAIL";
      console.log(`  ${scenario}: ${verdict} (${checks.filter((c) => c.status === "SUCCESS").length} ok${bad.map((c) => `, ${c.status} ${c.id}: ${c.errorMessage ?? ""}`).join("")})`);
    }
    console.log(applicableFailed ? `\n${applicableFailed} applicable scenario(s) failed.` : "\nEvery applicable scenario passed.");
  } else {
    rmSync(outDir, { recursive: true, force: true });
    applicableFailed = 1; // nothing ran: not a pass
  }
  proxy.close();
  ours.stop();
  await api?.close();
  return o.strict ? code : applicableFailed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    killAll();
    process.exit(1);
  },
);

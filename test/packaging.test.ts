// The two install descriptors — manifest.json (MCP Bundle, Claude Desktop) and server.json (MCP registry) —
// say the same as package.json and the code: name, version, description, entry point, the environment
// variables the server actually reads, which of them is secret, and the tool list.
import { describe, it, expect } from "vitest";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { v0_3 } from "@anthropic-ai/mcpb/schemas";
import { CATALOG } from "../src/tools/catalog.js";

const root = join(import.meta.dirname, "..");
const json = (file: string) => JSON.parse(readFileSync(join(root, file), "utf8")) as Record<string, any>;
const pkg = json("package.json");
const manifest = json("manifest.json");
const server = json("server.json");

/** Environment variables the server reads: src/config.ts is the only reader of the environment. */
const envRead = [...readFileSync(join(root, "src", "config.ts"), "utf8").matchAll(/\benv\.(GEOPERA_[A-Z_]+)/g)].map((m) => m[1]!);
const ENV_READ = [...new Set(envRead)].sort();
const entry = pkg.bin[pkg.name] as string;
const major = (range: string) => /(\d+)/.exec(range)?.[1];

describe("manifest.json (MCP Bundle)", () => {
  it("is a valid v0.3 manifest", () => {
    expect(manifest.manifest_version).toBe("0.3");
    const parsed = v0_3.McpbManifestSchema.safeParse(manifest);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
  });

  it("has package.json's name, version, description and license", () => {
    expect(manifest.name).toBe(pkg.name);
    expect(manifest.version).toBe(pkg.version);
    expect(manifest.description).toBe(pkg.description);
    expect(manifest.license).toBe(pkg.license);
    expect(major(manifest.compatibility.runtimes.node)).toBe(major(pkg.engines.node));
  });

  it("launches the package's bin with node", () => {
    expect(manifest.server.type).toBe("node");
    expect(manifest.server.entry_point).toBe(entry);
    expect(manifest.server.mcp_config.command).toBe("node");
    expect(manifest.server.mcp_config.args).toEqual([`\${__dirname}/${entry}`]);
  });

  it("maps the sandbox choice, the API URL and the key (sensitive) from user config to the variables the server reads", () => {
    const env = manifest.server.mcp_config.env as Record<string, string>;
    expect(env).toEqual({ GEOPERA_API_URL: "${user_config.api_url}", GEOPERA_API_KEY: "${user_config.api_key}", GEOPERA_SANDBOX: "${user_config.sandbox}" });
    for (const name of Object.keys(env)) expect(ENV_READ).toContain(name);
    for (const ref of Object.values(env)) expect(manifest.user_config).toHaveProperty(/\$\{user_config\.(\w+)\}/.exec(ref)![1]!);
    expect(manifest.user_config.api_key.sensitive).toBe(true);
    expect(manifest.user_config.api_url.sensitive).toBeUndefined();
    // Tried without an account: the sandbox box needs neither field; the server names what is missing otherwise.
    expect(manifest.user_config.sandbox).toMatchObject({ type: "boolean", default: false });
    expect(manifest.user_config.api_key.required).toBe(false);
    expect(manifest.user_config.api_url.required).toBe(false);
  });

  it("lists the catalog's tools with their descriptions", () => {
    expect(manifest.tools).toEqual(CATALOG.map((r) => ({ name: r.name, description: r.description })));
  });
});

describe("server.json (MCP registry)", () => {
  it("uses a released schema and a reverse-DNS name", () => {
    expect(server.$schema).toMatch(/^https:\/\/static\.modelcontextprotocol\.io\/schemas\/\d{4}-\d{2}-\d{2}\/server\.schema\.json$/);
    expect(server.name).toMatch(/^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/);
  });

  it("has package.json's version and description (registry limit: 100 characters)", () => {
    expect(server.version).toBe(pkg.version);
    expect(server.description).toBe(pkg.description);
    expect(server.description.length).toBeLessThanOrEqual(100);
  });

  it("points at this npm package and version over stdio", () => {
    expect(server.packages).toHaveLength(1);
    const [p] = server.packages;
    expect(p.registryType).toBe("npm");
    expect(p.registryBaseUrl).toBe("https://registry.npmjs.org");
    expect(p.identifier).toBe(pkg.name);
    expect(p.version).toBe(pkg.version);
    expect(p.transport).toEqual({ type: "stdio" });
  });

  it("declares exactly the environment variables the server reads, the key as a secret", () => {
    const vars = server.packages[0].environmentVariables as { name: string; isRequired?: boolean; isSecret?: boolean }[];
    expect(vars.map((v) => v.name).sort()).toEqual(ENV_READ);
    const byName = Object.fromEntries(vars.map((v) => [v.name, v]));
    expect(byName.GEOPERA_API_KEY).toMatchObject({ isRequired: true, isSecret: true });
    expect(byName.GEOPERA_API_URL).toMatchObject({ isRequired: true });
    expect(byName.GEOPERA_API_URL.isSecret ?? false).toBe(false);
  });

  // The registry verifies npm ownership through package.json's mcpName (it must equal server.json's name).
  it.skipIf(pkg.mcpName === undefined)("package.json mcpName matches server.json name", () => {
    expect(pkg.mcpName).toBe(server.name);
  });
});

// The published package carries its build: prepack builds dist/src afresh, and prepare never needs the dev
// dependencies when dist/src is already there. Run against a copy of the script in a scratch root (npm
// pack itself would rebuild dist/ under the other test files' feet).
describe("the package's build steps", () => {
  const script = join(root, "scripts", "prepare.mjs");
  /** Runs scripts/prepare.mjs from a scratch root with no node_modules; `built`: a dist/src/cli.js is there. */
  function prepareIn(built: boolean, args: string[] = []) {
    const dir = mkdtempSync(join(tmpdir(), "gbm-prepare-"));
    mkdirSync(join(dir, "scripts"));
    copyFileSync(script, join(dir, "scripts", "prepare.mjs"));
    if (built) {
      mkdirSync(join(dir, "dist", "src"), { recursive: true });
      writeFileSync(join(dir, "dist", "src", "cli.js"), "");
    }
    const r = spawnSync(process.execPath, [join(dir, "scripts", "prepare.mjs"), ...args], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout, built: existsSync(join(dir, "dist", "src", "cli.js")) };
  }

  it("package.json: prepack builds afresh, prepare builds when it can; both scripts ship", () => {
    expect(pkg.scripts.prepack).toBe("node scripts/prepare.mjs --fresh");
    expect(pkg.scripts.prepare).toBe("node scripts/prepare.mjs");
    expect(pkg.files).toEqual(expect.arrayContaining(["dist/src", "scripts/prepare.mjs"]));
  });

  it("npm pack packs dist/src (the built entry point) and no TypeScript source or test", () => {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain(entry);
    expect(files).toContain("scripts/prepare.mjs");
    expect(files.filter((f) => /\.ts$/.test(f) || f.startsWith("test/") || f.startsWith("src/") || f.startsWith("dist/test/"))).toEqual([]);
  });

  it("prepare without TypeScript but with dist/src built (an installed package) does nothing and succeeds", () => {
    expect(prepareIn(true)).toEqual({ status: 0, stderr: "", stdout: "", built: true });
  });

  it("prepare without TypeScript and without a build fails in one line naming the missing steps", () => {
    const r = prepareIn(false);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "geopera-billing-mcp: cannot build dist/: TypeScript, a dev dependency, is not installed and dist/src/cli.js is not built. " +
        "In a clone, run `npm install` (with dev dependencies: not --omit=dev, not NODE_ENV=production), then `npm run build`.\n",
    );
  });

  it("prepack without TypeScript fails even with an old build (it never packs a stale one)", () => {
    const r = prepareIn(true, ["--fresh"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot build dist\/: TypeScript, a dev dependency, is not installed\. In a clone, run `npm install`/);
  });
});

#!/usr/bin/env node
// The build step npm runs by itself. `prepare` (npm install in a clone, an install from git) builds dist/
// when TypeScript is there to build it; `prepack` (npm pack, npm publish) always builds afresh, so the
// published package carries dist/src and a global install from it never compiles anything.
//   node scripts/prepare.mjs          prepare: build if TypeScript is installed; else, with dist/src/cli.js
//                                     already built, nothing to do; else fail, naming the missing step
//   node scripts/prepare.mjs --fresh  prepack: remove dist/src, then build (TypeScript required)
// Plain JavaScript with no dependency: it runs before anything is built or installed.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const built = join(root, "dist", "src", "cli.js");
const fresh = process.argv.includes("--fresh");
const say = (line) => process.stderr.write(`geopera-billing-mcp: ${line}\n`);

// npm pack and npm publish run prepare too, after prepack has just built: once is enough.
if (!fresh && (process.env.npm_command === "pack" || process.env.npm_command === "publish")) process.exit(0);

if (!existsSync(tsc)) {
  if (!fresh && existsSync(built)) process.exit(0);
  say(
    `cannot build dist/: TypeScript, a dev dependency, is not installed${fresh ? "" : " and dist/src/cli.js is not built"}. ` +
      `In a clone, run \`npm install\` (with dev dependencies: not --omit=dev, not NODE_ENV=production), then \`npm run build\`.`,
  );
  process.exit(1);
}
if (fresh) rmSync(join(root, "dist", "src"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], { cwd: root, stdio: "inherit" });
if (r.status !== 0) {
  say("the build (tsc -p tsconfig.json) failed; the errors are above. Fix them, then run `npm run build`.");
  process.exit(r.status ?? 1);
}

// The passkey pages' browser script (scripts/browser.mjs): bundled from the same install that built dist/.
const b = spawnSync(process.execPath, [join(root, "scripts", "browser.mjs")], { cwd: root, stdio: "inherit" });
if (b.status !== 0) {
  say("bundling the passkey pages' script (scripts/browser.mjs) failed; the errors are above.");
  process.exit(b.status ?? 1);
}

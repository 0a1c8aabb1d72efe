#!/usr/bin/env node
// Bundles the passkey pages' browser script (browser/passkey.mjs with @simplewebauthn/browser) into
// dist/src/passkey/browser.js, which the server serves itself (no CDN). Run by `npm run build` and by
// scripts/prepare.mjs; rolldown and the helper are dev dependencies, present wherever TypeScript is.
import { join } from "node:path";
import { build } from "rolldown";

const root = join(import.meta.dirname, "..");
await build({
  input: join(root, "browser", "passkey.mjs"),
  platform: "browser",
  logLevel: "warn",
  output: { file: join(root, "dist", "src", "passkey", "browser.js"), format: "iife", minify: true },
});

// Where the passkeys' relying party comes from: --public-url. A host name (http only for localhost) is
// the RP id; an IP address cannot be one (browsers refuse it), so passkeys are off and the server says so
// at start, and an OAuth spend grant without elicitation is then refused as a key client is.
import { describe, it, expect } from "vitest";
import { randomBytes } from "node:crypto";
import { relyingPartyOf } from "../src/passkey/rp.js";
import { startSandboxApi } from "../src/sandbox/index.js";
import { startHttpServer } from "./helpers/http.js";
import { freePort } from "./helpers/oauth.js";

const NODE_MAJOR = Number(process.versions.node.split(".")[0]);

describe("passkey relying party from --public-url", () => {
  it("a host name is the RP id and its origin the only origin; an IP address or plain http off localhost is refused", () => {
    expect(relyingPartyOf("https://billing-mcp.example.com")).toEqual({ id: "billing-mcp.example.com", origin: "https://billing-mcp.example.com", name: "Geopera billing" });
    expect(relyingPartyOf("http://localhost:8787")).toMatchObject({ id: "localhost", origin: "http://localhost:8787" });
    for (const ip of ["http://127.0.0.1:8787", "https://10.0.0.5", "http://[::1]:8787", "https://[2001:db8::1]"]) expect(relyingPartyOf(ip)).toHaveProperty("off", expect.stringMatching(/IP address/));
    expect(relyingPartyOf("http://billing.internal:8787")).toHaveProperty("off", expect.stringMatching(/not https/));
  });

  it.skipIf(NODE_MAJOR < 22)("with an IP public URL the server warns at start that passkeys are off", async () => {
    const api = await startSandboxApi();
    const port = await freePort();
    const server = await startHttpServer({ apiUrl: api.url, args: ["--port", String(port), "--public-url", `http://127.0.0.1:${port}`, "--auth", "oauth"], env: { GEOPERA_OAUTH_KEK: `k1:${randomBytes(32).toString("base64")}` } });
    try {
      const warning = server.stderr().split("\n").find((l) => l.includes("passkeys are off"));
      expect(warning).toMatch(/names an IP address/);
      expect(JSON.parse(warning!).level).toBe("warn");
    } finally {
      await server.stop();
      await api.close();
    }
  });
});

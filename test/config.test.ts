// parseConfig: the only reader of argv and the environment. Table-driven: each flag's good values land in
// the right field, and each bad value stops start-up with an error that names the flag.
import { describe, it, expect } from "vitest";
import { parseConfig, ConfigError, HELP, type Config } from "../src/config.js";

const ENV = { GEOPERA_API_URL: "https://api.example.test", GEOPERA_API_KEY: "gpra_server_key_123456" };
const parse = (argv: string[], env: Record<string, string | undefined> = ENV) => parseConfig(argv, env);

/** The ConfigError parseConfig throws (failing the test if it throws none, or something else). */
function errorOf(argv: string[], env: Record<string, string | undefined> = ENV): string {
  try {
    parse(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`parseConfig(${JSON.stringify(argv)}) did not fail`);
}

describe("parseConfig: HTTP listener limits", () => {
  it("defaults to 1000 sessions, 32 per address, 30 min idle, 10 s grace, 8 calls per session, no proxy trust", () => {
    const c = parse(["--transport", "http"]);
    expect([c.maxSessions, c.maxSessionsPerAddress, c.sessionIdleMs, c.shutdownGraceMs, c.maxConcurrentCallsPerSession, c.trustProxy]).toEqual([
      1000, 32, 1_800_000, 10_000, 8, false,
    ]);
  });

  const good: [string[], Partial<Config>][] = [
    [["--max-sessions", "50"], { maxSessions: 50 }],
    [["--max-sessions=1"], { maxSessions: 1 }],
    [["--max-sessions-per-address", "4"], { maxSessionsPerAddress: 4 }],
    [["--max-sessions-per-address", "5000"], { maxSessionsPerAddress: 5000 }],
    [["--session-idle", "60"], { sessionIdleMs: 60_000 }],
    [["--session-idle", "86400"], { sessionIdleMs: 86_400_000 }],
    [["--shutdown-grace", "1"], { shutdownGraceMs: 1_000 }],
    [["--shutdown-grace", "3600"], { shutdownGraceMs: 3_600_000 }],
    [["--max-calls-per-session", "1"], { maxConcurrentCallsPerSession: 1 }],
    [["--max-calls-per-session", "64"], { maxConcurrentCallsPerSession: 64 }],
    [["--trust-proxy"], { trustProxy: true }],
    [
      ["--max-sessions", "10", "--max-sessions-per-address", "2", "--session-idle", "5", "--shutdown-grace", "3", "--max-calls-per-session", "4"],
      { maxSessions: 10, maxSessionsPerAddress: 2, sessionIdleMs: 5_000, shutdownGraceMs: 3_000, maxConcurrentCallsPerSession: 4 },
    ],
  ];
  it.each(good)("accepts %j", (argv, expected) => {
    expect(parse(["--transport", "http", ...argv])).toMatchObject(expected);
  });

  const flags = ["--max-sessions", "--max-sessions-per-address", "--session-idle", "--shutdown-grace", "--max-calls-per-session"];
  const badValues = ["0", "-1", "1.5", "abc", "", " 3", "1e3", "0x10"];
  const bad: [string[], string][] = [
    ...flags.flatMap((flag) => badValues.map((value): [string[], string] => [[`${flag}=${value}`], flag])),
    ...flags.map((flag): [string[], string] => [[flag], flag]), // no value at all
    ...flags.map((flag): [string[], string] => [[flag, "-5"], flag]), // looks like an option to parseArgs
    [["--shutdown-grace", "3601"], "--shutdown-grace"],
    [["--trust-proxy=yes"], "--trust-proxy"],
  ];
  it.each(bad)("refuses %j, naming %s", (argv, flag) => {
    expect(errorOf(["--transport", "http", ...argv])).toContain(flag);
  });

  it("lists every new flag in --help", () => {
    for (const flag of ["--max-sessions N", "--max-sessions-per-address N", "--trust-proxy", "--session-idle S", "--shutdown-grace S", "--max-calls-per-session N"]) {
      expect(HELP).toContain(flag);
    }
  });
});

describe("parseConfig: existing options", () => {
  it("without the API URL and key (and without --sandbox) fails naming both variables", () => {
    const message = errorOf([], {});
    expect(message).toContain("GEOPERA_API_URL");
    expect(message).toContain("GEOPERA_API_KEY");
    expect(message).toContain("--sandbox");
  });

  it("names only the variable that is missing", () => {
    expect(errorOf([], { GEOPERA_API_URL: ENV.GEOPERA_API_URL })).not.toContain("GEOPERA_API_URL");
    expect(errorOf([], { GEOPERA_API_KEY: ENV.GEOPERA_API_KEY })).not.toContain("GEOPERA_API_KEY");
  });

  it("GEOPERA_SANDBOX=true|1 is --sandbox (a bundle's user config); false/0/empty is not; anything else names the variable", () => {
    for (const yes of ["true", "1", "TRUE", " true "]) expect(parse([], { GEOPERA_SANDBOX: yes }).sandbox).toBe(true);
    for (const no of ["false", "0", ""]) expect(parse([], { ...ENV, GEOPERA_SANDBOX: no }).sandbox).toBe(false);
    // What Claude Desktop passes for a bundle whose account fields were left empty.
    expect(parse([], { GEOPERA_API_URL: "", GEOPERA_API_KEY: "", GEOPERA_SANDBOX: "true" })).toMatchObject({ sandbox: true, apiUrl: undefined, apiKey: undefined });
    expect(errorOf([], { ...ENV, GEOPERA_SANDBOX: "yes please" })).toBe('GEOPERA_SANDBOX must be true or false, not "yes please"');
    expect(errorOf([], { GEOPERA_SANDBOX: "false" })).toContain("GEOPERA_SANDBOX=true");
  });

  it("--sandbox needs neither variable, and ignores them if set", () => {
    const c = parse(["--sandbox"], {});
    expect([c.sandbox, c.apiUrl, c.apiKey]).toEqual([true, undefined, undefined]);
    expect(parse(["--sandbox"]).apiKey).toBeUndefined();
  });

  it("HTTP transport needs only the URL (clients bring their own keys)", () => {
    const c = parse(["--transport", "http"], { GEOPERA_API_URL: ENV.GEOPERA_API_URL });
    expect([c.transport, c.apiUrl, c.apiKey]).toEqual(["http", ENV.GEOPERA_API_URL, undefined]);
    const message = errorOf(["--transport", "http"], {});
    expect(message).toContain("GEOPERA_API_URL");
    expect(message).not.toContain("GEOPERA_API_KEY");
  });

  it("--tools with an unknown name fails naming it; known names are kept", () => {
    const message = errorOf(["--tools", "billing_credits_balance,billing_make_money"]);
    expect(message).toContain("--tools");
    expect(message).toContain("billing_make_money");
    expect(message).not.toMatch(/unknown tool\(s\): [^.]*billing_credits_balance/);
    expect(parse(["--tools", "billing_credits_balance, billing_plans_list"]).tools).toEqual(["billing_credits_balance", "billing_plans_list"]);
  });

  it("--confirm-ttl accepts up to 3600 seconds and refuses more", () => {
    expect(parse(["--confirm-ttl", "3600"]).confirmTtlMs).toBe(3_600_000);
    expect(parse([]).confirmTtlMs).toBe(600_000);
    expect(errorOf(["--confirm-ttl", "3601"])).toMatch(/--confirm-ttl must be at most 3600/);
    expect(errorOf(["--confirm-ttl", "0"])).toContain("--confirm-ttl");
  });

  it("--read-only sets readOnly; it is off by default", () => {
    expect(parse(["--read-only"]).readOnly).toBe(true);
    expect(parse([]).readOnly).toBe(false);
  });

  it("refuses an unknown flag and an unknown transport", () => {
    expect(errorOf(["--max-session", "3"])).toContain("--max-session");
    expect(errorOf(["--transport", "websocket"])).toContain("--transport");
  });

  // The parser's own messages run over several lines and talk about positionals; ours are one line each.
  it.each([
    [["--max-session", "3"], "unknown option --max-session; see --help"],
    [["--nope=gpra_not_echoed_123456"], "unknown option --nope; see --help"],
    [["-x"], "unknown option -x; see --help"],
    [["--port"], "--port needs a value; see --help"],
    [["--sandbox=1"], "--sandbox takes no value; see --help"],
    [["--max-rows", "-3"], `--max-rows needs a value (one starting with "-" is written --max-rows=-…); see --help`],
    [["audit", "check"], `unknown command "audit check"; see --help`],
  ])("%j is one line: %s", (argv, message) => {
    expect(errorOf(argv)).toBe(message);
  });
});

describe("parseConfig: protocol eras and the 2026-07-28 state secret", () => {
  it("serves both eras by default; --protocol-eras 2025 serves the 2025 era only; anything else names the flag", () => {
    expect(parse([]).protocolEras).toBe("both");
    expect(parse(["--protocol-eras", "2025"]).protocolEras).toBe("2025");
    expect(errorOf(["--protocol-eras", "2026"])).toMatch(/--protocol-eras/);
    expect(HELP).toMatch(/--protocol-eras both\|2025/);
    expect(HELP).toMatch(/2026-07-28/);
  });

  it("GEOPERA_REQUEST_STATE_SECRET: unset means the store's own; 32+ bytes is taken as is; shorter stops start-up without echoing it", () => {
    expect(parse([]).requestStateSecret).toBeUndefined();
    const secret = "s".repeat(31) + "é"; // 33 bytes in UTF-8, 32 characters
    expect(parse([], { ...ENV, GEOPERA_REQUEST_STATE_SECRET: secret }).requestStateSecret?.equals(Buffer.from(secret, "utf8"))).toBe(true);
    const short = "short-secret-value";
    const message = errorOf([], { ...ENV, GEOPERA_REQUEST_STATE_SECRET: short });
    expect(message).toMatch(/GEOPERA_REQUEST_STATE_SECRET is 18 bytes; use at least 32/);
    expect(message).not.toContain(short);
  });
});

describe("parseConfig: --auth (OAuth for hosted agents)", () => {
  const KEK = `k1:${Buffer.alloc(32, 7).toString("base64")}`;
  const OLD = `k0:${Buffer.alloc(32, 9).toString("base64")}`;
  const http = ["--transport", "http", "--public-url", "https://billing.example.com"];
  const env = { ...ENV, GEOPERA_OAUTH_KEK: KEK };

  it("defaults to key: no OAuth configuration at all", () => {
    const c = parse(["--transport", "http"]);
    expect(c.auth).toBe("key");
    expect(c.oauth).toBeUndefined();
  });

  it("oauth and both: KEKs newest first, redirect additions, operator clients, no test flag", () => {
    const clients = [{ client_id: "acme", client_secret: "s".repeat(20), client_name: "Acme", redirect_uris: ["https://acme.example/cb"] }];
    const c = parse([...http, "--auth", "both", "--oauth-redirect-allow", "https://x.example/cb,https://y.example/"], { ...env, GEOPERA_OAUTH_KEK: `${KEK},${OLD}`, GEOPERA_OAUTH_CLIENTS: JSON.stringify(clients) });
    expect(c.auth).toBe("both");
    expect(c.oauth!.keks.map((k) => k.id)).toEqual(["k1", "k0"]);
    expect(c.oauth!.keks[0]!.key).toEqual(Buffer.alloc(32, 7));
    expect(c.oauth!.redirectAllow).toEqual(["https://x.example/cb", "https://y.example/"]);
    expect(c.oauth!.clients).toEqual(clients);
    expect(c.oauth!.loopbackClientDocuments).toBe(false);
    expect(parse(["--transport", "http", "--public-url", "http://127.0.0.1:8787", "--auth", "oauth"], env).oauth).toBeDefined();
  });

  const bad: [string[], Record<string, string | undefined>, RegExp][] = [
    [["--auth", "saml"], env, /--auth must be one of key, oauth, both/],
    [["--transport", "http", "--auth", "oauth"], env, /needs --public-url/],
    [["--transport", "http", "--auth", "oauth", "--public-url", "http://billing.example.com"], env, /must be https outside loopback/],
    [["--transport", "http", "--auth", "oauth", "--public-url", "https://billing.example.com/mcp"], env, /must be an origin/],
    [["--auth", "oauth", "--public-url", "https://billing.example.com"], env, /is for --transport http/],
    [[...http, "--auth", "oauth"], ENV, /needs GEOPERA_OAUTH_KEK/],
    [[...http, "--auth", "oauth"], { ...ENV, GEOPERA_OAUTH_KEK: "k1:c2hvcnQ=" }, /key #1 must be <id>:<32 bytes in base64>/],
    [[...http, "--auth", "oauth"], { ...ENV, GEOPERA_OAUTH_KEK: `${KEK},${KEK}` }, /same key id twice/],
    [[...http, "--auth", "oauth"], { ...env, GEOPERA_OAUTH_CLIENTS: "{" }, /must be a JSON array/],
    [[...http, "--auth", "oauth"], { ...env, GEOPERA_OAUTH_CLIENTS: JSON.stringify([{ client_id: "a", client_secret: "short", redirect_uris: ["https://a/cb"] }]) }, /client #1 needs/],
    [[...http, "--auth", "oauth", "--oauth-redirect-allow", "cursor://x"], env, /not an http\(s\) URL/],
  ];
  it.each(bad)("%j refused", (argv, e, message) => {
    const text = errorOf(argv, e);
    expect(text).toMatch(message);
    // A key is never echoed.
    expect(text).not.toContain(Buffer.alloc(32, 7).toString("base64"));
  });
});

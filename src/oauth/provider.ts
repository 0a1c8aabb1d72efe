// The OAuth 2.1 authorization server, for hosted agents (claude.ai, ChatGPT, any MCP client) that sign in
// instead of sending a Geopera key: oidc-provider (a certified OpenID / OAuth library) configured for
// exactly one protected resource, <public-url>/mcp. Its routes live under /oauth on our own listener
// (http.ts hands it those requests), its state in the gate's store (adapter.ts), its sign-in and consent
// are our page (interaction.ts). What is configured here, and why:
//  - authorization code + PKCE (S256 only: the library supports nothing else) for every client;
//  - resource indicators (RFC 8707): the only audience is <public-url>/mcp, any other resource is
//    invalid_target; tokens are opaque, 1 h; refresh tokens 30 d, rotated on every use; the library
//    revokes the whole grant when a rotated (consumed) refresh token comes back;
//  - revocation (RFC 7009), dynamic registration (RFC 7591, redirect URIs from redirects.ts, clients
//    expire after 90 days), Client ID Metadata Documents (the library's own support), operator clients;
//  - cookie keys and the (unused by MCP, required by the library) ID-token signing key are derived
//    from / sealed under GEOPERA_OAUTH_KEK, so every replica agrees with no extra configuration.
import { generateKeyPairSync, hkdfSync } from "node:crypto";
import { Agent, fetch as undiciFetch } from "undici";
import Provider, { errors } from "oidc-provider";
import type { OAuthConfig } from "../config.js";
import type { OAuthRecords } from "../store/types.js";
import type { Logger } from "../log.js";
import { adapterFor } from "./adapter.js";
import { seal, open, type Kek } from "./kek.js";
import { redirectAllowed } from "./redirects.js";
import { renderMessagePage } from "./page.js";

/** What a person can grant, each including the ones before it. */
export const TIERS = ["read", "draft", "spend"] as const;
export type Tier = (typeof TIERS)[number];

export const ACCESS_TOKEN_TTL_S = 3600;
export const REFRESH_TOKEN_TTL_S = 30 * 24 * 3600;
export const GRANT_TTL_S = 90 * 24 * 3600;

export const OAUTH_PREFIX = "/oauth";
export const interactionPath = (uid: string) => `${OAUTH_PREFIX}/interaction/${uid}`;

export interface OAuthProviderOptions {
  /** The public URL's origin: issuer, and the resource is <issuer>/mcp. */
  issuer: string;
  config: OAuthConfig;
  records: OAuthRecords;
  trustProxy: boolean;
  log: Logger;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

interface OAuthProviderShape {
  Grant: { find(id: string): Promise<unknown> };
}

/** Keys of the library's signed cookies: one per KEK (rotation: signs with the first, accepts any). */
const cookieKeys = (keks: readonly Kek[]) => keks.map((k) => Buffer.from(hkdfSync("sha256", k.key, Buffer.alloc(0), "geopera oauth cookies", 32)).toString("base64url"));

/** The ID-token signing key: made once per store, kept sealed under the KEK (any replica reads the same). */
async function signingKey(records: OAuthRecords, keks: readonly Kek[]): Promise<Record<string, unknown>> {
  const key = "ServerKey:signing";
  const aad = "geopera oauth signing key";
  const fresh = () => ({ model: "ServerKey", payload: { sealed: seal(keks, JSON.stringify({ ...generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" }), alg: "ES256", use: "sig" }), aad) } });
  let stored = await records.putIfAbsent(key, fresh());
  let jwk = open(keks, String(stored.payload.sealed), aad);
  if (jwk === undefined) {
    // Sealed under a KEK no longer configured: a new key (only ID tokens, which MCP clients do not use, change).
    stored = fresh();
    await records.put(key, stored);
    jwk = open(keks, String(stored.payload.sealed), aad)!;
  }
  return JSON.parse(jwk) as Record<string, unknown>;
}

export async function createOAuthProvider(opts: OAuthProviderOptions) {
  const { issuer, config, records, log } = opts;
  const resource = `${issuer}/mcp`;
  const staticIds = new Set(config.clients.map((c) => c.client_id));
  // The CIMD test flag: loopback documents over https with a self-signed certificate (tests only).
  const testAgent = config.loopbackClientDocuments ? new Agent({ connect: { rejectUnauthorized: false } }) : undefined;

  const provider = new Provider(issuer, {
    adapter: adapterFor(records),
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      ...(c.client_secret ? { client_secret: c.client_secret } : {}),
      ...(c.client_name ? { client_name: c.client_name } : {}),
      redirect_uris: c.redirect_uris,
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: c.client_secret ? "client_secret_basic" : "none",
    })),
    clientDefaults: { grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none", id_token_signed_response_alg: "ES256" },
    clientAuthMethods: ["none", "client_secret_basic", "client_secret_post"],
    responseTypes: ["code"],
    // The tiers are listed so a client may name them in its registration (the SDK does); requested as
    // such they are answered per resource in the grant (interaction.ts), never as OpenID scopes.
    scopes: ["openid", "offline_access", ...TIERS],
    claims: { openid: ["sub"] },
    cookies: { keys: cookieKeys(config.keks) },
    jwks: { keys: [await signingKey(records, config.keks)] },
    enabledJWA: { idTokenSigningAlgValues: ["ES256"] },
    // The account is the key's fingerprint (interaction.ts): no personal data, nothing to look up.
    findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
    pkce: { required: () => true },
    routes: {
      authorization: `${OAUTH_PREFIX}/authorize`,
      token: `${OAUTH_PREFIX}/token`,
      registration: `${OAUTH_PREFIX}/register`,
      revocation: `${OAUTH_PREFIX}/revoke`,
      jwks: `${OAUTH_PREFIX}/jwks`,
      userinfo: `${OAUTH_PREFIX}/userinfo`,
      end_session: `${OAUTH_PREFIX}/logout`,
      pushed_authorization_request: `${OAUTH_PREFIX}/par`,
      introspection: `${OAUTH_PREFIX}/introspect`,
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL_S,
      AuthorizationCode: 60,
      RefreshToken: REFRESH_TOKEN_TTL_S,
      Grant: GRANT_TTL_S,
      Interaction: 900,
      Session: 24 * 3600,
      IdToken: 3600,
    },
    rotateRefreshToken: true,
    // Only the grant the person has just made on our page: a browser session never re-grants silently, so
    // every authorization shows the page (the key is pasted again, the access chosen again).
    loadExistingGrant: async (ctx: { oidc: { result?: { consent?: { grantId?: string } }; provider: OAuthProviderShape } }) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    // Browser-based public clients may call the token endpoint from their redirect URI's origin; no one else.
    clientBasedCORS: (_ctx: unknown, origin: string, client: { clientAuthMethod: string; redirectUris: string[] }) =>
      origin !== "null" && client.clientAuthMethod === "none" && client.redirectUris.some((u) => URL.canParse(u) && new URL(u).origin === origin),
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) => client.grantTypeAllowed("refresh_token"),
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => interactionPath(interaction.uid) },
    // Checked on every dynamically registered and metadata-document client (not the operator's own).
    extraClientMetadata: {
      properties: ["geopera_redirects_checked"],
      validator(_ctx: unknown, key: string, _value: unknown, metadata: { client_id?: string; redirect_uris?: string[] }) {
        if (key !== "geopera_redirects_checked" || (metadata.client_id && staticIds.has(metadata.client_id))) return;
        const bad = (metadata.redirect_uris ?? []).find((u) => !redirectAllowed(u, config.redirectAllow));
        if (bad !== undefined) throw new errors.InvalidRedirectUri("redirect_uris may only name claude.ai, claude.com or chatgpt.com callbacks, loopback, or addresses the operator allowed");
      },
    },
    renderError: async (ctx: { type: string; body: string }, out: { error?: string; error_description?: string }) => {
      ctx.type = "html";
      ctx.body = renderMessagePage("Sign-in failed", `${out.error ?? "error"}: ${out.error_description ?? "the request could not be completed"}`);
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: false },
      // A client revokes only its own tokens (the library's default rule, stated so it is ours).
      revocation: { enabled: true, allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) => token.clientId === client.clientId },
      registration: { enabled: true, initialAccessToken: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
          if (indicator !== resource) throw new errors.InvalidTarget(`the only resource here is ${resource}`);
          return { scope: TIERS.join(" "), audience: resource, accessTokenTTL: ACCESS_TOKEN_TTL_S, accessTokenFormat: "opaque" };
        },
      },
      clientIdMetadataDocument: {
        enabled: true,
        ack: "draft-02",
        // The library fetches only https:// documents, through a dispatcher that refuses special-use
        // addresses (loopback, private ranges) at connect time; named loopback hosts are refused here too
        // unless the test flag is set.
        allowFetch: async (_ctx: unknown, clientId: string) => {
          const host = new URL(clientId).hostname;
          const local = LOOPBACK.has(host) || /^(10|127|169\.254|192\.168|172\.(1[6-9]|2\d|3[01]))\./.test(host) || host.startsWith("[");
          return !local || config.loopbackClientDocuments;
        },
        allowClient: async (_ctx: unknown, client: { redirectUris?: string[] }) => (client.redirectUris ?? []).every((u) => redirectAllowed(u, config.redirectAllow)),
      },
    },
    ...(testAgent
      ? {
          // Loopback only: instead of the library's SSRF-guarded dispatcher (which refuses loopback), one
          // that accepts the test's self-signed certificate. Every other host keeps the library's guard.
          fetch: (url: string, options: Record<string, unknown>) =>
            LOOPBACK.has(new URL(url).hostname) ? undiciFetch(url, { ...options, dispatcher: testAgent } as never) : globalThis.fetch(url, options as RequestInit),
        }
      : {}),
  });
  // This server speaks no TLS itself: an https issuer means a TLS proxy in front, whose X-Forwarded-Proto
  // the library must trust to see the request as secure (secure cookies).
  provider.proxy = opts.trustProxy || issuer.startsWith("https:");
  provider.on("server_error", (_ctx: unknown, err: Error) => log.error("oauth server error", { error: err.message }));
  provider.on("grant.revoked", () => log.info("oauth grant revoked"));
  return { provider, resource };
}

export type OAuthProvider = Awaited<ReturnType<typeof createOAuthProvider>>["provider"];

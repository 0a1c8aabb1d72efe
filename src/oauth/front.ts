// What the HTTP listener needs from the OAuth side (--auth oauth|both), in one object:
//  - routes: /oauth/* (the library, and our sign-in page), the authorization server metadata (RFC 8414
//    and OpenID discovery, one document) and the protected resource metadata (RFC 9728) for /mcp and
//    /sse, path-aware and at the root;
//  - authenticate: an access token we issued → the grant it belongs to → the Geopera key sealed with the
//    grant (opened in memory only) and the access the person granted;
//  - the 401 challenge that points a client at the metadata;
//  - revokeGrant: the API refused a grant's key (401), so the grant and all its tokens go.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { OAuthConfig } from "../config.js";
import type { OAuthRecords } from "../store/types.js";
import type { Logger } from "../log.js";
import type { CredentialOwner } from "../upstream/verify.js";
import { adapterFor, grantKeyOf, hashId } from "./adapter.js";
import { open } from "./kek.js";
import { createOAuthProvider, OAUTH_PREFIX, TIERS, type Tier } from "./provider.js";
import { createInteractionRoutes } from "./interaction.js";
import { SCRIPT_PATH, type PasskeyService } from "../passkey/service.js";
import { ACCOUNT_PATH, createAccountRoutes } from "../passkey/account.js";

/** Who a request acts for: a Geopera credential as bearer, or an OAuth grant (with the key sealed for it). */
export interface Principal {
  /** What sessions are bound to: the bearer itself, or the grant (access tokens rotate, grants do not). */
  id: string;
  /** The upstream credential: the Geopera key. */
  credential: string;
  /** OAuth only: what the person granted. */
  tier?: Tier;
  /** OAuth only: the daily credit limit the person set for this app (spend grants). */
  maxCreditsPerDay?: number;
  grantId?: string;
}

export interface OAuthFront {
  resource: string;
  /** Serves the OAuth and metadata routes; false for any other path. `address`: the client's, for rate limits. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, address: string): Promise<boolean>;
  authenticate(token: string): Promise<Principal | undefined>;
  /** WWW-Authenticate for a 401 on /mcp or /sse. */
  challenge(path: string, invalid: boolean): string;
  revokeGrant(grantId: string): Promise<void>;
}

export interface OAuthFrontOptions {
  issuer: string;
  config: OAuthConfig;
  records: OAuthRecords;
  trustProxy: boolean;
  checkKey(key: string, signal: AbortSignal): Promise<CredentialOwner>;
  /** Passkeys for spend grants (absent: the public URL cannot be a WebAuthn relying party). */
  passkeys?: PasskeyService;
  log: Logger;
}

const WELL_KNOWN_RESOURCE = "/.well-known/oauth-protected-resource";
/** Dynamic registrations per client address per window: a connector registers once, a flood is refused. */
export const REGISTRATIONS_PER_WINDOW = 20;
const REGISTRATION_WINDOW_MS = 10 * 60_000;

export async function createOAuthFront(opts: OAuthFrontOptions): Promise<OAuthFront> {
  const { provider, resource } = await createOAuthProvider(opts);
  const { issuer, records, config, log } = opts;
  const callback = provider.callback();
  const interaction = createInteractionRoutes({
    provider,
    records,
    keks: config.keks,
    resource,
    issuerOrigin: new URL(issuer).origin,
    staticClientIds: new Set(config.clients.map((c) => c.client_id)),
    checkKey: opts.checkKey,
    ...(opts.passkeys ? { passkeys: opts.passkeys } : {}),
    log,
  });
  const Adapter = adapterFor(records);
  // The person's passkeys page (behind the same sign-in as consent), when passkeys are on.
  const account = opts.passkeys ? createAccountRoutes({ service: opts.passkeys, checkKey: opts.checkKey, log }) : undefined;

  const resourceMetadata = JSON.stringify({
    resource,
    authorization_servers: [issuer],
    scopes_supported: [...TIERS],
    bearer_methods_supported: ["header"],
    resource_name: "Geopera billing",
  });

  const registrations = new Map<string, { since: number; count: number }>();
  /** True when this address may register one more client now (a fixed window per address, in memory). */
  const mayRegister = (address: string) => {
    const now = Date.now();
    if (registrations.size > 10_000) for (const [a, w] of registrations) if (now - w.since > REGISTRATION_WINDOW_MS) registrations.delete(a);
    const w = registrations.get(address);
    if (!w || now - w.since > REGISTRATION_WINDOW_MS) {
      registrations.set(address, { since: now, count: 1 });
      return true;
    }
    return ++w.count <= REGISTRATIONS_PER_WINDOW;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, path: string, address: string): Promise<boolean> => {
    if (path === WELL_KNOWN_RESOURCE || path === `${WELL_KNOWN_RESOURCE}/mcp` || path === `${WELL_KNOWN_RESOURCE}/sse`) {
      if (req.method === "OPTIONS") {
        res.writeHead(204, { "access-control-allow-origin": "*", "access-control-allow-methods": "GET", "access-control-allow-headers": "mcp-protocol-version" }).end();
        return true;
      }
      res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600", "access-control-allow-origin": "*" }).end(resourceMetadata);
      return true;
    }
    if (path === SCRIPT_PATH && opts.passkeys && (req.method === "GET" || req.method === "HEAD")) {
      opts.passkeys.serveScript(res);
      return true;
    }
    if (path === ACCOUNT_PATH && account) {
      await account(req, res);
      return true;
    }
    const interactionMatch = /^\/oauth\/interaction\/([A-Za-z0-9_-]{1,64})$/.exec(path);
    if (interactionMatch) {
      await interaction(req, res, interactionMatch[1]!);
      return true;
    }
    if (path === "/.well-known/oauth-authorization-server") {
      // RFC 8414 and OpenID discovery are the same document here (the issuer has no path).
      req.url = "/.well-known/openid-configuration";
      await callback(req, res);
      return true;
    }
    if (path === `${OAUTH_PREFIX}/register` && req.method === "POST" && !mayRegister(address)) {
      log.info("oauth registration refused: rate limit", { address });
      res.writeHead(429, { "content-type": "application/json", "retry-after": String(REGISTRATION_WINDOW_MS / 1000) }).end(JSON.stringify({ error: "too_many_requests", error_description: "too many client registrations from this address; try again later" }));
      return true;
    }
    if (path === "/.well-known/openid-configuration" || path.startsWith(`${OAUTH_PREFIX}/`)) {
      await callback(req, res);
      return true;
    }
    return false;
  };

  const authenticate = async (token: string): Promise<Principal | undefined> => {
    const at = await provider.AccessToken.find(token);
    if (!at || at.isExpired) return undefined;
    // RFC 8707: a token for any other audience is not ours to honour.
    const aud: unknown = at.aud;
    if (!(aud === resource || (Array.isArray(aud) && aud.length === 1 && aud[0] === resource))) return undefined;
    const grantId: string = at.grantId;
    if (!grantId || !(await provider.Grant.find(grantId))) return undefined;
    const record = await records.get(grantKeyOf(grantId));
    const key = record ? open(config.keks, String(record.payload.sealed), grantId) : undefined;
    if (!record || key === undefined) return undefined;
    const granted = TIERS.indexOf(record.payload.tier as Tier);
    if (granted < 0) return undefined;
    // The token carries the scopes the app asked for within the grant; none asked: what the person chose.
    const scopes = new Set(String(at.scope ?? "").split(" "));
    const inToken = TIERS.filter((t, i) => i <= granted && scopes.has(t));
    const tier = inToken.length ? inToken[inToken.length - 1]! : TIERS[granted]!;
    const cap = record.payload.maxCreditsPerDay;
    return { id: `oauth-grant:${grantId}`, credential: key, tier, grantId, ...(typeof cap === "number" ? { maxCreditsPerDay: cap } : {}) };
  };

  const challenge = (path: string, invalid: boolean) =>
    `Bearer resource_metadata="${issuer}${WELL_KNOWN_RESOURCE}${path === "/sse" ? "/sse" : "/mcp"}", scope="${TIERS.join(" ")}"${invalid ? ', error="invalid_token"' : ""}`;

  const revokeGrant = async (grantId: string) => {
    await Promise.all(["AccessToken", "RefreshToken", "AuthorizationCode"].map((m) => new Adapter(m).revokeByGrantId(grantId)));
    await new Adapter("Grant").destroy(grantId);
    log.warn("oauth grant revoked: the billing API refused its key", { grant: hashId(grantId).slice(0, 12) });
  };

  return { resource, handle, authenticate, challenge, revokeGrant };
}

import { HttpError } from "./http.js";

export type Scope = "billing:read" | "billing:write";

export interface Caller {
  token: string;
  scopes: ReadonlySet<Scope>;
}

const READ_ONLY: ReadonlySet<Scope> = new Set<Scope>(["billing:read"]);
const READ_WRITE: ReadonlySet<Scope> = new Set<Scope>(["billing:read", "billing:write"]);

// gpra_ = API key, gpst_ = session token; anything shorter is surely a typo or a placeholder.
const TOKEN_SHAPE = /^(gpra_|gpst_)\S{7,}$/;

export function authenticate(header: string | undefined): Caller {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  const token = match?.[1];
  if (token === undefined || !TOKEN_SHAPE.test(token)) {
    throw new HttpError(
      401,
      "unauthorized",
      "Missing or invalid API key. Send the header 'Authorization: Bearer <key>' with a gpra_ API key or a gpst_ session token.",
      { "www-authenticate": "Bearer" },
    );
  }
  // Revoked keys: the sandbox otherwise accepts any token of the right shape, so a test (or a demo of
  // hosted mode) marks a made-up or withdrawn credential with _revoked_ to see the API refuse it.
  if (token.includes("_revoked_")) {
    throw new HttpError(401, "unauthorized", "This API key has been revoked or does not exist.", { "www-authenticate": 'Bearer error="invalid_token"' });
  }
  // Read-only keys are minted with an _ro_ marker so they can be told apart at a glance.
  return { token, scopes: token.includes("_ro_") ? READ_ONLY : READ_WRITE };
}

export function requireScope(caller: Caller, scope: Scope): void {
  if (!caller.scopes.has(scope)) {
    throw new HttpError(403, "forbidden", `This key lacks the ${scope} scope`);
  }
}

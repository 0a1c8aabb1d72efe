// The confirmation card's contract, shared by the tools (which declare it), the gate (which tells the card
// which confirmation a pending spend is waiting for) and the resource that serves the card. MCP Apps
// (io.modelcontextprotocol/ui): a tool names its view in `_meta.ui.resourceUri`; the host reads that
// `ui://` resource (mimeType text/html;profile=mcp-app) and renders it in a sandboxed iframe.

// Short on purpose: it is repeated in tools/list on each spend tool, which every agent pays for in context.
export const CARD_URI = "ui://card";
export const CARD_MIME = "text/html;profile=mcp-app";

/**
 * The `_meta` key of a pending spend's result that names its confirmation: its id, the resource the card
 * reads its state from, and the page link (the page's address only — the form token is never in it).
 */
export const META_CONFIRMATION = "com.geopera/confirmation";
/** The `_meta` key of a sent spend's result: the Idempotency-Key it was sent with. */
export const META_IDEMPOTENCY_KEY = "com.geopera/idempotency_key";

export interface PendingConfirmationMeta {
  id: string;
  resource: string;
  page: string;
  expires_at: string;
  /**
   * The server's record as it was when asked (the confirmations resource's value): a host that cannot
   * read resources for its view still shows the charge from the server, not from the model.
   */
  record: Record<string, unknown>;
}

/** CONFIRMATION_TEMPLATE (src/resources/confirmations.ts) filled in; kept here so the tools import no resource code. */
export function confirmationUri(id: string): string {
  return `geopera://confirmations/${encodeURIComponent(id)}`;
}

export function pendingMeta(id: string, page: string, expiresAt: number, record: Record<string, unknown>): Record<string, PendingConfirmationMeta> {
  return { [META_CONFIRMATION]: { id, resource: confirmationUri(id), page, expires_at: new Date(expiresAt).toISOString(), record } };
}

/** A spend tool's declaration of its card (only when the card is on: not with --confirm-via form). */
export function cardToolMeta(): { ui: { resourceUri: string } } {
  return { ui: { resourceUri: CARD_URI } };
}

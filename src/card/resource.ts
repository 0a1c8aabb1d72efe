// Serves the confirmation card (resources/read of its ui:// URI). The card is static: the same bytes for
// every caller, with no data in them; what it shows it reads from the server afterwards, through the host.
// `_meta.ui` on the content is where MCP Apps hosts read the resource's CSP (no domains: the card loads
// nothing) and its border preference.
import type { McpServer } from "@modelcontextprotocol/server";
import { CARD_URI, CARD_MIME } from "./meta.js";
import { CARD_HTML } from "./html.js";

const UI_META = { ui: { csp: { connectDomains: [], resourceDomains: [], frameDomains: [], baseUriDomains: [] }, prefersBorder: true } };

export function registerCardResource(server: McpServer): void {
  server.registerResource(
    "confirmation-card",
    CARD_URI,
    {
      title: "Confirmation card",
      description: "The view MCP Apps hosts show for a spend that waits for a person: the server's record of the charge and a button that opens the confirmation page.",
      mimeType: CARD_MIME,
      _meta: UI_META,
    },
    () => ({ contents: [{ uri: CARD_URI, mimeType: CARD_MIME, text: CARD_HTML, _meta: UI_META }] }),
  );
}

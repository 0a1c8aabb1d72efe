// A minimal MCP Apps host, for the browser: ext-apps' own AppBridge renders one view in a sandboxed iframe
// (scripts only, an opaque origin: no cookies, no storage, no top navigation, no forms) and proxies what
// the view asks for to the server. The server connection is the test process's SDK Client, reached through
// functions the test exposes on this page (window.hostCallTool / hostReadResource). Bundled for the
// browser by the test (rolldown); not shipped.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

/**
 * Renders `html` for one tool call: sends the call's arguments and result once the view is initialized.
 * Returns nothing; what the view asks for is recorded on window.hostLog.
 */
window.renderApp = async function renderApp({ html, csp, theme, toolName, args, result, readsResources = true }) {
  const log = (window.hostLog = { openLinks: [], toolCalls: [], resourceReads: [], initialized: false });
  const iframe = document.createElement("iframe");
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.setAttribute("title", "Confirmation card");
  iframe.style.cssText = "width:560px;height:640px;border:1px solid #888;border-radius:8px;display:block";
  document.body.appendChild(iframe);

  const bridge = new AppBridge(
    null,
    { name: "card-test-host", version: "1.0.0" },
    { openLinks: {}, serverTools: {}, ...(readsResources ? { serverResources: {} } : {}), sandbox: { csp } },
    { hostContext: { theme, displayMode: "inline", platform: "desktop", toolInfo: { tool: { name: toolName, inputSchema: { type: "object" } } } } },
  );
  bridge.onopenlink = async ({ url }) => {
    // A real host opens the person's browser; this one records the request.
    log.openLinks.push(url);
    return {};
  };
  bridge.oncalltool = async (params) => {
    log.toolCalls.push(params);
    return window.hostCallTool(params);
  };
  if (readsResources) {
    bridge.onreadresource = async (params) => {
      log.resourceReads.push(params.uri);
      return window.hostReadResource(params);
    };
  }
  bridge.onsizechange = ({ height }) => {
    if (typeof height === "number" && height > 0) iframe.style.height = `${Math.min(height + 4, 1200)}px`;
  };
  bridge.oninitialized = () => {
    log.initialized = true;
    void bridge.sendToolInput({ arguments: args }).then(() => bridge.sendToolResult(result));
  };
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = html;
};

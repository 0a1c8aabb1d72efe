// Billing facts a person can attach in a client: the price plans, the balance, an organization's billing
// status and one approval. Each read is made with the CALLER's credential through the tools' own path at
// the moment it is asked for — nothing is cached, so no caller ever sees another's answer. A resource
// whose tool the operator did not expose is not registered.
import { ResourceTemplate } from "@modelcontextprotocol/server";
import type { McpServer, ListResourcesResult } from "@modelcontextprotocol/server";
import type { ContextDeps } from "./deps.js";
import type { Extra } from "../tools/invoke.js";
import { operationResource, notFound, variable } from "./read.js";
import { approvalIds, organizationIds } from "../completions/values.js";
import { recordByOperation } from "../tools/catalog.js";

export const PLANS_URI = "geopera://billing/plans";
export const BALANCE_URI = "geopera://billing/balance";
export const STATUS_TEMPLATE = "geopera://billing/status/{organization_id}";
export const APPROVAL_TEMPLATE = "geopera://billing/approvals/{approval_id}";

const JSON_TYPE = "application/json";
/** Ids are bounded as the tools bound them (src/tools/catalog.ts). */
const MAX_ID = 128;
const exposed = (deps: ContextDeps, operationId: string) => deps.forward.isExposed(recordByOperation(operationId)!.name);

/** A template's listing: never an error (a failed read lists nothing). */
const listing = (make: (extra: Extra) => Promise<ListResourcesResult["resources"]>) => async (extra: Extra): Promise<ListResourcesResult> => {
  try {
    return { resources: await make(extra) };
  } catch {
    return { resources: [] };
  }
};

/** What was registered, for completion refs: each template with its variables. */
export interface Registered {
  templates: Record<string, string[]>;
}

export function registerBillingResources(server: McpServer, deps: ContextDeps): Registered {
  const done: Registered = { templates: {} };
  if (exposed(deps, "billing.plans.list")) {
    server.registerResource(
      "plans",
      PLANS_URI,
      { title: "Price plans", description: "All plans with their monthly price, included credits and limits (billing.plans.list).", mimeType: JSON_TYPE },
      (uri, ctx) => operationResource(deps, "plans", uri.href, "billing.plans.list", {}, deps.callerOf(ctx), ctx.mcpReq.signal),
    );
  }
  if (exposed(deps, "billing.credits.balance")) {
    server.registerResource(
      "balance",
      BALANCE_URI,
      { title: "Credit balance", description: "The credit balance and organization id of the credential in use, read now (billing.credits.balance).", mimeType: JSON_TYPE },
      (uri, ctx) => operationResource(deps, "balance", uri.href, "billing.credits.balance", {}, deps.callerOf(ctx), ctx.mcpReq.signal),
    );
  }
  if (exposed(deps, "billing.status.get")) {
    // Listed: the caller's own organization (the one the balance names).
    byId(server, deps, done, {
      name: "billing-status",
      template: STATUS_TEMPLATE,
      variable: "organization_id",
      operationId: "billing.status.get",
      meta: { title: "Billing status", description: "An organization's billing status, plan and usage this period, read now (billing.status.get)." },
      list: async (extra) => {
        const [id] = exposed(deps, "billing.credits.balance") ? await organizationIds(deps, deps.callerOf(extra), "", extra.mcpReq.signal) : [];
        return id ? [{ uri: `geopera://billing/status/${encodeURIComponent(id)}`, name: `status of ${id}`, mimeType: JSON_TYPE }] : [];
      },
    });
  }
  if (exposed(deps, "billing.approvals.get")) {
    byId(server, deps, done, {
      name: "approval",
      template: APPROVAL_TEMPLATE,
      variable: "approval_id",
      operationId: "billing.approvals.get",
      meta: { title: "Credit-purchase approval", description: "One credit-purchase approval, read now (billing.approvals.get)." },
      list: async (extra) => {
        const ids = exposed(deps, "billing.approvals.list") ? await approvalIds(deps, deps.callerOf(extra), "", extra.mcpReq.signal) : [];
        return ids.map((id) => ({ uri: `geopera://billing/approvals/${encodeURIComponent(id)}`, name: `approval ${id}`, mimeType: JSON_TYPE }));
      },
    });
  }
  return done;
}

/** A resource read by one id (the template's one variable): its operation called with that id, bounded as the tools bound it. */
function byId(
  server: McpServer,
  deps: ContextDeps,
  done: Registered,
  r: { name: string; template: string; variable: string; operationId: string; meta: { title: string; description: string }; list: (extra: Extra) => Promise<ListResourcesResult["resources"]> },
): void {
  server.registerResource(r.name, new ResourceTemplate(r.template, { list: listing(r.list) }), { ...r.meta, mimeType: JSON_TYPE }, (uri, vars, ctx) => {
    const id = variable(vars[r.variable]);
    if (!id || id.length > MAX_ID) throw notFound(uri.href);
    return operationResource(deps, r.name, uri.href, r.operationId, { [r.variable]: id }, deps.callerOf(ctx), ctx.mcpReq.signal);
  });
  done.templates[r.template] = [r.variable];
}

// Form elicitation: one question with a single required boolean. Only accept + confirm === true is a
// yes; every other answer, and every error (no capability, bad content, timeout, client gone), is not.
import type { CallEnv } from "../tools/invoke.js";

/** The one question, on both protocol eras: a single required boolean. */
export const CONFIRM_SCHEMA = {
  type: "object" as const,
  properties: {
    confirm: { type: "boolean" as const, title: "Confirm this charge", description: "Tick, then accept, to charge the card as described. Decline or cancel to charge nothing." },
  },
  required: ["confirm"],
};

export type FormAnswer = "yes" | "no" | "declined" | "cancelled" | "timeout" | "failed";

export async function askByForm(env: CallEnv, message: string, waitMs: number): Promise<FormAnswer> {
  try {
    const r = await env.extra.mcpReq.elicitInput(
      {
        mode: "form",
        message,
        requestedSchema: CONFIRM_SCHEMA,
      },
      { timeout: waitMs, signal: env.extra.mcpReq.signal },
    );
    if (r.action === "decline") return "declined";
    if (r.action === "cancel") return "cancelled";
    return r.action === "accept" && r.content?.confirm === true ? "yes" : "no";
  } catch (err) {
    const e = err as { code?: number; message?: string };
    return e?.code === -32001 || /timed out/i.test(e?.message ?? "") ? "timeout" : "failed";
  }
}

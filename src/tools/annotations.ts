// MCP hints come from the side-effect class, never typed per tool by hand. Every hint is written out:
// a missing readOnlyHint reads as false and makes clients ask approval for harmless reads.
import type { ToolAnnotations } from "@modelcontextprotocol/server";
import type { ToolRecord } from "./record.js";
import { cardToolMeta } from "../card/meta.js";

export const SIDE_EFFECT_META_KEY = "com.geopera/side_effect";

export function annotationsFor(record: ToolRecord): ToolAnnotations {
  const base = { openWorldHint: true };
  switch (record.sideEffect) {
    case "read":
      return { ...base, readOnlyHint: true, destructiveHint: false, idempotentHint: true };
    case "compute":
      return { ...base, readOnlyHint: false, destructiveHint: record.destructive ?? false, idempotentHint: record.idempotent ?? false };
    case "spend":
      return { ...base, readOnlyHint: false, destructiveHint: true, idempotentHint: false };
  }
}

/** `card`: a spend tool declares the confirmation card (MCP Apps), except where the card is off (--confirm-via form). */
export function metaFor(record: ToolRecord, card = true): Record<string, unknown> {
  return { [SIDE_EFFECT_META_KEY]: record.sideEffect, ...(card && record.sideEffect === "spend" ? cardToolMeta() : {}) };
}

// tools/list is paid for in every agent's context, so it is built once, compactly: the JSON Schemas
// are still derived from the catalog's zod schemas (z.toJSONSchema, as the SDK does), minus the
// per-schema "$schema" URL and the SDK's default "execution" block, which tell an agent nothing.
import { z } from "zod";
import type { Tool } from "@modelcontextprotocol/server";
import type { ToolRecord } from "./record.js";
import { annotationsFor, metaFor } from "./annotations.js";

/**
 * zod writes the safe-integer range onto every .int(); it says nothing an agent needs. And an integer's
 * "exclusiveMinimum: 0" (zod's .positive()) is the same bound as "minimum: 1", in fewer bytes.
 */
function compactBounds(properties: unknown): void {
  for (const p of Object.values((properties ?? {}) as Record<string, Record<string, unknown>>)) {
    if (p.maximum === Number.MAX_SAFE_INTEGER) delete p.maximum;
    if (p.minimum === Number.MIN_SAFE_INTEGER) delete p.minimum;
    if (p.type === "integer" && Number.isInteger(p.exclusiveMinimum) && p.minimum === undefined) {
      p.minimum = (p.exclusiveMinimum as number) + 1;
      delete p.exclusiveMinimum;
    }
  }
}

function jsonSchema(schema: z.ZodObject, io: "input" | "output"): Tool["inputSchema"] {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: "draft-7", io }) as Record<string, unknown>;
  compactBounds(rest.properties);
  // "additionalProperties: {}" (open objects) is JSON Schema's default; saying it costs bytes only.
  if (rest.additionalProperties && typeof rest.additionalProperties === "object" && Object.keys(rest.additionalProperties).length === 0) delete rest.additionalProperties;
  return rest as Tool["inputSchema"];
}

const caches = { card: new WeakMap<readonly ToolRecord[], Tool[]>(), plain: new WeakMap<readonly ToolRecord[], Tool[]>() };

/** `card`: spend tools declare the confirmation card (off with --confirm-via form). */
export function toolList(records: readonly ToolRecord[], card = true): Tool[] {
  const cache = card ? caches.card : caches.plain;
  let tools = cache.get(records);
  if (!tools) {
    tools = records.map((r) => ({
      name: r.name,
      title: r.title,
      description: r.description,
      inputSchema: jsonSchema(r.input, "input"),
      ...(r.output ? { outputSchema: jsonSchema(r.output, "output") as Tool["outputSchema"] } : {}),
      annotations: annotationsFor(r),
      _meta: metaFor(r, card),
    }));
    cache.set(records, tools);
  }
  return tools;
}

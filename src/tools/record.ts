// What one billing operation is, as data. The catalog is a list of these; everything else derives from it.
import type { z } from "zod";

/** The reference's side-effect classes: read (no change), compute (changes state, no money), spend (moves money). */
export type SideEffect = "read" | "compute" | "spend";

/** How the API answers: one JSON document, or an NDJSON stream (the reference's "streaming or binary payload"). */
export type Payload = "json" | "ndjson";

/** What a spend looks like to the person asked to confirm it. */
export interface SpendFacts {
  /** One sentence in plain words, e.g. "Buy 500 credits and charge the saved card". */
  summarize(args: Record<string, unknown>): string;
  /** Credits the call moves when the arguments say so (top-up); undefined when only the API knows. */
  credits?(args: Record<string, unknown>): number | undefined;
  /**
   * A read that tells what the API will charge, run before asking the person
   * (e.g. the approval being approved). Its answer is shown on the confirmation.
   */
  preview?: { operationId: string; body(args: Record<string, unknown>): Record<string, unknown> };
  /** Where in the preview answer the credits are, if anywhere. */
  previewCredits?(preview: Record<string, unknown>): number | undefined;
  /**
   * The organization the call charges, when the arguments name it (a monthly run's target). Without it,
   * the spend charges the organization the credential acts for (src/gate/organization.ts).
   */
  chargedOrganization?(args: Record<string, unknown>): unknown;
}

export interface ToolRecord {
  /** MCP tool name: billing_ + operation id without its prefix, dots → underscores. */
  name: string;
  operationId: string;
  sideEffect: SideEffect;
  title: string;
  /** Written for the model: what it does, its side effect, when to use it instead of a neighbour. */
  description: string;
  /** Strict object: unknown fields are refused, never silently dropped. */
  input: z.ZodObject;
  /** Structured output where the reference names a schema (ApprovalOutput, SetAutoTopupOutput). */
  output?: z.ZodObject;
  payload: Payload;
  /** The NDJSON stream carries a single record (e.g. the balance); it is returned as that object. */
  singleRecord?: boolean;
  /** The operation takes `offset`, so a cut list can say how to continue. */
  pagesByOffset?: boolean;
  /** Compute operations that overwrite state or cannot be undone say so (MCP destructiveHint). */
  destructive?: boolean;
  /** Compute operations whose repeat has no further effect (MCP idempotentHint). */
  idempotent?: boolean;
  spend?: SpendFacts;
}

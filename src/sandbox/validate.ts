import { HttpError } from "./http.js";

export type Input = Record<string, unknown>;

/** Empty body means "no fields": clients of the empty-input operations often send nothing. */
export function parseInput(rawBody: string): Input {
  if (rawBody.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(rawBody);
  } catch {
    throw new HttpError(400, "invalid_json", "The request body is not valid JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "invalid_request", "The request body must be a JSON object.");
  }
  return value as Input;
}

function invalid(field: string, expectation: string): HttpError {
  return new HttpError(422, "validation_error", `Field "${field}" ${expectation}.`);
}

// null counts as absent for optional fields: SDKs commonly serialise unset options as null.
function present(input: Input, field: string): boolean {
  return input[field] !== undefined && input[field] !== null;
}

function requirePresent(input: Input, field: string): unknown {
  if (!present(input, field)) throw invalid(field, "is required");
  return input[field];
}

export interface IntRange {
  min?: number;
  max?: number;
}

function checkInt(field: string, value: unknown, range: IntRange): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw invalid(field, "must be an integer");
  }
  if (range.min !== undefined && value < range.min) {
    throw invalid(field, range.min === 1 ? "must be greater than 0" : `must be at least ${range.min}`);
  }
  if (range.max !== undefined && value > range.max) {
    throw invalid(field, `must be at most ${range.max}`);
  }
  return value;
}

export function requiredInt(input: Input, field: string, range: IntRange = {}): number {
  return checkInt(field, requirePresent(input, field), range);
}

export function optionalInt(input: Input, field: string, range: IntRange = {}): number | undefined {
  return present(input, field) ? checkInt(field, input[field], range) : undefined;
}

function checkString(field: string, value: unknown): string {
  if (typeof value !== "string") throw invalid(field, "must be a string");
  return value;
}

export function requiredString(input: Input, field: string): string {
  const value = checkString(field, requirePresent(input, field));
  if (value.trim() === "") throw invalid(field, "must not be empty");
  return value;
}

export function optionalString(input: Input, field: string, maxLength = 500): string | undefined {
  if (!present(input, field)) return undefined;
  const value = checkString(field, input[field]);
  if (value.length > maxLength) throw invalid(field, `must be at most ${maxLength} characters`);
  return value;
}

export function optionalEnum<T extends string>(input: Input, field: string, allowed: readonly T[]): T | undefined {
  if (!present(input, field)) return undefined;
  const value = input[field];
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw invalid(field, `must be one of ${allowed.join(", ")}`);
  }
  return value as T;
}

export function requiredBoolean(input: Input, field: string): boolean {
  const value = requirePresent(input, field);
  if (typeof value !== "boolean") throw invalid(field, "must be true or false");
  return value;
}

export function optionalPositiveNumber(input: Input, field: string): number | undefined {
  if (!present(input, field)) return undefined;
  const value = input[field];
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw invalid(field, "must be a number greater than 0");
  }
  return value;
}

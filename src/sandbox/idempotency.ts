import type { BufferedReply } from "./http.js";

export interface StoredSpend {
  operationId: string;
  rawBody: string;
  reply: BufferedReply;
}

/**
 * Remembers the first successful answer to each (token, Idempotency-Key) pair.
 * Keys are scoped per token so two tenants that happen to pick the same key
 * never see each other's responses.
 */
export class IdempotencyStore {
  private readonly entries = new Map<string, StoredSpend>();

  private static slot(token: string, key: string): string {
    return `${token}\u0000${key}`;
  }

  lookup(token: string, key: string): StoredSpend | undefined {
    return this.entries.get(IdempotencyStore.slot(token, key));
  }

  save(token: string, key: string, entry: StoredSpend): void {
    this.entries.set(IdempotencyStore.slot(token, key), entry);
  }

  clear(): void {
    this.entries.clear();
  }
}

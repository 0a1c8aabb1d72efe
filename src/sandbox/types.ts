// Public shapes of the sandbox; index.ts re-exports them so callers import from one place.

export interface SandboxOptions {
  port?: number; // default 0 (ephemeral)
  host?: string; // default "127.0.0.1"
  now?: () => number; // clock (ms), default Date.now
  /** Synthetic ledger rows seeded at start (default 40); generated lazily, so 1_000_000 is cheap. */
  ledgerRows?: number;
}

export interface RecordedRequest {
  operationId: string;
  path: string;
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  body: unknown;
  rawBody: string;
  /** 0 when the sandbox never answered (reset, hang, chargeThenReset). */
  status: number;
  charged: boolean;
}

export type Fault =
  | { kind: "status"; status: number; body?: string; retryAfter?: string; contentType?: string }
  | { kind: "reset" }
  | { kind: "hang" }
  | { kind: "delay"; ms: number }
  | { kind: "badJson" }
  | { kind: "brokenNdjsonLine" }
  | { kind: "cutStream" }
  | { kind: "wrongContentType" }
  | { kind: "file"; bytes: number; contentType?: string }
  | { kind: "echoAuth" }
  | { kind: "chargeThenReset" };

export interface SandboxApi {
  url: string;
  requests: RecordedRequest[];
  /** Queue a fault for the next `times` (default 1) requests to operationId ("*" = any operation). */
  inject(operationId: string, fault: Fault, times?: number): void;
  clearFaults(): void;
  charges(): RecordedRequest[];
  reset(): void;
  close(): Promise<void>;
}

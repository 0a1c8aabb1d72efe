// Sessions are held only by credentials the API accepts. Bearer tokens are checked upstream before a
// session is opened with one (one cheap read, supplied by the caller of serveHttp), and the verdict is
// cached by credential digest — accepted and rejected alike — so a tenant reconnecting costs nothing and
// a made-up token cycled again costs nothing either. A rejected token never takes a session slot.
//
// Checks still running are capped, globally and per address (a separate, small budget from the session
// slots): a flood of fresh made-up tokens can make new, uncached credentials wait and retry, but it
// cannot hold a single session slot, and a tenant whose credential is cached is not slowed at all.

/** What the API said about a credential: accepted, refused (401/403), or no answer worth keeping. */
export type Verdict = "accepted" | "rejected" | "unknown";

/** One upstream check of one credential; `signal` aborts it at the check's deadline. */
export type VerifyCredential = (token: string, signal: AbortSignal) => Promise<Verdict>;

export interface CredentialCheckOptions {
  verify: VerifyCredential;
  /** How long an accepted credential is trusted without asking again. */
  acceptedTtlMs: number;
  /** How long a rejected credential is refused without asking again. */
  rejectedTtlMs: number;
  /** Checks in flight at most (distinct credentials), and per address. */
  maxPending: number;
  maxPendingPerAddress: number;
  /** A check that takes longer is abandoned ("unknown"). */
  timeoutMs: number;
  /** Entries kept per verdict; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
}

export type CheckResult = Verdict | "busy";

export class CredentialCheck {
  // Two maps, so a flood of rejected tokens never pushes accepted credentials out of the cache.
  private readonly accepted = new Map<string, number>();
  private readonly rejected = new Map<string, number>();
  private readonly pending = new Map<string, Promise<Verdict>>();
  private readonly pendingPerAddress = new Map<string, number>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(private readonly opts: CredentialCheckOptions) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /**
   * The verdict for `token` (keyed by its digest, hex): cached, joined to a check already running for
   * the same credential, or a new check — unless the check budget is spent ("busy").
   */
  async check(token: string, key: string, address: string): Promise<CheckResult> {
    const cached = this.cached(key);
    if (cached) return cached;
    const running = this.pending.get(key);
    if (running) return running;
    const perAddress = this.pendingPerAddress.get(address) ?? 0;
    if (this.pending.size >= this.opts.maxPending || perAddress >= this.opts.maxPendingPerAddress) return "busy";
    this.pendingPerAddress.set(address, perAddress + 1);
    const run = this.run(token, key).finally(() => {
      this.pending.delete(key);
      const n = (this.pendingPerAddress.get(address) ?? 1) - 1;
      if (n > 0) this.pendingPerAddress.set(address, n);
      else this.pendingPerAddress.delete(address);
    });
    this.pending.set(key, run);
    return run;
  }

  /** The API has since refused a credential (a call answered 401): refuse it from now on, for the TTL. */
  reject(key: string): void {
    this.accepted.delete(key);
    this.remember(this.rejected, key, this.opts.rejectedTtlMs);
  }

  private cached(key: string): Verdict | undefined {
    const now = this.now();
    for (const [map, verdict] of [[this.accepted, "accepted"], [this.rejected, "rejected"]] as const) {
      const until = map.get(key);
      if (until === undefined) continue;
      if (until > now) return verdict;
      map.delete(key);
    }
    return undefined;
  }

  private async run(token: string, key: string): Promise<Verdict> {
    let verdict: Verdict;
    try {
      verdict = await this.opts.verify(token, AbortSignal.timeout(this.opts.timeoutMs));
    } catch {
      verdict = "unknown";
    }
    if (verdict === "accepted") this.remember(this.accepted, key, this.opts.acceptedTtlMs);
    else if (verdict === "rejected") this.remember(this.rejected, key, this.opts.rejectedTtlMs);
    return verdict;
  }

  private remember(map: Map<string, number>, key: string, ttlMs: number): void {
    map.delete(key);
    if (map.size >= this.maxEntries) map.delete(map.keys().next().value!);
    map.set(key, this.now() + ttlMs);
  }
}

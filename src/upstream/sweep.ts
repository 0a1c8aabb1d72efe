// One interval timer for the deadlines of every request in flight, instead of timers per request.
// Two setTimeout/clearTimeout pairs and a listener on the caller's AbortSignal per request were a
// measurable share of a call's latency (bench/profile.ts, ~3%); adding to and removing from a Set is not.
// The cost is precision: a deadline is noticed within one tick (SWEEP_MS) after it passes, and a caller's
// cancellation within one tick after it is signalled. Limits are whole seconds, so a tick of 50 ms is
// at most 5% late on the shortest. The timer runs only while something is watched: a tick that finds
// nothing stops it, the next add starts it again.

/** A request's deadlines, checked each tick. */
export interface Watched {
  /** Called with performance.now(); aborts the request if one of its deadlines has passed. */
  check(now: number): void;
}

export const SWEEP_MS = 50;

export class DeadlineSweep {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly everyMs = SWEEP_MS) {}

  add(w: Watched): void {
    this.watched.add(w);
    this.timer ??= setInterval(this.tick, this.everyMs).unref();
  }

  delete(w: Watched): void {
    this.watched.delete(w);
  }

  /** Stops the timer (the client is closing). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private readonly tick = (): void => {
    if (this.watched.size === 0) return this.stop();
    const now = performance.now();
    for (const w of this.watched) w.check(now);
  };
}

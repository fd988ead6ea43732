// Per-token request limits: a token bucket per key (token id, or the address of a caller
// without one). In memory: limits protect this process, and a restart forgives.
export interface RateLimitOptions {
  /** Requests per second a key may sustain. */
  perSecond: number;
  /** Requests a key may make at once after being idle. */
  burst: number;
}

export class RateLimiter {
  private buckets = new Map<string, { tokens: number; at: number }>();
  constructor(readonly options: RateLimitOptions, private readonly now: () => number = Date.now) {}

  /** 0 when the request may go; otherwise the seconds to wait. */
  take(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.options.burst, at: t };
    b.tokens = Math.min(this.options.burst, b.tokens + ((t - b.at) / 1000) * this.options.perSecond);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    // Old idle buckets are full again anyway: drop them so the map cannot grow without end.
    if (this.buckets.size > 10_000) this.sweep(t);
    return Math.ceil((1 - b.tokens) / this.options.perSecond);
  }

  private sweep(t: number): void {
    const full = (this.options.burst / this.options.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (t - b.at > full) this.buckets.delete(k);
  }
}

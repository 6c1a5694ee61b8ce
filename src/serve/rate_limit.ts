/**
 * Token-bucket rate limits per client and per IP. Defaults let one client
 * burst 50 requests and sustain 20 per second (README "Rate limits").
 */
import { Auth4AgentError } from "../core/errors.ts";

/** Buckets kept at most; the least recently created are dropped beyond it. */
const MAX_BUCKETS = 100_000;

interface Bucket {
  tokens: number;
  updated: number;
}

export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();

  /** `rate` requests per second with bursts of `burst`; rate 0 turns limiting off. */
  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst;
  }

  /** Takes one request from the key's bucket or throws ERR_RATE_LIMITED with Retry-After. */
  take(key: string, nowMs: number): void {
    if (this.#rate <= 0) return;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= MAX_BUCKETS) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.#burst, updated: nowMs };
      this.#buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(
      this.#burst,
      bucket.tokens + ((nowMs - bucket.updated) / 1000) * this.#rate,
    );
    bucket.updated = nowMs;
    if (bucket.tokens < 1) {
      const retryAfter = Math.max(
        1,
        Math.ceil((1 - bucket.tokens) / this.#rate),
      );
      throw new Auth4AgentError("ERR_RATE_LIMITED", "too many requests", {
        headers: { "Retry-After": String(retryAfter) },
      });
    }
    bucket.tokens -= 1;
  }
}

/**
 * A fetch's failure, remembered for a few seconds so that the calls that
 * follow are answered with it at once: a peer that is down, or dropping
 * packets, costs one caller its timeout, not every caller. For the
 * verifier's first key set and the issuer's platform keys.
 */
export class RecentFailure {
  readonly #forMs: number;
  #error?: unknown;
  #at = -Infinity;

  constructor(forMs: number) {
    this.#forMs = forMs;
  }

  /**
   * The failure still standing at `now`, either side of when it happened (a
   * call begun before it failed is answered by it too; a clock set back
   * further asks again); undefined when none.
   */
  standing(now: Date): { error: unknown } | undefined {
    if (this.#error === undefined) return undefined;
    return Math.abs(now.getTime() - this.#at) < this.#forMs
      ? { error: this.#error }
      : undefined;
  }

  /**
   * Runs `attempt`. Its failure is remembered as of when it happened, by the
   * caller's clock (`now` plus the time it took): one that fails only at its
   * timeout must stand for the seconds after that, not after it began.
   */
  async track<T>(now: Date, attempt: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await attempt();
      this.#error = undefined;
      return result;
    } catch (error) {
      this.#error = error;
      this.#at = now.getTime() + (performance.now() - started);
      throw error;
    }
  }
}

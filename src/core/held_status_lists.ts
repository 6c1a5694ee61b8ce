/**
 * Token Status Lists held by whoever checks tokens against them — a
 * verifier (client/verifier.ts), an issuer trading another issuer's tokens
 * (serve/foreign_status_lists.ts) — by one rule:
 *
 * - a list is fresh for its `ttl`, counted from its `iat` (or from its fetch,
 *   if earlier by our clock); then it is fetched again, one fetch shared by
 *   the callers that need it;
 * - while its issuer cannot be reached, a list held stands until its `exp`,
 *   and is asked for again at most every `retryMs`; with none held, a failed
 *   fetch answers the callers of the next `retryMs` at once;
 * - a fetched list older than the one held (a replay, a stale cache on the
 *   way) is not taken.
 */
import { setWithin } from "./fifo.ts";
import { nowSeconds } from "./jws.ts";
import { RecentFailure } from "./recent_failure.ts";
import type { StatusListToken } from "./status_list.ts";

interface Entry {
  list?: StatusListToken;
  /** Seconds, by our clock. */
  fetchedAt: number;
  /** Milliseconds: when it was last asked for. */
  askedAt: number;
  fetching?: Promise<StatusListToken>;
  failure: RecentFailure;
}

export interface HeldListRules {
  /** Asks the issuer for the list (and verifies it). */
  fetch: () => Promise<StatusListToken>;
  /** Whether a held list may still be used, besides its times (its key still published, say). */
  usable?: (list: StatusListToken) => boolean;
  /** The failures that mean "cannot be reached": a list held stands through them. */
  isOutage: (error: unknown) => boolean;
}

export class HeldStatusLists {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #retryMs: number;

  constructor(options: { max: number; retryMs: number }) {
    this.#max = options.max;
    this.#retryMs = options.retryMs;
  }

  /** The list held under `key` (its uri, and whose it is), fresh or as the rules allow. */
  async get(
    key: string,
    now: Date,
    rules: HeldListRules,
  ): Promise<StatusListToken> {
    const t = nowSeconds(now);
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = {
        fetchedAt: -Infinity,
        askedAt: -Infinity,
        failure: new RecentFailure(this.#retryMs),
      };
      setWithin(this.#entries, key, entry, this.#max);
    }
    const { list } = entry;
    const held = list && t < list.exp && t >= entry.fetchedAt &&
        (rules.usable?.(list) ?? true)
      ? list
      : undefined;
    if (held && t < Math.min(entry.fetchedAt, held.iat) + held.ttl) {
      return held;
    }
    const standing = entry.failure.standing(now);
    if (standing) {
      if (held) return held;
      throw standing.error;
    }
    // Asked for a moment ago, and not newer than the one held: no storm of asks.
    if (held && Math.abs(now.getTime() - entry.askedAt) < this.#retryMs) {
      return held;
    }
    if (!entry.fetching) {
      entry.askedAt = now.getTime();
      const current = entry;
      current.fetching = current.failure.track(now, rules.fetch)
        .finally(() => current.fetching = undefined);
    }
    let fetched: StatusListToken;
    try {
      fetched = await entry.fetching!;
    } catch (error) {
      if (held && rules.isOutage(error)) return held;
      throw error;
    }
    if (held && fetched.iat < held.iat) return held;
    if (entry.list !== fetched) {
      entry.list = fetched;
      entry.fetchedAt = t;
    }
    return fetched;
  }
}

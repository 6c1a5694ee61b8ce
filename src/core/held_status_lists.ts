/**
 * Token Status Lists held by whoever checks tokens against them — a
 * verifier (client/verifier.ts), an issuer trading another issuer's tokens
 * (serve/foreign_status_lists.ts) — by one rule:
 *
 * - a list is fresh for its `ttl`, counted from its `iat` (or from its fetch,
 *   if earlier by our clock); then it is fetched again, one fetch shared by
 *   the callers that need it;
 * - while its issuer cannot be reached (an outage, by the caller's rule), a
 *   list held stands until its `exp`; any other failure is the answer;
 * - a failed fetch is not tried again for `retryMs`: its failure answers
 *   the callers meanwhile (with the held list, for an outage);
 * - a fetched list older than one seen (a replay, a stale cache on the way)
 *   is never taken: it counts as an outage.
 */
import { setWithin } from "./fifo.ts";
import { nowSeconds } from "./jws.ts";
import { RecentFailure } from "./recent_failure.ts";
import type { StatusListToken } from "./status_list.ts";

interface Entry {
  list?: StatusListToken;
  /** Seconds, by our clock. */
  fetchedAt: number;
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
  /** The error when the issuer answers an older list than one seen, and none usable is held. */
  older: () => unknown;
}

/** The issuer answered an older list than one seen: held like an outage. */
class OlderList {
  constructor(readonly error: unknown) {}
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
        failure: new RecentFailure(this.#retryMs),
      };
      setWithin(this.#entries, key, entry, this.#max);
    }
    const { list } = entry;
    const held = list && t < list.exp && (rules.usable?.(list) ?? true)
      ? list
      : undefined;
    // Fresh: within its ttl, counted from its iat or its fetch, whichever
    // came first; a clock set back before that does not stretch it.
    const age = held && t - Math.min(entry.fetchedAt, held.iat);
    if (held && age! >= 0 && age! < held.ttl) return held;
    const outage = (error: unknown) =>
      error instanceof OlderList || rules.isOutage(error);
    const unwrap = (error: unknown) =>
      error instanceof OlderList ? error.error : error;
    if (!entry.fetching) {
      const standing = entry.failure.standing(now);
      if (standing) {
        if (held && outage(standing.error)) return held;
        throw unwrap(standing.error);
      }
      const current = entry;
      current.fetching = current.failure.track(now, async () => {
        const fetched = await rules.fetch();
        // Never back to an older list (a replay, a stale cache on the way).
        if (current.list && fetched.iat < current.list.iat) {
          throw new OlderList(rules.older());
        }
        return fetched;
      }).finally(() => current.fetching = undefined);
    }
    let fetched: StatusListToken;
    try {
      fetched = await entry.fetching!;
    } catch (error) {
      if (held && outage(error)) return held;
      throw unwrap(error);
    }
    if (entry.list !== fetched) {
      entry.list = fetched;
      entry.fetchedAt = t;
    }
    return fetched;
  }
}

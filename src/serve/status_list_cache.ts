/**
 * Signed status lists kept for a few seconds (endpoints/status_lists.ts):
 * building one reads every revoked token of its range (≈ 45 ms for a list
 * whose every token was revoked), which a client must not be able to make
 * the issuer do at will. A list is rebuilt when older than
 * STATUS_LIST_MAX_AGE_SECONDS — the delay a revocation made by another
 * instance sharing the database may take to show — or, after a revocation
 * made here, once it is a second old, so a client revoking in a loop gets
 * at most one rebuild a second per list. Concurrent requests share a build.
 */
import { setWithin } from "../core/fifo.ts";

export const STATUS_LIST_MAX_AGE_SECONDS = 5;
const MIN_REBUILD_MS = 1_000;
/** Lists kept: the most recently built (a list is ≤ 32 KiB). */
const MAX_LISTS = 32;

interface Entry {
  jwt: Promise<string>;
  builtAt: number;
  generation: number;
}

export class StatusListCache {
  #entries = new Map<number, Entry>();
  #generation = 0;

  /** A revocation here: lists are rebuilt on their next request (a second apart at most). */
  revoked(): void {
    this.#generation++;
  }

  get(list: number, now: Date, build: () => Promise<string>): Promise<string> {
    const t = now.getTime();
    const entry = this.#entries.get(list);
    if (entry && this.#current(entry, t)) return entry.jwt;
    const jwt = build();
    const fresh = { jwt, builtAt: t, generation: this.#generation };
    setWithin(this.#entries, list, fresh, MAX_LISTS);
    // A failed build is not kept.
    jwt.catch(() => {
      if (this.#entries.get(list) === fresh) this.#entries.delete(list);
    });
    return jwt;
  }

  #current(entry: Entry, t: number): boolean {
    const age = t - entry.builtAt;
    if (age < 0 || age >= STATUS_LIST_MAX_AGE_SECONDS * 1000) return false;
    return entry.generation === this.#generation || age < MIN_REBUILD_MS;
  }
}

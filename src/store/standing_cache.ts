/**
 * Agent standings (agent + operator + grant) kept between requests by the
 * SQLite store, so a token request skips the three-table read when nothing
 * it depends on has changed. It never answers with a standing older than the
 * database:
 * - a commit by any other connection (another `serve` on the file, a tool
 *   editing it) changes `PRAGMA data_version`, which every lookup reads first
 *   (it empties the cache when it moved);
 * - the store's own writes empty it right after their COMMIT, in the same
 *   turn of the event loop, before any request can read — except the writes
 *   named in STANDING_NEUTRAL_WRITES, which touch no agent, operator or grant.
 * Measured with bench/store_writes.ts-style batches of 13 (reads interleaved
 * with the token writes): the read 12.1–12.4 → 4.6–4.7 µs a token, most of
 * what is left being the data_version read's own read transaction.
 */
import { setWithin } from "../core/fifo.ts";
import type { WriteName } from "./sqlite_writes.ts";
import type { AgentStanding } from "./store.ts";

/** Writes that leave agents, operators and grants as they were. */
export const STANDING_NEUTRAL_WRITES: ReadonlySet<WriteName> = new Set<
  WriteName
>([
  "createChallenge",
  "consumeChallenge",
  "consumeSingleUse",
  "addWorkloadIdentity",
  "removeWorkloadIdentity",
  "recordToken",
  "recordIssuance",
  "recordFederatedIssuance",
  "revokeToken",
  "addSigningKey",
  "replaceSigningKeyMaterial",
  "appendAudit",
  "sweep",
]);

/**
 * At most this many standings are kept (the oldest kept goes first): a
 * standing takes ≈ 1.4 KB of heap (10,000 measured 13.8 MB), so ≤ 3 MB. As
 * many as the principals' keys kept (src/serve/clients.ts): the hot set of
 * agents; beyond it a token pays a read (≈ 8 µs) and a key import (≈ 10 µs).
 */
export const MAX_CACHED_STANDINGS = 2_048;

export class StandingCache {
  readonly #dataVersion: () => number;
  readonly #max: number;
  readonly #entries = new Map<string, AgentStanding>();
  #version?: number;

  /** `dataVersion` reads `PRAGMA data_version` on the store's connection. */
  constructor(dataVersion: () => number, max = MAX_CACHED_STANDINGS) {
    this.#dataVersion = dataVersion;
    this.#max = max;
  }

  /** The cached standing of `did`, else `read()`'s (kept when the agent exists). */
  get(
    did: string,
    read: () => AgentStanding | undefined,
  ): AgentStanding | undefined {
    const version = this.#dataVersion();
    if (version !== this.#version) {
      this.#entries.clear();
      this.#version = version;
    }
    const cached = this.#entries.get(did);
    if (cached) return cached;
    const standing = read();
    if (!standing) return undefined; // unknown DIDs are not kept: anyone can send them
    setWithin(this.#entries, did, freezeStanding(standing), this.#max);
    return standing;
  }

  /** After the store's own commit of `names`: forgets everything unless all were neutral. */
  committed(names: readonly WriteName[]): void {
    if (names.some((name) => !STANDING_NEUTRAL_WRITES.has(name))) {
      this.#entries.clear();
    }
  }
}

/** Shared between requests, so nobody may change it in place. */
function freezeStanding(standing: AgentStanding): AgentStanding {
  const { agent, operator, grant } = standing;
  Object.freeze(agent.publicJwk);
  Object.freeze(agent);
  Object.freeze(operator.publicJwk);
  Object.freeze(operator);
  if (grant) {
    Object.freeze(grant.scopes);
    Object.freeze(grant);
  }
  return Object.freeze(standing);
}

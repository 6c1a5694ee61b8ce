/**
 * The DPoP proofs a verifier has taken (RFC 9449 §11.1), so that each is
 * taken once: a proof's id is kept until the proof would be refused as too
 * old anyway. Bounded: full of ids still in force, it refuses new proofs
 * rather than forget one, which would let that proof be replayed. Each
 * holder (the token's client) may fill a tenth of it at most, so that one
 * client minting proofs in a loop is refused alone, not everyone.
 */
import { fail } from "../core/errors.ts";

/** Proof ids held by default: 2,000 proofs a second, each kept ≤ 90 s, ≈ 30 MB. */
export const DEFAULT_SEEN_PROOFS = 200_000;
/** The share of the capacity one holder may fill. */
const HOLDER_SHARE = 10;

interface Seen {
  /** Until when (seconds) it is kept. */
  until: number;
  holder?: string;
}

export class SeenProofs {
  readonly #capacity: number;
  readonly #perHolder: number;
  /** Proof id → when it leaves and whose it is; in insertion order, which is nearly `until` order. */
  readonly #seen = new Map<string, Seen>();
  /** How many ids each holder has in the map. */
  readonly #held = new Map<string, number>();
  #fullSweepAt = -Infinity;

  constructor(capacity = DEFAULT_SEEN_PROOFS) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError("the proof id capacity must be a positive integer");
    }
    this.#capacity = capacity;
    this.#perHolder = Math.max(1, Math.floor(capacity / HOLDER_SHARE));
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * True the first time `id` is offered while in force; false for a replay.
   * `until` and `now` are seconds; `holder`, when given, names whose proof
   * it is, held to its share.
   */
  firstUse(id: string, until: number, now: number, holder?: string): boolean {
    this.#sweep(now);
    const seen = this.#seen.get(id);
    if (seen !== undefined && seen.until >= now) return false;
    if (seen === undefined) this.#requireRoom(holder, now);
    this.#forget(id);
    this.#seen.set(id, { until, holder });
    if (holder !== undefined) {
      this.#held.set(holder, (this.#held.get(holder) ?? 0) + 1);
    }
    return true;
  }

  #heldBy(holder: string | undefined): number {
    return holder === undefined ? 0 : this.#held.get(holder) ?? 0;
  }

  #requireRoom(holder: string | undefined, now: number): void {
    const full = () =>
      this.#seen.size >= this.#capacity ||
      this.#heldBy(holder) >= this.#perHolder;
    if (!full()) return;
    this.#sweepAll(now);
    if (this.#seen.size >= this.#capacity) {
      fail(
        "ERR_DPOP_REPLAY_CACHE_FULL",
        `this verifier holds ${this.#capacity} DPoP proofs still in force; try again shortly`,
      );
    }
    if (this.#heldBy(holder) >= this.#perHolder) {
      fail(
        "ERR_DPOP_REPLAY_CACHE_FULL",
        `this client has ${this.#perHolder} DPoP proofs in force here, its share; try again shortly`,
      );
    }
  }

  #forget(id: string): void {
    const seen = this.#seen.get(id);
    if (!seen) return;
    this.#seen.delete(id);
    if (seen.holder === undefined) return;
    const left = this.#heldBy(seen.holder) - 1;
    if (left > 0) this.#held.set(seen.holder, left);
    else this.#held.delete(seen.holder);
  }

  /**
   * Drops every id out of force — ids are only nearly in `until` order (a
   * proof's `iat` may be up to 30 s ahead) — at most once a second: while
   * full, a burst of new proofs costs one pass, not one each.
   */
  #sweepAll(now: number): void {
    if (now <= this.#fullSweepAt) return;
    this.#fullSweepAt = now;
    for (const [id, seen] of this.#seen) {
      if (seen.until < now) this.#forget(id);
    }
  }

  /** Drops ids out of force from the oldest on, up to the first still in force. */
  #sweep(now: number): void {
    for (const [id, seen] of this.#seen) {
      if (seen.until >= now) return;
      this.#forget(id);
    }
  }
}

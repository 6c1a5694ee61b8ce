/**
 * The DPoP proofs a verifier has taken (RFC 9449 §11.1), so that each is
 * taken once: a proof's id is kept until the proof would be refused as too
 * old anyway. Bounded: full of ids still in force, it refuses new proofs
 * rather than forget one, which would let that proof be replayed.
 */
import { fail } from "../core/errors.ts";

/** Proof ids held by default: 2,000 proofs a second, each kept ≤ 90 s, ≈ 30 MB. */
export const DEFAULT_SEEN_PROOFS = 200_000;

export class SeenProofs {
  readonly #capacity: number;
  /** Proof id → until when (seconds) it is kept; in insertion order, which is nearly `until` order. */
  readonly #until = new Map<string, number>();
  #fullSweepAt = -Infinity;

  constructor(capacity = DEFAULT_SEEN_PROOFS) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError("the proof id capacity must be a positive integer");
    }
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#until.size;
  }

  /**
   * True the first time `id` is offered while in force; false for a replay.
   * `until` and `now` are seconds.
   */
  firstUse(id: string, until: number, now: number): boolean {
    this.#sweep(now);
    const held = this.#until.get(id);
    if (held !== undefined && held >= now) return false;
    if (held === undefined && this.#until.size >= this.#capacity) {
      this.#sweepAll(now);
      if (this.#until.size >= this.#capacity) {
        fail(
          "ERR_DPOP_REPLAY_CACHE_FULL",
          `this verifier holds ${this.#capacity} DPoP proofs still in force; try again shortly`,
        );
      }
    }
    this.#until.delete(id);
    this.#until.set(id, until);
    return true;
  }

  /**
   * Drops every id out of force — ids are only nearly in `until` order (a
   * proof's `iat` may be up to 30 s ahead) — at most once a second: while
   * full, a burst of new proofs costs one pass, not one each.
   */
  #sweepAll(now: number): void {
    if (now <= this.#fullSweepAt) return;
    this.#fullSweepAt = now;
    for (const [id, until] of this.#until) {
      if (until < now) this.#until.delete(id);
    }
  }

  /** Drops ids out of force from the oldest on, up to the first still in force. */
  #sweep(now: number): void {
    for (const [id, until] of this.#until) {
      if (until >= now) return;
      this.#until.delete(id);
    }
  }
}

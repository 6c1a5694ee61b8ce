/**
 * Numbers for tokens' status list entries (core/status_list.ts), handed out
 * in memory from blocks the store reserves in one write each, so a token's
 * own write stays as it was. Blocks are never handed out twice, by this
 * server or another sharing the database; numbers a server did not use
 * before it stopped are skipped (their bits stay 0 and no token names them).
 */
import type { Store } from "../store/store.ts";

/** Tokens per reservation: one small write every few thousand tokens. */
export const STATUS_INDEX_BLOCK = 4_096;

export class StatusIndexes {
  readonly #store: Pick<Store, "reserveStatusIndexes">;
  readonly #block: number;
  #next = 0;
  #end = 0;
  #reserving?: Promise<void>;

  constructor(
    store: Pick<Store, "reserveStatusIndexes">,
    block = STATUS_INDEX_BLOCK,
  ) {
    this.#store = store;
    this.#block = block;
  }

  /** The next unused number: at once while the block lasts, else after one reservation shared by the waiting callers. */
  next(): number | Promise<number> {
    if (this.#next < this.#end) return this.#next++;
    return this.#refill().then(() => this.next());
  }

  #refill(): Promise<void> {
    this.#reserving ??= this.#store.reserveStatusIndexes(this.#block).then(
      (first) => {
        this.#next = first;
        this.#end = first + this.#block;
      },
    ).finally(() => {
      this.#reserving = undefined;
    });
    return this.#reserving;
  }
}

/**
 * The single uses in force (a client's assertion `jti`s), in memory: an open
 * addressing table of 64-bit keyed hashes of (client, jti) with each one's
 * expiry, 12 bytes a slot. Why not a unique index: on SQLite each new jti
 * landed on a random page of the index, so a token cost one more page in the
 * WAL; a million jtis in force take 24 to 48 MB here (12 bytes a slot, a
 * quarter to a half of the slots used). The hash is SHA-256 under a
 * random per-process salt, cut to 64 bits: two different uses collide with a
 * chance of about n / 2^64 per lookup (n the uses in force), and the newer
 * one is then refused as a replay, never the reverse; no client can aim a
 * collision, or a run of slots, at another.
 */
import { hash } from "node:crypto";

const EMPTY = 0;
/** Slots used, over capacity, past which the table is rebuilt larger. */
const MAX_LOAD = 0.5;
const MIN_CAPACITY = 1024;

/** A use's place in the table: its 64-bit hash as two halves. */
export interface UseKey {
  a: number;
  b: number;
}

export class ReplayMemory {
  readonly #salt = crypto.getRandomValues(new Uint8Array(16)).toHex();
  /** Per slot: hash A, hash B, expiry (s since the epoch; EMPTY: free). */
  #slots = new Uint32Array(MIN_CAPACITY * 3);
  #capacity = MIN_CAPACITY;
  #used = 0;
  /** Uses that expired by then (s) count as gone (the store swept them). */
  #forgottenUpTo = 0;

  get size(): number {
    return this.#used;
  }

  /** The key of `jti` used by `clientId` (unambiguous: the client's length first). */
  key(clientId: string, jti: string): UseKey {
    const digest = hash(
      "sha256",
      `${this.#salt}${clientId.length}:${clientId}${jti}`,
      "buffer",
    ) as unknown as Uint8Array;
    const view = new DataView(
      digest.buffer,
      digest.byteOffset,
      digest.byteLength,
    );
    return { a: view.getUint32(0), b: view.getUint32(4) };
  }

  has(key: UseKey): boolean {
    return this.#find(key.a, key.b) >= 0;
  }

  /** Remembers a use until `expiresAt` (the caller found it absent). */
  add(key: UseKey, expiresAt: Date): void {
    const expires = expirySeconds(expiresAt);
    if (expires <= this.#forgottenUpTo) return;
    this.reserve(1);
    this.#insert(key.a, key.b, expires);
  }

  /** Room for `count` more uses without growing (so adding them allocates nothing). */
  reserve(count: number): void {
    if ((this.#used + count) / this.#capacity > MAX_LOAD) this.#rebuild(count);
  }

  /** Whether a use until `expiresAt` is one a sweep has already forgotten. */
  forgot(expiresAt: Date): boolean {
    return expirySeconds(expiresAt) <= this.#forgottenUpTo;
  }

  /** Forgets the uses that expire by `now`, as the store's sweep deletes them. */
  forgetExpired(now: Date): void {
    this.#forgottenUpTo = Math.max(
      this.#forgottenUpTo,
      Math.floor(now.getTime() / 1000),
    );
  }

  /** The slot of (a, b) in force, or -1. Forgotten slots are passed over, not ends. */
  #find(a: number, b: number): number {
    const slots = this.#slots;
    const mask = this.#capacity - 1;
    for (let i = a & mask;; i = (i + 1) & mask) {
      const expires = slots[i * 3 + 2]!;
      if (expires === EMPTY) return -1;
      if (
        slots[i * 3] === a && slots[i * 3 + 1] === b &&
        expires > this.#forgottenUpTo
      ) return i;
    }
  }

  #insert(a: number, b: number, expires: number): void {
    const slots = this.#slots;
    const mask = this.#capacity - 1;
    let i = a & mask;
    while (slots[i * 3 + 2] !== EMPTY) i = (i + 1) & mask;
    slots[i * 3] = a;
    slots[i * 3 + 1] = b;
    slots[i * 3 + 2] = expires;
    this.#used++;
  }

  /** A table sized for the uses still in force, the forgotten ones dropped. */
  #rebuild(more: number): void {
    const old = this.#slots;
    const oldCapacity = this.#capacity;
    let live = 0;
    for (let i = 0; i < oldCapacity; i++) {
      if (old[i * 3 + 2]! > this.#forgottenUpTo) live++;
    }
    let capacity = MIN_CAPACITY;
    // Doubling from half full leaves it a quarter full: 24 to 48 bytes a use.
    while ((live + more) / capacity > MAX_LOAD * 0.75) capacity *= 2;
    this.#slots = new Uint32Array(capacity * 3);
    this.#capacity = capacity;
    this.#used = 0;
    for (let i = 0; i < oldCapacity; i++) {
      const expires = old[i * 3 + 2]!;
      if (expires > this.#forgottenUpTo) {
        this.#insert(old[i * 3]!, old[i * 3 + 1]!, expires);
      }
    }
  }
}

/** Seconds, rounded up: never EMPTY, and within a slot's 32 bits (until 2106). */
function expirySeconds(at: Date): number {
  const seconds = Math.ceil(at.getTime() / 1000);
  if (!(seconds >= 1 && seconds <= 0xffff_ffff)) {
    throw new RangeError(`a single use's expiry is out of range: ${at}`);
  }
  return seconds;
}

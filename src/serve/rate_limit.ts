/**
 * Token-bucket rate limits per client and per IP. Defaults let one client
 * burst 50 requests and sustain 20 per second (README "Rate limits").
 */
import { setWithin } from "../core/fifo.ts";
import { Auth4AgentError } from "../core/errors.ts";

/** Buckets kept at most; the least recently created are dropped beyond it. */
const MAX_BUCKETS = 100_000;
/**
 * Past this many buckets, full ones are dropped (every so many new ones): a
 * full bucket says nothing a new one would not, so the map holds only the
 * clients seen in the last burst/rate seconds, not every client since start.
 */
const PRUNE_ABOVE = 1_000;

interface Bucket {
  tokens: number;
  updated: number;
}

export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();
  #createdSincePrune = 0;

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
      if (++this.#createdSincePrune >= PRUNE_ABOVE) this.#pruneFull(nowMs);
      bucket = { tokens: this.#burst, updated: nowMs };
      setWithin(this.#buckets, key, bucket, MAX_BUCKETS);
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

  /** Buckets in memory (for tests). */
  get size(): number {
    return this.#buckets.size;
  }

  #pruneFull(nowMs: number): void {
    this.#createdSincePrune = 0;
    if (this.#buckets.size < PRUNE_ABOVE) return;
    for (const [key, bucket] of this.#buckets) {
      const level = bucket.tokens +
        ((nowMs - bucket.updated) / 1000) * this.#rate;
      if (level >= this.#burst) this.#buckets.delete(key);
    }
  }
}

/**
 * The per-IP bucket an address counts against. IPv4 stays as it is; IPv6 is
 * keyed by its /64, the block one host or site gets (RFC 4291 §2.5.4), so a
 * host cannot take a fresh bucket with every address it owns; an IPv4-mapped
 * IPv6 address (`::ffff:a.b.c.d`, §2.5.5.2) counts as its IPv4 address. Zone
 * ids are dropped. Anything that is not an IPv6 address is kept as it is.
 */
export function ipBucketKey(address: string): string {
  if (!address.includes(":")) return address;
  const groups = ipv6Groups(address.toLowerCase().replace(/%.*$/, ""));
  if (!groups) return address;
  if (
    groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff
  ) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  }
  return groups.slice(0, 4).map((group) => group.toString(16)).join(":") +
    "::/64";
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail allowed), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const zeros = 8 - head.length - tail.length;
  if (zeros < 1) return undefined;
  return [...head, ...Array<number>(zeros).fill(0), ...tail];
}

/** The groups of one side of `::`; only the address's end may be dotted IPv4. */
function groupsOf(part: string, atEnd: boolean): number[] | undefined {
  if (part === "") return [];
  const pieces = part.split(":");
  const groups: number[] = [];
  for (const [i, piece] of pieces.entries()) {
    const ipv4 = atEnd && i === pieces.length - 1 ? IPV4.exec(piece) : null;
    if (ipv4) {
      const octets = ipv4.slice(1).map(Number);
      if (octets.some((octet) => octet > 255)) return undefined;
      const [a = 0, b = 0, c = 0, d = 0] = octets;
      groups.push((a << 8) | b, (c << 8) | d);
    } else if (HEX_GROUP.test(piece)) {
      groups.push(parseInt(piece, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/**
 * SeenProofs: each DPoP proof id is taken once while the proof is in force
 * (until >= now); when full of ids in force it refuses new ones rather than
 * forget any, and ids out of force are swept to make room.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_SEEN_PROOFS,
  SeenProofs,
} from "../../src/client/seen_proofs.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";

const T = 1_800_000_000;

function cacheFull(error: unknown): true {
  assert.ok(error instanceof Auth4AgentError, `got ${error}`);
  assert.equal(error.code, "ERR_DPOP_REPLAY_CACHE_FULL");
  return true;
}

Deno.test("seen proofs: the first use of an id is accepted", () => {
  const seen = new SeenProofs(10);
  assert.equal(seen.firstUse("a", T + 60, T), true);
  assert.equal(seen.size, 1);
});

Deno.test("seen proofs: a replay is refused while the id is in force, up to until itself", () => {
  const seen = new SeenProofs(10);
  assert.equal(seen.firstUse("a", T + 60, T), true);
  assert.equal(seen.firstUse("a", T + 60, T), false);
  assert.equal(seen.firstUse("a", T + 60, T + 30), false);
  assert.equal(seen.firstUse("a", T + 60, T + 60), false);
  assert.equal(seen.size, 1);
});

Deno.test("seen proofs: a replay with another until is still refused while in force", () => {
  const seen = new SeenProofs(10);
  assert.equal(seen.firstUse("a", T + 60, T), true);
  assert.equal(seen.firstUse("a", T + 90, T + 10), false);
  assert.equal(seen.firstUse("a", T + 5, T + 10), false);
});

Deno.test("seen proofs: ids are independent of each other", () => {
  const seen = new SeenProofs(10);
  assert.equal(seen.firstUse("a", T + 60, T), true);
  assert.equal(seen.firstUse("b", T + 60, T), true);
  assert.equal(seen.firstUse("a", T + 60, T), false);
  assert.equal(seen.firstUse("b", T + 60, T), false);
  assert.equal(seen.size, 2);
});

Deno.test("seen proofs: an id is accepted again once out of force, and then held anew", () => {
  const seen = new SeenProofs(10);
  assert.equal(seen.firstUse("a", T + 60, T), true);
  assert.equal(seen.firstUse("a", T + 121, T + 61), true);
  assert.equal(seen.firstUse("a", T + 121, T + 100), false);
  assert.equal(seen.size, 1);
});

Deno.test("seen proofs: full of ids in force, a new id throws ERR_DPOP_REPLAY_CACHE_FULL", () => {
  const seen = new SeenProofs(3);
  for (const id of ["a", "b", "c"]) {
    assert.equal(seen.firstUse(id, T + 60, T), true);
  }
  assert.throws(() => seen.firstUse("d", T + 60, T), cacheFull);
  assert.throws(() => seen.firstUse("d", T + 61, T + 60), cacheFull);
  assert.equal(seen.size, 3);
});

Deno.test("seen proofs: full, nothing is forgotten: earlier ids are still refused as replays", () => {
  const seen = new SeenProofs(3);
  for (const id of ["a", "b", "c"]) {
    assert.equal(seen.firstUse(id, T + 60, T), true);
  }
  assert.throws(() => seen.firstUse("d", T + 60, T + 1), cacheFull);
  for (const id of ["a", "b", "c"]) {
    assert.equal(seen.firstUse(id, T + 60, T + 2), false);
  }
  // The refused id was not taken either.
  assert.throws(() => seen.firstUse("d", T + 60, T + 3), cacheFull);
});

Deno.test("seen proofs: ids out of force are swept, freeing capacity", () => {
  const seen = new SeenProofs(2);
  assert.equal(seen.firstUse("a", T + 10, T), true);
  assert.equal(seen.firstUse("b", T + 10, T), true);
  assert.throws(() => seen.firstUse("c", T + 70, T + 10), cacheFull);
  assert.equal(seen.firstUse("c", T + 71, T + 11), true);
  assert.equal(seen.firstUse("d", T + 71, T + 11), true);
  assert.equal(seen.size, 2);
  assert.equal(seen.firstUse("c", T + 71, T + 11), false);
});

Deno.test("seen proofs: the sweep drops only the ids out of force", () => {
  const seen = new SeenProofs(3);
  assert.equal(seen.firstUse("a", T + 10, T), true);
  assert.equal(seen.firstUse("b", T + 20, T), true);
  assert.equal(seen.firstUse("c", T + 30, T), true);
  assert.equal(seen.firstUse("d", T + 40, T + 15), true);
  assert.equal(seen.size, 3);
  assert.equal(seen.firstUse("b", T + 20, T + 15), false);
  assert.equal(seen.firstUse("c", T + 30, T + 15), false);
  assert.throws(() => seen.firstUse("e", T + 40, T + 15), cacheFull);
});

Deno.test("seen proofs: a capacity of one holds one id in force", () => {
  const seen = new SeenProofs(1);
  assert.equal(seen.firstUse("a", T + 60, T), true);
  assert.throws(() => seen.firstUse("b", T + 60, T), cacheFull);
  assert.equal(seen.firstUse("b", T + 121, T + 61), true);
  assert.equal(seen.size, 1);
});

Deno.test({
  name:
    "seen proofs: an id in force early in the order does not keep expired later ids filling capacity",
  // Insertion order is not `until` order (a proof's iat may be ahead): when
  // full, every id out of force is dropped before refusing.
  fn() {
    const seen = new SeenProofs(2);
    assert.equal(seen.firstUse("long", T + 90, T), true);
    assert.equal(seen.firstUse("short", T + 1, T), true);
    // At T + 10 only "long" is in force: one of two places is free.
    assert.equal(seen.firstUse("new", T + 70, T + 10), true);
  },
});

Deno.test("seen proofs: the default capacity is DEFAULT_SEEN_PROOFS", () => {
  assert.equal(DEFAULT_SEEN_PROOFS, 200_000);
  const seen = new SeenProofs();
  assert.equal(seen.size, 0);
  assert.equal(seen.firstUse("a", T + 60, T), true);
});

Deno.test("seen proofs: the constructor refuses a capacity of 0 or below", () => {
  assert.throws(() => new SeenProofs(0), RangeError);
  assert.throws(() => new SeenProofs(-1), RangeError);
});

Deno.test("seen proofs: the constructor refuses a non-integer capacity", () => {
  for (const capacity of [1.5, NaN, Infinity]) {
    assert.throws(() => new SeenProofs(capacity), RangeError);
  }
});

/**
 * The issuer's cache of built status lists: concurrent requests share a
 * build; a list is kept up to STATUS_LIST_MAX_AGE_SECONDS; after a
 * revocation here it is rebuilt once it is a second old (never more often,
 * whatever a client revokes); a failed build is not kept.
 */
import assert from "node:assert/strict";
import {
  STATUS_LIST_MAX_AGE_SECONDS,
  StatusListCache,
} from "../../src/serve/status_list_cache.ts";

const T0 = Date.UTC(2030, 0, 1);
const at = (ms: number) => new Date(T0 + ms);

function counting() {
  let builds = 0;
  return {
    build: () => Promise.resolve(`list-${++builds}`),
    count: () => builds,
  };
}

Deno.test("status list cache: shared builds, kept up to its max age", async () => {
  const cache = new StatusListCache();
  const { build, count } = counting();
  const [a, b] = await Promise.all([
    cache.get(0, at(0), build),
    cache.get(0, at(0), build),
  ]);
  assert.equal(a, b);
  assert.equal(count(), 1);
  await cache.get(0, at(STATUS_LIST_MAX_AGE_SECONDS * 1000 - 1), build);
  assert.equal(count(), 1);
  await cache.get(1, at(0), build);
  assert.equal(count(), 2, "each list its own");
  await cache.get(0, at(STATUS_LIST_MAX_AGE_SECONDS * 1000), build);
  assert.equal(count(), 3);
  // A clock that went back: not trusted.
  await cache.get(0, at(-1), build);
  assert.equal(count(), 4);
});

Deno.test("status list cache: after a revocation, rebuilt once a second old, and no more often", async () => {
  const cache = new StatusListCache();
  const { build, count } = counting();
  await cache.get(0, at(0), build);
  for (let i = 0; i < 100; i++) cache.revoked();
  await cache.get(0, at(999), build);
  assert.equal(count(), 1, "younger than a second: kept");
  assert.equal(await cache.get(0, at(1_000), build), "list-2");
  cache.revoked();
  await cache.get(0, at(1_500), build);
  assert.equal(count(), 2);
  await cache.get(0, at(2_000), build);
  assert.equal(count(), 3);
});

Deno.test("status list cache: a failed build is not kept", async () => {
  const cache = new StatusListCache();
  await assert.rejects(
    cache.get(0, at(0), () => Promise.reject(new Error("database down"))),
  );
  assert.equal(await cache.get(0, at(1), () => Promise.resolve("ok")), "ok");
});

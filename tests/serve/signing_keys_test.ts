/**
 * Signing keys (src/serve/signing_keys.ts, admin.ts): a rotation under the
 * wrong key-encryption key writes nothing; the key ring loads no key it did
 * not write itself — a plaintext key planted under a KEK, or a key under
 * another key's kid; a rotated-in key is published before it signs; a
 * retired key stays published as long as the longest token it signed may
 * live, whatever the token lifetime after a restart.
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { importKek } from "../../src/core/key_encryption.ts";
import { generateKeyPair, thumbprint } from "../../src/core/keys.ts";
import { rotateKeys } from "../../src/serve/admin.ts";
import {
  KEY_PREPUBLISH_SECONDS,
  KeyRing,
  rotateSigningKey,
} from "../../src/serve/signing_keys.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";

const NOW = new Date(Date.UTC(2026, 10, 28));
const LATER = new Date(NOW.getTime() + 60_000);

const code = (expected: string) => (error: unknown) =>
  error instanceof Auth4AgentError && error.code === expected;

function newKek(): Promise<CryptoKey> {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  return importKek(btoa(String.fromCharCode(...raw)));
}

async function withStore(work: (store: SqliteStore) => Promise<void>) {
  const store = new SqliteStore(":memory:");
  try {
    await work(store);
  } finally {
    await store.close();
  }
}

Deno.test("signing keys: a rotation under the wrong KEK is refused before anything is written", async () => {
  await withStore(async (store) => {
    const kek = await newKek();
    await KeyRing.open(store, NOW, { kek });
    const before = await store.listSigningKeys();
    await assert.rejects(
      rotateKeys(store, LATER, await newKek()),
      code("ERR_CONFIG"),
    );
    assert.deepEqual(await store.listSigningKeys(), before);
    const rotated = await rotateKeys(store, LATER, kek);
    assert.deepEqual(rotated.retired, [before[0]!.kid]);
  });
});

Deno.test("signing keys: under a KEK, a plaintext key that appears after start is not loaded", async () => {
  await withStore(async (store) => {
    const ring = await KeyRing.open(store, NOW, { kek: await newKek() });
    const current = ring.signingKey(NOW).kid;
    const planted = await generateKeyPair();
    await store.addSigningKey({
      kid: await thumbprint(planted.publicJwk),
      privatePem: planted.pem,
      publicJwk: planted.publicJwk,
      createdAt: LATER,
    }, { retireOthersAt: LATER });
    await assert.rejects(ring.reload(LATER), code("ERR_CONFIG"));
    assert.equal(ring.signingKey(LATER).kid, current);
  });
});

Deno.test("signing keys: a key stored under a kid that is not its thumbprint stops the start", async () => {
  await withStore(async (store) => {
    const pair = await generateKeyPair();
    await store.addSigningKey({
      kid: "attacker-chosen",
      privatePem: pair.pem,
      publicJwk: pair.publicJwk,
      createdAt: NOW,
    });
    await assert.rejects(KeyRing.open(store, NOW), code("ERR_CONFIG"));
  });
});

Deno.test("signing keys: a retired key stays published for the longest lifetime it signed with, across a restart with a shorter one", async () => {
  await withStore(async (store) => {
    const DAY_S = 86_400;
    const long = await KeyRing.open(store, NOW, { tokenTtl: DAY_S });
    const old = long.signingKey(NOW).kid;
    // A rotation that signs at once, without withdrawing (rotateKeys pre-publishes).
    await rotateSigningKey(store, LATER);
    // The restart: a fresh ring with a 15-minute lifetime takes over the new key.
    const short = await KeyRing.open(store, LATER, { tokenTtl: 900 });
    const fresh = short.signingKey(LATER).kid;
    assert.notEqual(fresh, old);
    const published = (seconds: number) =>
      short.jwks(new Date(LATER.getTime() + seconds * 1000)).keys
        .map((key) => key.kid);
    // Tokens of the old key live up to a day after its retirement.
    assert.deepEqual(published(3_600), [fresh, old]);
    assert.deepEqual(published(DAY_S - 1), [fresh, old]);
    assert.ok(short.publicKey(old, new Date(LATER.getTime() + 3_600_000)));
    assert.deepEqual(published(DAY_S + 3_600), [fresh]);
    // The key made by the administrator's rotation now records 900 s.
    const keys = await store.listSigningKeys();
    assert.deepEqual(keys.map((key) => [key.kid, key.tokenTtl]), [
      [fresh, 900],
      [old, DAY_S],
    ]);
    // After a second rotation, the 900 s key is unpublished soon after.
    const later = new Date(LATER.getTime() + 60_000);
    await rotateSigningKey(store, later);
    await short.reload(later);
    const kids = (seconds: number) =>
      short.jwks(new Date(later.getTime() + seconds * 1000)).keys
        .map((key) => key.kid);
    assert.ok(kids(900).includes(fresh));
    assert.ok(!kids(3_600).includes(fresh));
  });
});

Deno.test("signing keys: a rotated-in key is published KEY_PREPUBLISH_SECONDS before it signs; --now retires every other key at once", async () => {
  await withStore(async (store) => {
    const ring = await KeyRing.open(store, NOW, { tokenTtl: 900 });
    const old = ring.signingKey(NOW).kid;
    const rotated = await rotateKeys(store, LATER);
    const activeFrom = new Date(
      LATER.getTime() + KEY_PREPUBLISH_SECONDS * 1000,
    );
    assert.equal(rotated.active_from, activeFrom.toISOString());
    assert.deepEqual(rotated.retired, [old]);
    await ring.reload(LATER);
    const pending = rotated.kid;
    const at = (ms: number) => new Date(activeFrom.getTime() + ms);
    // Published at once, signing only from activeFrom; the old key signs until then.
    assert.deepEqual(ring.jwks(LATER).keys.map((key) => key.kid), [
      pending,
      old,
    ]);
    assert.equal(ring.signingKey(LATER).kid, old);
    assert.equal(ring.signingKey(at(-1)).kid, old);
    assert.equal(ring.signingKey(at(0)).kid, pending);
    // The pending key recorded this server's lifetime before it could sign.
    const ttls = Object.fromEntries(
      (await store.listSigningKeys()).map((key) => [key.kid, key.tokenTtl]),
    );
    assert.deepEqual(ttls, { [pending]: 900, [old]: 900 });
    // The old key's last tokens (signed just before activeFrom) outlive it.
    assert.ok(ring.publicKey(old, at(900_000)));
    assert.equal(ring.publicKey(old, at(3_600_000)), undefined);

    // An immediate rotation (a compromise) retires the signing and the pending key now.
    const now = new Date(LATER.getTime() + 10_000);
    const urgent = await rotateKeys(store, now, undefined, {
      immediately: true,
    });
    assert.deepEqual(urgent.retired.sort(), [old, pending].sort());
    await ring.reload(now);
    assert.equal(ring.signingKey(now).kid, urgent.kid);
    assert.equal(ring.signingKey(at(0)).kid, urgent.kid);
    const retiredAt = Object.fromEntries(
      (await store.listSigningKeys()).map((key) => [key.kid, key.retiredAt]),
    );
    assert.deepEqual(retiredAt, {
      [urgent.kid]: undefined,
      [pending]: now,
      [old]: now,
    });
    // Withdrawn: their tokens stop counting, so they leave the JWKS once the
    // servers' reload margin (90 s) has passed, not after their tokens' life.
    const after = (seconds: number) =>
      ring.jwks(new Date(now.getTime() + seconds * 1000)).keys
        .map((key) => key.kid);
    assert.deepEqual(after(60).sort(), [urgent.kid, pending, old].sort());
    assert.deepEqual(after(91), [urgent.kid]);
    assert.equal(
      ring.publicKey(old, new Date(now.getTime() + 91_000)),
      undefined,
    );
  });
});

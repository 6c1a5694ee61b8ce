/**
 * Signing keys at rest (src/serve/signing_keys.ts, admin.ts): a rotation
 * under the wrong key-encryption key writes nothing, and the key ring loads
 * no key it did not write itself — a plaintext key planted under a KEK, or a
 * key under another key's kid.
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { importKek } from "../../src/core/key_encryption.ts";
import { generateKeyPair, thumbprint } from "../../src/core/keys.ts";
import { rotateKeys } from "../../src/serve/admin.ts";
import { KeyRing } from "../../src/serve/signing_keys.ts";
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
    const current = ring.current.kid;
    const planted = await generateKeyPair();
    await store.addSigningKey({
      kid: await thumbprint(planted.publicJwk),
      privatePem: planted.pem,
      publicJwk: planted.publicJwk,
      createdAt: LATER,
    }, { retireOthersAt: LATER });
    await assert.rejects(ring.reload(), code("ERR_CONFIG"));
    assert.equal(ring.current.kid, current);
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

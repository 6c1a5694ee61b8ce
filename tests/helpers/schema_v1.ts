/**
 * A database as auth4agent schema version 1 left it, for the tests that
 * upgrade one: the first migration, then two tokens of one domain, one live
 * and one revoked, and a signing key, written with raw SQL as version 1 wrote
 * them.
 */
import assert from "node:assert/strict";
import { MIGRATIONS } from "../../src/store/migrations.ts";
import type { Store } from "../../src/store/store.ts";

export const V1_DOMAIN = "v1.example";
const ISSUED = Date.UTC(2026, 0, 1);
const EXPIRES = ISSUED + 3_600_000;
const REVOKED = ISSUED + 60_000;

/** Statements that make an empty database a version-1 one with its two tokens. */
export const V1_DATABASE: readonly string[] = [
  MIGRATIONS[0]!,
  "CREATE TABLE schema_version (version INTEGER NOT NULL)",
  "INSERT INTO schema_version (version) VALUES (1)",
  `INSERT INTO tokens (jti, client_id, domain, audience, scope, issued_at, expires_at)
   VALUES ('live', 'did:web:v1.example:agents:a', '${V1_DOMAIN}', 'api', 'read', ${ISSUED}, ${EXPIRES})`,
  `INSERT INTO tokens (jti, client_id, domain, audience, scope, issued_at, expires_at, revoked_at, revoked_by, revoke_reason)
   VALUES ('revoked', 'did:web:v1.example:agents:a', '${V1_DOMAIN}', 'api', 'read', ${ISSUED}, ${EXPIRES}, ${REVOKED}, 'op', 'lost')`,
  `INSERT INTO signing_keys (kid, private_pem, public_jwk, created_at, retired_at)
   VALUES ('v1-key', 'pem', '{}', ${ISSUED}, ${REVOKED})`,
];

/**
 * The upgraded store still has both tokens, and lists the revoked one; its
 * signing key's token lifetime is not known (so it stays published longest).
 * The tokens have no status index, so no status list holds the revoked one,
 * and the first status index reserved is 0.
 */
export async function assertV1Upgraded(store: Store): Promise<void> {
  const live = await store.getToken("live");
  const revoked = await store.getToken("revoked");
  assert.ok(live && revoked);
  assert.equal(live.revokedAt, undefined);
  assert.deepEqual(revoked.revokedAt, new Date(REVOKED));
  assert.equal(live.statusIdx, undefined);
  assert.equal(revoked.statusIdx, undefined);
  assert.deepEqual(
    await store.listRevokedStatusIndexes(0, Number.MAX_SAFE_INTEGER),
    [],
  );
  assert.equal(await store.reserveStatusIndexes(1), 0);
  const list = await store.listRevocations(
    { id: "op", domain: V1_DOMAIN },
    new Date(ISSUED + 120_000),
  );
  assert.deepEqual(list.tokens.map((token) => token.jti), ["revoked"]);
  const [key] = await store.listSigningKeys();
  assert.equal(key?.kid, "v1-key");
  assert.equal(key.tokenTtl, undefined);
  await store.raiseSigningKeyTokenTtl("v1-key", 900);
  assert.equal((await store.listSigningKeys())[0]?.tokenTtl, undefined);
}

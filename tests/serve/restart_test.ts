/**
 * A restart keeps every token valid: the signing key lives in the database,
 * so a reopened store and KeyRing sign and verify with the same kid, and the
 * token index (introspection, revocation) survives too.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { verifyAccessToken } from "../../src/core/access_token.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import {
  asCaller,
  assertOk,
  body,
  Clock,
  createFixture,
  introspect,
  ISSUER,
  issueToken,
  revoke,
  send,
  setup,
  withFixture,
  withTempDir,
} from "./helpers.ts";

Deno.test("restart: same kid, tokens still verify and introspect active", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/issuer.db`;
    const clock = new Clock();
    const dns = new Map<string, string[][]>();

    const before = await createFixture({
      store: new SqliteStore(path),
      clock,
      dns,
    });
    let token: string, revoked: string, kid: string;
    let world: Awaited<ReturnType<typeof setup>>;
    let jwksBefore: unknown;
    try {
      world = await setup(before);
      token = await issueToken(before, world.agent);
      revoked = await issueToken(before, world.agent);
      const response = await revoke(before, revoked, asCaller(world.agent));
      assert.equal(response.status, 200);
      await response.body?.cancel();
      kid = before.keys.signingKey(clock.now()).kid;
      jwksBefore = await body(await send(before, "/.well-known/jwks.json"));
    } finally {
      await before.close();
    }

    clock.advance(30);
    await withFixture(async (after) => {
      assert.equal(
        after.keys.signingKey(clock.now()).kid,
        kid,
        "the same signing key",
      );
      const jwks = await body(await send(after, "/.well-known/jwks.json"));
      assert.deepEqual(jwks, jwksBefore);
      assert.equal(jose.decodeProtectedHeader(token).kid, kid);

      // Offline, with the reopened KeyRing and with the published JWKS.
      const claims = await verifyAccessToken(token, {
        issuer: ISSUER,
        key: (k) => after.keys.publicKey(k),
        now: clock.now(),
      });
      assert.equal(claims.sub, world.agent.did);
      await jose.jwtVerify(
        token,
        jose.createLocalJWKSet(jwks as unknown as jose.JSONWebKeySet),
        { issuer: ISSUER, typ: "at+jwt", currentDate: clock.now() },
      );

      // Online: the token index survived.
      const info = await assertOk(
        await introspect(after, token, asCaller(world.agent)),
      );
      assert.equal(info.active, true);
      assert.equal(info.jti, jose.decodeJwt(token).jti);
      const gone = await assertOk(
        await introspect(after, revoked, asCaller(world.agent)),
      );
      assert.deepEqual(gone, { active: false });

      // Operators, agents and grants survived: a new token is issued and
      // signed by the same key.
      const fresh = await issueToken(after, world.agent, {
        scope: "read:data",
      });
      assert.equal(jose.decodeProtectedHeader(fresh).kid, kid);
    }, { store: new SqliteStore(path), clock, dns });
  });
});

/**
 * Online checks through the real handler: introspection (RFC 7662) and
 * revocation (RFC 7009), both behind client authentication.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { signAccessToken } from "../../src/core/access_token.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  asCaller,
  assertError,
  assertNoInternalErrors,
  assertOk,
  clientAuth,
  createAgent,
  createVerifiedOperator,
  type Fixture,
  introspect,
  ISSUER,
  issueToken,
  postForm,
  registerOperator,
  revoke,
  setup,
  type TestAgent,
  withFixture,
} from "./helpers.ts";

async function assertInactive(
  fx: Fixture,
  token: string,
  caller: TestAgent,
): Promise<void> {
  const response = await introspect(fx, token, asCaller(caller));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Cache-Control"), "no-store");
  assert.deepEqual(await response.json(), { active: false });
}

async function assertActive(
  fx: Fixture,
  token: string,
  caller: TestAgent,
): Promise<Record<string, unknown>> {
  return await assertOk(await introspect(fx, token, asCaller(caller)));
}

Deno.test("introspection: an active token reports its claims", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent, {
      scope: "read:data",
      audience: "api.example.com",
    });
    const claims = jose.decodeJwt(token);
    const response = await introspect(fx, token, asCaller(agent));
    assert.equal(response.headers.get("Cache-Control"), "no-store");
    const info = await assertOk(response);
    assert.equal(info.active, true);
    assert.equal(info.scope, "read:data");
    assert.equal(info.client_id, agent.did);
    assert.equal(info.sub, agent.did);
    assert.equal(info.aud, "api.example.com");
    assert.equal(info.iss, ISSUER);
    assert.equal(info.exp, claims.exp);
    assert.equal(info.iat, claims.iat);
    assert.equal(info.jti, claims.jti);
    assert.equal(info.token_type, "Bearer");
    assert.equal(info.domain, "example.com");
    assertNoInternalErrors(fx);
  });
});

Deno.test("introspection: another agent or the operator may introspect too", async () => {
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    const other = await createAgent(fx, operator);
    const token = await issueToken(fx, agent);
    assert.equal((await assertActive(fx, token, other)).active, true);
    const byOperator = await assertOk(
      await introspect(fx, token, asCaller(operator)),
    );
    assert.equal(byOperator.active, true);
  });
});

Deno.test("introspection: a token is {active: false} from its exp on, with no leeway (RFC 7662 §2.2)", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent, { expires_in: "60" });
    fx.clock.advance(59);
    assert.equal((await assertActive(fx, token, agent)).active, true);
    // The clock-skew leeway is for verifiers with other clocks; the issuer
    // judges its own tokens by its own.
    fx.clock.advance(1);
    await assertInactive(fx, token, agent);
  });
});

Deno.test("introspection: forged, foreign, unknown and garbage tokens are {active: false}", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    const claims = jose.decodeJwt(token);
    const now = nowSeconds(fx.clock.now());
    // Same claims, signed by a key that is not the issuer's (same kid).
    const rogue = await generateKeyPair();
    const forged = await signAccessToken(
      claims as never,
      {
        kid: fx.keys.signingKey(fx.clock.now()).kid,
        privateKey: rogue.privateKey,
      },
    );
    // Validly signed by the issuer's key, but never issued (no record).
    const unrecorded = await signAccessToken({
      iss: ISSUER,
      sub: agent.did,
      aud: ISSUER,
      scope: "admin:root",
      client_id: agent.did,
      iat: now,
      exp: now + 900,
      jti: "never-issued",
      domain: "example.com",
    }, fx.keys.signingKey(fx.clock.now()));
    // Issuer's key, another issuer identifier.
    const foreign = await signAccessToken({
      ...(claims as never as Parameters<typeof signAccessToken>[0]),
      iss: "https://other.example",
    }, fx.keys.signingKey(fx.clock.now()));
    const [header, payload, signature] = token.split(".");
    const tampered = [
      header,
      jose.base64url.encode(JSON.stringify({ ...claims, scope: "admin:root" })),
      signature,
    ].join(".");
    for (
      const bad of [
        forged,
        unrecorded,
        foreign,
        tampered,
        `${header}.${payload}.`,
        "garbage",
        "a.b.c",
        "x".repeat(9000),
        token + "x",
      ]
    ) {
      await assertInactive(fx, bad, agent);
    }
    // The genuine token is still active.
    assert.equal((await assertActive(fx, token, agent)).active, true);
  });
});

Deno.test("introspection: unauthenticated callers get 401 invalid_client", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    await assertError(
      await postForm(fx, "/oauth/introspect", { token }),
      401,
      "ERR_INVALID_CLIENT",
      "invalid_client",
    );
    const stranger = await generateKeyPair();
    await assertError(
      await postForm(fx, "/oauth/introspect", {
        token,
        ...(await clientAuth(fx, agent.did, stranger.privateKey)),
      }),
      401,
      "ERR_BAD_SIGNATURE",
      "invalid_client",
    );
    // A missing token parameter, once authenticated, is invalid_request.
    await assertError(
      await postForm(
        fx,
        "/oauth/introspect",
        await clientAuth(fx, agent.did, agent.pair.privateKey),
      ),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
  });
});

Deno.test("revocation: an agent revokes its own token, which then introspects inactive", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    const response = await revoke(fx, token, asCaller(agent));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("Cache-Control"), "no-store");
    await response.body?.cancel();
    await assertInactive(fx, token, agent);
    const record = await fx.store.getToken(jose.decodeJwt(token).jti!);
    assert.ok(record?.revokedAt, "the revocation is stored");
    // Revoking again is fine (idempotent).
    assert.equal((await revoke(fx, token, asCaller(agent))).status, 200);
  });
});

Deno.test("revocation: revoking another agent's token is refused and the token stays active", async () => {
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    const other = await createAgent(fx, operator);
    const token = await issueToken(fx, agent);
    await assertError(
      await revoke(fx, token, asCaller(other)),
      400,
      "ERR_NOT_TOKEN_HOLDER",
      "unauthorized_client",
    );
    assert.equal((await assertActive(fx, token, agent)).active, true);
    const record = await fx.store.getToken(jose.decodeJwt(token).jti!);
    assert.equal(record?.revokedAt, undefined);
  });
});

Deno.test("revocation: the verified operator of the domain revokes an agent's token", async () => {
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    const response = await revoke(fx, token, asCaller(operator));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    await assertInactive(fx, token, agent);
  });
});

Deno.test("revocation: an operator of another domain, or an unverified one, is refused", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    const elsewhere = await createVerifiedOperator(fx, "other.example");
    await assertError(
      await revoke(fx, token, asCaller(elsewhere)),
      400,
      "ERR_NOT_TOKEN_HOLDER",
    );
    const unverified = await registerOperator(fx, "example.com");
    await assertError(
      await revoke(fx, token, asCaller(unverified)),
      400,
      "ERR_NOT_TOKEN_HOLDER",
    );
    assert.equal((await assertActive(fx, token, agent)).active, true);
  });
});

Deno.test("revocation: garbage and unknown tokens get 200; unauthenticated callers 401", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    for (const token of ["garbage", "a.b.c", "x".repeat(2000)]) {
      const response = await revoke(fx, token, asCaller(agent));
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    await assertError(
      await postForm(fx, "/oauth/revoke", { token: "garbage" }),
      401,
      "ERR_INVALID_CLIENT",
      "invalid_client",
    );
    // token_type_hint is only a hint (RFC 7009 §2.1).
    const hinted = await postForm(fx, "/oauth/revoke", {
      token: "garbage",
      token_type_hint: "refresh_token",
      ...(await clientAuth(fx, agent.did, agent.pair.privateKey)),
    });
    assert.equal(hinted.status, 200);
    await hinted.body?.cancel();
    assertNoInternalErrors(fx);
  });
});

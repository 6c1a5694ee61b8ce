/** Discovery (RFC 8414), the JWKS (RFC 7517) and /healthz through the real handler. */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  assertNoInternalErrors,
  assertOk,
  ISSUER,
  issueToken,
  send,
  setup,
  withFixture,
} from "./helpers.ts";

Deno.test("discovery: metadata names every endpoint and the issuer equals tokens' iss", async () => {
  await withFixture(async (fx) => {
    const response = await send(fx, "/.well-known/oauth-authorization-server");
    assert.match(
      response.headers.get("Content-Type") ?? "",
      /application\/json/,
    );
    const metadata = await assertOk(response);
    assert.equal(metadata.issuer, ISSUER);
    assert.equal(metadata.token_endpoint, `${ISSUER}/oauth/token`);
    assert.equal(metadata.jwks_uri, `${ISSUER}/.well-known/jwks.json`);
    assert.equal(metadata.introspection_endpoint, `${ISSUER}/oauth/introspect`);
    assert.equal(metadata.revocation_endpoint, `${ISSUER}/oauth/revoke`);
    assert.equal(metadata.challenge_endpoint, `${ISSUER}/v1/challenges`);
    assert.deepEqual(metadata.grant_types_supported, [
      "client_credentials",
      "urn:ietf:params:oauth:grant-type:token-exchange",
    ]);
    assert.deepEqual(metadata.response_types_supported, []);
    for (const endpoint of ["token", "introspection", "revocation"]) {
      assert.deepEqual(
        metadata[`${endpoint}_endpoint_auth_methods_supported`],
        [
          "private_key_jwt",
        ],
      );
      const algs = metadata[
        `${endpoint}_endpoint_auth_signing_alg_values_supported`
      ] as string[];
      assert.ok(algs.includes("EdDSA"));
      assert.ok(algs.includes("Ed25519"));
      assert.ok(!algs.includes("none"));
    }

    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    assert.equal(jose.decodeJwt(token).iss, metadata.issuer);
    assertNoInternalErrors(fx);
  });
});

Deno.test("discovery: the JWKS holds the signing key (kid, alg EdDSA, use sig) and verifies tokens", async () => {
  await withFixture(async (fx) => {
    const response = await send(fx, "/.well-known/jwks.json");
    assert.equal(response.status, 200);
    assert.match(
      response.headers.get("Content-Type") ?? "",
      /^application\/jwk-set\+json/,
    );
    const jwks = await response.json() as { keys: Record<string, unknown>[] };
    assert.equal(jwks.keys.length, 1);
    const [key] = jwks.keys;
    assert.equal(key!.kid, fx.keys.signingKey(fx.clock.now()).kid);
    assert.equal(key!.kty, "OKP");
    assert.equal(key!.crv, "Ed25519");
    assert.equal(key!.alg, "EdDSA");
    assert.equal(key!.use, "sig");
    assert.equal(key!.x, fx.keys.signingKey(fx.clock.now()).publicJwk.x);
    assert.ok(!("d" in key!), "no private part is published");

    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    assert.equal(jose.decodeProtectedHeader(token).kid, key!.kid);
    const { payload } = await jose.jwtVerify(
      token,
      jose.createLocalJWKSet(jwks as jose.JSONWebKeySet),
      {
        issuer: ISSUER,
        algorithms: ["EdDSA"],
        typ: "at+jwt",
        currentDate: fx.clock.now(),
      },
    );
    assert.equal(payload.sub, agent.did);
  });
});

Deno.test("discovery: /healthz reports ok, the version and the clock", async () => {
  await withFixture(async (fx) => {
    const health = await assertOk(await send(fx, "/healthz"));
    assert.equal(health.status, "ok");
    assert.equal(health.database, "ok");
    assert.equal(health.version, "test");
    assert.equal(health.time, fx.clock.now().toISOString());
  });
});

Deno.test("discovery: /healthz is 503 when the database is gone", async () => {
  await withFixture(async (fx) => {
    await fx.store.close();
    const response = await send(fx, "/healthz");
    assert.equal(response.status, 503);
    const health = await response.json();
    assert.equal(health.status, "unhealthy");
    assert.equal(health.database, "unreachable");
  });
});

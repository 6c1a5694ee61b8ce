/**
 * DPoP at the token endpoint (RFC 9449 §5): a proof binds the token to its
 * key (`cnf.jkt`, token_type DPoP), shows in introspection and the
 * metadata; a bad proof is `invalid_dpop_proof` and leaves the request's
 * challenge unused; a delegation is never bound, an exchanged token is.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { createDpopProof } from "../../src/core/dpop.ts";
import { generateKeyPair, type KeyPair } from "../../src/core/keys.ts";
import {
  asCaller,
  assertError,
  assertOk,
  body,
  challengeNonce,
  clientAuth,
  createAgent,
  createVerifiedOperator,
  type Fixture,
  introspect,
  ISSUER,
  issueToken,
  postForm,
  send,
  setup,
  type TestAgent,
  tokenParams,
  withFixture,
} from "./helpers.ts";

const TOKEN_ENDPOINT = `${ISSUER}/oauth/token`;

function proof(
  fx: Fixture,
  key: KeyPair,
  options: { method?: string; url?: string; now?: Date } = {},
): string {
  return createDpopProof({
    ...key,
    method: options.method ?? "POST",
    url: options.url ?? TOKEN_ENDPOINT,
    now: options.now ?? fx.clock.now(),
  });
}

/** A challenge-flow token request with these DPoP header values. */
async function tokenRequest(
  fx: Fixture,
  agent: TestAgent,
  dpop: string[],
  extra: Record<string, string> = {},
): Promise<{ response: Response; params: Record<string, string> }> {
  const nonce = await challengeNonce(fx, agent.did);
  const params = await tokenParams(fx, agent, { nonce, extra });
  const headers = new Headers({
    "Content-Type": "application/x-www-form-urlencoded",
  });
  for (const value of dpop) headers.append("DPoP", value);
  const response = await send(fx, "/oauth/token", {
    method: "POST",
    headers,
    body: new URLSearchParams(params).toString(),
  });
  return { response, params };
}

Deno.test("DPoP token endpoint: the metadata lists the proof algorithms", async () => {
  await withFixture(async (fx) => {
    const metadata = await body(
      await send(fx, "/.well-known/oauth-authorization-server"),
    );
    assert.deepEqual(metadata.dpop_signing_alg_values_supported, [
      "EdDSA",
      "Ed25519",
      "ES256",
    ]);
  });
});

Deno.test("DPoP token endpoint: a proof binds the token to its key; introspection shows the binding", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const dpopKey = await generateKeyPair();
    const { response } = await tokenRequest(fx, agent, [proof(fx, dpopKey)]);
    const answer = await assertOk<{ access_token: string; token_type: string }>(
      response,
    );
    assert.equal(answer.token_type, "DPoP");
    const jkt = await jose.calculateJwkThumbprint(dpopKey.publicJwk);
    assert.deepEqual(jose.decodeJwt(answer.access_token).cnf, { jkt });
    const introspected = await assertOk(
      await introspect(fx, answer.access_token, asCaller(agent)),
    );
    assert.equal(introspected.active, true);
    assert.equal(introspected.token_type, "DPoP");
    assert.deepEqual(introspected.cnf, { jkt });

    const plain = await issueToken(fx, agent);
    assert.equal(jose.decodeJwt(plain).cnf, undefined);
    const unbound = await assertOk(
      await introspect(fx, plain, asCaller(agent)),
    );
    assert.equal(unbound.token_type, "Bearer");
    assert.equal(unbound.cnf, undefined);
  });
});

Deno.test("DPoP token endpoint: a bad proof is invalid_dpop_proof and leaves the challenge unused", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const key = await generateKeyPair();
    const stale = new Date(fx.clock.now().getTime() - 61_000);
    const bad: [string, string[]][] = [
      ["another endpoint", [
        proof(fx, key, { url: `${ISSUER}/oauth/introspect` }),
      ]],
      ["another method", [proof(fx, key, { method: "GET" })]],
      ["too old", [proof(fx, key, { now: stale })]],
      ["two proofs", [proof(fx, key), proof(fx, key)]],
      ["not a JWS", ["not-a-proof"]],
    ];
    for (const [what, values] of bad) {
      const { response, params } = await tokenRequest(fx, agent, values);
      await assertError(
        response,
        400,
        "ERR_DPOP_PROOF_INVALID",
        "invalid_dpop_proof",
      ).catch((error) => assert.fail(`${what}: ${error}`));
      // The same request with a good proof goes through: nothing was consumed.
      await assertOk(
        await postForm(fx, "/oauth/token", params, { DPoP: proof(fx, key) }),
      );
    }
  });
});

Deno.test("DPoP token endpoint: a delegation is not bound; a token exchanged for one is", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const subject = await createAgent(fx, operator);
    const actor = await createAgent(fx, operator);
    const actorKey = await generateKeyPair();
    const { response } = await tokenRequest(fx, subject, [
      proof(fx, actorKey),
    ], { may_act: actor.did });
    await assertError(response, 400, "ERR_INVALID_REQUEST");

    const delegation = await issueToken(fx, subject, { may_act: actor.did });
    const exchanged = await assertOk<
      { access_token: string; token_type: string }
    >(
      await postForm(fx, "/oauth/token", {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: delegation,
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        ...(await clientAuth(fx, actor.did, actor.pair.privateKey)),
      }, { DPoP: proof(fx, actorKey) }),
    );
    assert.equal(exchanged.token_type, "DPoP");
    const claims = jose.decodeJwt(exchanged.access_token);
    assert.deepEqual(claims.cnf, {
      jkt: await jose.calculateJwkThumbprint(actorKey.publicJwk),
    });
    assert.deepEqual(claims.act, { sub: actor.did });
  });
});

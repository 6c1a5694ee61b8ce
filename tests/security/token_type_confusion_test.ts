/**
 * Tokens are never taken for one another the other way round: an access
 * token presented as a client assertion (at the token and introspection
 * endpoints) fails client authentication with `invalid_client`, and one
 * presented as a request proof fails the signed-request check. The other
 * direction — assertions and proofs presented as access tokens — is in the
 * catalogue (_forge.ts, "client assertions and request proofs").
 */
import { CLIENT_ASSERTION_TYPE } from "../../src/core/client_assertion.ts";
import type { ErrorCode } from "../../src/core/errors.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import {
  createRequestProof,
  REQUEST_PROOF_HEADER,
} from "../../src/core/request_proof.ts";
import { utf8 } from "../../src/core/encoding.ts";
import {
  assertError,
  assertNoInternalErrors,
  challengeNonce,
  freshNonce,
  ISSUER,
  JSON_TYPE,
  postForm,
  send,
  withFixture,
} from "../serve/helpers.ts";
import { decode, signCompact, split } from "./_forge.ts";
import { type World, world } from "./_world.ts";

/** Assertions built from an access token, each with the code it must fail with. */
async function tokenAsAssertion(
  w: World,
): Promise<[string, string, string | undefined, ErrorCode][]> {
  const token = w.target.tokens[0];
  const [header, payload] = split(token);
  const now = nowSeconds(w.fx.clock.now());
  // Everything a client assertion needs, but typ at+jwt and the issuer's kid,
  // signed with the agent's own registered key.
  const dressed = await signCompact(decode(header), {
    ...decode(payload),
    iss: w.agent.did,
    sub: w.agent.did,
    aud: ISSUER,
    iat: now,
    exp: now + 60,
    nonce: await challengeNonce(w.fx, w.agent.did),
  }, w.agent.pair.privateKey);
  return [
    [
      "a real access token, client_id = the agent",
      token,
      w.agent.did,
      "ERR_INVALID_CLIENT",
    ],
    [
      "a real access token, no client_id",
      token,
      undefined,
      "ERR_INVALID_CLIENT",
    ],
    [
      "an access token signed by the agent with every assertion claim",
      dressed,
      w.agent.did,
      "ERR_ASSERTION_INVALID",
    ],
  ];
}

Deno.test("an access token presented as a client assertion fails with invalid_client", async (t) => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    for (const path of ["/oauth/token", "/oauth/introspect", "/oauth/revoke"]) {
      for (
        const [name, assertion, clientId, code] of await tokenAsAssertion(w)
      ) {
        await t.step(`${path}: ${name}`, async () => {
          const response = await postForm(fx, path, {
            grant_type: "client_credentials",
            token: w.target.tokens[1],
            client_id: clientId,
            client_assertion_type: CLIENT_ASSERTION_TYPE,
            client_assertion: assertion,
          });
          await assertError(response, 401, code, "invalid_client");
        });
      }
    }
    assertNoInternalErrors(fx);
  });
});

Deno.test("an access token presented as a request proof fails the signed-request check", async (t) => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const path = `/v1/agents/${w.agent.did}/scopes`;
    const body = JSON.stringify({ scopes: ["admin:root"] });
    const put = (proof: string) =>
      send(fx, path, {
        method: "PUT",
        headers: { "Content-Type": JSON_TYPE, [REQUEST_PROOF_HEADER]: proof },
        body,
      });
    await t.step("a real access token", async () => {
      await assertError(
        await put(w.target.tokens[0]),
        401,
        "ERR_REQUEST_SIGNATURE_INVALID",
        "invalid_client",
      );
    });
    await t.step(
      "an access token's header over a real operator proof",
      async () => {
        const proof = await createRequestProof({
          method: "PUT",
          path,
          body: utf8(body),
          nonce: await freshNonce(fx),
          privateKey: w.operator.pair.privateKey,
          now: fx.clock.now(),
          kid: w.operator.id,
        });
        const [, p, s] = split(proof);
        const [h] = split(w.target.tokens[0]);
        await assertError(
          await put(`${h}.${p}.${s}`),
          401,
          "ERR_REQUEST_SIGNATURE_INVALID",
          "invalid_client",
        );
      },
    );
    assertNoInternalErrors(fx);
  });
});
